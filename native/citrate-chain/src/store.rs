//! The on-disk chain store: one redb file, `data_dir/chain.redb`.
//!
//! Every round is written in ONE write transaction committed with `Durability::Immediate`
//! (fsync) before `mine` returns, so a `kill -9` at any moment leaves either the whole round or
//! none of it. State is kept as history: `addr ++ block` -> account and
//! `addr ++ slot ++ block` -> word, so the state at any block number is a range lookup.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use alloy_primitives::{Address, Bloom, Bytes, Log, B256, U256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use revm::bytecode::Bytecode;

use crate::error::{Error, Result};
use crate::state::{Account, BlockChanges, LatestState, StateReader};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// number -> header record (rlp).
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
/// number -> body record (rlp: txs with senders, skipped).
const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
/// number -> receipts (rlp list).
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
/// number -> changed keys (for rewind).
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// tx hash -> number (8) ++ index (4).
const TX_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
/// tx hash -> block hash (32) ++ reason (utf-8): transactions skipped at their turn.
const SKIPPED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("skipped");
/// addr ++ number -> account (72 bytes) or empty (deleted).
const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
/// addr ++ slot ++ number -> word (32).
const STORAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage");
/// addr ++ number -> (): the account's storage was cleared at that block.
const WIPES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("wipes");
/// code hash -> code.
const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");
/// addr ++ number ++ index -> tx hash: transactions sent or received by the address.
const ADDR_TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("addr_txs");

/// A stored log.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredLog {
    /// Emitting contract.
    pub address: Address,
    /// Topics.
    pub topics: Vec<B256>,
    /// Data.
    pub data: Bytes,
}

impl StoredLog {
    /// From a revm/alloy log.
    pub fn from_log(log: &Log) -> Self {
        Self {
            address: log.address,
            topics: log.data.topics().to_vec(),
            data: log.data.data.clone(),
        }
    }
    /// To an alloy log.
    pub fn to_log(&self) -> Log {
        Log::new_unchecked(self.address, self.topics.clone(), self.data.clone())
    }
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredReceipt {
    /// 1 success, 0 failure.
    pub status: u8,
    /// Gas used by this tx.
    pub gas_used: u64,
    /// Cumulative gas in the block after this tx.
    pub cumulative_gas_used: u64,
    /// Price per gas paid.
    pub effective_gas_price: u128,
    /// Created contract (empty when none).
    pub contract_address: Bytes,
    /// Logs.
    pub logs: Vec<StoredLog>,
}

/// One executed transaction of a block body.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredTx {
    /// EIP-2718 encoding.
    pub raw: Bytes,
    /// Recovered sender.
    pub sender: Address,
}

/// A candidate transaction that was skipped at its turn.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct SkippedTx {
    /// Tx hash.
    pub hash: B256,
    /// Why (geth's wording).
    pub reason: Bytes,
}

/// A block body.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Body {
    /// Executed transactions in order.
    pub txs: Vec<StoredTx>,
    /// Skipped candidates.
    pub skipped: Vec<SkippedTx>,
}

/// A block header: DAG identity and the Ethereum view.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Header {
    /// DAG hash (keccak of the identity encoding).
    pub hash: B256,
    /// Number = index in the total order.
    pub number: u64,
    /// DAG parents, selected parent first.
    pub parents: Vec<B256>,
    /// Hash of the previous block in the total order (zero for genesis).
    pub parent_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
    /// Producer's fee recipient.
    pub coinbase: Address,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Gas used by the executed transactions.
    pub gas_used: u64,
    /// EIP-1559 base fee.
    pub base_fee: u64,
    /// Producer index within its round.
    pub producer: u64,
    /// Round nonce (DAG size when the round started).
    pub round: u64,
    /// Root over all candidate transactions (part of the DAG identity).
    pub candidates_root: B256,
    /// Ethereum transactions root (executed transactions).
    pub tx_root: B256,
    /// Receipts root.
    pub receipts_root: B256,
    /// State root after the block.
    pub state_root: B256,
    /// Logs bloom.
    pub logs_bloom: Bloom,
    /// GhostDAG blue score.
    pub blue_score: u64,
    /// GhostDAG blue work.
    pub blue_work: u128,
    /// GhostDAG selected parent (zero for genesis).
    pub selected_parent: B256,
    /// RLP size of the Ethereum block.
    pub size: u64,
    /// Number of executed transactions.
    pub tx_count: u64,
}

