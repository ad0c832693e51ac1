//! World state: the in-memory latest state, the overlay a round executes against, revm database
//! adapters, and the Merkle-Patricia state root.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy_primitives::{keccak256, Address, Bytes, B256, KECCAK256_EMPTY, U256};
use alloy_trie::{root::storage_root_unhashed, HashBuilder, Nibbles, TrieAccount, EMPTY_ROOT_HASH};
use revm::bytecode::Bytecode;
use revm::database_interface::DBErrorMarker;
use revm::state::{Account as RevmAccount, AccountInfo};
use revm::{Database, DatabaseCommit, DatabaseRef};

use crate::error::Error;

/// Balance, nonce and code hash of an existing account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Keccak of the code (`KECCAK256_EMPTY` for none).
    pub code_hash: B256,
}

impl Default for Account {
    fn default() -> Self {
        Self { balance: U256::ZERO, nonce: 0, code_hash: KECCAK256_EMPTY }
    }
}

impl Account {
    /// Fixed 72-byte encoding: balance (32, BE) ++ nonce (8, BE) ++ code hash (32).
    pub fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..32].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[32..40].copy_from_slice(&self.nonce.to_be_bytes());
        out[40..].copy_from_slice(self.code_hash.as_slice());
        out
    }

    /// Inverse of [`Account::encode`]; `None` for any other length.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 72 {
            return None;
        }
        let balance = U256::from_be_slice(&bytes[..32]);
        let nonce = u64::from_be_bytes(bytes[32..40].try_into().ok()?);
        let code_hash = B256::from_slice(&bytes[40..]);
        Some(Self { balance, nonce, code_hash })
    }

    fn info(&self, code: Option<&Bytecode>) -> AccountInfo {
        AccountInfo::new(
            self.balance,
            self.nonce,
            self.code_hash,
            code.cloned().unwrap_or_default(),
        )
    }
}

/// Error type of the revm database adapters.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

impl DBErrorMarker for DbError {}

impl From<Error> for DbError {
    fn from(e: Error) -> Self {
        DbError(e.to_string())
    }
}

/// Read access to the world state at one block.
pub trait StateReader {
    /// The account, `None` when it does not exist.
    fn account(&self, address: &Address) -> Result<Option<Account>, Error>;
    /// A storage word (zero when unset).
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, Error>;
    /// Code by hash.
    fn code(&self, hash: &B256) -> Result<Option<Bytecode>, Error>;
}

/// One existing account of the latest state, with its storage and cached storage root.
#[derive(Debug, Clone, Default)]
pub struct LatestAccount {
    /// Balance, nonce, code hash.
    pub info: Account,
    /// Non-zero storage words.
    pub storage: HashMap<U256, U256>,
    /// Storage trie root of `storage`.
    pub storage_root: B256,
    /// keccak256(address), the account's state-trie key.
    pub hashed_address: B256,
}

/// The full state at the head block, kept in memory (a devnet's state is small) so that the
/// state root of every block and `eth_call` at "latest" need no disk reads.
#[derive(Debug, Default)]
pub struct LatestState {
    /// Every existing account.
    pub accounts: HashMap<Address, LatestAccount>,
    /// Every code ever deployed, by hash.
    pub code: HashMap<B256, Bytecode>,
}

impl StateReader for LatestState {
    fn account(&self, address: &Address) -> Result<Option<Account>, Error> {
        Ok(self.accounts.get(address).map(|a| a.info))
    }
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, Error> {
        Ok(self
            .accounts
            .get(address)
            .and_then(|a| a.storage.get(slot).copied())
            .unwrap_or(U256::ZERO))
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytecode>, Error> {
        Ok(self.code.get(hash).cloned())
    }
}

/// The final changes of one block: what is written to the history tables at its number.
#[derive(Debug, Default, Clone)]
pub struct BlockChanges {
    /// Accounts whose info changed; `None` = deleted.
    pub accounts: BTreeMap<Address, Option<Account>>,
    /// Storage words written (final value, zero = cleared).
    pub storage: BTreeMap<(Address, U256), U256>,
    /// Accounts whose whole storage was cleared (self-destruct or re-creation) before `storage`.
    pub wiped: BTreeSet<Address>,
    /// Code deployed in the block.
    pub code: BTreeMap<B256, Bytes>,
}

impl BlockChanges {
    /// Whether the block changed nothing.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.storage.is_empty()
            && self.wiped.is_empty()
            && self.code.is_empty()
    }
}

