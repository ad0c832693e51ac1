//! BIP39 mnemonics (English wordlist): generation, validation with helpful errors, and seeds.

use std::sync::OnceLock;

use sha2::{Digest, Sha256, Sha512};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Word counts BIP39 defines.
pub const WORD_COUNTS: [usize; 5] = [12, 15, 18, 21, 24];

/// PBKDF2 iterations BIP39 prescribes for the seed.
const SEED_ROUNDS: u32 = 2048;

const ENGLISH_TXT: &str = include_str!("english.txt");

/// The 2048-word BIP39 English wordlist, in order (it is sorted, so lookups are binary searches).
pub fn english_wordlist() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| ENGLISH_TXT.lines().map(str::trim).filter(|w| !w.is_empty()).collect())
}

fn word_index(word: &str) -> Option<usize> {
    english_wordlist().binary_search(&word).ok()
}

/// Generate a new mnemonic of `word_count` words from the operating system's CSPRNG.
pub fn generate_mnemonic(word_count: usize) -> Result<Zeroizing<String>> {
    if !WORD_COUNTS.contains(&word_count) {
        return Err(Error::MnemonicWordCount {
            count: i64::try_from(word_count).unwrap_or(i64::MAX),
        });
    }
    let mut entropy = Zeroizing::new([0u8; 32]);
    let len = word_count / 3 * 4;
    crate::os_random(&mut entropy[..len])?;
    mnemonic_from_entropy(&entropy[..len])
}

/// Encode 16, 20, 24, 28 or 32 bytes of entropy as a mnemonic.
pub fn mnemonic_from_entropy(entropy: &[u8]) -> Result<Zeroizing<String>> {
    if !matches!(entropy.len(), 16 | 20 | 24 | 28 | 32) {
        return Err(Error::EntropyLength { len: entropy.len() });
    }
    let checksum_bits = entropy.len() / 4; // ENT / 32, in bits
    let hash = Sha256::digest(entropy);
    // entropy || first byte of the hash: at most 33 bytes, enough for any checksum (<= 8 bits).
    let mut bits = Zeroizing::new([0u8; 33]);
    bits[..entropy.len()].copy_from_slice(entropy);
    bits[entropy.len()] = hash[0];
    let word_count = (entropy.len() * 8 + checksum_bits) / 11;
    let words = english_wordlist();
    let mut phrase = Zeroizing::new(String::with_capacity(word_count * 9));
    for i in 0..word_count {
        let mut index = 0usize;
        for bit in i * 11..(i + 1) * 11 {
            index = (index << 1) | usize::from((bits[bit / 8] >> (7 - bit % 8)) & 1);
        }
        if i > 0 {
            phrase.push(' ');
        }
        phrase.push_str(words[index]);
    }
    Ok(phrase)
}

/// NFKD of a secret (phrase or passphrase) after `prefix`, in a zeroized buffer allocated once at
/// its final size: `collect::<String>()` would grow by reallocation and leave earlier copies of
/// the secret in freed memory, and the unnamed temporary itself would never be zeroized.
fn nfkd_zeroizing(prefix: &str, text: &str) -> Zeroizing<String> {
    let len = prefix.len() + text.nfkd().map(char::len_utf8).sum::<usize>();
    let mut out = Zeroizing::new(String::with_capacity(len));
    out.push_str(prefix);
    out.extend(text.nfkd());
    out
}

