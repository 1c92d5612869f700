//! Text normalisation for matching project titles and names across spelling
//! variants: Arabic (diacritics, tatweel, alef/hamza forms, ta marbuta/ha,
//! alef maqsura/ya, Persian letter forms) and Latin (case, accents).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

/// The matching form of `text`: Arabic variants folded, Latin lowercased
/// without accents, punctuation turned into spaces, whitespace collapsed.
pub(crate) fn normalise(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        match fold(c) {
            Fold::Drop => {}
            Fold::Space => folded.push(' '),
            Fold::Char(c) => folded.extend(c.to_lowercase()),
        }
    }
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

enum Fold {
    Drop,
    Space,
    Char(char),
}

fn fold(c: char) -> Fold {
    match c {
        // Arabic harakat, tanwin, shadda, sukun, superscript alef, Quranic marks; tatweel.
        '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}' | '\u{0640}' => Fold::Drop,
        // Alef with hamza above/below, madda, wasla → bare alef.
        'أ' | 'إ' | 'آ' | 'ٱ' => Fold::Char('ا'),
        'ؤ' => Fold::Char('و'),
        'ئ' | 'ى' | 'ی' | 'ې' => Fold::Char('ي'),
        'ة' => Fold::Char('ه'),
        'ک' => Fold::Char('ك'),
        // Arabic comma, semicolon, question mark, full stop.
        '،' | '؛' | '؟' | '۔' => Fold::Space,
        c if c.is_alphanumeric() => match strip_latin_accent(c) {
            Some(base) => Fold::Char(base),
            None => Fold::Char(c),
        },
        // Combining marks left over (e.g. decomposed accents).
        '\u{0300}'..='\u{036F}' => Fold::Drop,
        _ => Fold::Space,
    }
}

/// The base letter of an accented Latin letter (Latin-1 Supplement and
/// Latin Extended-A, which cover the names in this domain).
fn strip_latin_accent(c: char) -> Option<char> {
    let base = match c {
        'À'..='Å' | 'à'..='å' | 'Ā' | 'ā' | 'Ă' | 'ă' | 'Ą' | 'ą' => 'a',
        'Ç' | 'ç' | 'Ć' | 'ć' | 'Ĉ' | 'ĉ' | 'Ċ' | 'ċ' | 'Č' | 'č' => 'c',
        'Ď' | 'ď' | 'Đ' | 'đ' => 'd',
        'È'..='Ë' | 'è'..='ë' | 'Ē' | 'ē' | 'Ĕ' | 'ĕ' | 'Ė' | 'ė' | 'Ę' | 'ę' | 'Ě' | 'ě' => {
            'e'
        }
        'Ĝ' | 'ĝ' | 'Ğ' | 'ğ' | 'Ġ' | 'ġ' | 'Ģ' | 'ģ' => 'g',
        'Ĥ' | 'ĥ' | 'Ħ' | 'ħ' => 'h',
        'Ì'..='Ï' | 'ì'..='ï' | 'Ĩ' | 'ĩ' | 'Ī' | 'ī' | 'Ĭ' | 'ĭ' | 'Į' | 'į' | 'İ' | 'ı' => {
            'i'
        }
        'Ĵ' | 'ĵ' => 'j',
        'Ķ' | 'ķ' => 'k',
        'Ĺ' | 'ĺ' | 'Ļ' | 'ļ' | 'Ľ' | 'ľ' | 'Ŀ' | 'ŀ' | 'Ł' | 'ł' => 'l',
        'Ñ' | 'ñ' | 'Ń' | 'ń' | 'Ņ' | 'ņ' | 'Ň' | 'ň' => 'n',
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō' | 'ō' | 'Ŏ' | 'ŏ' | 'Ő' | 'ő' => 'o',
        'Ŕ' | 'ŕ' | 'Ŗ' | 'ŗ' | 'Ř' | 'ř' => 'r',
        'Ś' | 'ś' | 'Ŝ' | 'ŝ' | 'Ş' | 'ş' | 'Š' | 'š' => 's',
        'Ţ' | 'ţ' | 'Ť' | 'ť' | 'Ŧ' | 'ŧ' => 't',
        'Ù'..='Ü'
        | 'ù'..='ü'
        | 'Ũ'
        | 'ũ'
        | 'Ū'
        | 'ū'
        | 'Ŭ'
        | 'ŭ'
        | 'Ů'
        | 'ů'
        | 'Ű'
        | 'ű'
        | 'Ų'
        | 'ų' => 'u',
        'Ŵ' | 'ŵ' => 'w',
        'Ý' | 'ý' | 'ÿ' | 'Ŷ' | 'ŷ' | 'Ÿ' => 'y',
        'Ź' | 'ź' | 'Ż' | 'ż' | 'Ž' | 'ž' => 'z',
        _ => return None,
    };
    Some(base)
}