/// Everything one new block writes.
#[derive(Debug, Clone)]
pub struct BlockWrite {
    /// Header.
    pub header: Header,
    /// Body.
    pub body: Body,
    /// Receipts (one per executed tx).
    pub receipts: Vec<StoredReceipt>,
    /// Transaction hashes (one per executed tx).
    pub tx_hashes: Vec<B256>,
    /// (from, to) of each executed tx, for the address index.
    pub parties: Vec<(Address, Option<Address>)>,
    /// State changes.
    pub changes: BlockChanges,
}

/// The keys a block wrote, so that `rewind` can delete exactly them.
#[derive(Debug, Default, RlpEncodable, RlpDecodable)]
struct ChangedKeys {
    accounts: Vec<Address>,
    storage: Vec<Bytes>,
    wipes: Vec<Address>,
    txs: Vec<B256>,
    addr_txs: Vec<Bytes>,
    skipped: Vec<B256>,
}

/// The chain's identity, stored once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// GhostDAG k.
    pub k: u16,
    /// Genesis block hash.
    pub genesis_hash: B256,
    /// Hash of the genesis configuration (alloc, timestamp, base fee, gas limit).
    pub genesis_config_hash: B256,
}

fn open_paths() -> &'static Mutex<HashSet<PathBuf>> {
    static OPEN: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The redb store.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Ok(mut set) = open_paths().lock() {
            set.remove(&self.path);
        }
    }
}

fn in_use(dir: &Path) -> Error {
    Error::Store(format!(
        "the chain in `{}` is in use by another process\nhint: stop the other node, or pass a \
         different data directory",
        dir.display()
    ))
}

fn key_addr_num(addr: &Address, n: u64) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..20].copy_from_slice(addr.as_slice());
    k[20..].copy_from_slice(&n.to_be_bytes());
    k
}

fn key_slot_num(addr: &Address, slot: &U256, n: u64) -> [u8; 60] {
    let mut k = [0u8; 60];
    k[..20].copy_from_slice(addr.as_slice());
    k[20..52].copy_from_slice(&slot.to_be_bytes::<32>());
    k[52..].copy_from_slice(&n.to_be_bytes());
    k
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    if bytes.len() == 8 {
        b.copy_from_slice(bytes);
    }
    u64::from_be_bytes(b)
}

fn decode<T: Decodable>(mut bytes: &[u8]) -> Result<T> {
    Ok(T::decode(&mut bytes)?)
}

fn encode<T: Encodable>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.length());
    value.encode(&mut out);
    out
}

/// Create the store file readable by its owner only (0600), as every Citrate file is; an
/// existing file is left as it is.
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => {
            Err(Error::Store(format!("cannot create the chain store `{}`: {e}", path.display())))
        }
    }
}

