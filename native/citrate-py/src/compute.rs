//! `Scheduler`: the compute scheduler of `citrate_compute` (admission, job queue, memory ledger).
//!
//! Conversions only. Each argument is converted in signature order (and a `submit_many` batch
//! item by item, field by field) with the core's ranges, so that any int, of any size, that is
//! out of range is an `InvalidSchedulerArgument` naming it (never PyO3's `OverflowError`), and a
//! value of the wrong type is a `TypeError` naming the argument. The pure-Python reference
//! (`citrate_compute.scheduler_ref`) checks in the same order with the same messages.

use std::sync::{Mutex, MutexGuard, PoisonError};

use citrate_compute::{Arg, JobSpec, NodeSpec, SchedulerError as CoreError};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple};

pyo3::import_exception!(citrate_native.errors, SchedulerError);
pyo3::import_exception!(citrate_native.errors, InvalidSchedulerArgument);
pyo3::import_exception!(citrate_native.errors, DuplicateNode);
pyo3::import_exception!(citrate_native.errors, UnknownNode);
pyo3::import_exception!(citrate_native.errors, DuplicateJob);
pyo3::import_exception!(citrate_native.errors, UnknownJob);
pyo3::import_exception!(citrate_native.errors, JobTooLarge);
pyo3::import_exception!(citrate_native.errors, NoCapableNode);
pyo3::import_exception!(citrate_native.errors, LedgerInconsistent);

/// The single conversion of the core's scheduler errors (message = the core's `Display`).
fn to_py_err(err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err.innermost() {
        CoreError::InvalidArgument { .. } | CoreError::BatchItemLength { .. } => {
            InvalidSchedulerArgument::new_err(msg)
        }
        CoreError::DuplicateNode { .. } => DuplicateNode::new_err(msg),
        CoreError::UnknownNode { .. } => UnknownNode::new_err(msg),
        CoreError::DuplicateJob { .. } => DuplicateJob::new_err(msg),
        CoreError::UnknownJob { .. } => UnknownJob::new_err(msg),
        CoreError::JobTooLarge { .. } => JobTooLarge::new_err(msg),
        CoreError::NoCapableNode { .. } => NoCapableNode::new_err(msg),
        CoreError::LedgerInconsistent { .. } => LedgerInconsistent::new_err(msg),
        // `innermost` never returns the wrapper; the base class keeps the match exhaustive.
        CoreError::Batch { .. } => SchedulerError::new_err(msg),
    }
}

/// A core error, for batch item `item` if given.
fn arg_err(err: CoreError, item: Option<usize>) -> PyErr {
    to_py_err(match item {
        Some(index) => err.in_batch(index),
        None => err,
    })
}

/// `TypeError` naming the argument, the expected and the given type.
fn type_err(obj: &Bound<'_, PyAny>, arg: &str, expected: &str, item: Option<usize>) -> PyErr {
    let given = obj.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string());
    let prefix = item.map_or_else(String::new, |index| format!("batch item {index}: "));
    PyTypeError::new_err(format!("{prefix}`{arg}` must be {expected}, not `{given}`"))
}

/// An int out of every range, as text: its digits if it has at most 256 bits, else its size
/// (`<301-bit integer>`: a huge int's `str` is slow, and above 4300 digits refused by Python).
fn int_text(obj: &Bound<'_, PyAny>) -> String {
    let bits = obj.call_method0("bit_length").and_then(|b| b.extract::<u64>()).unwrap_or(u64::MAX);
    if bits <= 256 {
        obj.str().map_or_else(|_| "?".to_owned(), |s| s.to_string())
    } else {
        let sign = if obj.lt(0).unwrap_or(false) { "negative " } else { "" };
        format!("<{sign}{bits}-bit integer>")
    }
}

/// A non-negative int argument in `arg`'s range.
fn uint<T: TryFrom<u128>>(obj: &Bound<'_, PyAny>, arg: Arg, item: Option<usize>) -> PyResult<T> {
    if !obj.is_instance_of::<PyInt>() {
        return Err(type_err(obj, arg.name(), "an int", item));
    }
    // i64 first: the common case, and CPython's fastest conversion (its unsigned ones take
    // the generic byte-array path); then the full unsigned range.
    let value = match obj.extract::<i64>() {
        Ok(v) => u128::try_from(v).ok(),
        Err(_) => obj.extract::<u128>().ok(),
    };
    let Some(value) = value else {
        return Err(arg_err(arg.invalid(int_text(obj)), item));
    };
    let value = arg.check(value).map_err(|e| arg_err(e, item))?;
    T::try_from(value).map_err(|_| arg_err(arg.invalid(value), item))
}

