//! The genesis state: accounts with balances, nonces, predeployed code and storage, and
//! [`build_genesis`], which produces such accounts by running deployment calls in revm.
//!
//! A devnet's system contracts are deployed by running their constructors here, once, and the
//! resulting accounts are written into block 0 (`eth_getCode(addr, 0)` returns their code and
//! their constructor-initialised storage is in the genesis state root), rather than by
//! transactions in later blocks.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{hex, keccak256, Address, Bytes, B256, KECCAK256_EMPTY, U256};
use alloy_rlp::{Encodable, RlpEncodable};
use revm::bytecode::Bytecode;
use revm::context::TxEnv;

use crate::error::{Error, Result};
use crate::exec::{self, BlockParams, CallOutcome};
use crate::state::{
    Account, BlockChanges, BlockDb, BlockHashes, LatestState, Overlay, OverlayReader, StateReader,
};
use crate::tx::kind_of;

/// EIP-170's limit on deployed code, quoted in the hint of a failed deployment.
const MAX_CODE_SIZE: usize = 24_576;

/// One account of the genesis state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenesisAccount {
    /// Address.
    pub address: Address,
    /// Balance in wei.
    pub balance: U256,
    /// Nonce (a contract deployed by CREATE starts at 1, EIP-161).
    pub nonce: u64,
    /// Runtime code, stored like the code of a deployed contract (empty for none).
    pub code: Bytes,
    /// Storage words as (slot, value); zero values are the same as absent slots.
    pub storage: Vec<(U256, U256)>,
}

impl GenesisAccount {
    /// A plain account holding `balance` wei (nonce 0, no code, no storage).
    pub fn with_balance(address: Address, balance: U256) -> Self {
        Self { address, balance, ..Default::default() }
    }

    /// Only a balance: no nonce, code or non-zero storage. Plain entries for one address are
    /// summed (as genesis balances always were); any other account must be listed once.
    pub fn is_plain(&self) -> bool {
        self.nonce == 0 && self.code.is_empty() && self.storage.iter().all(|(_, v)| v.is_zero())
    }

    /// Nothing at all: such an account does not exist in the state (EIP-161).
    fn is_empty(&self) -> bool {
        self.is_plain() && self.balance.is_zero()
    }
}

impl From<(Address, U256)> for GenesisAccount {
    fn from((address, balance): (Address, U256)) -> Self {
        Self::with_balance(address, balance)
    }
}

/// One call [`build_genesis`] executes: a contract creation (`to: None`) or a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenesisCall {
    /// Sender; its nonce is used and incremented as for a transaction, so a creation deploys
    /// at the standard `keccak256(rlp([from, nonce]))[12..]`.
    pub from: Address,
    /// Recipient, `None` for a contract creation.
    pub to: Option<Address>,
    /// Init code (creation) or call data.
    pub data: Bytes,
    /// Wei sent with the call (the sender must hold it).
    pub value: U256,
}

/// Check `alloc` and merge it by address into the accounts of the genesis state.
///
/// Plain balances listed more than once are summed (saturating), as they always were; an
/// account with code, storage or a nonce must be listed exactly once. Storage is sorted by slot
/// without its zero words; code must be loadable by revm (an `0xef01` prefix is only valid as an
/// EIP-7702 delegation).
pub(crate) fn merge_alloc(alloc: &[GenesisAccount]) -> Result<BTreeMap<Address, GenesisAccount>> {
    let mut out: BTreeMap<Address, GenesisAccount> = BTreeMap::new();
    for entry in alloc {
        let account = canonical(entry)?;
        match out.entry(account.address) {
            Entry::Vacant(v) => {
                v.insert(account);
            }
            Entry::Occupied(mut o) => {
                if !(o.get().is_plain() && account.is_plain()) {
                    return Err(Error::InvalidArgument(format!(
                        "the genesis alloc lists `{}` more than once, and one of its entries has \
                         code, storage or a nonce\nhint: give an account with code, storage or a \
                         nonce exactly one entry, with its whole balance",
                        account.address
                    )));
                }
                let merged = o.get_mut();
                merged.balance = merged.balance.saturating_add(account.balance);
            }
        }
    }
    Ok(out)
}