impl Store {
    /// Open or create `dir/chain.redb`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Store(format!("cannot create the data directory `{}`: {e}", dir.display()))
        })?;
        let path = dir.join("chain.redb");
        create_private(&path)?;
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        {
            let mut set = open_paths().lock().map_err(|_| Error::Store("lock poisoned".into()))?;
            if !set.insert(canonical.clone()) {
                return Err(in_use(dir));
            }
        }
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(e) => {
                if let Ok(mut set) = open_paths().lock() {
                    set.remove(&canonical);
                }
                return Err(match e {
                    redb::DatabaseError::DatabaseAlreadyOpen => in_use(dir),
                    other => Error::Store(format!(
                        "cannot open the chain store `{}`: {other}",
                        path.display()
                    )),
                });
            }
        };
        let store = Self { db, path: canonical };
        // Create every table once so that readers never see a missing one.
        let txn = store.db.begin_write()?;
        {
            txn.open_table(META)?;
            txn.open_table(HEADERS)?;
            txn.open_table(BODIES)?;
            txn.open_table(RECEIPTS)?;
            txn.open_table(CHANGES)?;
            txn.open_table(TX_INDEX)?;
            txn.open_table(SKIPPED)?;
            txn.open_table(ACCOUNTS)?;
            txn.open_table(STORAGE)?;
            txn.open_table(WIPES)?;
            txn.open_table(CODE)?;
            txn.open_table(ADDR_TXS)?;
        }
        txn.commit()?;
        Ok(store)
    }

    /// The stored identity, `None` for a new store.
    pub fn meta(&self) -> Result<Option<Meta>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(META)?;
        let get =
            |k: &str| -> Result<Option<Vec<u8>>> { Ok(t.get(k)?.map(|v| v.value().to_vec())) };
        let (Some(chain_id), Some(k), Some(genesis), Some(config)) =
            (get("chain_id")?, get("k")?, get("genesis_hash")?, get("genesis_config_hash")?)
        else {
            return Ok(None);
        };
        if genesis.len() != 32 || config.len() != 32 || k.len() != 2 {
            return Err(Error::Store("chain store: corrupt meta table".into()));
        }
        Ok(Some(Meta {
            chain_id: be_u64(&chain_id),
            k: u16::from_be_bytes([k[0], k[1]]),
            genesis_hash: B256::from_slice(&genesis),
            genesis_config_hash: B256::from_slice(&config),
        }))
    }

    /// Write the genesis block and the identity (one durable transaction).
    pub fn write_genesis(&self, meta: &Meta, genesis: &BlockWrite) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| Error::Store(format!("chain store: {e}")))?;
        {
            let mut t = txn.open_table(META)?;
            t.insert("chain_id", meta.chain_id.to_be_bytes().as_slice())?;
            t.insert("k", meta.k.to_be_bytes().as_slice())?;
            t.insert("genesis_hash", meta.genesis_hash.as_slice())?;
            t.insert("genesis_config_hash", meta.genesis_config_hash.as_slice())?;
        }
        write_block(&txn, genesis)?;
        txn.commit()?;
        Ok(())
    }

    /// Write the blocks of one round in one durable transaction.
    pub fn write_round(&self, blocks: &[BlockWrite]) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| Error::Store(format!("chain store: {e}")))?;
        for b in blocks {
            write_block(&txn, b)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Write state changes at block `number` (set_balance & co. on the head block).
    pub fn write_state_at(&self, number: u64, changes: &BlockChanges) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| Error::Store(format!("chain store: {e}")))?;
        let mut keys = {
            let t = txn.open_table(CHANGES)?;
            let existing = t.get(number)?.map(|v| v.value().to_vec());
            match existing {
                Some(bytes) => decode::<ChangedKeys>(&bytes)?,
                None => ChangedKeys::default(),
            }
        };
        write_changes(&txn, number, changes, &mut keys)?;
        txn.open_table(CHANGES)?.insert(number, encode(&keys).as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Delete every block after `number` with its state, indices and receipts.
    pub fn rewind(&self, number: u64) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| Error::Store(format!("chain store: {e}")))?;
        let numbers: Vec<u64> = {
            let t = txn.open_table(HEADERS)?;
            let mut out = Vec::new();
            for item in t.range(number.saturating_add(1)..)? {
                out.push(item?.0.value());
            }
            out
        };
        {
            let mut headers = txn.open_table(HEADERS)?;
            let mut bodies = txn.open_table(BODIES)?;
            let mut receipts = txn.open_table(RECEIPTS)?;
            let mut changes = txn.open_table(CHANGES)?;
            let mut tx_index = txn.open_table(TX_INDEX)?;
            let mut skipped = txn.open_table(SKIPPED)?;
            let mut accounts = txn.open_table(ACCOUNTS)?;
            let mut storage = txn.open_table(STORAGE)?;
            let mut wipes = txn.open_table(WIPES)?;
            let mut addr_txs = txn.open_table(ADDR_TXS)?;
            for n in numbers {
                let keys = changes.remove(n)?.map(|v| v.value().to_vec());
                if let Some(keys) = keys {
                    let keys: ChangedKeys = decode(&keys)?;
                    for a in keys.accounts {
                        accounts.remove(key_addr_num(&a, n).as_slice())?;
                    }
                    for k in keys.storage {
                        storage.remove(k.as_ref())?;
                    }
                    for a in keys.wipes {
                        wipes.remove(key_addr_num(&a, n).as_slice())?;
                    }
                    for h in keys.txs {
                        tx_index.remove(h.as_slice())?;
                    }
                    for k in keys.addr_txs {
                        addr_txs.remove(k.as_ref())?;
                    }
                    for h in keys.skipped {
                        skipped.remove(h.as_slice())?;
                    }
                }
                headers.remove(n)?;
                bodies.remove(n)?;
                receipts.remove(n)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// A read snapshot.
    pub fn read(&self) -> Result<ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    /// Every header in number order (used to rebuild GhostDAG and the indices on open).
    pub fn all_headers(&self) -> Result<Vec<Header>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(HEADERS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            out.push(decode(item?.1.value())?);
        }
        Ok(out)
    }

    /// Load the latest state (the newest history entry of every account and slot).
    pub fn load_latest(&self) -> Result<LatestState> {
        let txn = self.db.begin_read()?;
        let mut state = LatestState::default();
        {
            let t = txn.open_table(CODE)?;
            for item in t.iter()? {
                let (k, v) = item?;
                state.code.insert(
                    B256::from_slice(k.value()),
                    Bytecode::new_raw(Bytes::copy_from_slice(v.value())),
                );
            }
        }
        let mut last: HashMap<Address, Option<Account>> = HashMap::new();
        for item in txn.open_table(ACCOUNTS)?.iter()? {
            let (k, v) = item?;
            let k = k.value();
            if k.len() != 28 {
                return Err(Error::Store("chain store: corrupt account key".into()));
            }
            last.insert(Address::from_slice(&k[..20]), Account::decode(v.value()));
        }
        let mut wiped_at: HashMap<Address, u64> = HashMap::new();
        for item in txn.open_table(WIPES)?.iter()? {
            let (k, _) = item?;
            let k = k.value();
            if k.len() == 28 {
                wiped_at.insert(Address::from_slice(&k[..20]), be_u64(&k[20..]));
            }
        }
        for (addr, acc) in &last {
            if let Some(acc) = acc {
                state.put_account(*addr, *acc);
            }
        }
        let mut slots: BTreeMap<(Address, U256), (u64, U256)> = BTreeMap::new();
        for item in txn.open_table(STORAGE)?.iter()? {
            let (k, v) = item?;
            let k = k.value();
            if k.len() != 60 {
                return Err(Error::Store("chain store: corrupt storage key".into()));
            }
            let addr = Address::from_slice(&k[..20]);
            let slot = U256::from_be_slice(&k[20..52]);
            slots.insert((addr, slot), (be_u64(&k[52..]), U256::from_be_slice(v.value())));
        }
        for ((addr, slot), (n, value)) in slots {
            if value.is_zero() || wiped_at.get(&addr).is_some_and(|w| *w > n) {
                continue;
            }
            if let Some(acc) = state.accounts.get_mut(&addr) {
                acc.storage.insert(slot, value);
            }
        }
        state.refresh_storage_roots();
        Ok(state)
    }
}

