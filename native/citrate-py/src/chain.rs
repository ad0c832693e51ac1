//! `Chain` and `CallRequest`: the node core of `citrate_chain` (execution, mempool, store).
//!
//! Conversions only. Hashes and addresses are `bytes` (32 and 20 long), amounts non-negative
//! ints below 2**256 (otherwise `CitrateValueError`). Every method releases the GIL while the
//! core works; the core is thread-safe (readers in parallel, one writer).

use std::path::PathBuf;

use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, Bytes, B256, U256};
use citrate_chain as core;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyTuple};

pyo3::import_exception!(citrate_native.errors, ChainError);
pyo3::import_exception!(citrate_native.errors, TransactionRejected);
pyo3::import_exception!(citrate_native.errors, ExecutionReverted);
pyo3::import_exception!(citrate_native.errors, CallError);
pyo3::import_exception!(citrate_native.errors, BlockNotFound);
pyo3::import_exception!(citrate_native.errors, StoreError);
pyo3::import_exception!(citrate_native.errors, CitrateValueError);
pyo3::import_exception!(citrate_native.errors, GenesisError);

/// The single conversion of the node core's errors (exhaustive, no catch-all arm).
fn to_py_err(err: core::Error) -> PyErr {
    match err {
        core::Error::Rejected(m) => TransactionRejected::new_err(m),
        core::Error::Reverted { message, data } => ExecutionReverted::new_err((message, data)),
        core::Error::Call(m) => CallError::new_err(m),
        core::Error::BlockNotFound(m) => BlockNotFound::new_err(m),
        core::Error::Store(m) => StoreError::new_err(m),
        core::Error::InvalidArgument(m) => CitrateValueError::new_err(m),
        core::Error::Genesis { message, index, data } => {
            GenesisError::new_err((message, index, data))
        }
        core::Error::Chain(m) => ChainError::new_err(m),
    }
}

trait Py<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> Py<T> for Result<T, core::Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}

fn value_err(msg: String) -> PyErr {
    CitrateValueError::new_err(msg)
}

fn address_arg(bytes: &[u8], name: &str) -> PyResult<Address> {
    if bytes.len() != 20 {
        return Err(value_err(format!("`{name}` must be 20 bytes, got {}", bytes.len())));
    }
    Ok(Address::from_slice(bytes))
}

fn hash_arg(bytes: &[u8], name: &str) -> PyResult<B256> {
    if bytes.len() != 32 {
        return Err(value_err(format!("`{name}` must be 32 bytes, got {}", bytes.len())));
    }
    Ok(B256::from_slice(bytes))
}

fn u64_arg(v: i128, name: &str) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| value_err(format!("`{name}` must be in [0, 2**64), got {v}")))
}

fn u128_arg(v: &Bound<'_, PyInt>, name: &str) -> PyResult<u128> {
    let big = u256_arg(v, name)?;
    u128::try_from(big).map_err(|_| value_err(format!("`{name}` must be below 2**128")))
}

fn u256_arg(v: &Bound<'_, PyInt>, name: &str) -> PyResult<U256> {
    if let Ok(small) = v.extract::<u128>() {
        return Ok(U256::from(small));
    }
    let err = || value_err(format!("`{name}` must be a non-negative integer below 2**256"));
    let bytes = v.call_method1("to_bytes", (32, "big")).map_err(|_| err())?;
    let bytes: Vec<u8> = bytes.extract().map_err(|_| err())?;
    Ok(U256::from_be_slice(&bytes))
}

fn u256_to_py<'py>(py: Python<'py>, v: U256) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(small) = u128::try_from(v) {
        return Ok(small.into_pyobject(py)?.into_any());
    }
    let bytes = PyBytes::new(py, &v.to_be_bytes::<32>());
    py.get_type::<PyInt>().call_method1("from_bytes", (bytes, "big"))
}

fn b<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, bytes)
}

/// `[(address, [storage key, ...]), ...]` as given by Python.
type AccessListArg = Vec<(Vec<u8>, Vec<Vec<u8>>)>;

/// The transaction-shaped argument of `Chain.call`, `estimate_gas`, `create_access_list`.
#[pyclass(module = "citrate_native._core", name = "CallRequest", frozen)]
struct CallRequest {
    inner: core::CallRequest,
}