/// One entry with its storage sorted by slot and without zero words, its code checked.
fn canonical(entry: &GenesisAccount) -> Result<GenesisAccount> {
    if !entry.code.is_empty() {
        Bytecode::new_raw_checked(entry.code.clone()).map_err(|e| {
            Error::InvalidArgument(format!(
                "the genesis code of `{}` is not valid: {e}\nhint: code that starts with 0xef01 \
                 must be an EIP-7702 delegation (0xef0100 followed by a 20-byte address)",
                entry.address
            ))
        })?;
    }
    let mut storage: BTreeMap<U256, U256> = BTreeMap::new();
    for (slot, value) in &entry.storage {
        if storage.insert(*slot, *value).is_some() {
            return Err(Error::InvalidArgument(format!(
                "the genesis storage of `{}` sets slot `{slot:#x}` more than once\nhint: give \
                 each slot one value",
                entry.address
            )));
        }
    }
    Ok(GenesisAccount {
        address: entry.address,
        balance: entry.balance,
        nonce: entry.nonce,
        code: entry.code.clone(),
        storage: storage.into_iter().filter(|(_, v)| !v.is_zero()).collect(),
    })
}

/// The state changes of block 0 for merged genesis accounts (empty accounts do not exist).
pub(crate) fn genesis_changes(accounts: &BTreeMap<Address, GenesisAccount>) -> BlockChanges {
    let mut changes = BlockChanges::default();
    for (address, account) in accounts {
        if account.is_empty() {
            continue;
        }
        let code_hash = if account.code.is_empty() {
            KECCAK256_EMPTY
        } else {
            let hash = keccak256(&account.code);
            changes.code.insert(hash, account.code.clone());
            hash
        };
        changes.accounts.insert(
            *address,
            Some(Account { balance: account.balance, nonce: account.nonce, code_hash }),
        );
        for (slot, value) in &account.storage {
            changes.storage.insert((*address, *slot), *value);
        }
    }
    changes
}

/// A plain alloc entry in the genesis config hash: `[address, wei]`, the encoding every chain
/// used before genesis code existed, so that existing data directories still open.
#[derive(RlpEncodable)]
pub(crate) struct PlainEntry {
    address: Address,
    wei: U256,
}

#[derive(RlpEncodable)]
struct StorageEntry {
    slot: U256,
    value: U256,
}

/// Any other alloc entry: `[address, wei, nonce, code, [[slot, value], ...]]`.
#[derive(RlpEncodable)]
pub(crate) struct FullEntry {
    address: Address,
    wei: U256,
    nonce: u64,
    code: Bytes,
    storage: Vec<StorageEntry>,
}

/// One alloc entry as the genesis config hash commits to it (an RLP list of 2 or 5 items).
pub(crate) enum AllocEntry {
    Plain(PlainEntry),
    Full(FullEntry),
}

impl Encodable for AllocEntry {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        match self {
            AllocEntry::Plain(e) => e.encode(out),
            AllocEntry::Full(e) => e.encode(out),
        }
    }
    fn length(&self) -> usize {
        match self {
            AllocEntry::Plain(e) => e.length(),
            AllocEntry::Full(e) => e.length(),
        }
    }
}

/// The alloc as the genesis config hash commits to it: every entry in the order given (plain
/// balances unmerged, as before), storage in canonical form.
pub(crate) fn alloc_entries(alloc: &[GenesisAccount]) -> Result<Vec<AllocEntry>> {
    let mut out = Vec::with_capacity(alloc.len());
    for entry in alloc {
        let e = canonical(entry)?;
        out.push(if e.is_plain() {
            AllocEntry::Plain(PlainEntry { address: e.address, wei: e.balance })
        } else {
            AllocEntry::Full(FullEntry {
                address: e.address,
                wei: e.balance,
                nonce: e.nonce,
                code: e.code,
                storage: e
                    .storage
                    .into_iter()
                    .map(|(slot, value)| StorageEntry { slot, value })
                    .collect(),
            })
        });
    }
    Ok(out)
}

