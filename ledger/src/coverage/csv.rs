//! Coverage answers as CSV (RFC 4180) or HXL-tagged CSV (a second header
//! line of Humanitarian Exchange Language hashtags): the one writer behind
//! `tansiq export csv|hxl` and the console's downloads, so both give the
//! same bytes for the same answer.
//!
//! Every cell comes from another organisation's signed event and is hostile
//! until written: quoted when it holds a comma, a quote or a line break,
//! and prefixed with `'` when it starts like a spreadsheet formula (`=`,
//! `+`, `-`, `@`, tab, carriage return), so opening the file runs nothing.

use tansiq_proto::v1 as pb;

/// Plain CSV, or CSV with a row of HXL hashtags under the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// A header line of column names, then the rows.
    Csv,
    /// The header, a line of HXL hashtags, then the rows.
    Hxl,
}

/// One row per project × municipality × sector of a `WhoSupports` answer.
pub const SUPPORT_COLUMNS: &[(&str, &str)] = &[
    ("pcode", "#adm2+code"),
    ("municipality_latin", "#adm2+name"),
    ("municipality_arabic", "#adm2+name+ar"),
    ("sector", "#sector+oecd"),
    ("sector_name", "#sector+name"),
    ("funder", "#org+funder"),
    ("implementers", "#org+impl"),
    ("project_id", "#activity+code"),
    ("iati_identifier", "#activity+id"),
    ("title", "#activity+name"),
    ("status", "#status"),
    ("start", "#date+start"),
    ("end", "#date+end"),
    ("budget", "#value+funding"),
    ("currency", "#currency"),
];

/// One row per uncovered need of a `Gaps` answer, in its rank order.
pub const GAP_COLUMNS: &[(&str, &str)] = &[
    ("rank", "#meta+rank"),
    ("pcode", "#adm2+code"),
    ("municipality_latin", "#adm2+name"),
    ("municipality_arabic", "#adm2+name+ar"),
    ("sector", "#sector+oecd"),
    ("sector_name", "#sector+name"),
    ("people_in_need", "#inneed"),
    ("severity", "#severity"),
    ("period_start", "#date+start"),
    ("period_end", "#date+end"),
    ("source", "#meta+source"),
];

/// One row per overlapping pair of an `Overlaps` answer.
pub const OVERLAP_COLUMNS: &[(&str, &str)] = &[
    ("pcode", "#adm2+code"),
    ("municipality_latin", "#adm2+name"),
    ("sector", "#sector+oecd"),
    ("kind", "#meta+overlap"),
    ("project_a", "#activity+code+a"),
    ("funder_a", "#org+funder+a"),
    ("title_a", "#activity+name+a"),
    ("project_b", "#activity+code+b"),
    ("funder_b", "#org+funder+b"),
    ("title_b", "#activity+name+b"),
    ("review", "#status+review"),
    ("review_note", "#description+review"),
];

/// One row per municipality × sector category of a `Matrix` answer.
pub const MATRIX_COLUMNS: &[(&str, &str)] = &[
    ("pcode", "#adm2+code"),
    ("municipality_latin", "#adm2+name"),
    ("municipality_arabic", "#adm2+name+ar"),
    ("category", "#sector+code"),
    ("category_name", "#sector+name"),
    ("projects", "#activity+num"),
    ("donors", "#org+funder"),
    ("budget", "#value+funding"),
];

/// The matrix as a table: one row per cell, the budget as
/// `CURRENCY VALUE` totals joined with `;`.
pub fn matrix(flavour: Flavour, cells: &[pb::MatrixCell]) -> String {
    table(
        flavour,
        MATRIX_COLUMNS,
        cells.iter().map(|cell| {
            let municipality = cell.municipality.clone().unwrap_or_default();
            vec![
                cell.pcode.clone(),
                municipality.latin,
                municipality.arabic,
                cell.category.clone(),
                cell.category_name.clone(),
                cell.projects.to_string(),
                cell.donors.join(";"),
                cell.budget
                    .iter()
                    .map(|total| format!("{} {}", total.currency, total.value))
                    .collect::<Vec<_>>()
                    .join(";"),
            ]
        }),
    )
}