#[pymethods]
impl CallRequest {
    #[new]
    #[pyo3(signature = (*, from_ = None, to = None, gas = None, gas_price = None, max_fee_per_gas = None, max_priority_fee_per_gas = None, value = None, data = b"".as_slice(), nonce = None, access_list = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        from_: Option<&[u8]>,
        to: Option<&[u8]>,
        gas: Option<i128>,
        gas_price: Option<&Bound<'_, PyInt>>,
        max_fee_per_gas: Option<&Bound<'_, PyInt>>,
        max_priority_fee_per_gas: Option<&Bound<'_, PyInt>>,
        value: Option<&Bound<'_, PyInt>>,
        data: &[u8],
        nonce: Option<i128>,
        access_list: Option<AccessListArg>,
    ) -> PyResult<Self> {
        let access_list = match access_list {
            None => None,
            Some(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (address, keys) in items {
                    let address = address_arg(&address, "access_list address")?;
                    let storage_keys = keys
                        .iter()
                        .map(|k| hash_arg(k, "access_list storage key"))
                        .collect::<PyResult<Vec<_>>>()?;
                    out.push(AccessListItem { address, storage_keys });
                }
                Some(AccessList(out))
            }
        };
        Ok(Self {
            inner: core::CallRequest {
                from: from_.map(|a| address_arg(a, "from_")).transpose()?,
                to: to.map(|a| address_arg(a, "to")).transpose()?,
                gas: gas.map(|g| u64_arg(g, "gas")).transpose()?,
                gas_price: gas_price.map(|v| u128_arg(v, "gas_price")).transpose()?,
                max_fee_per_gas: max_fee_per_gas
                    .map(|v| u128_arg(v, "max_fee_per_gas"))
                    .transpose()?,
                max_priority_fee_per_gas: max_priority_fee_per_gas
                    .map(|v| u128_arg(v, "max_priority_fee_per_gas"))
                    .transpose()?,
                value: value.map(|v| u256_arg(v, "value")).transpose()?.unwrap_or_default(),
                data: Bytes::copy_from_slice(data),
                nonce: nonce.map(|n| u64_arg(n, "nonce")).transpose()?,
                access_list,
            },
        })
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// The node core: GhostDAG + revm + pool + redb store.
#[pyclass(module = "citrate_native._core", name = "Chain", frozen)]
struct Chain {
    inner: core::Chain,
}

fn mined_round<'py>(py: Python<'py>, r: core::MinedRound) -> PyResult<Bound<'py, PyDict>> {
    let blocks = PyList::empty(py);
    for blk in r.blocks {
        let d = PyDict::new(py);
        d.set_item("hash", b(py, blk.hash.as_slice()))?;
        d.set_item("number", blk.number)?;
        d.set_item("blue_score", blk.blue_score)?;
        let txs: Vec<Bound<'py, PyBytes>> =
            blk.tx_hashes.iter().map(|h| b(py, h.as_slice())).collect();
        d.set_item("tx_hashes", txs)?;
        blocks.append(d)?;
    }
    let skipped: Vec<(Bound<'py, PyBytes>, String)> =
        r.skipped.into_iter().map(|(h, reason)| (b(py, h.as_slice()), reason)).collect();
    let out = PyDict::new(py);
    out.set_item("blocks", blocks)?;
    out.set_item("skipped", skipped)?;
    Ok(out)
}

