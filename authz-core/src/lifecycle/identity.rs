//! Login names as people type them: one key per account whatever the Unicode spelling,
//! characters that hide or reorder text refused. (The password policy is in
//! [`password`](super::password).)
//!
//! **Login keys.** Usernames (and emails) are compared by a key: NFKC normalization then full
//! case folding (Unicode's `toCasefold`), so that `Alice`, `alice`, `ａｌｉｃｅ` (fullwidth) and
//! `ALİCE`-style case variants name one account, as Unicode's identifier guidance (UTS #39 §5,
//! UAX #31 §5) and OWASP's authentication cheat sheet ask. Characters that cannot be seen or
//! that reorder text are refused outright: controls, whitespace, default-ignorable code points
//! (zero-width joiners and spaces, the soft hyphen, variation selectors, …) and bidirectional
//! controls (RLO, LRI, …) — so that no two names that look alike differ only by them.
//! New usernames must also be written in one script (UTS #39 §5.2, "highly restrictive"):
//! a Cyrillic `а` inside a Latin `аlice` is refused, while `алиса`, `alice`, `東京alice` and
//! `ひらがなカタカナ漢字` are fine (Latin may mix with Han and the Japanese kana, with Han and
//! Bopomofo, or with Han and Hangul; digits and punctuation belong to every script). A name
//! written wholly in another script that happens to look like a Latin one (all-Cyrillic
//! `асе` against `ace`) stays a distinct name: catching those needs UTS #39's confusable
//! skeletons, which we leave out. Logins are looked up by key without this check, so that
//! accounts made before it keep working.

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::CodePointSetData;
use icu_properties::props::{BidiControl, DefaultIgnorableCodePoint, Script};
use icu_properties::script::ScriptWithExtensions;

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Why a login name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameError {
    /// Empty, or longer than allowed.
    Length,
    /// A control, whitespace, default-ignorable or bidirectional-control character.
    Hidden,
}

/// Whether `c` may appear in a login name: no control, whitespace, default-ignorable or
/// bidirectional-control character.
fn visible(c: char) -> bool {
    !(c.is_control()
        || c.is_whitespace()
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointSetData::new::<BidiControl>().contains(c))
}

/// The comparison key of a login name (a username or an email): NFKC, then full case folding,
/// then NFKC again (folding can leave text unnormalized). Refuses names with hidden characters.
pub(crate) fn login_key(name: &str, max_chars: usize) -> Result<String, NameError> {
    let chars = name.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(NameError::Length);
    }
    if !name.chars().all(visible) {
        return Err(NameError::Hidden);
    }
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let normalized = nfkc.normalize(name);
    let folded = CaseMapper::new().fold_string(&normalized).into_owned();
    Ok(nfkc.normalize(&folded).into_owned())
}

/// Whether `name` is written in one script, or in one of the mixes of East Asian writing
/// (UTS #39 §5.2, "highly restrictive"). Characters of every script (`Common`: digits,
/// punctuation; `Inherited`: combining marks) fit any; a character used by several scripts
/// (its Script_Extensions) fits each of them.
pub(crate) fn single_script(name: &str) -> bool {
    const MIXES: [&[Script]; 3] = [
        &[
            Script::Latin,
            Script::Han,
            Script::Hiragana,
            Script::Katakana,
        ],
        &[Script::Latin, Script::Han, Script::Bopomofo],
        &[Script::Latin, Script::Han, Script::Hangul],
    ];
    let scripts = ScriptWithExtensions::new();
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    let normalized = nfkc.normalize(name);
    let sets: Vec<Vec<Script>> = normalized
        .chars()
        .map(|c| {
            scripts
                .get_script_extensions_val(c)
                .iter()
                .filter(|s| *s != Script::Common && *s != Script::Inherited)
                .collect::<Vec<_>>()
        })
        .filter(|set| !set.is_empty())
        .collect();
    let Some(first) = sets.first() else {
        return true;
    };
    let fits = |group: &[Script]| sets.iter().all(|set| set.iter().any(|s| group.contains(s)));
    first.iter().any(|&script| fits(&[script])) || MIXES.iter().any(|group| fits(group))
}

/// The key a login attempt looks up, or `None` for a name no account can have (hidden or
/// control characters, NUL included, or too long): the attempt then asks no store — NUL would
/// be an error on PostgreSQL — and costs and answers as a wrong password.
pub(crate) fn lookup_key(login: &str) -> Option<String> {
    login_key(login, 254).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_name_whatever_the_spelling() {
        let key = |s: &str| login_key(s, 64).unwrap();
        assert_eq!(key("alice"), "alice");
        assert_eq!(key("Alice"), "alice");
        assert_eq!(key("ALICE"), "alice");
        assert_eq!(key("ａｌｉｃｅ"), "alice", "fullwidth");
        assert_eq!(key("Straße"), key("STRASSE"), "full case folding");
        assert_eq!(key("ﬁle"), key("file"), "compatibility ligature");
        // A Cyrillic а is another letter: another name.
        assert_ne!(key("\u{430}lice"), key("alice"));
    }

    #[test]
    fn one_script_per_name() {
        for name in [
            "alice",
            "Alice_2",
            "алиса",
            "αλίκη",
            "東京alice",
            "ひらがなカタカナ漢字",
            "한국어abc",
            "ｆｕｌｌｗｉｄｔｈ",
            "x-ae-12",
            "1234",
        ] {
            assert!(single_script(name), "{name}");
        }
        for name in [
            "\u{430}lice",  // Cyrillic а, Latin lice
            "p\u{430}ypal", // the same, inside
            "\u{3b1}lice",  // Greek alpha
            "ab\u{5d0}",    // Latin and Hebrew
            "алиса\u{3b1}", // Cyrillic and Greek
        ] {
            assert!(!single_script(name), "{name}");
        }
    }

    #[test]
    fn hidden_characters_are_refused() {
        for name in [
            "al\u{200D}ice", // zero-width joiner
            "al\u{200B}ice", // zero-width space
            "al\u{AD}ice",   // soft hyphen
            "\u{202E}ecila", // right-to-left override
            "al\u{2066}ice", // left-to-right isolate
            "ali\u{FE0F}ce", // variation selector
            "al\u{0}ice",    // NUL
            "al ice",
            "al\tice",
        ] {
            assert_eq!(login_key(name, 64), Err(NameError::Hidden), "{name:?}");
        }
        assert_eq!(login_key("", 64), Err(NameError::Length));
        assert_eq!(login_key(&"a".repeat(65), 64), Err(NameError::Length));
    }
}