/// The supports as a table.
pub fn supports(flavour: Flavour, supports: &[pb::ProjectSupport]) -> String {
    table(
        flavour,
        SUPPORT_COLUMNS,
        supports.iter().map(|s| {
            let municipality = s.municipality.clone().unwrap_or_default();
            let budget = s.budget.clone().unwrap_or_default();
            vec![
                s.pcode.clone(),
                municipality.latin,
                municipality.arabic,
                s.sector.clone(),
                s.sector_name.clone(),
                s.donor.clone(),
                s.implementers.join(";"),
                s.project_id.clone(),
                s.iati_identifier.clone(),
                title(s),
                s.status_name.clone(),
                s.start.clone(),
                s.end.clone(),
                budget.value,
                budget.currency,
            ]
        }),
    )
}

/// The gaps as a table.
pub fn gaps(flavour: Flavour, gaps: &[pb::Gap]) -> String {
    table(
        flavour,
        GAP_COLUMNS,
        gaps.iter().map(|gap| {
            let municipality = gap.municipality.clone().unwrap_or_default();
            vec![
                gap.rank.to_string(),
                gap.pcode.clone(),
                municipality.latin,
                municipality.arabic,
                gap.sector.clone(),
                gap.sector_name.clone(),
                gap.people_in_need.to_string(),
                gap.severity.to_string(),
                gap.period_start.clone(),
                gap.period_end.clone(),
                gap.source.clone(),
            ]
        }),
    )
}

/// The overlaps as a table.
pub fn overlaps(flavour: Flavour, overlaps: &[pb::Overlap]) -> String {
    table(
        flavour,
        OVERLAP_COLUMNS,
        overlaps.iter().map(|overlap| {
            let a = overlap.a.clone().unwrap_or_default();
            let b = overlap.b.clone().unwrap_or_default();
            let review =
                pb::OverlapVerdict::try_from(overlap.review).map_or("", |verdict| match verdict {
                    pb::OverlapVerdict::Unspecified => "",
                    pb::OverlapVerdict::Complementary => "complementary",
                    pb::OverlapVerdict::Duplicate => "duplicate",
                    pb::OverlapVerdict::SameProject => "same_project",
                });
            vec![
                overlap.pcode.clone(),
                a.municipality.clone().unwrap_or_default().latin,
                overlap.sector.clone(),
                overlap.kind.clone(),
                a.project_id.clone(),
                a.donor.clone(),
                title(&a),
                b.project_id.clone(),
                b.donor.clone(),
                title(&b),
                review.to_owned(),
                overlap.review_note.clone(),
            ]
        }),
    )
}

/// The Latin title, else the Arabic one.
fn title(support: &pb::ProjectSupport) -> String {
    let title = support.title.clone().unwrap_or_default();
    if title.latin.is_empty() {
        title.arabic
    } else {
        title.latin
    }
}

/// The header line (and the hashtags' line), then a line per row.
fn table(
    flavour: Flavour,
    columns: &[(&str, &str)],
    rows: impl Iterator<Item = Vec<String>>,
) -> String {
    let mut out = String::new();
    line(&mut out, columns.iter().map(|(name, _)| *name));
    if flavour == Flavour::Hxl {
        line(&mut out, columns.iter().map(|(_, tag)| *tag));
    }
    for row in rows {
        assert_eq!(row.len(), columns.len(), "a row has a value per column");
        line(&mut out, row.iter().map(String::as_str));
    }
    out
}

fn line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (index, text) in cells.enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&field(text));
    }
    out.push('\n');
}

/// RFC 4180 quoting, after defusing a formula.
pub fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_cells_are_quoted_and_formulas_defused() {
        assert_eq!(field("Water, sanitation"), "\"Water, sanitation\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("-2+3"), "'-2+3");
        assert_eq!(field("2026-01-01"), "2026-01-01");
        assert_eq!(field("غدامس"), "غدامس");
    }

    #[test]
    fn hxl_adds_a_row_of_hashtags_under_the_header() {
        let gap = pb::Gap {
            pcode: "LY0305".into(),
            sector: "14030".into(),
            people_in_need: 8000,
            rank: 1,
            ..Default::default()
        };
        let plain = gaps(Flavour::Csv, std::slice::from_ref(&gap));
        let tagged = gaps(Flavour::Hxl, std::slice::from_ref(&gap));
        let plain: Vec<&str> = plain.lines().collect();
        let tagged: Vec<&str> = tagged.lines().collect();
        assert_eq!(plain.len(), 2);
        assert_eq!(tagged.len(), 3);
        assert!(
            tagged[1].starts_with("#meta+rank,#adm2+code"),
            "{}",
            tagged[1]
        );
        assert_eq!(plain[1], tagged[2]);
        assert_eq!(plain[1], "1,LY0305,,,14030,,8000,0,,,");
    }
}
