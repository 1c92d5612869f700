//! Reading IATI activity files (`iati-activities`, versions 1.0x and 2.0x),
//! as donors publish them: streamed element by element (a file of any size
//! is read in constant memory per activity), narratives in several
//! languages, empty attributes, missing optional elements, comments.
//!
//! [`Reader`] yields one [`Activity`] at a time; an error names the line and
//! the element. What an activity becomes on the ledger is decided by
//! [`super::plan`]; this module only reads.

use crate::limits::IATI_TEXT_RUN_MAX;
use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};

use super::activity::{
    Activity, AdministrativeCode, Amount, AttestationRead, Budget, IndicatorPeriod, IndicatorValue,
    Location, Organisation, ResultIndicator, Sector, Texts, Transaction,
};

/// Why a file could not be read; `line` is 1-based.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file is not an `iati-activities` file.
    #[error("line {line}: not an IATI activity file: {detail}")]
    NotIati {
        /// Where.
        line: u64,
        /// Why.
        detail: String,
    },
    /// The XML is not well-formed.
    #[error("line {line}{}: not well-formed XML: {detail}", element.as_deref().map(|e| format!(", in <{e}>")).unwrap_or_default())]
    Xml {
        /// Where.
        line: u64,
        /// The element being read, if any.
        element: Option<String>,
        /// The XML parser's error.
        detail: String,
    },
    /// An element's content is not what IATI allows.
    #[error("line {line}, <{element}>: {detail}")]
    Invalid {
        /// Where.
        line: u64,
        /// The element.
        element: String,
        /// What is wrong.
        detail: String,
    },
    /// The file ends inside an element.
    #[error("the file ends in the middle of <{element}> (line {line}): truncated?")]
    Truncated {
        /// Where the file ends.
        line: u64,
        /// The element.
        element: String,
    },
}

/// A reader that counts lines and refuses runs of text without markup
/// longer than [`IATI_TEXT_RUN_MAX`] (a gigabyte of garbage is refused early,
/// not buffered).
struct Counting<R> {
    inner: R,
    line: u64,
    since_markup: usize,
}

impl<R: BufRead> std::io::Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.since_markup > IATI_TEXT_RUN_MAX {
            return Err(std::io::Error::other(format!(
                "more than {} MiB without any markup",
                IATI_TEXT_RUN_MAX / (1024 * 1024)
            )));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buffer) = self.inner.fill_buf() {
            let consumed = &buffer[..amount.min(buffer.len())];
            for byte in consumed {
                match byte {
                    b'\n' => self.line += 1,
                    b'<' => self.since_markup = 0,
                    _ => {}
                }
            }
            match consumed.iter().rposition(|b| *b == b'<') {
                Some(at) => self.since_markup = consumed.len() - at - 1,
                None => self.since_markup += consumed.len(),
            }
        }
        self.inner.consume(amount);
    }
}

/// Streams the activities of an `iati-activities` file.
pub struct Reader<R: BufRead> {
    xml: quick_xml::Reader<Counting<R>>,
    buffer: Vec<u8>,
    /// The file's `version` attribute (e.g. "2.03", "1.05").
    pub version: String,
    started: bool,
    finished: bool,
    /// The line where the last event began.
    event_line: u64,
}

fn local_name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

/// Attributes by local name (`xml:lang` is "lang"); empty values kept empty.
fn attributes(start: &BytesStart<'_>) -> Vec<(String, String)> {
    start
        .attributes()
        .flatten()
        .map(|attribute| {
            let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
            let value = attribute
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&attribute.value).into_owned());
            (key, value.trim().to_owned())
        })
        .collect()
}

fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> &'a str {
    attributes
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}

