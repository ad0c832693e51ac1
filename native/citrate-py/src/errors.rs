//! The single conversion from `citrate_core::Error` to Python exceptions.
//!
//! Python owns the exception tree (`citrate_native/errors.py`); this file imports those classes
//! and maps every core error to one of them. The `match` is exhaustive with no catch-all arm, so a
//! new core error variant does not compile until it is given an exception here.

use citrate_core::Error;
use pyo3::PyErr;

pyo3::import_exception!(citrate_native.errors, CitrateError);
pyo3::import_exception!(citrate_native.errors, CitrateValueError);
pyo3::import_exception!(citrate_native.errors, MnemonicError);
pyo3::import_exception!(citrate_native.errors, MnemonicWordCountError);
pyo3::import_exception!(citrate_native.errors, MnemonicUnknownWordError);
pyo3::import_exception!(citrate_native.errors, MnemonicChecksumError);
pyo3::import_exception!(citrate_native.errors, DerivationError);
pyo3::import_exception!(citrate_native.errors, InvalidKeyError);
pyo3::import_exception!(citrate_native.errors, InvalidAddressError);
pyo3::import_exception!(citrate_native.errors, KeystoreError);
pyo3::import_exception!(citrate_native.errors, KeystoreVersionError);
pyo3::import_exception!(citrate_native.errors, KeystoreMacError);
pyo3::import_exception!(citrate_native.errors, KeystoreFormatError);

/// Convert a core error into the matching Python exception (message = the core `Display`).
pub(crate) fn to_py_err(err: Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::MnemonicWordCount { count } => MnemonicWordCountError::new_err((msg, count)),
        Error::MnemonicUnknownWord { position, word, suggestions } => {
            MnemonicUnknownWordError::new_err((msg, position, word, suggestions))
        }
        Error::MnemonicChecksum => MnemonicChecksumError::new_err(msg),
        Error::EntropyLength { .. } => MnemonicError::new_err(msg),

        Error::SeedLength { .. }
        | Error::InvalidPath { .. }
        | Error::IndexOutOfRange { .. }
        | Error::InvalidCount { .. }
        | Error::InvalidChild { .. } => DerivationError::new_err(msg),

        Error::InvalidKey { .. } => InvalidKeyError::new_err(msg),
        Error::DigestLength { .. } => CitrateValueError::new_err(msg),
        Error::InvalidAddress { .. } => InvalidAddressError::new_err(msg),

        Error::KeystoreVersion { .. } => KeystoreVersionError::new_err(msg),
        Error::KeystoreMac => KeystoreMacError::new_err(msg),
        Error::KeystoreJson(_)
        | Error::KeystoreMissingField(_)
        | Error::KeystoreInvalidField { .. }
        | Error::KeystoreUnsupportedKdf(_)
        | Error::KeystoreUnsupportedCipher(_) => KeystoreFormatError::new_err(msg),
        Error::KeystoreKdfParams(_) | Error::KeystoreAddressMismatch { .. } => {
            KeystoreError::new_err(msg)
        }

        Error::Rng(_) | Error::Internal(_) => CitrateError::new_err(msg),
    }
}

/// `?`-friendly conversion of core results (the orphan rule forbids `From<Error> for PyErr`).
pub(crate) trait IntoPyResult<T> {
    /// Map the error with [`to_py_err`].
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py_err)
    }
}
