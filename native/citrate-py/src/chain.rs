//! `Chain`: the node core of `citrate_chain` (execution, mempool, store).

use pyo3::prelude::*;

/// Register this file's classes and functions in `citrate_native._core`.
pub(crate) fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
