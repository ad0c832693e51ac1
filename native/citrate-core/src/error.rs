//! The one error type of the crate.
//!
//! Messages are lowercase, name the offending value in backticks and end with a `hint:` line
//! when the user can act. They never contain a secret (phrase, passphrase, password, key); the
//! only exception is the single unknown word of a mnemonic.

/// Shorthand for `std::result::Result<T, citrate_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in citrate-core.
// Deliberately not `#[non_exhaustive]`: the binding crate matches every variant without a
// catch-all arm, so adding a variant fails its build until the variant gets a Python exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A mnemonic (or a request to generate one) has a word count BIP39 does not define.
    #[error(
        "mnemonic has `{count}` words; expected 12, 15, 18, 21 or 24\n\
         hint: check that the whole phrase was copied"
    )]
    MnemonicWordCount {
        /// The number of words found or requested (signed: bindings may pass negative requests).
        count: i64,
    },
    /// A mnemonic word is not in the BIP39 English wordlist.
    #[error("word {position} of the mnemonic, `{word}`, is not in the bip39 english wordlist{}", suggestion_hint(.suggestions))]
    MnemonicUnknownWord {
        /// 1-based position of the word in the phrase.
        position: usize,
        /// The word as typed (NFKD, lowercased; cut to 16 characters plus `…` if longer).
        word: String,
        /// Up to three valid words close to `word`, best first.
        suggestions: Vec<String>,
    },
    /// All words are valid but the BIP39 checksum does not match.
    #[error("checksum does not match; a word is probably wrong or out of order")]
    MnemonicChecksum,
    /// Entropy of a length BIP39 does not define.
    #[error("entropy is `{len}` bytes; expected 16, 20, 24, 28 or 32 bytes")]
    EntropyLength {
        /// Length of the entropy given, in bytes.
        len: usize,
    },

    /// A BIP32 seed of the wrong length.
    #[error("seed is `{len}` bytes; bip32 seeds are 16 to 64 bytes")]
    SeedLength {
        /// Length of the seed given, in bytes.
        len: usize,
    },
    /// A derivation path that does not parse.
    #[error("invalid derivation path `{path}`: {reason}\nhint: write paths like `m/44'/60'/0'/0/0` (`'` or `h` marks a hardened index)")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An account or address index outside `0..2^31`.
    #[error("index `{index}` is out of range\nhint: indexes must be between 0 and 2147483647 (2^31 - 1)")]
    IndexOutOfRange {
        /// The index as given (a string, so that any integer fits).
        index: String,
    },
    /// A negative address count, or more addresses than one call may derive.
    #[error("cannot derive `{count}` addresses in one call; the count must be between 0 and {max}\nhint: request large ranges in batches")]
    InvalidCount {
        /// The count requested (a string, so that any integer fits).
        count: String,
        /// The largest count allowed.
        max: u64,
    },
    /// BIP32 derivation produced an invalid key (probability below 2^-127).
    #[error("the key derived at child index `{index}` is invalid (a 1 in 2^127 event)\nhint: use the next index")]
    InvalidChild {
        /// The child index (with the hardened bit, if any).
        index: u32,
    },

    /// A private key that is not a valid secp256k1 secret.
    #[error("invalid private key: {reason}")]
    InvalidKey {
        /// Why it was rejected (never the key itself).
        reason: String,
    },
    /// A message digest of the wrong length.
    #[error("digest is `{len}` bytes; expected a 32-byte hash")]
    DigestLength {
        /// Length of the digest given.
        len: usize,
    },
    /// A malformed Ethereum address, or one whose EIP-55 checksum is wrong.
    #[error("invalid address `{address}`: {reason}{}", .hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
        /// What the user can do about it, if anything.
        hint: Option<String>,
    },

    /// The keystore is not valid JSON.
    #[error("keystore is not valid json: {0}")]
    KeystoreJson(String),
    /// A required keystore field is missing.
    #[error("keystore is missing the field `{0}`")]
    KeystoreMissingField(String),
    /// A keystore field has the wrong type or an invalid value.
    #[error("keystore field `{field}` is invalid: {reason}")]
    KeystoreInvalidField {
        /// Dotted path of the field, e.g. `crypto.cipherparams.iv`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A keystore version other than 3.
    #[error("keystore version `{found}` is not supported; only version 3 is supported")]
    KeystoreVersion {
        /// The version found in the file, as JSON text.
        found: String,
    },
    /// A key derivation function this crate does not implement.
    #[error("keystore kdf `{0}` is not supported\nhint: supported kdfs are `scrypt` and `pbkdf2` (prf `hmac-sha256`)")]
    KeystoreUnsupportedKdf(String),
    /// A cipher this crate does not implement.
    #[error("keystore cipher `{0}` is not supported; only `aes-128-ctr` is supported")]
    KeystoreUnsupportedCipher(String),
    /// KDF parameters that are invalid or would cost too much memory or time.
    #[error("keystore kdf parameters are not acceptable: {0}")]
    KeystoreKdfParams(String),
    /// The MAC does not match: wrong password, or a damaged file.
    #[error("wrong password or corrupted keystore (MAC mismatch)")]
    KeystoreMac,
    /// The key decrypts, but its address is not the one the file claims.
    #[error("keystore `address` is `{expected}` but the decrypted key belongs to `{actual}`\nhint: the file was edited or assembled from two keystores")]
    KeystoreAddressMismatch {
        /// The address recorded in the file.
        expected: String,
        /// The address of the decrypted key.
        actual: String,
    },

    /// A bug: a worker thread panicked. Never expected; reported rather than propagated.
    #[error("internal error: {0}\nhint: please report this as a bug")]
    Internal(String),
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed: {0}")]
    Rng(String),
}

fn suggestion_hint(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
    format!("\nhint: did you mean {}?", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_word_message_has_hint() {
        let e = Error::MnemonicUnknownWord {
            position: 3,
            word: "abandn".into(),
            suggestions: vec!["abandon".into(), "ability".into()],
        };
        assert_eq!(
            e.to_string(),
            "word 3 of the mnemonic, `abandn`, is not in the bip39 english wordlist\n\
             hint: did you mean `abandon`, `ability`?"
        );
    }

    #[test]
    fn address_message_without_hint() {
        let e = Error::InvalidAddress {
            address: "0x12".into(),
            reason: "too short".into(),
            hint: None,
        };
        assert_eq!(e.to_string(), "invalid address `0x12`: too short");
    }
}