fn number(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

fn percentage(text: &str) -> Option<f64> {
    text.trim().parse().ok()
}

/// 1.0x transaction type letters → 2.0x numbers.
fn transaction_type(code: &str) -> Option<u32> {
    match code.trim() {
        "IF" => Some(1),
        "C" => Some(2),
        "D" => Some(3),
        "E" => Some(4),
        "IR" => Some(5),
        "LR" => Some(6),
        "R" => Some(7),
        "QP" => Some(8),
        "QS" => Some(9),
        "CG" => Some(10),
        other => number(other),
    }
}

/// 1.0x activity-date types → 2.0x numbers.
fn date_type(code: &str) -> Option<u32> {
    match code.trim() {
        "start-planned" => Some(1),
        "start-actual" => Some(2),
        "end-planned" => Some(3),
        "end-actual" => Some(4),
        other => number(other),
    }
}

fn sector_vocabulary(code: &str) -> String {
    match code.trim() {
        "" | "DAC" => "1".to_owned(),
        "DAC-3" => "2".to_owned(),
        other => other.to_owned(),
    }
}

/// The date part of an ISO date or date-time ("2011-03-31T00:00:00" → "2011-03-31").
fn iso_date(text: &str) -> String {
    text.trim().get(..10).unwrap_or(text.trim()).to_owned()
}

impl<R: BufRead> Reader<R> {
    /// A reader of the file `input`; nothing is read until the first activity is asked for.
    pub fn new(input: R) -> Self {
        let mut xml = quick_xml::Reader::from_reader(Counting {
            inner: input,
            line: 1,
            since_markup: 0,
        });
        xml.config_mut().trim_text(false);
        xml.config_mut().check_end_names = true;
        Reader {
            xml,
            buffer: Vec::new(),
            version: String::new(),
            started: false,
            finished: false,
            event_line: 1,
        }
    }

    fn line(&self) -> u64 {
        self.xml.get_ref().line
    }

    fn next_event(&mut self, inside: Option<&str>) -> Result<Event<'static>, ReadError> {
        self.buffer.clear();
        self.event_line = self.line();
        match self.xml.read_event_into(&mut self.buffer) {
            Ok(event) => Ok(event.into_owned()),
            Err(error) => Err(ReadError::Xml {
                line: self.line(),
                element: inside.map(str::to_owned),
                detail: error.to_string(),
            }),
        }
    }

    /// Reads up to the root element and checks it is `iati-activities`.
    fn start(&mut self) -> Result<(), ReadError> {
        loop {
            match self.next_event(None)? {
                Event::Start(start) => {
                    let name = local_name(&start);
                    if name != "iati-activities" {
                        return Err(ReadError::NotIati {
                            line: self.line(),
                            detail: format!("the root element is <{name}>, not <iati-activities>"),
                        });
                    }
                    self.version = attribute(&attributes(&start), "version").to_owned();
                    return Ok(());
                }
                Event::Empty(start) => {
                    return Err(ReadError::NotIati {
                        line: self.line(),
                        detail: format!("the root element is an empty <{}/>", local_name(&start)),
                    })
                }
                Event::Text(text) if !text.iter().all(u8::is_ascii_whitespace) => {
                    let leading = text.iter().take_while(|b| b.is_ascii_whitespace());
                    let newlines = leading.filter(|b| **b == b'\n').count() as u64;
                    return Err(ReadError::NotIati {
                        line: self.event_line + newlines,
                        detail: "text before the root element (is this XML?)".into(),
                    });
                }
                Event::Eof => {
                    return Err(ReadError::NotIati {
                        line: self.line(),
                        detail: "no root element (empty file?)".into(),
                    })
                }
                _ => {}
            }
        }
    }

    /// The next activity, or None at the end of the file.
    pub fn next_activity(&mut self) -> Result<Option<Activity>, ReadError> {
        if !self.started {
            self.start()?;
            self.started = true;
        }
        if self.finished {
            return Ok(None);
        }
        loop {
            match self.next_event(Some("iati-activities"))? {
                Event::Start(start) if local_name(&start) == "iati-activity" => {
                    return self.activity(&start).map(Some);
                }
                Event::Start(start) => {
                    // Something else at the top (e.g. a publisher's own element): skip it whole.
                    let name = local_name(&start);
                    self.skip(&name)?;
                }
                Event::End(_) => {
                    self.finished = true;
                    return Ok(None);
                }
                Event::Eof => {
                    return Err(ReadError::Truncated {
                        line: self.line(),
                        element: "iati-activities".into(),
                    })
                }
                _ => {}
            }
        }
    }

    fn skip(&mut self, name: &str) -> Result<(), ReadError> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next_event(Some(name))? {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Eof => {
                    return Err(ReadError::Truncated {
                        line: self.line(),
                        element: name.to_owned(),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads one activity: a stack of open elements with their attributes,
    /// and the text of the innermost one.
    fn activity(&mut self, start: &BytesStart<'_>) -> Result<Activity, ReadError> {
        let root = attributes(start);
        let mut activity = Activity {
            line: self.line(),
            default_currency: attribute(&root, "default-currency").to_owned(),
            ..Activity::default()
        };
        let default_lang = attribute(&root, "lang").to_owned();
        let mut stack: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut text = String::new();
        loop {
            let inside = stack
                .last()
                .map_or("iati-activity", |(name, _)| name.as_str())
                .to_owned();
            match self.next_event(Some(&inside))? {
                Event::Start(element) => {
                    let name = local_name(&element);
                    let attrs = attributes(&element);
                    self.open(&mut activity, &stack, &name, &attrs);
                    stack.push((name, attrs));
                    text.clear();
                }
                Event::Empty(element) => {
                    let name = local_name(&element);
                    let attrs = attributes(&element);
                    self.open(&mut activity, &stack, &name, &attrs);
                    stack.push((name, attrs));
                    self.close(&mut activity, &stack, "", &default_lang)?;
                    stack.pop();
                }
                Event::Text(content) => {
                    let decoded = content.decode().map_err(|error| ReadError::Xml {
                        line: self.line(),
                        element: Some(inside.clone()),
                        detail: error.to_string(),
                    })?;
                    let unescaped =
                        quick_xml::escape::unescape(&decoded).map_err(|error| ReadError::Xml {
                            line: self.line(),
                            element: Some(inside.clone()),
                            detail: error.to_string(),
                        })?;
                    text.push_str(&unescaped);
                }
                Event::GeneralRef(reference) => {
                    let name = String::from_utf8_lossy(&reference).into_owned();
                    match reference.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        _ => match quick_xml::escape::resolve_xml_entity(&name) {
                            Some(resolved) => text.push_str(resolved),
                            None => {
                                return Err(ReadError::Xml {
                                    line: self.line(),
                                    element: Some(inside.clone()),
                                    detail: format!("unknown entity &{name};"),
                                })
                            }
                        },
                    }
                }
                Event::CData(content) => {
                    text.push_str(&String::from_utf8_lossy(&content));
                }
                Event::End(_) => {
                    if stack.is_empty() {
                        return Ok(activity);
                    }
                    self.close(&mut activity, &stack, &text, &default_lang)?;
                    stack.pop();
                    text.clear();
                }
                Event::Eof => {
                    return Err(ReadError::Truncated {
                        line: self.line(),
                        element: inside,
                    })
                }
                _ => {}
            }
        }
    }

    /// An element opens: records that start a repeated item.
    fn open(
        &self,
        activity: &mut Activity,
        stack: &[(String, Vec<(String, String)>)],
        name: &str,
        attrs: &[(String, String)],
    ) {
        let parent = stack.last().map(|(n, _)| n.as_str());
        match (parent, name) {
            (None, "reporting-org") => {
                activity.reporting_org = Organisation {
                    reference: attribute(attrs, "ref").to_owned(),
                    org_type: number(attribute(attrs, "type")).unwrap_or(0),
                    ..Organisation::default()
                };
            }
            (None, "participating-org") => activity.participants.push(Organisation {
                reference: attribute(attrs, "ref").to_owned(),
                role: number(attribute(attrs, "role")).unwrap_or(0),
                org_type: number(attribute(attrs, "type")).unwrap_or(0),
                activity_id: attribute(attrs, "activity-id").to_owned(),
                ledger_org_id: attribute(attrs, "org-id").to_owned(),
                implied: attribute(attrs, "implied") == "true",
                ..Organisation::default()
            }),
            (None, "location") => activity.locations.push(Location::default()),
            (Some("location"), "administrative") => {
                if let Some(location) = activity.locations.last_mut() {
                    // 2.0x: vocabulary, level, code; 1.0x: adm1, adm2 (the
                    // most specific one is kept).
                    let (code, level) = match (
                        attribute(attrs, "code"),
                        attribute(attrs, "adm2"),
                        attribute(attrs, "adm1"),
                    ) {
                        ("", "", adm1) => (adm1, Some(1)),
                        ("", adm2, _) => (adm2, Some(2)),
                        (code, _, _) => (code, number(attribute(attrs, "level"))),
                    };
                    if !code.is_empty() {
                        location.administrative.push(AdministrativeCode {
                            vocabulary: attribute(attrs, "vocabulary").to_owned(),
                            level,
                            code: code.to_owned(),
                            percentage: number(attribute(attrs, "percentage")),
                        });
                    }
                }
            }
            (None, "budget") => activity.budgets.push(Budget {
                budget_type: number(attribute(attrs, "type")).unwrap_or(0),
                ..Budget::default()
            }),
            (None, "transaction") => activity.transactions.push(Transaction::default()),
            (Some("transaction"), "provider-org") => {
                if let Some(transaction) = activity.transactions.last_mut() {
                    transaction.provider_activity_id =
                        attribute(attrs, "provider-activity-id").to_owned();
                }
            }
            (Some("transaction"), "receiver-org") => {
                if let Some(transaction) = activity.transactions.last_mut() {
                    transaction.receiver_org_id = attribute(attrs, "org-id").to_owned();
                }
            }
            (None, "result") => activity.result_heads.push((
                number(attribute(attrs, "type")).unwrap_or(0),
                Texts::default(),
            )),
            (Some("result"), "indicator") => {
                let (result_type, result_title) =
                    activity.result_heads.last().cloned().unwrap_or_default();
                let result_index = activity.result_heads.len();
                let indicator_index = activity
                    .results
                    .iter()
                    .filter(|r| r.result_index == result_index)
                    .count()
                    + 1;
                activity.results.push(ResultIndicator {
                    ledger_result_id: attribute(attrs, "result-id").to_owned(),
                    result_index,
                    indicator_index,
                    result_type,
                    result_title,
                    measure: number(attribute(attrs, "measure")).unwrap_or(0),
                    ascending: !matches!(attribute(attrs, "ascending"), "0" | "false"),
                    ..ResultIndicator::default()
                });
            }
            (Some("indicator"), "reference") => {
                if let Some(indicator) = activity.results.last_mut() {
                    if indicator.vocabulary.is_empty() && indicator.code.is_empty() {
                        indicator.vocabulary = attribute(attrs, "vocabulary").to_owned();
                        indicator.code = attribute(attrs, "code").to_owned();
                    }
                }
            }
            (Some("indicator"), "baseline") => {
                if let Some(indicator) = activity.results.last_mut() {
                    if indicator.baseline.is_none() {
                        indicator.baseline_year = number(attribute(attrs, "year")).unwrap_or(0);
                        indicator.baseline = Some(IndicatorValue {
                            value: attribute(attrs, "value").to_owned(),
                            ..IndicatorValue::default()
                        });
                    }
                }
            }
            (Some("indicator"), "period") => {
                if let Some(indicator) = activity.results.last_mut() {
                    indicator.periods.push(IndicatorPeriod::default());
                }
            }
            (Some("period"), "period-start" | "period-end" | "target" | "actual")
                if stack.first().map(|(n, _)| n.as_str()) == Some("result") =>
            {
                let Some(period) = activity
                    .results
                    .last_mut()
                    .and_then(|indicator| indicator.periods.last_mut())
                else {
                    return;
                };
                let value = || IndicatorValue {
                    value: attribute(attrs, "value").to_owned(),
                    ..IndicatorValue::default()
                };
                match name {
                    "period-start" => period.start = iso_date(attribute(attrs, "iso-date")),
                    "period-end" => period.end = iso_date(attribute(attrs, "iso-date")),
                    "target" if period.target.is_none() => period.target = Some(value()),
                    "actual" if period.actual.is_none() => period.actual = Some(value()),
                    _ => {}
                }
            }
            (None, "attestation") => activity.attestations.push(AttestationRead {
                subject: attribute(attrs, "subject").to_owned(),
                attester: attribute(attrs, "attester").to_owned(),
                verdict: attribute(attrs, "verdict").to_owned(),
                value: attribute(attrs, "value").to_owned(),
                note: String::new(),
            }),
            _ => {}
        }
    }

    /// An element closes with its text: records single values and narratives.
    fn close(
        &self,
        activity: &mut Activity,
        stack: &[(String, Vec<(String, String)>)],
        text: &str,
        default_lang: &str,
    ) -> Result<(), ReadError> {
        let Some((name, attrs)) = stack.last() else {
            return Ok(());
        };
        let path: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
        let lang = match attribute(attrs, "lang") {
            "" => default_lang,
            lang => lang,
        };
        // A narrative (2.0x) or the element's own text (1.0x) of a named thing.
        let owner = if name == "narrative" {
            path.get(path.len().wrapping_sub(2)).copied()
        } else {
            Some(name.as_str())
        };
        let at_top = |depth_of_owner: usize| {
            if name == "narrative" {
                path.len() == depth_of_owner + 1
            } else {
                path.len() == depth_of_owner
            }
        };
        match (owner, name.as_str()) {
            (_, "iati-identifier") if path.len() == 1 => {
                activity.identifier = text.trim().to_owned();
            }
            (_, "project-id") if path.len() == 1 => {
                activity.ledger_project_id = text.trim().to_owned();
            }
            (Some("title"), _) if at_top(1) => activity.title.add(lang, text),
            (Some("description"), _) if at_top(1) => {
                let kind = stack[0].1.as_slice();
                let description_type = attribute(kind, "type");
                if description_type.is_empty() || description_type == "1" {
                    activity.description.add(lang, text);
                }
            }
            (Some("reporting-org"), _) if at_top(1) => {
                activity.reporting_org.name.add(lang, text);
            }
            (Some("participating-org"), _) if at_top(1) => {
                if let Some(participant) = activity.participants.last_mut() {
                    participant.name.add(lang, text);
                }
            }
            (_, "activity-status") if path.len() == 1 => {
                activity.status = number(attribute(attrs, "code"));
            }
            (_, "activity-date") if path.len() == 1 => {
                let date = match attribute(attrs, "iso-date") {
                    "" => iso_date(text),
                    date => iso_date(date),
                };
                match date_type(attribute(attrs, "type")) {
                    Some(1) => activity.planned_start = date,
                    Some(2) => activity.actual_start = date,
                    Some(3) => activity.planned_end = date,
                    Some(4) => activity.actual_end = date,
                    _ => {}
                }
            }
            (_, "recipient-country") if path.len() == 1 => activity.countries.push((
                attribute(attrs, "code").to_uppercase(),
                percentage(attribute(attrs, "percentage")),
            )),
            (_, "sector") if path.len() == 1 => activity.sectors.push(Sector {
                vocabulary: sector_vocabulary(attribute(attrs, "vocabulary")),
                code: attribute(attrs, "code").to_owned(),
                percentage: percentage(attribute(attrs, "percentage")),
            }),
            (Some("name"), _) if path.len() >= 2 && path[0] == "location" => {
                if let Some(location) = activity.locations.last_mut() {
                    location.name.add(lang, text);
                }
            }
            (_, "period-start") if path.first() == Some(&"budget") => {
                if let Some(budget) = activity.budgets.last_mut() {
                    budget.period_start = iso_date(attribute(attrs, "iso-date"));
                }
            }
            (_, "period-end") if path.first() == Some(&"budget") => {
                if let Some(budget) = activity.budgets.last_mut() {
                    budget.period_end = iso_date(attribute(attrs, "iso-date"));
                }
            }
            (_, "value") if path.len() == 2 => {
                let amount = Amount {
                    value: text.trim().replace(',', ""),
                    currency: match attribute(attrs, "currency") {
                        "" => activity.default_currency.clone(),
                        currency => currency.to_owned(),
                    },
                    value_date: iso_date(attribute(attrs, "value-date")),
                };
                match path[0] {
                    "budget" => {
                        if let Some(budget) = activity.budgets.last_mut() {
                            budget.value = amount;
                        }
                    }
                    "transaction" => {
                        if let Some(transaction) = activity.transactions.last_mut() {
                            transaction.value = amount;
                        }
                    }
                    _ => {}
                }
            }
            (_, "transaction-type") if path.first() == Some(&"transaction") => {
                let code = attribute(attrs, "code");
                let parsed = transaction_type(code).ok_or_else(|| ReadError::Invalid {
                    line: self.line(),
                    element: "transaction-type".into(),
                    detail: format!("code {code:?} is not an IATI transaction type"),
                })?;
                if let Some(transaction) = activity.transactions.last_mut() {
                    transaction.transaction_type = parsed;
                }
            }
            (_, "transaction-date") if path.first() == Some(&"transaction") => {
                if let Some(transaction) = activity.transactions.last_mut() {
                    transaction.date = match attribute(attrs, "iso-date") {
                        "" => iso_date(text),
                        date => iso_date(date),
                    };
                }
            }
            (Some("description"), _) if path.first() == Some(&"transaction") && at_top(2) => {
                if let Some(transaction) = activity.transactions.last_mut() {
                    transaction.description.add(lang, text);
                }
            }
            (Some("title"), _) if path.first() == Some(&"result") && at_top(2) => {
                if let Some((_, title)) = activity.result_heads.last_mut() {
                    title.add(lang, text);
                }
            }
            (Some("title"), _)
                if path.first() == Some(&"result")
                    && path.get(1) == Some(&"indicator")
                    && at_top(3) =>
            {
                if let Some(indicator) = activity.results.last_mut() {
                    indicator.title.add(lang, text);
                }
            }
            (Some("comment"), _) if path.first() == Some(&"result") && path.len() >= 4 => {
                let Some(indicator) = activity.results.last_mut() else {
                    return Ok(());
                };
                // result/indicator/baseline/comment, result/indicator/period/{target,actual}/comment
                let holder = match (path.get(2).copied(), path.get(3).copied()) {
                    (Some("baseline"), Some("comment")) => indicator.baseline.as_mut(),
                    (Some("period"), Some("target")) => indicator
                        .periods
                        .last_mut()
                        .and_then(|period| period.target.as_mut()),
                    (Some("period"), Some("actual")) => indicator
                        .periods
                        .last_mut()
                        .and_then(|period| period.actual.as_mut()),
                    _ => None,
                };
                if let Some(holder) = holder {
                    holder.comment.add(lang, text);
                }
            }
            (_, "attestation") if path.len() == 1 => {
                if let Some(attestation) = activity.attestations.last_mut() {
                    attestation.note = text.trim().to_owned();
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Activity, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_activity() {
            Ok(Some(activity)) => Some(Ok(activity)),
            Ok(None) => None,
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> Result<Vec<Activity>, ReadError> {
        Reader::new(xml.as_bytes()).collect()
    }

    const V2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<iati-activities version="2.03">
 <iati-activity default-currency="EUR" xml:lang="en">
  <iati-identifier>XM-DAC-41114-LBY-1</iati-identifier>
  <reporting-org ref="XM-DAC-41114" type="40"><narrative>UNDP</narrative></reporting-org>
  <title><narrative>Water &amp; sanitation</narrative><narrative xml:lang="ar">المياه</narrative></title>
  <participating-org role="1" ref="" type="10"><narrative>EU</narrative></participating-org>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2026-01-01"/>
  <activity-date type="3" iso-date="2027-12-31T00:00:00"/>
  <recipient-country code="LY" percentage="100"/>
  <location><name><narrative>Ghadames</narrative></name>
   <administrative vocabulary="G1" level="2" code="LY0305"/></location>
  <sector vocabulary="1" code="14030" percentage="60"/>
  <sector vocabulary="2" code="140" percentage="40"/>
  <budget type="1"><period-start iso-date="2026-01-01"/><period-end iso-date="2026-12-31"/>
   <value currency="USD" value-date="2026-01-01">1,000.50</value></budget>
  <transaction><transaction-type code="3"/><transaction-date iso-date="2026-02-01"/>
   <value value-date="2026-02-01">500</value>
   <provider-org provider-activity-id="XM-DAC-41114-LBY-0"/></transaction>
 </iati-activity>
</iati-activities>"#;

    #[test]
    fn a_2_03_activity_reads_whole() {
        let activities = read(V2).expect("valid");
        assert_eq!(activities.len(), 1);
        let a = &activities[0];
        assert_eq!(a.identifier, "XM-DAC-41114-LBY-1");
        assert_eq!(a.line, 4);
        assert_eq!(a.title.latin, "Water & sanitation");
        assert_eq!(a.title.arabic, "المياه");
        assert_eq!(a.reporting_org.reference, "XM-DAC-41114");
        assert_eq!(a.reporting_org.name.latin, "UNDP");
        assert_eq!(a.participants[0].role, 1);
        assert_eq!(a.participants[0].name.latin, "EU");
        assert_eq!(a.status, Some(2));
        assert_eq!(a.planned_start, "2026-01-01");
        assert_eq!(a.planned_end, "2027-12-31");
        assert_eq!(a.countries, vec![("LY".to_owned(), Some(100.0))]);
        assert_eq!(a.locations[0].administrative[0].code, "LY0305");
        assert_eq!(a.locations[0].name.latin, "Ghadames");
        assert_eq!(a.sectors.len(), 2);
        assert_eq!(a.sectors[1].vocabulary, "2");
        assert_eq!(a.budgets[0].value.value, "1000.50");
        assert_eq!(a.budgets[0].value.currency, "USD");
        assert_eq!(a.transactions[0].transaction_type, 3);
        assert_eq!(a.transactions[0].value.currency, "EUR");
        assert_eq!(a.transactions[0].provider_activity_id, "XM-DAC-41114-LBY-0");
    }

    #[test]
    fn a_1_05_activity_reads_with_its_old_codes() {
        let xml = r#"<iati-activities version="1.05"><iati-activity default-currency="GBP">
          <iati-identifier>GB-1-1</iati-identifier>
          <title xml:lang="en">Old style title</title>
          <activity-date type="start-actual" iso-date="2010-01-05"/>
          <sector vocabulary="DAC" code="15110"/>
          <transaction><transaction-type code="D"/><value>10</value><transaction-date iso-date="2010-02-01"/></transaction>
        </iati-activity></iati-activities>"#;
        let a = &read(xml).expect("valid")[0];
        assert_eq!(a.title.latin, "Old style title");
        assert_eq!(a.actual_start, "2010-01-05");
        assert_eq!(a.sectors[0].vocabulary, "1");
        assert_eq!(a.transactions[0].transaction_type, 3);
    }

    #[test]
    fn bad_files_are_named_with_their_line() {
        let not_xml = read("hello, world\nthis is not XML").unwrap_err();
        assert!(
            matches!(not_xml, ReadError::NotIati { line: 1, .. }),
            "{not_xml}"
        );
        let not_iati = read("<html>\n<body/></html>").unwrap_err();
        assert!(not_iati.to_string().contains("<html>"), "{not_iati}");
        let truncated = read(&V2[..V2.len() / 2]).unwrap_err();
        assert!(
            matches!(
                truncated,
                ReadError::Truncated { .. } | ReadError::Xml { .. }
            ),
            "{truncated}"
        );
        let mismatched = read("<iati-activities>\n<iati-activity>\n<title></sector>").unwrap_err();
        assert!(mismatched.to_string().contains("line 3"), "{mismatched}");
    }

    #[test]
    fn a_long_run_of_garbage_is_refused_without_buffering_it() {
        let mut garbage = String::from("<iati-activities><iati-activity><title>");
        garbage.push_str(&"x".repeat(IATI_TEXT_RUN_MAX + 10));
        let error = read(&garbage).unwrap_err();
        assert!(error.to_string().contains("without any markup"), "{error}");
    }
}