fn write_block(txn: &WriteTransaction, b: &BlockWrite) -> Result<()> {
    let n = b.header.number;
    txn.open_table(HEADERS)?.insert(n, encode(&b.header).as_slice())?;
    txn.open_table(BODIES)?.insert(n, encode(&b.body).as_slice())?;
    txn.open_table(RECEIPTS)?.insert(n, encode(&b.receipts).as_slice())?;
    let mut keys = ChangedKeys::default();
    {
        let mut tx_index = txn.open_table(TX_INDEX)?;
        let mut addr_txs = txn.open_table(ADDR_TXS)?;
        for (i, (hash, (from, to))) in b.tx_hashes.iter().zip(&b.parties).enumerate() {
            let idx = u32::try_from(i).map_err(|_| Error::Chain("too many transactions".into()))?;
            let mut v = [0u8; 12];
            v[..8].copy_from_slice(&n.to_be_bytes());
            v[8..].copy_from_slice(&idx.to_be_bytes());
            tx_index.insert(hash.as_slice(), v.as_slice())?;
            keys.txs.push(*hash);
            let mut parties = vec![*from];
            if let Some(to) = to {
                if to != from {
                    parties.push(*to);
                }
            }
            for p in parties {
                let mut k = [0u8; 32];
                k[..20].copy_from_slice(p.as_slice());
                k[20..28].copy_from_slice(&n.to_be_bytes());
                k[28..].copy_from_slice(&idx.to_be_bytes());
                addr_txs.insert(k.as_slice(), hash.as_slice())?;
                keys.addr_txs.push(Bytes::copy_from_slice(&k));
            }
        }
        let mut skipped = txn.open_table(SKIPPED)?;
        for s in &b.body.skipped {
            let mut v = b.header.hash.to_vec();
            v.extend_from_slice(&s.reason);
            skipped.insert(s.hash.as_slice(), v.as_slice())?;
            keys.skipped.push(s.hash);
        }
    }
    write_changes(txn, n, &b.changes, &mut keys)?;
    txn.open_table(CHANGES)?.insert(n, encode(&keys).as_slice())?;
    Ok(())
}

