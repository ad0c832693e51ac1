//! [`Chain`]: the node core. GhostDAG orders parallel blocks, revm executes the total order,
//! the pool and batcher feed producers, and everything is stored in one redb file.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_eips::eip1559::{calc_next_block_base_fee, BaseFeeParams};
use alloy_eips::eip2930::AccessList;
use alloy_primitives::{keccak256, Address, Bloom, Bytes, B256, KECCAK256_EMPTY, U256};
use alloy_rlp::{Encodable, RlpEncodable};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::bytecode::Bytecode;

use crate::error::{Error, Result};
use crate::exec::{self, BlockParams, CallOutcome, CallRequest};
use crate::genesis::{self, AllocEntry, GenesisAccount};
use crate::ghostdag::{GhostDag, GhostDagData};
use crate::pool::{AdmitContext, Pool, PoolStatus};
use crate::state::{
    state_root_with, Account, BlockChanges, BlockDb, BlockHashes, LatestState, Overlay, ReaderDb,
    StateReader,
};
use crate::store::{
    BlockWrite, Body, Header, Meta, Reader, SkippedTx, Store, StoredReceipt, StoredTx,
};
use crate::tx::Tx;

/// Pooled transactions: (pending, queued).
pub type PoolContent = (Vec<Arc<Tx>>, Vec<Arc<Tx>>);

/// Runs the call being served with a given gas limit.
type Runner<'a> = dyn Fn(u64) -> Result<CallOutcome> + 'a;

/// How a chain is created (and what an existing store must match).
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// GhostDAG k.
    pub k: u16,
    /// Most parents a block may reference (also the most producers per round).
    pub max_parents: usize,
    /// Gas limit of every block.
    pub block_gas_limit: u64,
    /// Base fee of the genesis block.
    pub initial_base_fee: u64,
    /// Genesis accounts: balances, and predeployed code, storage and nonces (see
    /// [`build_genesis`](crate::genesis::build_genesis)). Plain balances listed more than once
    /// are summed; an account with code, storage or a nonce must be listed once.
    pub genesis_alloc: Vec<GenesisAccount>,
    /// Genesis timestamp: `None` takes the clock when the chain is created and, on reopening,
    /// the stored genesis's timestamp (so a restart does not need to remember it).
    pub genesis_timestamp: Option<u64>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            chain_id: 1337,
            k: 18,
            max_parents: 10,
            block_gas_limit: 30_000_000,
            initial_base_fee: 1_000_000_000,
            genesis_alloc: Vec::new(),
            genesis_timestamp: None,
        }
    }
}

/// Most gas an `eth_call`/`eth_estimateGas`/`eth_createAccessList` may use (geth's RPCGasCap).
pub const RPC_GAS_CAP: u64 = 50_000_000;

/// A block created by `mine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedBlock {
    /// DAG hash.
    pub hash: B256,
    /// Number (position in the total order).
    pub number: u64,
    /// GhostDAG blue score.
    pub blue_score: u64,
    /// Executed transactions.
    pub tx_hashes: Vec<B256>,
}

/// The result of one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinedRound {
    /// New blocks in total order.
    pub blocks: Vec<MinedBlock>,
    /// Candidates skipped at their turn: (hash, reason).
    pub skipped: Vec<(B256, String)>,
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// Pooled and minable.
    Pending,
    /// Pooled behind a nonce gap.
    Queued,
    /// Included in a block.
    Mined {
        /// Block hash.
        block_hash: B256,
        /// Block number.
        block_number: u64,
        /// The block's blue score.
        blue_score: u64,
    },
    /// Skipped at its turn (and not mined or pooled since).
    Skipped {
        /// The block that carried it.
        block_hash: B256,
        /// Why.
        reason: String,
    },
    /// Never seen.
    Unknown,
}

/// GhostDAG summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagStats {
    /// Blocks, genesis included.
    pub blocks: u64,
    /// Tips in ascending (blue work, hash) order.
    pub tips: Vec<B256>,
    /// Blocks coloured blue by the chain block (or virtual) that merged them.
    pub blue_count: u64,
    /// Blocks coloured red.
    pub red_count: u64,
    /// Highest blue score.
    pub max_blue_score: u64,
    /// k.
    pub k: u16,
    /// Max parents.
    pub max_parents: usize,
}

/// One block of `block_dag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagBlock {
    /// Hash.
    pub hash: B256,
    /// Number.
    pub number: u64,
    /// Parents, selected parent first.
    pub parents: Vec<B256>,
    /// Selected parent (None for genesis).
    pub selected_parent: Option<B256>,
    /// Blue score.
    pub blue_score: u64,
    /// Blue work.
    pub blue_work: u128,
    /// Colour given by its merger.
    pub is_blue: bool,
    /// Timestamp.
    pub timestamp: u64,
    /// Executed transactions.
    pub tx_count: u64,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) latest: LatestState,
    dag: GhostDag,
    pub(crate) hashes: Vec<B256>,
    pub(crate) numbers: HashMap<B256, u64>,
    pub(crate) head: Header,
    colours: Option<HashMap<B256, bool>>,
}

/// The node core. Thread-safe: concurrent readers, one writer at a time.
pub struct Chain {
    cfg: ChainConfig,
    genesis_hash: B256,
    inner: RwLock<Option<Inner>>,
    pool: Mutex<Pool>,
}

fn poisoned<T>(_: T) -> Error {
    Error::Chain("internal lock poisoned by an earlier failure".into())
}