#[pymethods]
impl Chain {
    #[new]
    #[pyo3(signature = (data_dir, *, chain_id = 1337, k = 18, max_parents = 10, block_gas_limit = 30_000_000, initial_base_fee = 1_000_000_000, genesis_alloc = Vec::new(), genesis_timestamp = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        data_dir: PathBuf,
        chain_id: i128,
        k: i128,
        max_parents: i128,
        block_gas_limit: i128,
        initial_base_fee: i128,
        genesis_alloc: Vec<Bound<'_, PyAny>>,
        genesis_timestamp: Option<i128>,
    ) -> PyResult<Self> {
        let k = u16::try_from(k)
            .map_err(|_| value_err(format!("`k` must be in [0, 65535], got {k}")))?;
        let max_parents =
            usize::try_from(max_parents).ok().filter(|m| (1..=64).contains(m)).ok_or_else(
                || value_err(format!("`max_parents` must be in [1, 64], got {max_parents}")),
            )?;
        let alloc = genesis_alloc_arg(&genesis_alloc, "genesis_alloc")?;
        let cfg = core::ChainConfig {
            chain_id: u64_arg(chain_id, "chain_id")?,
            k,
            max_parents,
            block_gas_limit: u64_arg(block_gas_limit, "block_gas_limit")?,
            initial_base_fee: u64_arg(initial_base_fee, "initial_base_fee")?,
            genesis_alloc: alloc,
            genesis_timestamp: genesis_timestamp
                .map(|ts| u64_arg(ts, "genesis_timestamp"))
                .transpose()?,
        };
        let inner = py.detach(|| core::Chain::open(&data_dir, cfg)).py()?;
        Ok(Self { inner })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.close()).py()
    }

    #[getter]
    fn chain_id(&self) -> u64 {
        self.inner.config().chain_id
    }

    #[getter]
    fn k(&self) -> u16 {
        self.inner.config().k
    }

    #[getter]
    fn max_parents(&self) -> usize {
        self.inner.config().max_parents
    }

    #[getter]
    fn block_gas_limit(&self) -> u64 {
        self.inner.config().block_gas_limit
    }

    #[getter]
    fn head_number(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.inner.head_number()).py()
    }

    #[getter]
    fn genesis_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b(py, self.inner.genesis_hash().as_slice())
    }

    fn block_hash<'py>(
        &self,
        py: Python<'py>,
        number: i128,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let Ok(n) = u64::try_from(number) else { return Ok(None) };
        let h = py.detach(|| self.inner.block_hash(n)).py()?;
        Ok(h.map(|h| b(py, h.as_slice())))
    }

    fn block_number(&self, py: Python<'_>, hash: &[u8]) -> PyResult<Option<u64>> {
        let h = hash_arg(hash, "hash")?;
        py.detach(|| self.inner.block_number(&h)).py()
    }

    fn block_timestamp(&self, py: Python<'_>, number: i128) -> PyResult<Option<u64>> {
        let Ok(n) = u64::try_from(number) else { return Ok(None) };
        py.detach(|| self.inner.block_timestamp(n)).py()
    }

    fn next_base_fee(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.inner.next_base_fee()).py()
    }

    // -- pool --------------------------------------------------------------------------------

    fn send_raw_transaction<'py>(
        &self,
        py: Python<'py>,
        raw: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let raw = raw.to_vec();
        let h = py.detach(|| self.inner.send_raw_transaction(&raw)).py()?;
        Ok(b(py, h.as_slice()))
    }

    fn pending_nonce(&self, py: Python<'_>, address: &[u8]) -> PyResult<u64> {
        let a = address_arg(address, "address")?;
        py.detach(|| self.inner.pending_nonce(&a)).py()
    }

    fn pool_len(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.inner.pool_len()).py()
    }

    fn pool_pending_len(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.inner.pool_pending_len()).py()
    }

    fn pool_snapshot(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.inner.pool_snapshot()).py()
    }

    // -- production ----------------------------------------------------------------------------

    #[pyo3(signature = (producers = 1, coinbases = Vec::new(), timestamp = None))]
    fn mine<'py>(
        &self,
        py: Python<'py>,
        producers: i128,
        coinbases: Vec<Vec<u8>>,
        timestamp: Option<i128>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let producers = usize::try_from(producers)
            .map_err(|_| value_err(format!("`producers` must be positive, got {producers}")))?;
        let coinbases =
            coinbases.iter().map(|c| address_arg(c, "coinbases")).collect::<PyResult<Vec<_>>>()?;
        let timestamp = timestamp.map(|t| u64_arg(t, "timestamp")).transpose()?;
        let round = py.detach(|| self.inner.mine(producers, &coinbases, timestamp)).py()?;
        mined_round(py, round)
    }

    #[pyo3(signature = (tx_sets, coinbases = Vec::new(), timestamp = None))]
    fn mine_transactions<'py>(
        &self,
        py: Python<'py>,
        tx_sets: Vec<Vec<Vec<u8>>>,
        coinbases: Vec<Vec<u8>>,
        timestamp: Option<i128>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let coinbases =
            coinbases.iter().map(|c| address_arg(c, "coinbases")).collect::<PyResult<Vec<_>>>()?;
        let timestamp = timestamp.map(|t| u64_arg(t, "timestamp")).transpose()?;
        let round =
            py.detach(|| self.inner.mine_transactions(&tx_sets, &coinbases, timestamp)).py()?;
        mined_round(py, round)
    }

    fn rewind(&self, py: Python<'_>, number: i128) -> PyResult<()> {
        let n = u64_arg(number, "number")?;
        py.detach(|| self.inner.rewind(n)).py()
    }

    fn set_balance(&self, py: Python<'_>, address: &[u8], wei: &Bound<'_, PyInt>) -> PyResult<()> {
        let a = address_arg(address, "address")?;
        let w = u256_arg(wei, "wei")?;
        py.detach(|| self.inner.set_balance(a, w)).py()
    }

    fn set_code(&self, py: Python<'_>, address: &[u8], code: &[u8]) -> PyResult<()> {
        let a = address_arg(address, "address")?;
        let c = Bytes::copy_from_slice(code);
        py.detach(|| self.inner.set_code(a, c)).py()
    }

    fn set_nonce(&self, py: Python<'_>, address: &[u8], nonce: i128) -> PyResult<()> {
        let a = address_arg(address, "address")?;
        let n = u64_arg(nonce, "nonce")?;
        py.detach(|| self.inner.set_nonce(a, n)).py()
    }

    fn set_storage_at(
        &self,
        py: Python<'_>,
        address: &[u8],
        slot: &[u8],
        value: &[u8],
    ) -> PyResult<()> {
        let a = address_arg(address, "address")?;
        let s = U256::from_be_bytes(hash_arg(slot, "slot")?.0);
        let v = U256::from_be_bytes(hash_arg(value, "value")?.0);
        py.detach(|| self.inner.set_storage_at(a, s, v)).py()
    }

    // -- state at a block ----------------------------------------------------------------------

    fn balance<'py>(
        &self,
        py: Python<'py>,
        address: &[u8],
        block: i128,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = address_arg(address, "address")?;
        let n = block_arg(block)?;
        let v = py.detach(|| self.inner.balance(&a, n)).py()?;
        u256_to_py(py, v)
    }

    fn nonce(&self, py: Python<'_>, address: &[u8], block: i128) -> PyResult<u64> {
        let a = address_arg(address, "address")?;
        let n = block_arg(block)?;
        py.detach(|| self.inner.nonce(&a, n)).py()
    }

    fn code<'py>(
        &self,
        py: Python<'py>,
        address: &[u8],
        block: i128,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let a = address_arg(address, "address")?;
        let n = block_arg(block)?;
        let c = py.detach(|| self.inner.code(&a, n)).py()?;
        Ok(b(py, &c))
    }

    fn storage_at<'py>(
        &self,
        py: Python<'py>,
        address: &[u8],
        slot: &[u8],
        block: i128,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let a = address_arg(address, "address")?;
        let s = U256::from_be_bytes(hash_arg(slot, "slot")?.0);
        let n = block_arg(block)?;
        let v = py.detach(|| self.inner.storage_at(&a, &s, n)).py()?;
        Ok(b(py, &v.to_be_bytes::<32>()))
    }

    fn call<'py>(
        &self,
        py: Python<'py>,
        request: &CallRequest,
        block: i128,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let n = block_arg(block)?;
        let out = py.detach(|| self.inner.call(&request.inner, n)).py()?;
        Ok(b(py, &out))
    }

    fn estimate_gas(&self, py: Python<'_>, request: &CallRequest, block: i128) -> PyResult<u64> {
        let n = block_arg(block)?;
        py.detach(|| self.inner.estimate_gas(&request.inner, n)).py()
    }

    #[allow(clippy::type_complexity)]
    fn create_access_list<'py>(
        &self,
        py: Python<'py>,
        request: &CallRequest,
        block: i128,
    ) -> PyResult<(Vec<(Bound<'py, PyBytes>, Vec<Bound<'py, PyBytes>>)>, u64)> {
        let n = block_arg(block)?;
        let (list, gas) = py.detach(|| self.inner.create_access_list(&request.inner, n)).py()?;
        let items = list
            .0
            .iter()
            .map(|i| {
                (
                    b(py, i.address.as_slice()),
                    i.storage_keys.iter().map(|k| b(py, k.as_slice())).collect(),
                )
            })
            .collect();
        Ok((items, gas))
    }

    // -- chain data ----------------------------------------------------------------------------

    fn block_by_number(
        &self,
        py: Python<'_>,
        number: i128,
        full_transactions: bool,
    ) -> PyResult<Option<String>> {
        let Ok(n) = u64::try_from(number) else { return Ok(None) };
        py.detach(|| self.inner.block_by_number(n, full_transactions)).py()
    }

    fn block_by_hash(
        &self,
        py: Python<'_>,
        hash: &[u8],
        full_transactions: bool,
    ) -> PyResult<Option<String>> {
        let h = hash_arg(hash, "hash")?;
        py.detach(|| self.inner.block_by_hash(&h, full_transactions)).py()
    }

    fn transaction(&self, py: Python<'_>, hash: &[u8]) -> PyResult<Option<String>> {
        let h = hash_arg(hash, "hash")?;
        py.detach(|| self.inner.transaction(&h)).py()
    }

    fn transaction_by_block_and_index(
        &self,
        py: Python<'_>,
        number: i128,
        index: i128,
    ) -> PyResult<Option<String>> {
        let (Ok(n), Ok(i)) = (u64::try_from(number), u64::try_from(index)) else { return Ok(None) };
        py.detach(|| self.inner.transaction_by_block_and_index(n, i)).py()
    }

    fn receipt(&self, py: Python<'_>, hash: &[u8]) -> PyResult<Option<String>> {
        let h = hash_arg(hash, "hash")?;
        py.detach(|| self.inner.receipt(&h)).py()
    }

    fn block_receipts(&self, py: Python<'_>, number: i128) -> PyResult<Option<String>> {
        let Ok(n) = u64::try_from(number) else { return Ok(None) };
        py.detach(|| self.inner.block_receipts(n)).py()
    }

    fn logs(
        &self,
        py: Python<'_>,
        from_block: i128,
        to_block: i128,
        addresses: Vec<Vec<u8>>,
        topics: Vec<Option<Vec<Vec<u8>>>>,
    ) -> PyResult<String> {
        let from = u64_arg(from_block, "from_block")?;
        let to = u64_arg(to_block, "to_block")?;
        let addresses =
            addresses.iter().map(|a| address_arg(a, "addresses")).collect::<PyResult<Vec<_>>>()?;
        let topics = topics
            .into_iter()
            .map(|t| {
                t.map(|list| {
                    list.iter().map(|x| hash_arg(x, "topics")).collect::<PyResult<Vec<_>>>()
                })
                .transpose()
            })
            .collect::<PyResult<Vec<_>>>()?;
        py.detach(|| self.inner.logs(from, to, &addresses, &topics)).py()
    }

    fn fee_history(
        &self,
        py: Python<'_>,
        block_count: i128,
        newest_block: i128,
        percentiles: Vec<f64>,
    ) -> PyResult<String> {
        let count = u64_arg(block_count, "block_count")?;
        let newest = u64_arg(newest_block, "newest_block")?;
        py.detach(|| self.inner.fee_history(count, newest, &percentiles)).py()
    }

    fn transaction_status<'py>(
        &self,
        py: Python<'py>,
        hash: &[u8],
    ) -> PyResult<Bound<'py, PyDict>> {
        let h = hash_arg(hash, "hash")?;
        let status = py.detach(|| self.inner.transaction_status(&h)).py()?;
        let d = PyDict::new(py);
        match status {
            core::TxStatus::Pending => d.set_item("status", "pending")?,
            core::TxStatus::Queued => d.set_item("status", "queued")?,
            core::TxStatus::Unknown => d.set_item("status", "unknown")?,
            core::TxStatus::Mined { block_hash, block_number, blue_score } => {
                d.set_item("status", "mined")?;
                d.set_item("blockHash", b(py, block_hash.as_slice()))?;
                d.set_item("blockNumber", block_number)?;
                d.set_item("blueScore", blue_score)?;
            }
            core::TxStatus::Skipped { block_hash, reason } => {
                d.set_item("status", "skipped")?;
                d.set_item("blockHash", b(py, block_hash.as_slice()))?;
                d.set_item("reason", reason)?;
            }
        }
        Ok(d)
    }

    #[pyo3(signature = (address, limit, cursor = None))]
    fn transactions_by_address(
        &self,
        py: Python<'_>,
        address: &[u8],
        limit: i128,
        cursor: Option<i128>,
    ) -> PyResult<(String, Option<u64>)> {
        let a = address_arg(address, "address")?;
        let limit = usize::try_from(limit)
            .ok()
            .filter(|l| (1..=10_000).contains(l))
            .ok_or_else(|| value_err(format!("`limit` must be in [1, 10000], got {limit}")))?;
        let cursor = cursor.map(|c| u64_arg(c, "cursor")).transpose()?;
        py.detach(|| self.inner.transactions_by_address(&a, limit, cursor)).py()
    }

    fn dag_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = py.detach(|| self.inner.dag_stats()).py()?;
        let d = PyDict::new(py);
        d.set_item("blocks", s.blocks)?;
        let tips: Vec<Bound<'py, PyBytes>> = s.tips.iter().map(|t| b(py, t.as_slice())).collect();
        d.set_item("tips", tips)?;
        d.set_item("blue_count", s.blue_count)?;
        d.set_item("red_count", s.red_count)?;
        d.set_item("max_blue_score", s.max_blue_score)?;
        d.set_item("k", s.k)?;
        d.set_item("max_parents", s.max_parents)?;
        Ok(d)
    }

    fn block_dag<'py>(
        &self,
        py: Python<'py>,
        from_block: i128,
        to_block: i128,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let from = u64_arg(from_block, "from_block")?;
        let to = u64_arg(to_block, "to_block")?;
        let blocks = py.detach(|| self.inner.block_dag(from, to)).py()?;
        let mut out = Vec::with_capacity(blocks.len());
        for blk in blocks {
            let d = PyDict::new(py);
            d.set_item("hash", b(py, blk.hash.as_slice()))?;
            d.set_item("number", blk.number)?;
            let parents: Vec<Bound<'py, PyBytes>> =
                blk.parents.iter().map(|p| b(py, p.as_slice())).collect();
            d.set_item("parents", parents)?;
            d.set_item("selected_parent", blk.selected_parent.map(|p| b(py, p.as_slice())))?;
            d.set_item("blue_score", blk.blue_score)?;
            d.set_item("blue_work", blk.blue_work)?;
            d.set_item("is_blue", blk.is_blue)?;
            d.set_item("timestamp", blk.timestamp)?;
            d.set_item("tx_count", blk.tx_count)?;
            out.push(d);
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!("Chain(chain_id={}, k={}, max_parents={})", c.chain_id, c.k, c.max_parents)
    }
}

