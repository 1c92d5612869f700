//! Rendering results as aligned tables (for people) or JSON (for programs),
//! and writing them to standard output.

/// `println!` for results: a reader that went away (`tansiq export hxl |
/// head`) ends the process quietly, and a standard output that cannot be
/// written (a full disk) ends it with a message, instead of a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::output::stdout_failed(&error)
        }
    }};
}

/// Ends the process after standard output failed: quietly, with success,
/// when its reader closed the pipe (the reader has what it wanted); with an
/// error otherwise.
pub fn stdout_failed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {error}");
    std::process::exit(1);
}

use serde_json::Value;

use crate::args::Output;

/// Prints a JSON object as `key  value` lines, or as pretty JSON.
pub fn record(output: Output, value: &Value) {
    match output {
        Output::Json => say!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        Output::Table => {
            let Value::Object(map) = value else {
                say!("{value}");
                return;
            };
            let width = map.keys().map(|key| key.chars().count()).max().unwrap_or(0);
            for (key, value) in map {
                let shown = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                say!("{key:<width$}  {shown}");
            }
        }
    }
}

/// Prints one row of a stream: a JSON line, or tab-free aligned columns.
pub fn row(output: Output, value: &Value, columns: &[(&str, usize)]) {
    match output {
        Output::Json => say!("{value}"),
        Output::Table => {
            let cells: Vec<String> = columns
                .iter()
                .map(|(key, width)| {
                    let text = match &value[*key] {
                        Value::String(text) => text.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    pad(&text, *width)
                })
                .collect();
            say!("{}", cells.join("  ").trim_end());
        }
    }
}

/// The header line of a table of rows.
pub fn header(output: Output, columns: &[(&str, usize)]) {
    if output == Output::Table {
        let cells: Vec<String> = columns
            .iter()
            .map(|(key, width)| pad(key, *width))
            .collect();
        say!("{}", cells.join("  ").trim_end());
    }
}

/// `text` padded with spaces to `width` terminal columns: Arabic letters with
/// their combining marks (harakat) take the columns they show in.
pub fn pad(text: &str, width: usize) -> String {
    let shown = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(shown)))
}