/// A signed 32-bit int argument (the priority).
fn int32(obj: &Bound<'_, PyAny>, arg: Arg, item: Option<usize>) -> PyResult<i32> {
    if !obj.is_instance_of::<PyInt>() {
        return Err(type_err(obj, arg.name(), "an int", item));
    }
    let Ok(value) = obj.extract::<i64>() else {
        return Err(arg_err(arg.invalid(int_text(obj)), item));
    };
    let value = arg.check_signed(i128::from(value)).map_err(|e| arg_err(e, item))?;
    i32::try_from(value).map_err(|_| arg_err(arg.invalid(value), item))
}

/// A non-empty str id.
fn id(obj: &Bound<'_, PyAny>, arg: Arg, item: Option<usize>) -> PyResult<PyBackedStr> {
    let Ok(text) = obj.cast::<PyString>() else {
        return Err(type_err(obj, arg.name(), "a str", item));
    };
    let text = PyBackedStr::try_from(text.clone())?;
    if text.is_empty() {
        return Err(arg_err(arg.empty(), item));
    }
    Ok(text)
}

// `from_py_with` converters: one per argument, so each error names its argument.
fn node_id(obj: &Bound<'_, PyAny>) -> PyResult<PyBackedStr> {
    id(obj, Arg::NodeId, None)
}
fn job_id(obj: &Bound<'_, PyAny>) -> PyResult<PyBackedStr> {
    id(obj, Arg::JobId, None)
}
fn total_memory(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    uint(obj, Arg::TotalMemory, None)
}
fn allocation_percent(obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    uint(obj, Arg::AllocationPercent, None)
}
fn percent(obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    uint(obj, Arg::Percent, None)
}
fn max_jobs(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    uint(obj, Arg::MaxJobs, None)
}
fn job_types(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    uint(obj, Arg::JobTypes, None)
}
fn price(obj: &Bound<'_, PyAny>) -> PyResult<u128> {
    uint(obj, Arg::Price, None)
}
fn latency_ms(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    uint(obj, Arg::LatencyMs, None)
}
fn reputation(obj: &Bound<'_, PyAny>) -> PyResult<u16> {
    uint(obj, Arg::Reputation, None)
}
fn job_type(obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    uint(obj, Arg::JobType, None)
}
fn memory(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    uint(obj, Arg::Memory, None)
}
fn max_price(obj: &Bound<'_, PyAny>) -> PyResult<u128> {
    uint(obj, Arg::MaxPrice, None)
}
fn priority(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
    int32(obj, Arg::Priority, None)
}
fn max_latency_ms(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    uint(obj, Arg::MaxLatencyMs, None)
}
fn paused(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    match obj.cast::<PyBool>() {
        Ok(value) => Ok(value.is_true()),
        Err(_) => Err(type_err(obj, "paused", "a bool", None)),
    }
}

/// One `submit_many` item: a 6-item tuple (or list), converted field by field.
fn batch_item(item: &Bound<'_, PyAny>, index: usize) -> PyResult<(PyBackedStr, JobSpec)> {
    let expected = "a tuple (job_id, job_type, memory, max_price, priority, max_latency_ms)";
    if let Ok(tuple) = item.cast::<PyTuple>() {
        if tuple.len() != 6 {
            return Err(arg_err(CoreError::BatchItemLength { len: tuple.len() }, Some(index)));
        }
        // Borrowed items: no reference counting or allocation per field.
        let field = |i: usize| tuple.get_borrowed_item(i);
        return job_fields(
            [&*field(0)?, &*field(1)?, &*field(2)?, &*field(3)?, &*field(4)?, &*field(5)?],
            index,
        );
    }
    let Ok(list) = item.cast::<PyList>() else {
        return Err(type_err(item, "job", expected, Some(index)));
    };
    if list.len() != 6 {
        return Err(arg_err(CoreError::BatchItemLength { len: list.len() }, Some(index)));
    }
    let fields: Vec<Bound<'_, PyAny>> = list.iter().collect();
    let [a, b, c, d, e, f] = fields.as_slice() else {
        return Err(arg_err(CoreError::BatchItemLength { len: fields.len() }, Some(index)));
    };
    job_fields([a, b, c, d, e, f], index)
}

