//! `citrate_native._core`: Python bindings for `citrate-core`.
//!
//! Only conversions and registration live here; all logic is in `citrate-core`. Nothing in this
//! crate panics or unwraps: every failure becomes an exception from `citrate_native.errors`.
//! Slow work (PBKDF2 seeds, bulk address derivation, scrypt) runs with the GIL released.

mod chain;
mod compute;
mod errors;
mod ghostdag;

use citrate_core::{bip39, Error};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{to_py_err, IntoPyResult};

/// An account or address index argument (`0 <= index < 2**31`, negative is an error too).
///
/// Ints are taken as i128 so that every out-of-range value a person might pass (negative,
/// 2**31, 2**64) gets a `DerivationError` rather than PyO3's `OverflowError`.
fn index_arg(index: i128) -> PyResult<u32> {
    citrate_core::check_index(index).py()
}

/// Generate a new English BIP39 mnemonic from the OS CSPRNG.
#[pyfunction]
#[pyo3(signature = (word_count = 12))]
fn generate_mnemonic(word_count: i64) -> PyResult<String> {
    let count = usize::try_from(word_count)
        .map_err(|_| to_py_err(Error::MnemonicWordCount { count: word_count }))?;
    Ok(bip39::generate_mnemonic(count).py()?.to_string())
}

/// Encode 16/20/24/28/32 bytes of entropy as a mnemonic.
#[pyfunction]
fn mnemonic_from_entropy(entropy: &[u8]) -> PyResult<String> {
    Ok(bip39::mnemonic_from_entropy(entropy).py()?.to_string())
}

/// Validate a mnemonic; return it normalised (NFKD, lowercase, single spaces).
#[pyfunction]
fn validate_mnemonic(phrase: &str) -> PyResult<String> {
    Ok(bip39::validate_mnemonic(phrase).py()?.to_string())
}

/// Internal: validate a mnemonic and return its 64-byte BIP39 seed (key material).
///
/// Not public API and not in `citrate_native.__all__`: the seed is the whole wallet, so Python
/// code gets key material only through the vault's password-gated export. The only callers are
/// the known-answer vector tests, the vault's export, and the legacy-migration and benchmark
/// code in `citrate_crypto`.
#[pyfunction(name = "_mnemonic_to_seed")]
#[pyo3(signature = (phrase, passphrase = ""))]
fn mnemonic_to_seed<'py>(
    py: Python<'py>,
    phrase: &str,
    passphrase: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = py.detach(|| bip39::mnemonic_to_seed(phrase, passphrase)).py()?;
    Ok(PyBytes::new(py, seed.as_slice()))
}

/// The 2048 words of the BIP39 English wordlist.
#[pyfunction]
fn english_wordlist() -> Vec<&'static str> {
    bip39::english_wordlist().to_vec()
}

/// Keccak-256 of `data`.
#[pyfunction]
fn keccak256<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &citrate_core::keccak256(data))
}

/// Validate an address and return its EIP-55 checksummed form.
#[pyfunction]
fn to_checksum_address(address: &str) -> PyResult<String> {
    citrate_core::to_checksum_address(address).py()
}

/// A BIP32/BIP44 HD wallet (secp256k1, Ethereum paths by default).
#[pyclass(module = "citrate_native._core", name = "HdWallet", frozen)]
struct HdWallet {
    inner: citrate_core::HdWallet,
}

#[pymethods]
impl HdWallet {
    #[staticmethod]
    #[pyo3(signature = (phrase, passphrase = ""))]
    fn from_mnemonic(py: Python<'_>, phrase: &str, passphrase: &str) -> PyResult<Self> {
        let inner = py.detach(|| citrate_core::HdWallet::from_mnemonic(phrase, passphrase)).py()?;
        Ok(Self { inner })
    }

    #[staticmethod]
    fn from_seed(seed: &[u8]) -> PyResult<Self> {
        Ok(Self { inner: citrate_core::HdWallet::from_seed(seed).py()? })
    }

    #[pyo3(signature = (index, account = 0))]
    fn address(&self, index: i128, account: i128) -> PyResult<String> {
        self.inner.address(index_arg(index)?, index_arg(account)?).py()
    }

    #[pyo3(signature = (count, start = 0, account = 0))]
    fn addresses(
        &self,
        py: Python<'_>,
        count: i128,
        start: i128,
        account: i128,
    ) -> PyResult<Vec<String>> {
        let count = citrate_core::check_count(count).py()?;
        let (start, account) = (index_arg(start)?, index_arg(account)?);
        py.detach(|| self.inner.addresses(count, start, account)).py()
    }

