//! Citrate wallet core: BIP39 mnemonics, BIP32/BIP44 derivation, Ethereum keys, addresses and
//! signatures, and Ethereum keystore v3 (Web3 Secret Storage) files.
//!
//! This crate is pure Rust and never names PyO3; `citrate-py` wraps it for Python. Every fallible
//! function returns [`Error`], whose messages never contain a secret (the one exception is the
//! single unknown word of a mnemonic, which the user needs to see to fix it).

pub mod bip32;
pub mod bip39;
mod error;
pub mod eth;
pub mod keystore;

pub use bip32::{
    check_count, check_index, DerivationPath, ExtendedPrivateKey, ExtendedPublicKey, HdWallet,
};
pub use error::{Error, Result};
pub use eth::{keccak256, to_checksum_address, PrivateKey};
pub use keystore::{decrypt_keystore, encrypt_keystore, Kdf};

/// Fill `buf` from the operating system's CSPRNG.
pub(crate) fn os_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Rng(e.to_string()))
}