/// Normalise a phrase: NFKD, lowercase, words separated by single spaces.
fn normalize_phrase(phrase: &str) -> Zeroizing<String> {
    let nfkd = nfkd_zeroizing("", phrase);
    // `str::to_lowercase` allocates its result at the input's size; it only reallocates when
    // lowercasing lengthens the text (a few non-ASCII letters, never a BIP39 word).
    let lower = Zeroizing::new(nfkd.to_lowercase());
    let mut out = Zeroizing::new(String::with_capacity(lower.len()));
    for (i, word) in lower.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Validate a mnemonic and return it normalised (NFKD, lowercase, single spaces).
///
/// Any Unicode whitespace separates words and upper case is accepted, because people copy
/// phrases from all kinds of places; the returned form is the one the seed is computed from.
///
/// # Errors
/// [`Error::MnemonicWordCount`], [`Error::MnemonicUnknownWord`] (with suggestions) or
/// [`Error::MnemonicChecksum`].
pub fn validate_mnemonic(phrase: &str) -> Result<Zeroizing<String>> {
    let normalized = normalize_phrase(phrase);
    let count = normalized.split(' ').filter(|w| !w.is_empty()).count();
    if !WORD_COUNTS.contains(&count) {
        return Err(Error::MnemonicWordCount { count: i64::try_from(count).unwrap_or(i64::MAX) });
    }
    // 24 words * 11 bits = 264 bits = 33 bytes.
    let mut bits = Zeroizing::new([0u8; 33]);
    for (i, word) in normalized.split(' ').enumerate() {
        let Some(index) = word_index(word) else {
            return Err(Error::MnemonicUnknownWord {
                position: i + 1,
                word: shown_word(word),
                suggestions: suggest(word),
            });
        };
        for b in 0..11 {
            if (index >> (10 - b)) & 1 == 1 {
                let bit = i * 11 + b;
                bits[bit / 8] |= 1 << (7 - bit % 8);
            }
        }
    }
    let checksum_bits = count / 3; // CS = ENT / 32 and MS = (ENT + CS) / 11
    let entropy_len = (count * 11 - checksum_bits) / 8;
    let hash = Sha256::digest(&bits[..entropy_len]);
    // The top `checksum_bits` bits of a byte (1..=8 of them).
    let mask = (0xff00u16 >> checksum_bits) as u8;
    if (hash[0] ^ bits[entropy_len]) & mask != 0 {
        return Err(Error::MnemonicChecksum);
    }
    Ok(normalized)
}

/// The unknown word as it may appear in an error. BIP39 words have at most 8 letters; anything
/// much longer is more likely something pasted by mistake (possibly a key), so only its start
/// is shown.
fn shown_word(word: &str) -> String {
    const MAX: usize = 16;
    if word.chars().count() <= MAX {
        word.to_owned()
    } else {
        let mut shown: String = word.chars().take(MAX).collect();
        shown.push('…');
        shown
    }
}

/// Up to three valid words close to `word`. Words it is a prefix of, or that share its first
/// four letters (BIP39 words are unique in their first four), win outright; otherwise words
/// within Levenshtein distance 2 (or a third of the word's length, if larger), closest first.
pub fn suggest(word: &str) -> Vec<String> {
    let typed: Vec<char> = word.chars().take(32).collect();
    if typed.is_empty() {
        return Vec::new();
    }
    let max_distance = (typed.len() / 3).max(2);
    let mut scored: Vec<(bool, usize, &str)> = english_wordlist()
        .iter()
        .filter_map(|&candidate| {
            let prefix = candidate.starts_with(word)
                || (candidate.len() >= 4 && word.starts_with(&candidate[..4]));
            let distance = levenshtein(&typed, candidate);
            (prefix || distance <= max_distance).then_some((!prefix, distance, candidate))
        })
        .collect();
    scored.sort_unstable();
    // A word that shares the first four letters of a valid word is almost surely that word.
    if scored.first().is_some_and(|(not_prefix, _, _)| !not_prefix) {
        scored.retain(|(not_prefix, _, _)| !not_prefix);
    }
    scored.into_iter().take(3).map(|(_, _, w)| w.to_owned()).collect()
}

fn levenshtein(a: &[char], b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The BIP39 seed of an already-normalised phrase:
/// PBKDF2-HMAC-SHA512(phrase, "mnemonic" + NFKD(passphrase), 2048 rounds).
///
/// Does not validate the phrase; use [`mnemonic_to_seed`] for user input.
pub fn seed_from_normalized(normalized_phrase: &str, passphrase: &str) -> Zeroizing<[u8; 64]> {
    let salt = nfkd_zeroizing("mnemonic", passphrase);
    let mut seed = Zeroizing::new([0u8; 64]);
    pbkdf2::pbkdf2_hmac::<Sha512>(
        normalized_phrase.as_bytes(),
        salt.as_bytes(),
        SEED_ROUNDS,
        seed.as_mut(),
    );
    seed
}

/// Validate `phrase` and compute its BIP39 seed with `passphrase`.
pub fn mnemonic_to_seed(phrase: &str, passphrase: &str) -> Result<Zeroizing<[u8; 64]>> {
    let normalized = validate_mnemonic(phrase)?;
    Ok(seed_from_normalized(&normalized, passphrase))
}

/// Recover the entropy a valid mnemonic encodes.
pub fn mnemonic_to_entropy(phrase: &str) -> Result<Zeroizing<Vec<u8>>> {
    let normalized = validate_mnemonic(phrase)?;
    let count = normalized.split(' ').count();
    let mut bits = Zeroizing::new([0u8; 33]);
    for (i, word) in normalized.split(' ').enumerate() {
        // validate_mnemonic has checked every word.
        let index = word_index(word).unwrap_or_default();
        for b in 0..11 {
            if (index >> (10 - b)) & 1 == 1 {
                let bit = i * 11 + b;
                bits[bit / 8] |= 1 << (7 - bit % 8);
            }
        }
    }
    let entropy_len = (count * 11 - count / 3) / 8;
    Ok(Zeroizing::new(bits[..entropy_len].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON_ABOUT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn wordlist_is_the_sorted_english_list() {
        let words = english_wordlist();
        assert_eq!(words.len(), 2048);
        assert_eq!(words[0], "abandon");
        assert_eq!(words[2047], "zoo");
        assert!(words.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            hex::encode(Sha256::digest(ENGLISH_TXT.as_bytes())),
            "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"
        );
    }

    #[test]
    fn generate_all_word_counts_round_trip() {
        for count in WORD_COUNTS {
            let phrase = generate_mnemonic(count).unwrap();
            assert_eq!(phrase.split(' ').count(), count);
            assert_eq!(validate_mnemonic(&phrase).unwrap().as_str(), phrase.as_str());
            let entropy = mnemonic_to_entropy(&phrase).unwrap();
            assert_eq!(entropy.len(), count / 3 * 4);
            assert_eq!(mnemonic_from_entropy(&entropy).unwrap().as_str(), phrase.as_str());
        }
        assert_ne!(generate_mnemonic(12).unwrap(), generate_mnemonic(12).unwrap());
    }

    #[test]
    fn bad_word_count() {
        assert_eq!(generate_mnemonic(13).unwrap_err(), Error::MnemonicWordCount { count: 13 });
        assert_eq!(
            validate_mnemonic("abandon about").unwrap_err(),
            Error::MnemonicWordCount { count: 2 }
        );
        assert_eq!(validate_mnemonic("   ").unwrap_err(), Error::MnemonicWordCount { count: 0 });
        assert!(Error::MnemonicWordCount { count: 2 }.to_string().contains("12, 15, 18, 21 or 24"));
    }

    #[test]
    fn bad_entropy_length() {
        assert_eq!(mnemonic_from_entropy(&[0; 15]).unwrap_err(), Error::EntropyLength { len: 15 });
    }

    #[test]
    fn normalises_whitespace_and_case() {
        let messy = "  Abandon\tabandon abandon\u{3000}abandon abandon abandon\n abandon abandon abandon abandon abandon ABOUT ";
        assert_eq!(validate_mnemonic(messy).unwrap().as_str(), ABANDON_ABOUT);
    }

    #[test]
    fn unknown_word_reports_position_and_suggestions() {
        let phrase = ABANDON_ABOUT.replacen("abandon", "abandn", 1).replace("about", "abot");
        match validate_mnemonic(&phrase).unwrap_err() {
            Error::MnemonicUnknownWord { position, word, suggestions } => {
                assert_eq!(position, 1);
                assert_eq!(word, "abandn");
                assert_eq!(suggestions[0], "abandon");
                assert!(suggestions.len() <= 3);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Prefix matches come first.
        assert_eq!(suggest("aban"), vec!["abandon"]);
        assert_eq!(suggest("abil")[0], "ability");
        assert!(suggest("qqqqqqqqqqqq").is_empty());
        // A long pasted token is not echoed whole.
        let secret = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let err = validate_mnemonic(&ABANDON_ABOUT.replacen("abandon", secret, 1)).unwrap_err();
        assert!(!err.to_string().contains(secret));
        assert!(err.to_string().contains("ac0974bec39a17e3…"));
    }

    #[test]
    fn checksum_mismatch() {
        let phrase = ABANDON_ABOUT.replace("about", "abandon");
        assert_eq!(validate_mnemonic(&phrase).unwrap_err(), Error::MnemonicChecksum);
        assert_eq!(
            Error::MnemonicChecksum.to_string(),
            "checksum does not match; a word is probably wrong or out of order"
        );
    }

    #[test]
    fn passphrase_is_nfkd_normalised() {
        // U+00E9 and U+0065 U+0301 are the same passphrase after NFKD.
        let a = mnemonic_to_seed(ABANDON_ABOUT, "caf\u{e9}").unwrap();
        let b = mnemonic_to_seed(ABANDON_ABOUT, "cafe\u{301}").unwrap();
        assert_eq!(a.as_slice(), b.as_slice());
    }

    #[test]
    fn nfkd_buffer_is_allocated_once_at_its_final_size() {
        // NFKD lengthens these (é -> e + U+0301, ﬁ -> fi, ① -> 1); a buffer grown by
        // reallocation would leave copies of the secret behind.
        for text in [
            "",
            "abandon",
            "caf\u{e9}",
            "\u{fb01}\u{2460}\u{e9}\u{e9}\u{e9}",
            &"\u{e9}".repeat(500),
        ] {
            let out = nfkd_zeroizing("mnemonic", text);
            let expected: String = "mnemonic".chars().chain(text.nfkd()).collect();
            assert_eq!(out.as_str(), expected);
            assert_eq!(out.capacity(), out.len(), "{text}");
        }
        assert_eq!(normalize_phrase("  CAF\u{c9}\tabandon ").as_str(), "cafe\u{301} abandon");
    }
}