#[derive(Debug, Default, Clone)]
struct OverlayAccount {
    /// `Some(None)` = deleted; `None` = info untouched (read through).
    info: Option<Option<Account>>,
    /// Storage cleared: reads below the overlay see zero.
    wiped: bool,
    storage: HashMap<U256, U256>,
}

/// The changes of a round on top of [`LatestState`]: applied to it only after the round is
/// durably committed, dropped on failure, so a failed round leaves no trace.
#[derive(Debug, Default)]
pub struct Overlay {
    accounts: HashMap<Address, OverlayAccount>,
    code: HashMap<B256, Bytecode>,
}

impl Overlay {
    /// Apply one block's changes.
    pub fn apply_changes(&mut self, changes: &BlockChanges) {
        for addr in &changes.wiped {
            let acc = self.accounts.entry(*addr).or_default();
            acc.wiped = true;
            acc.storage.clear();
        }
        for (addr, info) in &changes.accounts {
            self.accounts.entry(*addr).or_default().info = Some(*info);
        }
        for ((addr, slot), value) in &changes.storage {
            self.accounts.entry(*addr).or_default().storage.insert(*slot, *value);
        }
        for (hash, code) in &changes.code {
            self.code.insert(*hash, Bytecode::new_raw(code.clone()));
        }
    }
}

/// [`StateReader`] of `latest` with `overlay` on top.
pub struct OverlayReader<'a> {
    /// The committed head state.
    pub latest: &'a LatestState,
    /// The round's changes so far.
    pub overlay: &'a Overlay,
}

impl StateReader for OverlayReader<'_> {
    fn account(&self, address: &Address) -> Result<Option<Account>, Error> {
        match self.overlay.accounts.get(address).and_then(|a| a.info) {
            Some(info) => Ok(info),
            None => self.latest.account(address),
        }
    }
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, Error> {
        if let Some(acc) = self.overlay.accounts.get(address) {
            if let Some(v) = acc.storage.get(slot) {
                return Ok(*v);
            }
            if acc.wiped {
                return Ok(U256::ZERO);
            }
        }
        self.latest.storage(address, slot)
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytecode>, Error> {
        match self.overlay.code.get(hash) {
            Some(c) => Ok(Some(c.clone())),
            None => self.latest.code(hash),
        }
    }
}

impl LatestState {
    /// Fold a committed round into the latest state and refresh the changed storage roots.
    pub fn apply(&mut self, overlay: Overlay) {
        for (hash, code) in overlay.code {
            self.code.insert(hash, code);
        }
        for (addr, o) in overlay.accounts {
            let existed = self.accounts.contains_key(&addr);
            let info = match o.info {
                Some(None) => {
                    self.accounts.remove(&addr);
                    continue;
                }
                Some(Some(info)) => Some(info),
                None => None,
            };
            if !existed && info.is_none() {
                // Storage written on an account that does not exist cannot happen in the EVM;
                // ignore it rather than invent an account.
                continue;
            }
            let entry = self.accounts.entry(addr).or_insert_with(|| LatestAccount {
                hashed_address: keccak256(addr),
                ..Default::default()
            });
            if let Some(info) = info {
                entry.info = info;
            }
            if o.wiped || !o.storage.is_empty() {
                if o.wiped {
                    entry.storage.clear();
                }
                for (slot, value) in o.storage {
                    if value.is_zero() {
                        entry.storage.remove(&slot);
                    } else {
                        entry.storage.insert(slot, value);
                    }
                }
                entry.storage_root = storage_root_of(&entry.storage);
            } else if !existed {
                entry.storage_root = EMPTY_ROOT_HASH;
            }
        }
    }