/// The six fields of a batch item, converted in order.
fn job_fields(fields: [&Bound<'_, PyAny>; 6], index: usize) -> PyResult<(PyBackedStr, JobSpec)> {
    let [id_obj, job_type, memory, max_price, priority, max_latency_ms] = fields;
    let item = Some(index);
    let job_id = id(id_obj, Arg::JobId, item)?;
    let spec = JobSpec {
        job_type: uint(job_type, Arg::JobType, item)?,
        memory: uint(memory, Arg::Memory, item)?,
        max_price: uint(max_price, Arg::MaxPrice, item)?,
        priority: int32(priority, Arg::Priority, item)?,
        max_latency_ms: uint(max_latency_ms, Arg::MaxLatencyMs, item)?,
    };
    Ok((job_id, spec))
}

/// The compute scheduler: admission, the job queue and the memory ledger of one provider.
/// Thread-safe (one lock around the core scheduler).
#[pyclass(module = "citrate_native._core", name = "Scheduler", frozen)]
struct Scheduler {
    inner: Mutex<citrate_compute::Scheduler>,
}

impl Scheduler {
    /// The core scheduler. A panic cannot happen while the lock is held (the core does not
    /// panic), so a poisoned lock still guards consistent data.
    fn core(&self) -> MutexGuard<'_, citrate_compute::Scheduler> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl Scheduler {
    #[new]
    fn new() -> Self {
        Self { inner: Mutex::new(citrate_compute::Scheduler::new()) }
    }

    #[pyo3(signature = (node_id, *, total_memory, allocation_percent, max_jobs, job_types, price = 0, latency_ms = 0, reputation = 5000))]
    #[allow(clippy::too_many_arguments)]
    fn add_node(
        &self,
        #[pyo3(from_py_with = node_id)] node_id: PyBackedStr,
        #[pyo3(from_py_with = total_memory)] total_memory: u64,
        #[pyo3(from_py_with = allocation_percent)] allocation_percent: u8,
        #[pyo3(from_py_with = max_jobs)] max_jobs: u32,
        #[pyo3(from_py_with = job_types)] job_types: u32,
        #[pyo3(from_py_with = price)] price: u128,
        #[pyo3(from_py_with = latency_ms)] latency_ms: u32,
        #[pyo3(from_py_with = reputation)] reputation: u16,
    ) -> PyResult<()> {
        let spec = NodeSpec {
            total_memory,
            allocation_percent,
            max_jobs,
            job_types,
            price,
            latency_ms,
            reputation,
        };
        self.core().add_node(&node_id, spec).map_err(to_py_err)
    }

    fn set_allocation(
        &self,
        #[pyo3(from_py_with = node_id)] node_id: PyBackedStr,
        #[pyo3(from_py_with = percent)] percent: u8,
    ) -> PyResult<()> {
        self.core().set_allocation(&node_id, percent).map_err(to_py_err)
    }

    fn set_paused(
        &self,
        #[pyo3(from_py_with = node_id)] node_id: PyBackedStr,
        #[pyo3(from_py_with = paused)] paused: bool,
    ) -> PyResult<()> {
        self.core().set_paused(&node_id, paused).map_err(to_py_err)
    }

    fn set_reputation(
        &self,
        #[pyo3(from_py_with = node_id)] node_id: PyBackedStr,
        #[pyo3(from_py_with = reputation)] reputation: u16,
    ) -> PyResult<()> {
        self.core().set_reputation(&node_id, reputation).map_err(to_py_err)
    }

    #[pyo3(signature = (job_id, *, job_type, memory, max_price, priority = 0, max_latency_ms = 0))]
    fn submit(
        &self,
        #[pyo3(from_py_with = job_id)] job_id: PyBackedStr,
        #[pyo3(from_py_with = job_type)] job_type: u8,
        #[pyo3(from_py_with = memory)] memory: u64,
        #[pyo3(from_py_with = max_price)] max_price: u128,
        #[pyo3(from_py_with = priority)] priority: i32,
        #[pyo3(from_py_with = max_latency_ms)] max_latency_ms: u32,
    ) -> PyResult<()> {
        let spec = JobSpec { job_type, memory, max_price, priority, max_latency_ms };
        self.core().submit(&job_id, spec).map_err(to_py_err)
    }

    fn submit_many(&self, py: Python<'_>, jobs: &Bound<'_, PyAny>) -> PyResult<()> {
        let batch = if let Ok(list) = jobs.cast::<PyList>() {
            list.iter().enumerate().map(|(i, item)| batch_item(&item, i)).collect::<PyResult<_>>()
        } else if let Ok(tuple) = jobs.cast::<PyTuple>() {
            tuple.iter().enumerate().map(|(i, item)| batch_item(&item, i)).collect()
        } else {
            Err(type_err(jobs, "jobs", "a list of job tuples", None))
        };
        let batch: Vec<(PyBackedStr, JobSpec)> = batch?;
        // The lock is taken and released while detached, so a thread waiting for it never
        // holds the GIL that the holder needs.
        py.detach(|| self.core().submit_many(&batch)).map_err(to_py_err)
    }

    fn schedule<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let placements = py.detach(|| self.core().schedule());
        // One str per node, shared by its placements (there are far fewer nodes than jobs).
        let mut node_strs: Vec<Option<Bound<'py, PyString>>> = Vec::new();
        let mut pairs = Vec::with_capacity(placements.len());
        for placement in &placements {
            if node_strs.len() <= placement.node {
                node_strs.resize(placement.node + 1, None);
            }
            let node = match node_strs.get_mut(placement.node) {
                Some(Some(s)) => s.clone(),
                Some(slot) => slot.insert(PyString::new(py, &placement.node_id)).clone(),
                None => PyString::new(py, &placement.node_id),
            };
            pairs.push(PyTuple::new(py, [PyString::new(py, &placement.job_id), node])?);
        }
        PyList::new(py, pairs)
    }

    fn finish(&self, #[pyo3(from_py_with = job_id)] job_id: PyBackedStr) -> PyResult<()> {
        self.core().finish(&job_id).map_err(to_py_err)
    }

    fn cancel(&self, #[pyo3(from_py_with = job_id)] job_id: PyBackedStr) -> PyResult<()> {
        self.core().cancel(&job_id).map_err(to_py_err)
    }

    fn ledger<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = node_id)] node_id: PyBackedStr,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ledger = self.core().ledger(&node_id).map_err(to_py_err)?;
        let dict = PyDict::new(py);
        dict.set_item("total", ledger.total)?;
        dict.set_item("share", ledger.share)?;
        dict.set_item("reserved", ledger.reserved)?;
        dict.set_item("free", ledger.free)?;
        dict.set_item("running", ledger.running)?;
        dict.set_item("max_jobs", ledger.max_jobs)?;
        dict.set_item("paused", ledger.paused)?;
        Ok(dict)
    }

    fn queued<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.core().queued())
    }

    #[pyo3(signature = (node_id = None))]
    fn running<'py>(
        &self,
        py: Python<'py>,
        node_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let node_id = node_id.map(|n| id(n, Arg::NodeId, None)).transpose()?;
        let core = self.core();
        let running = core.running(node_id.as_deref()).map_err(to_py_err)?;
        PyList::new(py, running)
    }

    fn job_node(
        &self,
        #[pyo3(from_py_with = job_id)] job_id: PyBackedStr,
    ) -> PyResult<Option<String>> {
        let core = self.core();
        Ok(core.job_node(&job_id).map_err(to_py_err)?.map(str::to_owned))
    }

    fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.core().nodes())
    }

    fn check(&self) -> PyResult<()> {
        self.core().check().map_err(to_py_err)
    }

    fn __repr__(&self) -> String {
        let core = self.core();
        format!(
            "Scheduler(nodes={}, queued={}, running={})",
            core.nodes().len(),
            core.queued_count(),
            core.running_count()
        )
    }
}

/// Register this file's classes in `citrate_native._core`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Scheduler>()?;
    Ok(())
}