/// Run `calls` in order on a state seeded with `alloc` and return every resulting non-empty
/// account (balance, nonce, code, non-zero storage), sorted by address (storage by slot): a
/// genesis alloc with the calls' contracts predeployed.
///
/// Each call runs like a transaction of block 0 (the blocks' hard fork and configuration,
/// timestamp `timestamp`, coinbase and PREVRANDAO zero, base fee and gas price 0 so no fee is
/// charged) with `gas_limit` gas; EIP-170's code size limit applies, and the sender's nonce is
/// checked and incremented as for a transaction. If any call reverts, halts or is invalid, the
/// error names the call's index and target (and the revert data) and nothing is returned.
pub fn build_genesis(
    chain_id: u64,
    alloc: Vec<GenesisAccount>,
    calls: Vec<GenesisCall>,
    timestamp: u64,
    gas_limit: u64,
) -> Result<Vec<GenesisAccount>> {
    let mut latest = LatestState::default();
    let mut seed = Overlay::default();
    seed.apply_changes(&genesis_changes(&merge_alloc(&alloc)?));
    latest.apply(seed);
    let params = BlockParams {
        number: 0,
        timestamp,
        coinbase: Address::ZERO,
        gas_limit,
        base_fee: 0,
        prevrandao: B256::ZERO,
    };
    let mut overlay = Overlay::default();
    // BlockDb records every commit twice (overlay and block changes); only the overlay is used.
    let mut changes = BlockChanges::default();
    for (index, call) in calls.iter().enumerate() {
        let nonce = OverlayReader { latest: &latest, overlay: &overlay }
            .account(&call.from)?
            .map(|a| a.nonce)
            .unwrap_or(0);
        let env = TxEnv {
            tx_type: 0,
            caller: call.from,
            gas_limit,
            gas_price: 0,
            kind: kind_of(call.to),
            value: call.value,
            data: call.data.clone(),
            nonce,
            chain_id: Some(chain_id),
            ..Default::default()
        };
        let db = BlockDb {
            latest: &latest,
            overlay: &mut overlay,
            changes: &mut changes,
            block_hashes: BlockHashes { stored: &[], round: &[] },
        };
        let target = describe(call, nonce);
        let outcome = match exec::commit_call(db, &params, chain_id, env)? {
            Ok(outcome) => outcome,
            Err(reason) => {
                let hint = if reason.starts_with("insufficient funds") {
                    "\nhint: give the sender the call's value in the genesis alloc"
                } else if reason.starts_with("sender not an eoa") {
                    "\nhint: send genesis calls from an address without code"
                } else if reason.starts_with("intrinsic gas too low")
                    || reason.starts_with("insufficient gas for floor")
                    || reason.starts_with("exceeds block gas limit")
                {
                    "\nhint: raise `gas_limit`"
                } else {
                    ""
                };
                return Err(genesis_error(
                    index,
                    format!("genesis call {index} ({target}) is not valid: {reason}{hint}"),
                    Vec::new(),
                ));
            }
        };
        match outcome {
            CallOutcome::Success { .. } => {}
            CallOutcome::Revert { output, .. } => {
                let reason = match exec::revert_reason(&output) {
                    Some(r) => format!(": {r}"),
                    None => String::new(),
                };
                let data = if output.is_empty() {
                    "without revert data".to_string()
                } else {
                    format!("(revert data `0x{}`)", hex::encode(&output))
                };
                return Err(genesis_error(
                    index,
                    format!("genesis call {index} ({target}) reverted{reason} {data}"),
                    output.to_vec(),
                ));
            }
            CallOutcome::Halt { reason, gas_used } => {
                let hint = match reason.as_str() {
                    "out of gas" => "\nhint: raise `gas_limit`".to_string(),
                    "max code size exceeded" => format!(
                        "\nhint: the deployed code is over EIP-170's {MAX_CODE_SIZE}-byte limit; \
                         split the contract or turn on the optimizer"
                    ),
                    _ => String::new(),
                };
                return Err(genesis_error(
                    index,
                    format!(
                        "genesis call {index} ({target}) failed: {reason} (gas used {gas_used} of \
                         {gas_limit}){hint}"
                    ),
                    Vec::new(),
                ));
            }
        }
    }
    latest.apply(overlay);
    accounts_of(&latest)
}

fn genesis_error(index: usize, message: String, data: Vec<u8>) -> Error {
    Error::Genesis { message, index: index as u64, data }
}

/// How an error names a call: ``create by `0x..` at nonce n, deploying `0x..` `` or
/// ``call from `0x..` to `0x..` ``.
fn describe(call: &GenesisCall, nonce: u64) -> String {
    match call.to {
        None => format!(
            "create by `{}` at nonce {nonce}, deploying `{}`",
            call.from,
            call.from.create(nonce)
        ),
        Some(to) => format!("call from `{}` to `{to}`", call.from),
    }
}

/// Every account of `latest` as genesis accounts, sorted by address, storage by slot.
fn accounts_of(latest: &LatestState) -> Result<Vec<GenesisAccount>> {
    let addresses: BTreeSet<Address> = latest.accounts.keys().copied().collect();
    let mut out = Vec::with_capacity(addresses.len());
    for address in addresses {
        let Some(account) = latest.accounts.get(&address) else { continue };
        let info = account.info;
        let code = if info.code_hash == KECCAK256_EMPTY {
            Bytes::new()
        } else {
            latest.code.get(&info.code_hash).map(Bytecode::original_bytes).ok_or_else(|| {
                Error::Chain(format!(
                    "genesis build: the code `{}` of `{address}` is missing",
                    info.code_hash
                ))
            })?
        };
        let mut storage: Vec<(U256, U256)> =
            account.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (*k, *v)).collect();
        storage.sort_unstable();
        let account =
            GenesisAccount { address, balance: info.balance, nonce: info.nonce, code, storage };
        if !account.is_empty() {
            out.push(account);
        }
    }
    Ok(out)
}