    /// Insert or replace one account (genesis, `set_balance`, loading the store).
    pub fn put_account(&mut self, addr: Address, info: Account) {
        let entry = self.accounts.entry(addr).or_insert_with(|| LatestAccount {
            hashed_address: keccak256(addr),
            storage_root: EMPTY_ROOT_HASH,
            ..Default::default()
        });
        entry.info = info;
    }

    /// Recompute every storage root (after loading).
    pub fn refresh_storage_roots(&mut self) {
        for acc in self.accounts.values_mut() {
            acc.storage_root = storage_root_of(&acc.storage);
        }
    }

    /// The state root of the latest state.
    pub fn state_root(&self) -> B256 {
        state_root_with(self, &Overlay::default())
    }
}

fn storage_root_of(storage: &HashMap<U256, U256>) -> B256 {
    if storage.is_empty() {
        return EMPTY_ROOT_HASH;
    }
    storage_root_unhashed(
        storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (B256::from(*k), *v)),
    )
}

/// The Merkle-Patricia state root of `latest` with `overlay` applied (EIP-161 empty accounts
/// never exist here: the overlay deletes them).
pub fn state_root_with(latest: &LatestState, overlay: &Overlay) -> B256 {
    let mut leaves: Vec<(B256, TrieAccount)> = Vec::with_capacity(latest.accounts.len());
    for (addr, acc) in &latest.accounts {
        let Some(o) = overlay.accounts.get(addr) else {
            leaves.push((acc.hashed_address, trie_account(&acc.info, acc.storage_root)));
            continue;
        };
        let info = match o.info {
            Some(None) => continue,
            Some(Some(info)) => info,
            None => acc.info,
        };
        let root = if o.wiped || !o.storage.is_empty() {
            merged_storage_root(Some(&acc.storage), o)
        } else {
            acc.storage_root
        };
        leaves.push((acc.hashed_address, trie_account(&info, root)));
    }
    for (addr, o) in &overlay.accounts {
        if latest.accounts.contains_key(addr) {
            continue;
        }
        if let Some(Some(info)) = o.info {
            let root = merged_storage_root(None, o);
            leaves.push((keccak256(addr), trie_account(&info, root)));
        }
    }
    leaves.sort_unstable_by_key(|(k, _)| *k);
    let mut hb = HashBuilder::default();
    let mut buf = Vec::with_capacity(128);
    for (key, account) in leaves {
        buf.clear();
        alloy_rlp::Encodable::encode(&account, &mut buf);
        hb.add_leaf(Nibbles::unpack(key), &buf);
    }
    hb.root()
}

fn merged_storage_root(base: Option<&HashMap<U256, U256>>, o: &OverlayAccount) -> B256 {
    let mut merged: HashMap<U256, U256> = match base {
        Some(b) if !o.wiped => b.clone(),
        _ => HashMap::new(),
    };
    for (k, v) in &o.storage {
        merged.insert(*k, *v);
    }
    storage_root_of(&merged)
}

fn trie_account(info: &Account, storage_root: B256) -> TrieAccount {
    TrieAccount {
        nonce: info.nonce,
        balance: info.balance,
        storage_root,
        code_hash: info.code_hash,
    }
}

/// Hashes of numbered blocks for BLOCKHASH (index = number): the stored ones, then those of the
/// round being executed (so a round never copies the whole list).
#[derive(Debug, Clone, Copy)]
pub struct BlockHashes<'a> {
    /// Hashes of blocks 0..stored.len().
    pub stored: &'a [B256],
    /// Hashes of the blocks that follow, numbered stored.len()...
    pub round: &'a [B256],
}

impl BlockHashes<'_> {
    /// The hash of block `number`, if it is numbered.
    pub fn get(&self, number: u64) -> Option<B256> {
        let n = usize::try_from(number).ok()?;
        match self.stored.get(n) {
            Some(h) => Some(*h),
            None => self.round.get(n.checked_sub(self.stored.len())?).copied(),
        }
    }
}

/// A revm database over any [`StateReader`] plus the block-hash window.
pub struct ReaderDb<'a, R: StateReader> {
    /// The state.
    pub reader: R,
    /// Hashes of numbered blocks.
    pub block_hashes: BlockHashes<'a>,
}