fn closed() -> Error {
    Error::Store("the chain is closed".into())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[derive(RlpEncodable)]
struct GenesisConfig {
    chain_id: u64,
    timestamp: u64,
    gas_limit: u64,
    base_fee: u64,
    alloc: Vec<AllocEntry>,
}

#[derive(RlpEncodable)]
struct Identity {
    chain_id: u64,
    parents: Vec<B256>,
    timestamp: u64,
    coinbase: Address,
    candidates_root: B256,
    producer: u64,
    round: u64,
    gas_limit: u64,
}

fn rlp_keccak<T: Encodable>(v: &T) -> B256 {
    let mut buf = Vec::with_capacity(v.length());
    v.encode(&mut buf);
    keccak256(buf)
}

/// EIP-1559 base fee of the block after `h` (elasticity 2, denominator 8).
pub fn next_base_fee_after(h: &Header) -> u64 {
    calc_next_block_base_fee(h.gas_used, h.gas_limit, h.base_fee, BaseFeeParams::ethereum())
}

/// RLP size of the Ethereum block (header, transactions, empty uncles and withdrawals).
fn block_size(h: &Header, txs: &[StoredTx]) -> u64 {
    let header = eth_header(h);
    let header_len = header.length();
    let txs_payload: usize = txs
        .iter()
        .map(|t| {
            let legacy = t.raw.first().is_some_and(|b| *b >= 0xc0);
            if legacy {
                t.raw.len()
            } else {
                alloy_rlp::Header { list: false, payload_length: t.raw.len() }.length()
                    + t.raw.len()
            }
        })
        .sum();
    let txs_len =
        alloy_rlp::Header { list: true, payload_length: txs_payload }.length() + txs_payload;
    let payload = header_len + txs_len + 2;
    (alloy_rlp::Header { list: true, payload_length: payload }.length() + payload) as u64
}

/// The Ethereum header of a block (what the JSON view shows).
pub fn eth_header(h: &Header) -> alloy_consensus::Header {
    alloy_consensus::Header {
        parent_hash: h.parent_hash,
        ommers_hash: alloy_consensus::constants::EMPTY_OMMER_ROOT_HASH,
        beneficiary: h.coinbase,
        state_root: h.state_root,
        transactions_root: h.tx_root,
        receipts_root: h.receipts_root,
        logs_bloom: h.logs_bloom,
        difficulty: U256::ZERO,
        number: h.number,
        gas_limit: h.gas_limit,
        gas_used: h.gas_used,
        timestamp: h.timestamp,
        extra_data: Bytes::new(),
        mix_hash: prevrandao(&h.hash),
        nonce: Default::default(),
        base_fee_per_gas: Some(h.base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(alloy_eips::eip7685::EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// PREVRANDAO / mixHash of a block: derived from its DAG hash.
pub fn prevrandao(hash: &B256) -> B256 {
    keccak256(hash)
}

fn dag_err(e: crate::ghostdag::GhostDagError) -> Error {
    Error::Chain(format!("ghostdag: {e}"))
}

impl Chain {
    /// Open the chain in `dir`, creating it with this genesis on first use.
    pub fn open(dir: &Path, mut cfg: ChainConfig) -> Result<Self> {
        if cfg.max_parents == 0 {
            return Err(Error::InvalidArgument("`max_parents` must be at least 1".into()));
        }
        if cfg.block_gas_limit < 21_000 {
            return Err(Error::InvalidArgument(format!(
                "`block_gas_limit` {} is below 21000",
                cfg.block_gas_limit
            )));
        }
        // Check the alloc before touching the directory: a bad one must not create a store.
        let genesis_accounts = genesis::merge_alloc(&cfg.genesis_alloc)?;
        let alloc = genesis::alloc_entries(&cfg.genesis_alloc)?;
        let store = Store::open(dir)?;
        let genesis_timestamp = match cfg.genesis_timestamp {
            Some(ts) => ts,
            None if store.meta()?.is_some() => {
                store.read().map(Reader::new)?.header(0)?.map(|h| h.timestamp).ok_or_else(|| {
                    Error::Store("chain store: the genesis block is missing".into())
                })?
            }
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        cfg.genesis_timestamp = Some(genesis_timestamp);
        let config_hash = rlp_keccak(&GenesisConfig {
            chain_id: cfg.chain_id,
            timestamp: genesis_timestamp,
            gas_limit: cfg.block_gas_limit,
            base_fee: cfg.initial_base_fee,
            alloc,
        });
        let genesis_hash =
            keccak256([b"citrate-genesis".as_slice(), config_hash.as_slice()].concat());
        let meta = Meta {
            chain_id: cfg.chain_id,
            k: cfg.k,
            genesis_hash,
            genesis_config_hash: config_hash,
        };
        match store.meta()? {
            None => Self::write_genesis(&store, &cfg, &meta, &genesis_accounts)?,
            Some(stored) => check_meta(dir, &stored, &meta)?,
        }
        let headers = store.all_headers()?;
        let latest = store.load_latest()?;
        let mut inner = Inner {
            store,
            latest,
            dag: GhostDag::new(cfg.k, genesis_hash.0, cfg.max_parents),
            hashes: Vec::new(),
            numbers: HashMap::new(),
            head: headers
                .first()
                .cloned()
                .ok_or_else(|| Error::Store("chain store: the genesis block is missing".into()))?,
            colours: None,
        };
        inner.dag_from_headers(&headers, cfg.k, genesis_hash, cfg.max_parents)?;
        inner.rebuild_index(headers)?;
        Ok(Self {
            cfg,
            genesis_hash,
            inner: RwLock::new(Some(inner)),
            pool: Mutex::new(Pool::default()),
        })
    }

    fn write_genesis(
        store: &Store,
        cfg: &ChainConfig,
        meta: &Meta,
        accounts: &BTreeMap<Address, GenesisAccount>,
    ) -> Result<()> {
        let changes = genesis::genesis_changes(accounts);
        let mut overlay = Overlay::default();
        overlay.apply_changes(&changes);
        let state_root = state_root_with(&LatestState::default(), &overlay);
        let mut header = Header {
            hash: meta.genesis_hash,
            number: 0,
            parents: Vec::new(),
            parent_hash: B256::ZERO,
            timestamp: cfg.genesis_timestamp.unwrap_or(0),
            coinbase: Address::ZERO,
            gas_limit: cfg.block_gas_limit,
            gas_used: 0,
            base_fee: cfg.initial_base_fee,
            producer: 0,
            round: 0,
            candidates_root: EMPTY_ROOT_HASH,
            tx_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            state_root,
            logs_bloom: Bloom::ZERO,
            blue_score: 0,
            blue_work: 0,
            selected_parent: B256::ZERO,
            size: 0,
            tx_count: 0,
        };
        header.size = block_size(&header, &[]);
        let write = BlockWrite {
            header,
            body: Body::default(),
            receipts: Vec::new(),
            tx_hashes: Vec::new(),
            parties: Vec::new(),
            changes,
        };
        store.write_genesis(meta, &write)
    }

    // --- locking -----------------------------------------------------------------------------

    /// A shared lock on the chain. Recursive: it is granted even while a writer waits, so a
    /// reader that reads again (a view built from other views) cannot deadlock against `mine`
    /// (std's RwLock on Linux queues new readers behind a waiting writer). Readers are short,
    /// so the writer is not starved.
    pub(crate) fn read(&self) -> Result<ReadGuard<'_>> {
        let g = self.inner.read_recursive();
        if g.is_none() {
            return Err(closed());
        }
        Ok(ReadGuard(g))
    }

    fn write(&self) -> Result<WriteGuard<'_>> {
        let g = self.inner.write();
        if g.is_none() {
            return Err(closed());
        }
        Ok(WriteGuard(g))
    }

    pub(crate) fn pool(&self) -> Result<MutexGuard<'_, Pool>> {
        self.pool.lock().map_err(poisoned)
    }

    /// Flush and release the store; later calls fail with `Error::Store`.
    pub fn close(&self) -> Result<()> {
        let mut g = self.inner.write();
        *g = None;
        self.pool()?.clear();
        Ok(())
    }

    // --- identity ----------------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.cfg
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> B256 {
        self.genesis_hash
    }

    /// Number of the newest block.
    pub fn head_number(&self) -> Result<u64> {
        Ok(self.read()?.inner()?.head.number)
    }

    /// Hash of block `number`.
    pub fn block_hash(&self, number: u64) -> Result<Option<B256>> {
        let guard = self.read()?;
        let g = guard.inner()?;
        Ok(usize::try_from(number).ok().and_then(|n| g.hashes.get(n)).copied())
    }

    /// Number of the block with `hash`.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>> {
        Ok(self.read()?.inner()?.numbers.get(hash).copied())
    }

    /// Timestamp of block `number`.
    pub fn block_timestamp(&self, number: u64) -> Result<Option<u64>> {
        let guard = self.read()?;
        let g = guard.inner()?;
        let r = Reader::new(g.store.read()?);
        Ok(r.header(number)?.map(|h| h.timestamp))
    }

    /// Base fee of the next block.
    pub fn next_base_fee(&self) -> Result<u64> {
        Ok(next_base_fee_after(&self.read()?.inner()?.head))
    }

    // --- pool --------------------------------------------------------------------------------

    /// Decode, verify and pool a signed transaction.
    pub fn send_raw_transaction(&self, raw: &[u8]) -> Result<B256> {
        let tx = Tx::decode(raw)?;
        tx.check_static(self.cfg.chain_id, self.cfg.block_gas_limit)?;
        let guard = self.read()?;
        let g = guard.inner()?;
        let r = Reader::new(g.store.read()?);
        if r.tx_location(&tx.hash)?.is_some() {
            return Err(Error::Rejected("already known".into()));
        }
        let acc = g.latest.account(&tx.sender)?.unwrap_or_default();
        if acc.code_hash != KECCAK256_EMPTY {
            return Err(Error::Rejected(format!(
                "sender not an eoa: address {}, codehash: {}",
                tx.sender, acc.code_hash
            )));
        }
        let ctx = AdmitContext {
            state_nonce: acc.nonce,
            balance: acc.balance,
            base_fee: next_base_fee_after(&g.head),
        };
        self.pool()?.add(tx, ctx)
    }

    /// The nonce the address's next transaction should use (pool included).
    pub fn pending_nonce(&self, address: &Address) -> Result<u64> {
        let guard = self.read()?;
        let g = guard.inner()?;
        let n = g.latest.account(address)?.map(|a| a.nonce).unwrap_or(0);
        Ok(self.pool()?.pending_nonce(address, n))
    }

    /// Number of pooled transactions.
    pub fn pool_len(&self) -> Result<usize> {
        Ok(self.pool()?.len())
    }

    /// Pooled transactions that are executable now (nonce-gapped, queued ones excluded).
    pub fn pool_pending_len(&self) -> Result<usize> {
        Ok(self.pool_content()?.0.len())
    }

    /// Pooled (pending, queued) transactions.
    pub fn pool_content(&self) -> Result<PoolContent> {
        let guard = self.read()?;
        let g = guard.inner()?;
        let pool = self.pool()?;
        Ok(pool.snapshot(|a| g.latest.accounts.get(a).map(|x| x.info.nonce).unwrap_or(0)))
    }

    // --- production --------------------------------------------------------------------------

    /// One round of `producers` parallel blocks filled from the pool by the batcher.
    pub fn mine(
        &self,
        producers: usize,
        coinbases: &[Address],
        timestamp: Option<u64>,
    ) -> Result<MinedRound> {
        self.check_producers(producers)?;
        let mut g = self.write()?;
        let sets: Vec<Vec<Tx>> = {
            let inner = g.inner_mut()?;
            let pool = self.pool()?;
            let latest = &inner.latest;
            pool.build(producers, next_base_fee_after(&inner.head), self.cfg.block_gas_limit, |a| {
                latest.accounts.get(a).map(|x| x.info.nonce).unwrap_or(0)
            })
            .into_iter()
            .map(|set| set.iter().map(|t| (**t).clone()).collect())
            .collect()
        };
        self.round(&mut g, sets, coinbases, timestamp)
    }

    /// One round whose block i carries exactly `tx_sets[i]` (raw signed transactions).
    pub fn mine_transactions(
        &self,
        tx_sets: &[Vec<Vec<u8>>],
        coinbases: &[Address],
        timestamp: Option<u64>,
    ) -> Result<MinedRound> {
        self.check_producers(tx_sets.len())?;
        let mut sets = Vec::with_capacity(tx_sets.len());
        for set in tx_sets {
            let mut txs = Vec::with_capacity(set.len());
            for raw in set {
                txs.push(Tx::decode(raw)?);
            }
            sets.push(txs);
        }
        let mut g = self.write()?;
        self.round(&mut g, sets, coinbases, timestamp)
    }

    fn check_producers(&self, producers: usize) -> Result<()> {
        if producers == 0 || producers > self.cfg.max_parents {
            return Err(Error::InvalidArgument(format!(
                "`producers` must be between 1 and max_parents ({}), got {producers}",
                self.cfg.max_parents
            )));
        }
        Ok(())
    }

    fn round(
        &self,
        g: &mut WriteGuard<'_>,
        sets: Vec<Vec<Tx>>,
        coinbases: &[Address],
        timestamp: Option<u64>,
    ) -> Result<MinedRound> {
        let inner = g.inner_mut()?;
        let old_len = inner.hashes.len();
        // Never before the head: block timestamps do not go backwards.
        let timestamp = timestamp.unwrap_or_else(now).max(inner.head.timestamp);
        // Parents: every tip, selected parent (greatest blue work, hash) first.
        let mut parents: Vec<B256> = inner.dag.tips().into_iter().rev().map(B256::from).collect();
        parents.truncate(self.cfg.max_parents);
        let round = inner.dag.len() as u64;
        let mut blocks: Vec<(B256, usize, Address, Vec<Tx>)> = Vec::with_capacity(sets.len());
        for (i, txs) in sets.into_iter().enumerate() {
            let coinbase = coinbases.get(i).copied().unwrap_or(Address::ZERO);
            let hashes: Vec<B256> = txs.iter().map(|t| t.hash).collect();
            let candidates_root = rlp_keccak(&hashes);
            let hash = rlp_keccak(&Identity {
                chain_id: self.cfg.chain_id,
                parents: parents.clone(),
                timestamp,
                coinbase,
                candidates_root,
                producer: i as u64,
                round,
                gas_limit: self.cfg.block_gas_limit,
            });
            blocks.push((hash, i, coinbase, txs));
        }
        let parent_arrays: Vec<[u8; 32]> = parents.iter().map(|p| p.0).collect();
        for (hash, ..) in &blocks {
            if let Err(e) = inner.dag.add_block(hash.0, &parent_arrays) {
                inner.rebuild_dag(self.cfg.k, self.genesis_hash, self.cfg.max_parents)?;
                return Err(dag_err(e));
            }
        }
        let result = self.execute_round(inner, blocks, parents, timestamp, round, old_len);
        if result.is_err() {
            inner.rebuild_dag(self.cfg.k, self.genesis_hash, self.cfg.max_parents)?;
        }
        let (writes, overlay) = result?;
        // Durable commit first; only then does the in-memory state move.
        if let Err(e) = inner.store.write_round(&writes) {
            inner.rebuild_dag(self.cfg.k, self.genesis_hash, self.cfg.max_parents)?;
            return Err(e);
        }
        inner.latest.apply(overlay);
        inner.colours = None;
        let mut out = MinedRound::default();
        let mut pool = self.pool()?;
        for w in writes {
            inner.numbers.insert(w.header.hash, w.header.number);
            inner.hashes.push(w.header.hash);
            for h in &w.tx_hashes {
                pool.remove(h);
            }
            for s in &w.body.skipped {
                let reason = String::from_utf8_lossy(&s.reason).into_owned();
                // Keep in the pool what may pass later (a lower base fee, room in a block);
                // anything else was refused for good and would only be skipped again.
                if !(reason.starts_with("max fee per gas less than block base fee")
                    || reason == "gas limit reached")
                {
                    pool.remove(&s.hash);
                }
                out.skipped.push((s.hash, reason));
            }
            out.blocks.push(MinedBlock {
                hash: w.header.hash,
                number: w.header.number,
                blue_score: w.header.blue_score,
                tx_hashes: w.tx_hashes,
            });
            inner.head = w.header;
        }
        let latest = &inner.latest;
        pool.prune(|a| latest.accounts.get(a).map(|x| x.info.nonce).unwrap_or(0));
        Ok(out)
    }

    #[allow(clippy::type_complexity)]
    fn execute_round(
        &self,
        inner: &mut Inner,
        blocks: Vec<(B256, usize, Address, Vec<Tx>)>,
        parents: Vec<B256>,
        timestamp: u64,
        round: u64,
        old_len: usize,
    ) -> Result<(Vec<BlockWrite>, Overlay)> {
        // ORDER: every block of the round has all current tips as parents, so the round extends
        // the numbered sequence exactly when the new virtual block's mergeset is the round:
        // its selected parent first, then the other members in ascending (blue work, hash)
        // order (GhostDag::total_order's suffix, computed without walking the whole DAG).
        let tips = inner.dag.tips();
        let virt = inner.dag.virtual_data(&tips).map_err(dag_err)?;
        let sp = virt
            .selected_parent
            .ok_or_else(|| Error::Chain("the virtual block has no selected parent".into()))?;
        let mut rest: Vec<[u8; 32]> =
            virt.mergeset_blues.iter().skip(1).chain(&virt.mergeset_reds).copied().collect();
        rest.sort_by_key(|h| (inner.dag.get(h).map(|d| d.blue_work).unwrap_or(0), *h));
        let order: Vec<[u8; 32]> = std::iter::once(sp).chain(rest).collect();
        let round_ok = order.len() == blocks.len()
            && order.iter().all(|h| blocks.iter().any(|(b, ..)| b.0 == *h))
            && old_len == inner.hashes.len();
        if !round_ok {
            return Err(Error::Chain(
                "the new blocks would reorder already numbered blocks (every block of a round \
                 must be built on all current tips)"
                    .into(),
            ));
        }
        let mut by_hash: HashMap<B256, (usize, Address, Vec<Tx>)> =
            blocks.into_iter().map(|(h, i, c, t)| (h, (i, c, t))).collect();
        let reader = Reader::new(inner.store.read()?);
        let mut overlay = Overlay::default();
        let mut included: HashSet<B256> = HashSet::new();
        let mut writes: Vec<BlockWrite> = Vec::new();
        let mut prev = inner.head.clone();
        let mut round_hashes: Vec<B256> = Vec::with_capacity(order.len());
        for (j, hash) in order.iter().enumerate() {
            let hash = B256::from(*hash);
            let (producer, coinbase, txs) = by_hash
                .remove(&hash)
                .ok_or_else(|| Error::Chain("total order holds an unknown block".into()))?;
            let data: GhostDagData = inner
                .dag
                .get(&hash.0)
                .cloned()
                .ok_or_else(|| Error::Chain("block missing from GhostDAG".into()))?;
            let number = (old_len + j) as u64;
            let params = BlockParams {
                number,
                timestamp,
                coinbase,
                gas_limit: self.cfg.block_gas_limit,
                base_fee: next_base_fee_after(&prev),
                prevrandao: prevrandao(&hash),
            };
            let candidates_root = rlp_keccak(&txs.iter().map(|t| t.hash).collect::<Vec<_>>());
            let mut changes = BlockChanges::default();
            let outcome = {
                let db = BlockDb {
                    latest: &inner.latest,
                    overlay: &mut overlay,
                    changes: &mut changes,
                    block_hashes: BlockHashes { stored: &inner.hashes, round: &round_hashes },
                };
                exec::execute_block(db, &params, self.cfg.chain_id, txs, |h| {
                    // A store error aborts the round (nothing is written) rather than being
                    // taken for "not included".
                    Ok(included.contains(h) || reader.tx_location(h)?.is_some())
                })?
            };
            let (tx_root, receipts_root) = exec::roots(&outcome.executed);
            let state_root = state_root_with(&inner.latest, &overlay);
            let mut body = Body::default();
            let mut receipts: Vec<StoredReceipt> = Vec::new();
            let mut tx_hashes = Vec::new();
            let mut parties = Vec::new();
            for e in outcome.executed {
                included.insert(e.tx.hash);
                tx_hashes.push(e.tx.hash);
                parties.push((e.tx.sender, e.tx.to()));
                body.txs.push(StoredTx { raw: e.tx.raw.clone(), sender: e.tx.sender });
                receipts.push(e.receipt);
            }
            body.skipped = outcome
                .skipped
                .into_iter()
                .map(|(hash, reason)| SkippedTx { hash, reason: Bytes::from(reason.into_bytes()) })
                .collect();
            let mut header = Header {
                hash,
                number,
                parents: parents.clone(),
                parent_hash: prev.hash,
                timestamp,
                coinbase,
                gas_limit: self.cfg.block_gas_limit,
                gas_used: outcome.gas_used,
                base_fee: params.base_fee,
                producer: producer as u64,
                round,
                candidates_root,
                tx_root,
                receipts_root,
                state_root,
                logs_bloom: outcome.bloom,
                blue_score: data.blue_score,
                blue_work: data.blue_work,
                selected_parent: data.selected_parent.map(B256::from).unwrap_or_default(),
                size: 0,
                tx_count: body.txs.len() as u64,
            };
            header.size = block_size(&header, &body.txs);
            prev = header.clone();
            round_hashes.push(hash);
            writes.push(BlockWrite { header, body, receipts, tx_hashes, parties, changes });
        }
        Ok((writes, overlay))
    }

    /// Drop every block after `number` and its state; clears the pool.
    pub fn rewind(&self, number: u64) -> Result<()> {
        let mut g = self.write()?;
        let inner = g.inner_mut()?;
        if number > inner.head.number {
            return Err(Error::BlockNotFound(format!(
                "cannot rewind to block {number}: the head is {}",
                inner.head.number
            )));
        }
        if number == inner.head.number {
            self.pool()?.clear();
            return Ok(());
        }
        inner.store.rewind(number)?;
        let headers = inner.store.all_headers()?;
        inner.latest = inner.store.load_latest()?;
        inner.head = headers
            .last()
            .cloned()
            .ok_or_else(|| Error::Store("chain store: the genesis block is missing".into()))?;
        inner.dag_from_headers(&headers, self.cfg.k, self.genesis_hash, self.cfg.max_parents)?;
        inner.rebuild_index(headers)?;
        self.pool()?.clear();
        Ok(())
    }

    fn set_state(&self, f: impl FnOnce(&LatestState, &mut BlockChanges)) -> Result<()> {
        let mut g = self.write()?;
        let inner = g.inner_mut()?;
        let mut changes = BlockChanges::default();
        f(&inner.latest, &mut changes);
        inner.store.write_state_at(inner.head.number, &changes)?;
        let mut overlay = Overlay::default();
        overlay.apply_changes(&changes);
        inner.latest.apply(overlay);
        Ok(())
    }

    /// Set an account's balance at the head block (durably).
    pub fn set_balance(&self, address: Address, wei: U256) -> Result<()> {
        self.set_state(|latest, c| {
            let mut acc = latest.account(&address).ok().flatten().unwrap_or_default();
            acc.balance = wei;
            c.accounts.insert(address, Some(acc));
        })
    }

    /// Set an account's nonce at the head block (durably).
    pub fn set_nonce(&self, address: Address, nonce: u64) -> Result<()> {
        self.set_state(|latest, c| {
            let mut acc = latest.account(&address).ok().flatten().unwrap_or_default();
            acc.nonce = nonce;
            c.accounts.insert(address, Some(acc));
        })?;
        let guard = self.read()?;
        let g = guard.inner()?;
        let latest = &g.latest;
        self.pool()?.prune(|a| latest.accounts.get(a).map(|x| x.info.nonce).unwrap_or(0));
        Ok(())
    }

    /// Set an account's code at the head block (durably).
    pub fn set_code(&self, address: Address, code: Bytes) -> Result<()> {
        if !code.is_empty() {
            // Loading stored code assumes it is valid (revm panics on a malformed 0xef01
            // prefix): refuse it here, as genesis does.
            revm::bytecode::Bytecode::new_raw_checked(code.clone()).map_err(|e| {
                Error::InvalidArgument(format!(
                    "the code is not valid: {e}\nhint: code that starts with 0xef01 must be an \
                     EIP-7702 delegation (0xef0100 followed by a 20-byte address)"
                ))
            })?;
        }
        self.set_state(|latest, c| {
            let mut acc = latest.account(&address).ok().flatten().unwrap_or_default();
            if code.is_empty() {
                acc.code_hash = KECCAK256_EMPTY;
            } else {
                acc.code_hash = keccak256(&code);
                c.code.insert(acc.code_hash, code.clone());
            }
            c.accounts.insert(address, Some(acc));
        })
    }

    /// Set a storage word at the head block (durably).
    pub fn set_storage_at(&self, address: Address, slot: U256, value: U256) -> Result<()> {
        self.set_state(|latest, c| {
            if latest.account(&address).ok().flatten().is_none() {
                // Storage needs an account to live in (anvil creates an empty one too).
                c.accounts.insert(address, Some(Account { nonce: 0, ..Default::default() }));
            }
            c.storage.insert((address, slot), value);
        })
    }

    // --- state at a block --------------------------------------------------------------------

    fn with_state<T>(
        &self,
        block: u64,
        f: impl FnOnce(&dyn StateReader, &Inner) -> Result<T>,
    ) -> Result<T> {
        let guard = self.read()?;
        let inner = guard.inner()?;
        if block > inner.head.number {
            return Err(Error::header_not_found());
        }
        if block == inner.head.number {
            return f(&inner.latest, inner);
        }
        let reader = Reader::new(inner.store.read()?);
        let state = reader.state_at(block, &inner.latest);
        f(&state, inner)
    }

    /// Balance at `block`.
    pub fn balance(&self, address: &Address, block: u64) -> Result<U256> {
        self.with_state(block, |s, _| {
            Ok(s.account(address)?.map(|a| a.balance).unwrap_or_default())
        })
    }

    /// Nonce at `block`.
    pub fn nonce(&self, address: &Address, block: u64) -> Result<u64> {
        self.with_state(block, |s, _| Ok(s.account(address)?.map(|a| a.nonce).unwrap_or(0)))
    }

    /// Code at `block`.
    pub fn code(&self, address: &Address, block: u64) -> Result<Bytes> {
        self.with_state(block, |s, _| {
            let Some(acc) = s.account(address)? else { return Ok(Bytes::new()) };
            if acc.code_hash == KECCAK256_EMPTY {
                return Ok(Bytes::new());
            }
            Ok(s.code(&acc.code_hash)?.map(|c: Bytecode| c.original_bytes()).unwrap_or_default())
        })
    }

    /// Storage word at `block`.
    pub fn storage_at(&self, address: &Address, slot: &U256, block: u64) -> Result<U256> {
        self.with_state(block, |s, _| s.storage(address, slot))
    }

    fn call_params(&self, inner: &Inner, block: u64) -> Result<BlockParams> {
        let h = if block == inner.head.number {
            inner.head.clone()
        } else {
            Reader::new(inner.store.read()?).header(block)?.ok_or_else(Error::header_not_found)?
        };
        Ok(BlockParams {
            number: h.number,
            timestamp: h.timestamp,
            coinbase: h.coinbase,
            gas_limit: h.gas_limit,
            base_fee: h.base_fee,
            prevrandao: prevrandao(&h.hash),
        })
    }

    fn run<T>(
        &self,
        req: &CallRequest,
        block: u64,
        f: impl FnOnce(&Runner<'_>, &dyn StateReader, &BlockParams) -> Result<T>,
    ) -> Result<T> {
        self.with_state(block, |state, inner| {
            let params = self.call_params(inner, block)?;
            let nonce = state.account(&req.sender())?.map(|a| a.nonce).unwrap_or(0);
            let runner = |gas: u64| {
                let db = ReaderDb {
                    reader: DynReader(state),
                    block_hashes: BlockHashes { stored: &inner.hashes, round: &[] },
                };
                exec::run_call(db, &params, self.cfg.chain_id, req, gas, nonce)
            };
            f(&runner, state, &params)
        })
    }

    /// Gas for a call: the request's, else the block gas limit; never above geth's RPC gas
    /// cap (50M, or the block gas limit if that is higher), so one `eth_call` of an endless
    /// loop ends in tens of milliseconds instead of holding the node.
    fn rpc_gas(&self, gas: Option<u64>) -> u64 {
        gas.unwrap_or(self.cfg.block_gas_limit).min(RPC_GAS_CAP.max(self.cfg.block_gas_limit))
    }

    /// `eth_call`: run without committing; the output, or `Reverted`/`Call` errors.
    pub fn call(&self, req: &CallRequest, block: u64) -> Result<Bytes> {
        let gas = self.rpc_gas(req.gas);
        self.run(req, block, |run, _, _| match run(gas)? {
            CallOutcome::Success { output, .. } => Ok(output),
            CallOutcome::Revert { output, .. } => Err(Error::Reverted {
                message: exec::revert_message(&output),
                data: output.to_vec(),
            }),
            CallOutcome::Halt { reason, .. } => Err(Error::Call(reason)),
        })
    }

    /// `eth_estimateGas`: the least gas with which the call succeeds (binary search).
    pub fn estimate_gas(&self, req: &CallRequest, block: u64) -> Result<u64> {
        self.run(req, block, |run, state, _params| {
            // A plain transfer to an account without code costs exactly 21000.
            if let Some(to) = req.to {
                if req.data.is_empty() && req.access_list.as_ref().is_none_or(|l| l.0.is_empty()) {
                    let code = state.account(&to)?.map(|a| a.code_hash);
                    if code.is_none_or(|h| h == KECCAK256_EMPTY) {
                        // Still validate (balance for the value) like geth does. A halt (a
                        // precompile needs more than 21000) falls through to the search.
                        match run(21_000)? {
                            CallOutcome::Success { .. } => return Ok(21_000),
                            CallOutcome::Revert { output, .. } => {
                                return Err(Error::Reverted {
                                    message: exec::revert_message(&output),
                                    data: output.to_vec(),
                                })
                            }
                            CallOutcome::Halt { .. } => {}
                        }
                    }
                }
            }
            let mut hi = match req.gas {
                Some(g) if g >= 21_000 => self.rpc_gas(Some(g)),
                _ => self.cfg.block_gas_limit,
            };
            let fee_cap = req.fee_cap();
            if fee_cap > 0 {
                let balance = state.account(&req.sender())?.map(|a| a.balance).unwrap_or_default();
                if req.value > balance {
                    return Err(Error::Call("insufficient funds for transfer".into()));
                }
                let allowance = (balance - req.value) / U256::from(fee_cap);
                if allowance < U256::from(hi) {
                    hi = u64::try_from(allowance).unwrap_or(u64::MAX);
                }
            }
            let cap = hi;
            let used = match run(hi)? {
                CallOutcome::Success { gas_used, refunded, .. } => {
                    gas_used.saturating_add(refunded)
                }
                CallOutcome::Revert { output, .. } => {
                    return Err(Error::Reverted {
                        message: exec::revert_message(&output),
                        data: output.to_vec(),
                    })
                }
                CallOutcome::Halt { reason, .. } => {
                    if reason == "out of gas" {
                        return Err(Error::Call(format!("gas required exceeds allowance ({cap})")));
                    }
                    return Err(Error::Call(reason));
                }
            };
            let mut lo = used.saturating_sub(1).max(20_999);
            // geth's optimistic probe: most calls need gasUsed * 64/63 (+ stipend) at most.
            let optimistic = used.saturating_add(2_300).saturating_mul(64) / 63;
            if optimistic < hi {
                match run(optimistic)? {
                    CallOutcome::Success { .. } => hi = optimistic,
                    _ => lo = optimistic,
                }
            }
            while lo.saturating_add(1) < hi {
                let mid = lo + (hi - lo) / 2;
                match run(mid)? {
                    CallOutcome::Success { .. } => hi = mid,
                    _ => lo = mid,
                }
            }
            Ok(hi)
        })
    }

    /// `eth_createAccessList`: the list and the gas used with it.
    pub fn create_access_list(&self, req: &CallRequest, block: u64) -> Result<(AccessList, u64)> {
        let gas = self.rpc_gas(req.gas);
        self.with_state(block, |state, inner| {
            let params = self.call_params(inner, block)?;
            let from = req.sender();
            let nonce = state.account(&from)?.map(|a| a.nonce).unwrap_or(0);
            let mut excluded: BTreeSet<Address> = BTreeSet::new();
            excluded.insert(from);
            excluded.insert(req.to.unwrap_or_else(|| from.create(req.nonce.unwrap_or(nonce))));
            for i in 1u8..=0x11 {
                excluded.insert(Address::with_last_byte(i));
            }
            let mut req = req.clone();
            let mut last = req.access_list.clone().unwrap_or_default();
            for _ in 0..8 {
                let db = ReaderDb {
                    reader: DynReader(state),
                    block_hashes: BlockHashes { stored: &inner.hashes, round: &[] },
                };
                let (list, outcome) = exec::run_access_list(
                    db,
                    &params,
                    self.cfg.chain_id,
                    &req,
                    gas,
                    nonce,
                    excluded.clone(),
                )?;
                let gas_used = match &outcome {
                    CallOutcome::Success { gas_used, .. }
                    | CallOutcome::Revert { gas_used, .. }
                    | CallOutcome::Halt { gas_used, .. } => *gas_used,
                };
                if list == last {
                    if let CallOutcome::Revert { output, .. } = outcome {
                        return Err(Error::Reverted {
                            message: exec::revert_message(&output),
                            data: output.to_vec(),
                        });
                    }
                    return Ok((list, gas_used));
                }
                last = list.clone();
                req.access_list = Some(list);
            }
            Err(Error::Call("access list did not converge".into()))
        })
    }

    // --- DAG views ---------------------------------------------------------------------------

    /// GhostDAG summary.
    pub fn dag_stats(&self) -> Result<DagStats> {
        let mut g = self.write()?;
        let inner = g.inner_mut()?;
        inner.ensure_colours()?;
        let colours =
            inner.colours.as_ref().map(|c| c.values().filter(|b| **b).count()).unwrap_or(0);
        let total = inner.dag.len() as u64;
        let tips: Vec<B256> = inner.dag.tips().into_iter().map(B256::from).collect();
        let max_blue_score = tips
            .iter()
            .filter_map(|t| inner.dag.get(&t.0).map(|d| d.blue_score))
            .max()
            .unwrap_or(0);
        Ok(DagStats {
            blocks: total,
            tips,
            blue_count: colours as u64,
            red_count: total.saturating_sub(colours as u64),
            max_blue_score,
            k: self.cfg.k,
            max_parents: self.cfg.max_parents,
        })
    }

    /// DAG data of blocks `from..=to` (clamped to the head).
    pub fn block_dag(&self, from: u64, to: u64) -> Result<Vec<DagBlock>> {
        let mut g = self.write()?;
        let inner = g.inner_mut()?;
        inner.ensure_colours()?;
        let to = to.min(inner.head.number);
        let reader = Reader::new(inner.store.read()?);
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        for n in from..=to {
            let Some(h) = reader.header(n)? else { continue };
            let is_blue =
                inner.colours.as_ref().and_then(|c| c.get(&h.hash)).copied().unwrap_or(true);
            out.push(DagBlock {
                hash: h.hash,
                number: n,
                parents: h.parents.clone(),
                selected_parent: (n > 0).then_some(h.selected_parent),
                blue_score: h.blue_score,
                blue_work: h.blue_work,
                is_blue,
                timestamp: h.timestamp,
                tx_count: h.tx_count,
            });
        }
        Ok(out)
    }

    /// Status of a transaction.
    pub fn transaction_status(&self, hash: &B256) -> Result<TxStatus> {
        let guard = self.read()?;
        let g = guard.inner()?;
        let reader = Reader::new(g.store.read()?);
        if let Some((n, _)) = reader.tx_location(hash)? {
            let h = reader.header(n)?.ok_or_else(|| Error::Store("missing header".into()))?;
            return Ok(TxStatus::Mined {
                block_hash: h.hash,
                block_number: n,
                blue_score: h.blue_score,
            });
        }
        let latest = &g.latest;
        let status = self
            .pool()?
            .status(hash, |a| latest.accounts.get(a).map(|x| x.info.nonce).unwrap_or(0));
        match status {
            Some(PoolStatus::Pending) => return Ok(TxStatus::Pending),
            Some(PoolStatus::Queued) => return Ok(TxStatus::Queued),
            None => {}
        }
        if let Some((block_hash, reason)) = reader.skipped(hash)? {
            return Ok(TxStatus::Skipped { block_hash, reason });
        }
        Ok(TxStatus::Unknown)
    }
}

fn check_meta(dir: &Path, stored: &Meta, wanted: &Meta) -> Result<()> {
    let hint = "hint: pass the same settings as when it was created, or use a new data directory";
    if stored.chain_id != wanted.chain_id {
        return Err(Error::Store(format!(
            "the chain in `{}` has chain id `{}`, not `{}`\n{hint}",
            dir.display(),
            stored.chain_id,
            wanted.chain_id
        )));
    }
    if stored.k != wanted.k {
        return Err(Error::Store(format!(
            "the chain in `{}` has GhostDAG k `{}`, not `{}`\n{hint}",
            dir.display(),
            stored.k,
            wanted.k
        )));
    }
    if stored.genesis_config_hash != wanted.genesis_config_hash
        || stored.genesis_hash != wanted.genesis_hash
    {
        return Err(Error::Store(format!(
            "the chain in `{}` has a different genesis (alloc, predeployed code or storage, \
             timestamp, gas limit or base fee)\n\
             {hint}",
            dir.display()
        )));
    }
    Ok(())
}

impl Inner {
    fn rebuild_index(&mut self, headers: Vec<Header>) -> Result<()> {
        self.hashes.clear();
        self.numbers.clear();
        for (i, h) in headers.iter().enumerate() {
            if h.number != i as u64 {
                return Err(Error::Store("chain store: block numbers are not contiguous".into()));
            }
            self.hashes.push(h.hash);
            self.numbers.insert(h.hash, h.number);
        }
        if let Some(last) = headers.into_iter().last() {
            self.head = last;
        }
        self.colours = None;
        Ok(())
    }

    /// Rebuild GhostDAG from the numbered blocks (after a failed round or a rewind).
    fn rebuild_dag(&mut self, k: u16, genesis: B256, max_parents: usize) -> Result<()> {
        let headers = self.store.all_headers()?;
        self.dag_from_headers(&headers, k, genesis, max_parents)
    }

    /// GhostDAG from stored headers, inserted in number (total) order: a topological order.
    fn dag_from_headers(
        &mut self,
        headers: &[Header],
        k: u16,
        genesis: B256,
        max_parents: usize,
    ) -> Result<()> {
        let mut dag = GhostDag::new(k, genesis.0, max_parents);
        for h in headers.iter().skip(1) {
            let parents: Vec<[u8; 32]> = h.parents.iter().map(|p| p.0).collect();
            dag.add_block(h.hash.0, &parents).map_err(|e| {
                Error::Store(format!(
                    "chain store: block {} cannot be re-added to GhostDAG ({e}); was it created \
                     with a larger `max_parents`?",
                    h.number
                ))
            })?;
        }
        self.dag = dag;
        self.colours = None;
        Ok(())
    }

    /// Colour of every block, given by the chain block (or the virtual) that merged it.
    fn ensure_colours(&mut self) -> Result<()> {
        if self.colours.is_some() {
            return Ok(());
        }
        let mut colours: HashMap<B256, bool> = HashMap::with_capacity(self.hashes.len());
        let tips = self.dag.tips();
        let virtual_data = self.dag.virtual_data(&tips).map_err(dag_err)?;
        let mut record = |d: &GhostDagData| {
            for b in &d.mergeset_blues {
                colours.insert(B256::from(*b), true);
            }
            for r in &d.mergeset_reds {
                colours.insert(B256::from(*r), false);
            }
        };
        record(&virtual_data);
        let mut cursor = virtual_data.selected_parent;
        while let Some(c) = cursor {
            let Some(d) = self.dag.get(&c) else { break };
            record(d);
            cursor = d.selected_parent;
        }
        colours.insert(B256::from(self.dag.genesis()), true);
        self.colours = Some(colours);
        Ok(())
    }
}

/// Shared access to the open chain.
pub(crate) struct ReadGuard<'a>(RwLockReadGuard<'a, Option<Inner>>);

impl ReadGuard<'_> {
    pub(crate) fn inner(&self) -> Result<&Inner> {
        self.0.as_ref().ok_or_else(closed)
    }
}

struct WriteGuard<'a>(RwLockWriteGuard<'a, Option<Inner>>);

impl WriteGuard<'_> {
    fn inner_mut(&mut self) -> Result<&mut Inner> {
        self.0.as_mut().ok_or_else(closed)
    }
}

/// `&dyn StateReader` as a sized [`StateReader`].
pub(crate) struct DynReader<'a>(pub(crate) &'a dyn StateReader);

impl StateReader for DynReader<'_> {
    fn account(&self, address: &Address) -> Result<Option<Account>> {
        self.0.account(address)
    }
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256> {
        self.0.storage(address, slot)
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytecode>> {
        self.0.code(hash)
    }
}
