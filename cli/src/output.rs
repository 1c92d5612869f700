//! Rendering results as aligned tables (for people) or JSON (for programs).

use serde_json::Value;

use crate::args::Output;

/// Prints a JSON object as `key  value` lines, or as pretty JSON.
pub fn record(output: Output, value: &Value) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        Output::Table => {
            let Value::Object(map) = value else {
                println!("{value}");
                return;
            };
            let width = map.keys().map(|key| key.chars().count()).max().unwrap_or(0);
            for (key, value) in map {
                let shown = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                println!("{key:<width$}  {shown}");
            }
        }
    }
}

/// Prints one row of a stream: a JSON line, or tab-free aligned columns.
pub fn row(output: Output, value: &Value, columns: &[(&str, usize)]) {
    match output {
        Output::Json => println!("{value}"),
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
            println!("{}", cells.join("  ").trim_end());
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
        println!("{}", cells.join("  ").trim_end());
    }
}

/// `text` padded with spaces to `width` terminal columns: Arabic letters with
/// their combining marks (harakat) take the columns they show in.
pub fn pad(text: &str, width: usize) -> String {
    let shown = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(shown)))
}