impl<R: StateReader> DatabaseRef for ReaderDb<'_, R> {
    type Error = DbError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        let Some(acc) = self.reader.account(&address)? else {
            return Ok(None);
        };
        let code = if acc.code_hash == KECCAK256_EMPTY {
            None
        } else {
            self.reader.code(&acc.code_hash)?
        };
        Ok(Some(acc.info(code.as_ref())))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, DbError> {
        if code_hash == KECCAK256_EMPTY || code_hash.is_zero() {
            return Ok(Bytecode::default());
        }
        self.reader
            .code(&code_hash)?
            .ok_or_else(|| DbError(format!("code {code_hash} missing from the store")))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, DbError> {
        Ok(self.reader.storage(&address, &index)?)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, DbError> {
        Ok(self.block_hashes.get(number).unwrap_or_default())
    }
}

/// The database a block executes against: reads through the round overlay, and every commit is
/// recorded both in the overlay and in the block's [`BlockChanges`].
pub struct BlockDb<'a> {
    /// Committed head state.
    pub latest: &'a LatestState,
    /// The round so far (blocks ordered before this one, and this block's committed txs).
    pub overlay: &'a mut Overlay,
    /// This block's changes.
    pub changes: &'a mut BlockChanges,
    /// Hashes of numbered blocks.
    pub block_hashes: BlockHashes<'a>,
}

impl BlockDb<'_> {
    fn reader(&self) -> ReaderDb<'_, OverlayReader<'_>> {
        ReaderDb {
            reader: OverlayReader { latest: self.latest, overlay: self.overlay },
            block_hashes: self.block_hashes,
        }
    }
}

impl Database for BlockDb<'_> {
    type Error = DbError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        self.reader().basic_ref(address)
    }
    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, DbError> {
        self.reader().code_by_hash_ref(code_hash)
    }
    fn storage(&mut self, address: Address, index: U256) -> Result<U256, DbError> {
        self.reader().storage_ref(address, index)
    }
    fn block_hash(&mut self, number: u64) -> Result<B256, DbError> {
        self.reader().block_hash_ref(number)
    }
}

impl DatabaseCommit for BlockDb<'_> {
    fn commit(&mut self, changes: revm::primitives::AddressMap<RevmAccount>) {
        let mut tx_changes = BlockChanges::default();
        for (address, account) in changes {
            record_account(&mut tx_changes, address, account);
        }
        self.overlay.apply_changes(&tx_changes);
        merge_changes(self.changes, tx_changes);
    }
}

/// Translate one revm account change into [`BlockChanges`] (same rules as revm's `CacheDB`,
/// plus EIP-161: touched empty accounts are deleted).
fn record_account(out: &mut BlockChanges, address: Address, account: RevmAccount) {
    if !account.is_touched() {
        return;
    }
    if account.is_selfdestructed() {
        out.wiped.insert(address);
        out.accounts.insert(address, None);
        return;
    }
    if account.is_created() {
        out.wiped.insert(address);
    }
    if account.info.is_empty() {
        // EIP-161 state clearing (Spurious Dragon and later).
        out.wiped.insert(address);
        out.accounts.insert(address, None);
        return;
    }
    if let Some(code) = &account.info.code {
        if !code.is_empty() && account.info.code_hash != KECCAK256_EMPTY {
            out.code.insert(account.info.code_hash, code.original_bytes());
        }
    }
    out.accounts.insert(
        address,
        Some(Account {
            balance: account.info.balance,
            nonce: account.info.nonce,
            code_hash: account.info.code_hash,
        }),
    );
    for (slot, value) in account.changed_storage_slots() {
        out.storage.insert((address, *slot), value.present_value());
    }
}

/// Fold a later change set into an earlier one of the same block.
pub fn merge_changes(into: &mut BlockChanges, later: BlockChanges) {
    for addr in later.wiped {
        into.storage.retain(|(a, _), _| *a != addr);
        into.wiped.insert(addr);
    }
    into.accounts.extend(later.accounts);
    into.storage.extend(later.storage);
    into.code.extend(later.code);
}
