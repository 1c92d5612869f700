//! Replays every committed input (corpus/<target>/ and regressions/<target>/)
//! through its target, without libFuzzer:
//!
//!     cargo test --manifest-path tests/fuzz/Cargo.toml
//!
//! (scripts/fuzz.sh replays the same files through the instrumented
//! binaries before fuzzing.) A file in regressions/<target>/ is an input
//! that once made the target panic; it must not any more.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("event_decode", tansiq_fuzz::event_decode),
    ("cli_json", tansiq_fuzz::cli_json),
    ("iati_reader", tansiq_fuzz::iati_reader),
    ("snapshot_reader", tansiq_fuzz::snapshot_reader),
    ("raft_message", tansiq_fuzz::raft_message),
];

fn replay(kind: &str) -> usize {
    let mut count = 0;
    for (name, target) in TARGETS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind).join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            let data = std::fs::read(&path).expect("read an input");
            eprintln!("{name}: {}", path.display());
            target(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn corpus_inputs_pass() {
    assert!(replay("corpus") > 0, "the seed corpus is committed");
}

#[test]
fn regression_inputs_pass() {
    replay("regressions");
}