/// A block number argument: negative is a `BlockNotFound` ("header not found") like too high.
fn block_arg(block: i128) -> PyResult<u64> {
    u64::try_from(block).map_err(|_| to_py_err(core::Error::header_not_found()))
}

// -- genesis -----------------------------------------------------------------------------------

/// The two accepted forms of a genesis account, for error messages.
const ACCOUNT_FORMS: &str = "(address, balance) or (address, balance, nonce, code, {slot: value})";

/// Genesis accounts as given by Python: `(address, balance)` or
/// `(address, balance, nonce, code, {slot: value})` tuples (lists are accepted too).
fn genesis_alloc_arg(
    items: &[Bound<'_, PyAny>],
    name: &str,
) -> PyResult<Vec<core::GenesisAccount>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| genesis_account_arg(item, &format!("{name}[{i}]")))
        .collect()
}

fn genesis_account_arg(item: &Bound<'_, PyAny>, name: &str) -> PyResult<core::GenesisAccount> {
    let fields: Vec<Bound<'_, PyAny>> = if let Ok(t) = item.cast::<PyTuple>() {
        t.iter().collect()
    } else if let Ok(l) = item.cast::<PyList>() {
        l.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "`{name}` must be a tuple {ACCOUNT_FORMS}, got {}",
            type_name(item)
        )));
    };
    let (address, balance, rest) = match fields.as_slice() {
        [address, balance] => (address, balance, None),
        [address, balance, nonce, code, storage] => {
            (address, balance, Some((nonce, code, storage)))
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "`{name}` must be a tuple {ACCOUNT_FORMS}, got {} items",
                other.len()
            )))
        }
    };
    let address = address_arg(
        &bytes_field(address, &format!("{name} address"))?,
        &format!("{name} address"),
    )?;
    let balance =
        u256_arg(int_field(balance, &format!("{name} balance"))?, &format!("{name} balance"))?;
    let mut account = core::GenesisAccount::with_balance(address, balance);
    if let Some((nonce, code, storage)) = rest {
        let nonce_name = format!("{name} nonce");
        let nonce = u256_arg(int_field(nonce, &nonce_name)?, &nonce_name)?;
        account.nonce = u64::try_from(nonce)
            .map_err(|_| value_err(format!("`{nonce_name}` must be in [0, 2**64), got {nonce}")))?;
        account.code = Bytes::from(bytes_field(code, &format!("{name} code"))?);
        let storage_name = format!("{name} storage");
        let items = storage.call_method0("items").map_err(|_| {
            PyTypeError::new_err(format!(
                "`{storage_name}` must be a dict {{slot: value}} of ints, got {}",
                type_name(storage)
            ))
        })?;
        for pair in items.try_iter()? {
            let (slot, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
            let slot = u256_arg(
                int_field(&slot, &format!("{storage_name} slot"))?,
                &format!("{storage_name} slot"),
            )?;
            let value_name = format!("{storage_name}[{slot:#x}]");
            let value = u256_arg(int_field(&value, &value_name)?, &value_name)?;
            account.storage.push((slot, value));
        }
    }
    Ok(account)
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into())
}

