//! Rendering results as aligned tables (for people) or JSON (for programs),
//! and writing them to standard output.

/// `println!` for results: a reader that went away (`tansiq export hxl |
/// head`) ends the process quietly, and a standard output that cannot be
/// written (a full disk) ends it with a message, instead of a panic.
///
/// On a terminal, a control character that reached a result (text another
/// organisation wrote, in an event the ledger accepted before it refused
/// such text) is written as `\u{..}`, never as itself: an escape sequence
/// could clear the analyst's screen or forge what it shows.
macro_rules! say {
    () => {
        say!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        let line = $crate::output::for_terminal(&line);
        if let Err(error) = writeln!(std::io::stdout().lock(), "{line}") {
            $crate::output::stdout_failed(&error)
        }
    }};
}

/// `line` as it may be written to standard output: unchanged for a file or
/// a pipe, escaped (see [`escaped`]) on a terminal, line breaks and tabs kept.
pub fn for_terminal(line: &str) -> std::borrow::Cow<'_, str> {
    use std::io::IsTerminal as _;
    if std::io::stdout().is_terminal() {
        escaped(line, &['\n', '\t'])
    } else {
        std::borrow::Cow::Borrowed(line)
    }
}

/// `text` with control characters and bidirectional overrides, embeddings
/// and isolates written as `\u{XXXX}`, except those in `keep`.
pub fn escaped<'a>(text: &'a str, keep: &[char]) -> std::borrow::Cow<'a, str> {
    let unwanted = |c: char| {
        (c.is_control() || matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069))
            && !keep.contains(&c)
    };
    if !text.chars().any(unwanted) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unwanted(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A value as a table cell: one line, whatever the text holds.
fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => escaped(text, &[]).into_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
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
                let shown = cell(value);
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
                .map(|(key, width)| pad(&cell(&value[*key]), *width))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_terminal_lines_carry_no_control_characters() {
        let hostile = "Water\u{1b}[2J\nfake row\u{202e}gnp.exe";
        let shown = cell(&Value::String(hostile.into()));
        assert_eq!(shown, "Water\\u{001b}[2J\\u{000a}fake row\\u{202e}gnp.exe");
        assert!(!shown.chars().any(char::is_control));
        let line = escaped("a\tb\nc\u{7}", &['\n', '\t']);
        assert_eq!(line, "a\tb\nc\\u{0007}");
        assert!(matches!(
            escaped("plain غدامس", &[]),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