fn write_changes(
    txn: &WriteTransaction,
    n: u64,
    changes: &BlockChanges,
    keys: &mut ChangedKeys,
) -> Result<()> {
    let mut accounts = txn.open_table(ACCOUNTS)?;
    let mut storage = txn.open_table(STORAGE)?;
    let mut wipes = txn.open_table(WIPES)?;
    let mut code = txn.open_table(CODE)?;
    for addr in &changes.wiped {
        wipes.insert(key_addr_num(addr, n).as_slice(), [].as_slice())?;
        keys.wipes.push(*addr);
    }
    for (addr, acc) in &changes.accounts {
        let value = acc.map(|a| a.encode().to_vec()).unwrap_or_default();
        accounts.insert(key_addr_num(addr, n).as_slice(), value.as_slice())?;
        keys.accounts.push(*addr);
    }
    for ((addr, slot), value) in &changes.storage {
        let k = key_slot_num(addr, slot, n);
        storage.insert(k.as_slice(), value.to_be_bytes::<32>().as_slice())?;
        keys.storage.push(Bytes::copy_from_slice(&k));
    }
    for (hash, bytes) in &changes.code {
        code.insert(hash.as_slice(), bytes.as_ref())?;
    }
    Ok(())
}

/// Typed reads inside one read transaction.
pub struct Reader {
    txn: ReadTransaction,
}

impl Reader {
    /// Wrap a read transaction.
    pub fn new(txn: ReadTransaction) -> Self {
        Self { txn }
    }