fn bytes_field(v: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
    if v.is_instance_of::<PyBytes>() || v.is_instance_of::<pyo3::types::PyByteArray>() {
        return v.extract();
    }
    Err(PyTypeError::new_err(format!("`{name}` must be bytes, got {}", type_name(v))))
}

fn int_field<'a, 'py>(v: &'a Bound<'py, PyAny>, name: &str) -> PyResult<&'a Bound<'py, PyInt>> {
    // bool is an int subclass; True as a balance is a mistake, not 1 wei.
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!("`{name}` must be an int, got bool")));
    }
    v.cast::<PyInt>()
        .map_err(|_| PyTypeError::new_err(format!("`{name}` must be an int, got {}", type_name(v))))
}

/// A genesis account as Python sees it: `(address, balance, nonce, code, {slot: value})`.
fn genesis_account_to_py<'py>(
    py: Python<'py>,
    a: &core::GenesisAccount,
) -> PyResult<Bound<'py, PyTuple>> {
    let storage = PyDict::new(py);
    for (slot, value) in &a.storage {
        storage.set_item(u256_to_py(py, *slot)?, u256_to_py(py, *value)?)?;
    }
    PyTuple::new(
        py,
        [
            b(py, a.address.as_slice()).into_any(),
            u256_to_py(py, a.balance)?,
            a.nonce.into_pyobject(py)?.into_any(),
            b(py, &a.code).into_any(),
            storage.into_any(),
        ],
    )
}