    #[pyo3(signature = (index, account = 0))]
    fn key(&self, index: i128, account: i128) -> PyResult<PrivateKey> {
        Ok(PrivateKey { inner: self.inner.key(index_arg(index)?, index_arg(account)?).py()? })
    }

    fn key_at(&self, path: &str) -> PyResult<PrivateKey> {
        let path: citrate_core::DerivationPath = path.parse().py()?;
        Ok(PrivateKey { inner: self.inner.derive(&path).py()?.private_key() })
    }

    fn extended_public_key(&self, path: &str) -> PyResult<String> {
        let path: citrate_core::DerivationPath = path.parse().py()?;
        Ok(self.inner.derive(&path).py()?.public().to_xpub())
    }

    /// Internal: the `xprv…` extended private key at `path` (key material).
    ///
    /// Not public API: Python code gets key material only through the vault's password-gated
    /// export. The only callers are the known-answer vector tests, the vault's export, and the
    /// legacy-migration and benchmark code in `citrate_crypto`.
    #[pyo3(name = "_extended_private_key")]
    fn extended_private_key(&self, path: &str) -> PyResult<String> {
        let path: citrate_core::DerivationPath = path.parse().py()?;
        Ok(self.inner.derive(&path).py()?.to_xprv())
    }

    fn __repr__(&self) -> &'static str {
        "HdWallet(<secret>)"
    }
}

/// A secp256k1 private key; zeroized when dropped, never printed.
#[pyclass(module = "citrate_native._core", name = "PrivateKey", frozen)]
struct PrivateKey {
    inner: citrate_core::PrivateKey,
}

#[pymethods]
impl PrivateKey {
    #[staticmethod]
    fn from_bytes(secret: &[u8]) -> PyResult<Self> {
        Ok(Self { inner: citrate_core::PrivateKey::from_bytes(secret).py()? })
    }

    #[getter]
    fn address(&self) -> String {
        self.inner.address()
    }

    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.public_key())
    }

    fn sign_hash<'py>(&self, py: Python<'py>, digest: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.sign_hash(digest).py()?))
    }

    /// Internal: the 32-byte big-endian secret (key material).
    ///
    /// Not public API: Python code gets key material only through the vault's password-gated
    /// export. The only callers are the known-answer vector tests, the vault's export, and the
    /// legacy-migration and benchmark code in `citrate_crypto`.
    #[pyo3(name = "_secret_bytes")]
    fn secret_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.to_bytes().as_ref())
    }

    #[pyo3(signature = (password, kdf = "scrypt", *, iterations = 262_144, scrypt_n = 262_144, scrypt_r = 8, scrypt_p = 1))]
    #[allow(clippy::too_many_arguments)]
    fn encrypt_keystore(
        &self,
        py: Python<'_>,
        password: &str,
        kdf: &str,
        iterations: i128,
        scrypt_n: i128,
        scrypt_r: i128,
        scrypt_p: i128,
    ) -> PyResult<String> {
        // i128 so that an out-of-range int (negative, 2**64, ...) is a `KeystoreError` naming
        // the parameter rather than PyO3's `OverflowError`. `from_name` also enforces the cost
        // limits, so nothing is derived for parameters that would exhaust memory or time.
        let kdf =
            citrate_core::Kdf::from_name(kdf, iterations, scrypt_n, scrypt_r, scrypt_p).py()?;
        py.detach(|| citrate_core::encrypt_keystore(&self.inner, password, kdf)).py()
    }

    #[staticmethod]
    fn from_keystore(py: Python<'_>, keystore_json: &str, password: &str) -> PyResult<Self> {
        let inner = py.detach(|| citrate_core::decrypt_keystore(keystore_json, password)).py()?;
        Ok(Self { inner })
    }

    fn __repr__(&self) -> String {
        format!("PrivateKey(address='{}')", self.inner.address())
    }
}

/// The extension module `citrate_native._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(generate_mnemonic, m)?)?;
    m.add_function(wrap_pyfunction!(mnemonic_from_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(validate_mnemonic, m)?)?;
    m.add_function(wrap_pyfunction!(mnemonic_to_seed, m)?)?;
    m.add_function(wrap_pyfunction!(english_wordlist, m)?)?;
    m.add_function(wrap_pyfunction!(keccak256, m)?)?;
    m.add_function(wrap_pyfunction!(to_checksum_address, m)?)?;
    m.add_class::<HdWallet>()?;
    m.add_class::<PrivateKey>()?;
    ghostdag::register(m)?;
    chain::register(m)?;
    compute::register(m)?;
    Ok(())
}
