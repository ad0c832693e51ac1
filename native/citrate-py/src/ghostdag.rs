//! `GhostDag`: the GhostDAG consensus of `citrate_chain::ghostdag`.
//!
//! Conversions only: hashes are `bytes` of length 32, every `citrate_chain` GhostDAG error
//! becomes `citrate_native.errors.GhostDagError` with the core's message.

use std::sync::{Mutex, MutexGuard, PoisonError};

use citrate_chain::ghostdag::{self as gd, BlockHash};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

pyo3::import_exception!(citrate_native.errors, GhostDagError);

/// The single conversion of the core's GhostDAG errors (all of them are `GhostDagError`).
fn to_py_err(err: gd::GhostDagError) -> PyErr {
    GhostDagError::new_err(err.to_string())
}

fn hash_arg(bytes: &[u8]) -> PyResult<BlockHash> {
    gd::block_hash(bytes).map_err(to_py_err)
}

fn hashes<'py>(py: Python<'py>, hashes: &[BlockHash]) -> Vec<Bound<'py, PyBytes>> {
    hashes.iter().map(|h| PyBytes::new(py, h)).collect()
}

/// GhostDAG data of one block (a snapshot; it does not change as the DAG grows).
#[pyclass(module = "citrate_native._core", name = "GhostDagData", frozen)]
struct GhostDagData {
    hash: BlockHash,
    data: gd::GhostDagData,
}

#[pymethods]
impl GhostDagData {
    #[getter]
    fn hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.hash)
    }

    #[getter]
    fn blue_score(&self) -> u64 {
        self.data.blue_score
    }

    #[getter]
    fn blue_work(&self) -> u128 {
        self.data.blue_work
    }

    #[getter]
    fn selected_parent<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.data.selected_parent.map(|h| PyBytes::new(py, &h))
    }

    #[getter]
    fn mergeset_blues<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        hashes(py, &self.data.mergeset_blues)
    }

    #[getter]
    fn mergeset_reds<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        hashes(py, &self.data.mergeset_reds)
    }

    fn __repr__(&self) -> String {
        let short =
            |h: &BlockHash| h.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>();
        format!(
            "GhostDagData(hash=0x{}…, blue_score={}, selected_parent={}, blues={}, reds={})",
            short(&self.hash),
            self.data.blue_score,
            self.data
                .selected_parent
                .map_or_else(|| "None".to_owned(), |h| format!("0x{}…", short(&h))),
            self.data.mergeset_blues.len(),
            self.data.mergeset_reds.len(),
        )
    }
}

/// A GhostDAG block DAG over 32-byte hashes; thread-safe (one lock around the core DAG).
#[pyclass(module = "citrate_native._core", name = "GhostDag", frozen)]
struct GhostDag {
    inner: Mutex<gd::GhostDag>,
}

impl GhostDag {
    /// The core DAG. A panic cannot happen while the lock is held (the core does not panic),
    /// so a poisoned lock still guards consistent data.
    fn dag(&self) -> MutexGuard<'_, gd::GhostDag> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl GhostDag {
    /// i128 arguments so that any int out of range is a `GhostDagError`, not `OverflowError`.
    #[new]
    #[pyo3(signature = (k, genesis_hash, max_parents = 10))]
    fn new(k: i128, genesis_hash: &[u8], max_parents: i128) -> PyResult<Self> {
        let (k, max_parents) = gd::check_params(k, max_parents).map_err(to_py_err)?;
        let genesis = hash_arg(genesis_hash)?;
        Ok(Self { inner: Mutex::new(gd::GhostDag::new(k, genesis, max_parents)) })
    }

    #[getter]
    fn k(&self) -> u16 {
        self.dag().k()
    }

    #[getter]
    fn genesis_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.dag().genesis())
    }

    #[getter]
    fn max_parents(&self) -> usize {
        self.dag().max_parents()
    }

    fn add_block(
        &self,
        py: Python<'_>,
        hash: &[u8],
        parents: Vec<PyBackedBytes>,
    ) -> PyResult<GhostDagData> {
        let hash = hash_arg(hash)?;
        let parents = parents.iter().map(|p| hash_arg(p)).collect::<PyResult<Vec<_>>>()?;
        // The lock is taken and released while detached, so a thread waiting for it never
        // holds the GIL that the holder needs.
        let data =
            py.detach(|| self.dag().add_block(hash, &parents).cloned()).map_err(to_py_err)?;
        Ok(GhostDagData { hash, data })
    }

    fn get(&self, hash: &[u8]) -> PyResult<Option<GhostDagData>> {
        let hash = hash_arg(hash)?;
        Ok(self.dag().get(&hash).map(|data| GhostDagData { hash, data: data.clone() }))
    }

    fn __len__(&self) -> usize {
        self.dag().len()
    }

    fn __contains__(&self, hash: &Bound<'_, PyAny>) -> bool {
        let Ok(bytes) = hash.cast::<PyBytes>() else {
            return false;
        };
        gd::block_hash(bytes.as_bytes()).is_ok_and(|h| self.dag().contains(&h))
    }

    fn tips<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let tips = self.dag().tips();
        hashes(py, &tips)
    }

    fn ordered_mergeset<'py>(
        &self,
        py: Python<'py>,
        hash: &[u8],
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let hash = hash_arg(hash)?;
        let mergeset = self
            .dag()
            .ordered_mergeset(&hash)
            .ok_or_else(|| to_py_err(gd::GhostDagError::UnknownBlock { hash }))?;
        Ok(hashes(py, &mergeset))
    }

    fn total_order<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let order = py.detach(|| self.dag().total_order());
        hashes(py, &order)
    }

    fn __repr__(&self) -> String {
        let dag = self.dag();
        format!("GhostDag(k={}, max_parents={}, blocks={})", dag.k(), dag.max_parents(), dag.len())
    }
}

/// Register this file's classes and functions in `citrate_native._core`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<GhostDagData>()?;
    m.add_class::<GhostDag>()?;
    Ok(())
}