/// One `build_genesis` call as given by Python: `(from, to or None, data, value)`.
type GenesisCallArg<'py> = (Vec<u8>, Option<Vec<u8>>, Vec<u8>, Bound<'py, PyInt>);

/// Run deployment calls on the genesis alloc and return the resulting accounts (the alloc with
/// the contracts predeployed), ready to pass as `Chain(..., genesis_alloc=...)`.
#[pyfunction]
fn build_genesis<'py>(
    py: Python<'py>,
    chain_id: i128,
    alloc: Vec<Bound<'py, PyAny>>,
    calls: Vec<GenesisCallArg<'py>>,
    timestamp: i128,
    gas_limit: i128,
) -> PyResult<Bound<'py, PyList>> {
    let chain_id = u64_arg(chain_id, "chain_id")?;
    let timestamp = u64_arg(timestamp, "timestamp")?;
    let gas_limit = u64_arg(gas_limit, "gas_limit")?;
    let alloc = genesis_alloc_arg(&alloc, "alloc")?;
    let mut core_calls = Vec::with_capacity(calls.len());
    for (i, (from, to, data, value)) in calls.iter().enumerate() {
        core_calls.push(core::GenesisCall {
            from: address_arg(from, &format!("calls[{i}] from"))?,
            to: to.as_deref().map(|t| address_arg(t, &format!("calls[{i}] to"))).transpose()?,
            data: Bytes::copy_from_slice(data),
            value: u256_arg(value, &format!("calls[{i}] value"))?,
        });
    }
    let accounts = py
        .detach(|| core::build_genesis(chain_id, alloc, core_calls, timestamp, gas_limit))
        .py()?;
    let out = PyList::empty(py);
    for a in &accounts {
        out.append(genesis_account_to_py(py, a)?)?;
    }
    Ok(out)
}

/// Register this file's classes and functions in `citrate_native._core`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Chain>()?;
    m.add_class::<CallRequest>()?;
    m.add_function(wrap_pyfunction!(build_genesis, m)?)?;
    Ok(())
}