    /// Header by number.
    pub fn header(&self, n: u64) -> Result<Option<Header>> {
        let t = self.txn.open_table(HEADERS)?;
        let v = t.get(n)?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// Body by number.
    pub fn body(&self, n: u64) -> Result<Option<Body>> {
        let t = self.txn.open_table(BODIES)?;
        let v = t.get(n)?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// Receipts by number.
    pub fn receipts(&self, n: u64) -> Result<Option<Vec<StoredReceipt>>> {
        let t = self.txn.open_table(RECEIPTS)?;
        let v = t.get(n)?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// (block number, index) of a mined transaction.
    pub fn tx_location(&self, hash: &B256) -> Result<Option<(u64, u32)>> {
        let t = self.txn.open_table(TX_INDEX)?;
        let v = t.get(hash.as_slice())?;
        Ok(v.and_then(|v| {
            let v = v.value();
            (v.len() == 12)
                .then(|| (be_u64(&v[..8]), u32::from_be_bytes([v[8], v[9], v[10], v[11]])))
        }))
    }

    /// (block hash, reason) of a skipped transaction.
    pub fn skipped(&self, hash: &B256) -> Result<Option<(B256, String)>> {
        let t = self.txn.open_table(SKIPPED)?;
        let v = t.get(hash.as_slice())?;
        Ok(v.and_then(|v| {
            let v = v.value();
            (v.len() >= 32).then(|| {
                (B256::from_slice(&v[..32]), String::from_utf8_lossy(&v[32..]).into_owned())
            })
        }))
    }

    /// Transactions of `address`, newest first, strictly before `cursor` (an opaque
    /// `number << 32 | index`), at most `limit`; returns (hash, number, index) triples.
    pub fn address_txs(
        &self,
        address: &Address,
        limit: usize,
        cursor: Option<u64>,
    ) -> Result<Vec<(B256, u64, u32)>> {
        let t = self.txn.open_table(ADDR_TXS)?;
        let mut lo = [0u8; 32];
        lo[..20].copy_from_slice(address.as_slice());
        let mut hi = [0xffu8; 32];
        hi[..20].copy_from_slice(address.as_slice());
        if let Some(c) = cursor {
            hi[20..28].copy_from_slice(&(c >> 32).to_be_bytes());
            hi[28..].copy_from_slice(&((c & 0xffff_ffff) as u32).to_be_bytes());
        }
        let mut out = Vec::new();
        for item in t.range(lo.as_slice()..hi.as_slice())?.rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let (k, v) = (k.value(), v.value());
            if k.len() != 32 || v.len() != 32 {
                continue;
            }
            out.push((
                B256::from_slice(v),
                be_u64(&k[20..28]),
                u32::from_be_bytes([k[28], k[29], k[30], k[31]]),
            ));
        }
        Ok(out)
    }

    /// A [`StateReader`] of the state after block `number`; code comes from `code`.
    pub fn state_at<'a>(&'a self, number: u64, latest: &'a LatestState) -> HistoryReader<'a> {
        HistoryReader { reader: self, number, latest }
    }
}

/// State at a past block, read from the history tables.
pub struct HistoryReader<'a> {
    reader: &'a Reader,
    number: u64,
    latest: &'a LatestState,
}

impl StateReader for HistoryReader<'_> {
    fn account(&self, address: &Address) -> Result<Option<Account>> {
        let t = self.reader.txn.open_table(ACCOUNTS)?;
        let lo = key_addr_num(address, 0);
        let hi = key_addr_num(address, self.number);
        let mut range = t.range(lo.as_slice()..=hi.as_slice())?;
        Ok(match range.next_back() {
            Some(item) => Account::decode(item?.1.value()),
            None => None,
        })
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256> {
        let t = self.reader.txn.open_table(STORAGE)?;
        let lo = key_slot_num(address, slot, 0);
        let hi = key_slot_num(address, slot, self.number);
        let entry = match t.range(lo.as_slice()..=hi.as_slice())?.next_back() {
            Some(item) => {
                let (k, v) = item?;
                Some((be_u64(&k.value()[52..]), U256::from_be_slice(v.value())))
            }
            None => None,
        };
        let w = self.reader.txn.open_table(WIPES)?;
        let lo = key_addr_num(address, 0);
        let hi = key_addr_num(address, self.number);
        let wipe = match w.range(lo.as_slice()..=hi.as_slice())?.next_back() {
            Some(item) => Some(be_u64(&item?.0.value()[20..])),
            None => None,
        };
        Ok(match (entry, wipe) {
            (Some((n, v)), Some(w)) if n >= w => v,
            (Some((_, v)), None) => v,
            _ => U256::ZERO,
        })
    }

    fn code(&self, hash: &B256) -> Result<Option<Bytecode>> {
        if let Some(c) = self.latest.code.get(hash) {
            return Ok(Some(c.clone()));
        }
        let t = self.reader.txn.open_table(CODE)?;
        let v = t.get(hash.as_slice())?;
        Ok(v.map(|v| Bytecode::new_raw(Bytes::copy_from_slice(v.value()))))
    }
}
