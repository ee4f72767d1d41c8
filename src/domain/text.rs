//! Characters that text people give (descriptions, contact addresses) may
//! not hold: those that cannot be seen or that change how the text around
//! them reads, on a page or a terminal.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Control and format characters (NUL, escape, the bidirectional overrides
/// such as U+202E, zero-width spaces and joiners, the byte-order mark),
/// line and paragraph separators (U+2028, U+2029), and code points with no
/// character (unassigned, private use, surrogates).
pub fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

/// `raw` with every hidden character written as an escape (`\u{202e}`),
/// for a terminal: what was stored before these were refused, or what a
/// stranger typed, can neither hide nor turn the text around it.
pub fn escape_hidden(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if is_hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_direction_changing_characters_are_hidden() {
        for c in [
            '\0', '\u{1b}', '\n', '\u{7f}', '\u{85}', '\u{200b}', '\u{200d}', '\u{200e}',
            '\u{202e}', '\u{2066}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{e000}', '\u{ad}',
        ] {
            assert!(is_hidden(c), "{:?}", c);
        }
        for c in ['a', ' ', 'é', '✓', '中', '\u{a0}', '-', '@'] {
            assert!(!is_hidden(c), "{:?}", c);
        }
    }

    #[test]
    fn escaping_leaves_visible_text_and_escapes_the_rest() {
        assert_eq!(escape_hidden("prod ✓"), "prod ✓");
        assert_eq!(escape_hidden("a\u{202e}b\u{2028}"), "a\\u{202e}b\\u{2028}");
    }
}