/// Words that say nothing about which project it is.
const STOP_WORDS: &[&str] = &[
    "the", "of", "and", "for", "in", "to", "a", "an", "de", "la", "le", "et", "des", "du", "في",
    "من", "الى", "على", "و",
];

/// The significant words of a title, compared by how they look: lowercased,
/// then reduced to their UTS #39 skeleton (a Cyrillic "а" is a Latin "a";
/// zero-width and other default-ignorable characters are gone), then
/// normalised. A title that only looks like another still matches it.
fn words(text: &str) -> BTreeSet<String> {
    let lowercase = text.to_lowercase();
    let looks: String = unicode_security::confusable_detection::skeleton(&lowercase).collect();
    normalise(&looks)
        .split(' ')
        .filter(|word| !word.is_empty() && !STOP_WORDS.contains(word))
        .map(str::to_owned)
        .collect()
}

/// Whether two titles look like the same project: equal after
/// normalisation, or sharing at least 80% of their significant words.
/// Bytes of titles whose words one thread remembers (see [`title_words`]).
const REMEMBERED_TITLE_BYTES_MAX: usize = 8 << 20;

thread_local! {
    /// Titles' words, as [`words`] finds them: a registration compares its
    /// title with every other title of its donor in its places, and finding
    /// a title's words (skeleton, folding) cost 77% of an import's time
    /// when done for each comparison (perf, bench/iati.sh). Emptied when
    /// it holds more than [`REMEMBERED_TITLE_BYTES_MAX`] bytes of titles.
    static TITLE_WORDS: RefCell<RememberedTitles> = RefCell::default();
}

#[derive(Default)]
struct RememberedTitles {
    /// Bytes of the titles in `words`.
    bytes: usize,
    words: HashMap<Box<str>, Rc<BTreeSet<String>>>,
}

/// [`words`] of `title`, remembered by this thread.
fn title_words(title: &str) -> Rc<BTreeSet<String>> {
    TITLE_WORDS.with(|remembered| {
        let mut remembered = remembered.borrow_mut();
        if let Some(found) = remembered.words.get(title) {
            return Rc::clone(found);
        }
        if remembered.bytes + title.len() > REMEMBERED_TITLE_BYTES_MAX {
            remembered.words.clear();
            remembered.bytes = 0;
        }
        let found = Rc::new(words(title));
        remembered.bytes += title.len();
        remembered.words.insert(title.into(), Rc::clone(&found));
        found
    })
}

pub(crate) fn similar_titles(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (a, b) = (title_words(a), title_words(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let shared = a.intersection(&b).count();
    let all = a.union(&b).count();
    shared * 5 >= all * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_titles_are_similar() {
        let title = "Water network rehabilitation";
        for disguised in [
            "W\u{0430}ter n\u{0435}twork rehabilitation", // Cyrillic a and e
            "Wa\u{200B}ter net\u{200D}work rehabili\u{2060}tation", // zero-width
            "WATER NETWORK REHABILITATION",
        ] {
            assert!(similar_titles(title, disguised), "{disguised:?}");
        }
        assert!(!similar_titles(title, "Primary school construction"));
        assert!(similar_titles(
            "إعادة تأهيل شبكة المياه",
            "اعادة تاهيل شبكه\u{200C} المياه"
        ));
    }

    #[test]
    fn arabic_spelling_variants_fold_together() {
        // Diacritics, tatweel, hamza forms, ta marbuta / ha, alef maqsura / ya.
        assert_eq!(
            normalise("إعـادةُ تأهيلِ شبكةِ المياه"),
            normalise("اعادة تاهيل شبكه المياه")
        );
        assert_eq!(normalise("مستشفى"), normalise("مستشفي"));
        assert_eq!(normalise("مؤسسة"), normalise("موسسه"));
    }

    #[test]
    fn latin_case_and_accents_fold_together() {
        assert_eq!(normalise("Réseau d'Eau  POTABLE"), "reseau d eau potable");
        assert_eq!(normalise("Aourir — Festival"), "aourir festival");
    }

    #[test]
    fn similar_titles_need_most_words_in_common() {
        assert!(similar_titles(
            "Rehabilitation of the water network",
            "Water network rehabilitation"
        ));
        assert!(similar_titles(
            "إعادة تأهيل شبكة المياه",
            "اعادة تاهيل شبكه المياه"
        ));
        assert!(!similar_titles(
            "Water network rehabilitation",
            "Solid waste collection"
        ));
        assert!(!similar_titles("", ""));
    }
}
