//! Rules of the ledger's layout that the compiler does not check, checked
//! on its source (docs/ARCHITECTURE.md, Invariants).

use std::path::{Path, PathBuf};

fn sources(under: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(under);
    let mut found = Vec::new();
    let mut folders = vec![root];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read the source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a source file");
                found.push((path, text));
            }
        }
    }
    assert!(!found.is_empty(), "no source under src/{under}");
    found
}

/// Lines of code (not comments) of `text` that mention one of `names`.
fn mentions(text: &str, names: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| names.iter().any(|name| line.contains(name)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_store_knows_no_rule_of_the_layers_above_it() {
    let above = [
        "crate::event",
        "crate::append",
        "crate::coverage",
        "crate::replication",
        "crate::iati",
    ];
    for (path, text) in sources("store") {
        let found = mentions(&text, &above);
        assert!(
            found.is_empty(),
            "{} imports upwards: {found:?}",
            path.display()
        );
    }
    // The check itself finds what it looks for.
    assert_eq!(mentions("use crate::coverage::pair;", &above).len(), 1);
}

#[test]
fn only_the_writers_write_the_store() {
    let writes = ["write_synced(", "write_unsynced(", "write_unlogged("];
    for folder in ["event", "coverage", "iati"] {
        for (path, text) in sources(folder) {
            let found = mentions(&text, &writes);
            assert!(
                found.is_empty(),
                "{} writes the store: {found:?}",
                path.display()
            );
        }
    }
}
