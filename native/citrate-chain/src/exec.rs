//! revm glue: EVM configuration, block execution with skipping, calls, gas estimation and
//! access lists.

use std::collections::{BTreeMap, BTreeSet};

use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxEnvelope};
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, Bloom, Bytes, Log, B256, U256};
use revm::context::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction, Output};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::interpreter::interpreter_types::{InputsTr, Jumps};
use revm::interpreter::{interpreter::EthInterpreter, Interpreter};
use revm::primitives::hardfork::SpecId;
use revm::{
    Database, DatabaseCommit, ExecuteCommitEvm, ExecuteEvm, InspectEvm, Inspector, MainBuilder,
    MainContext,
};

use crate::error::{Error, Result};
use crate::state::DbError;
use crate::store::{StoredLog, StoredReceipt};
use crate::tx::{kind_of, Tx};

/// The hard fork every block runs under.
pub const SPEC: SpecId = SpecId::PRAGUE;

/// Block-level inputs of execution.
#[derive(Debug, Clone)]
pub struct BlockParams {
    /// Block number.
    pub number: u64,
    /// Unix seconds.
    pub timestamp: u64,
    /// Fee recipient.
    pub coinbase: Address,
    /// Gas limit.
    pub gas_limit: u64,
    /// EIP-1559 base fee.
    pub base_fee: u64,
    /// PREVRANDAO value (mixHash).
    pub prevrandao: B256,
}

/// The revm block environment.
pub fn block_env(p: &BlockParams) -> BlockEnv {
    BlockEnv {
        number: U256::from(p.number),
        beneficiary: p.coinbase,
        timestamp: U256::from(p.timestamp),
        gas_limit: p.gas_limit,
        basefee: p.base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(p.prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
            0,
            revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
        )),
        ..Default::default()
    }
}

/// The revm configuration.
pub fn cfg_env(chain_id: u64) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = chain_id;
    cfg
}

/// One executed transaction.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The transaction.
    pub tx: Tx,
    /// Its receipt.
    pub receipt: StoredReceipt,
}

/// Outcome of executing a block's candidates.
#[derive(Debug, Default)]
pub struct BlockOutcome {
    /// Executed transactions in order.
    pub executed: Vec<Executed>,
    /// Skipped candidates: (hash, reason).
    pub skipped: Vec<(B256, String)>,
    /// Total gas used.
    pub gas_used: u64,
    /// Logs bloom.
    pub bloom: Bloom,
}

/// geth's wording for a transaction revm refused to execute.
pub fn invalid_tx_message(e: &InvalidTransaction, tx: &TxEnv, base_fee: u64) -> String {
    match e {
        InvalidTransaction::NonceTooLow { tx: t, state } => {
            format!("nonce too low: next nonce {state}, tx nonce {t}")
        }
        InvalidTransaction::NonceTooHigh { tx: t, state } => {
            format!("nonce too high: next nonce {state}, tx nonce {t}")
        }
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => format!(
            "insufficient funds for gas * price + value: address {} have {balance} want {fee}",
            tx.caller
        ),
        InvalidTransaction::GasPriceLessThanBasefee => format!(
            "max fee per gas less than block base fee: address {}, maxFeePerGas: {}, baseFee: \
             {base_fee}",
            tx.caller, tx.gas_price
        ),
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => {
            "max priority fee per gas higher than max fee per gas".into()
        }
        InvalidTransaction::CallerGasLimitMoreThanBlock => "exceeds block gas limit".into(),
        InvalidTransaction::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => {
            format!("intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}")
        }
        InvalidTransaction::GasFloorMoreThanGasLimit { gas_floor, gas_limit } => format!(
            "insufficient gas for floor data gas cost: gas {gas_limit}, minimum needed {gas_floor}"
        ),
        InvalidTransaction::RejectCallerWithCode => {
            format!("sender not an eoa: address {}", tx.caller)
        }
        InvalidTransaction::InvalidChainId | InvalidTransaction::MissingChainId => {
            "invalid chain id".into()
        }
        InvalidTransaction::CreateInitCodeSizeLimit => "max initcode size exceeded".into(),
        InvalidTransaction::NonceOverflowInTransaction => "nonce has max value".into(),
        InvalidTransaction::OverflowPaymentInTransaction => {
            "insufficient funds for gas * price + value".into()
        }
        other => format!("invalid transaction: {other}"),
    }
}

/// Execute one block's candidate transactions in order against `db`, skipping (never
/// half-applying) those invalid at their turn. `already_included` rejects duplicates.
pub fn execute_block<DB>(
    db: DB,
    params: &BlockParams,
    chain_id: u64,
    candidates: Vec<Tx>,
    mut already_included: impl FnMut(&B256) -> Result<bool>,
) -> Result<BlockOutcome>
where
    DB: Database<Error = DbError> + DatabaseCommit,
{
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_block(block_env(params))
        .with_cfg(cfg_env(chain_id))
        .build_mainnet();
    let mut out = BlockOutcome::default();
    for tx in candidates {
        if already_included(&tx.hash)? {
            out.skipped.push((tx.hash, "already known".into()));
            continue;
        }
        if let Err(e) = tx.check_static(chain_id, params.gas_limit) {
            out.skipped.push((tx.hash, e.to_string()));
            continue;
        }
        if out.gas_used.saturating_add(tx.gas_limit()) > params.gas_limit {
            out.skipped.push((tx.hash, "gas limit reached".into()));
            continue;
        }
        let env = tx.tx_env();
        let result = match evm.transact_commit(env.clone()) {
            Ok(r) => r,
            Err(EVMError::Transaction(e)) => {
                out.skipped.push((tx.hash, invalid_tx_message(&e, &env, params.base_fee)));
                continue;
            }
            Err(e) => return Err(Error::Chain(format!("execution failed: {e}"))),
        };
        let gas_used = result.tx_gas_used();
        out.gas_used = out.gas_used.saturating_add(gas_used);
        let logs: Vec<StoredLog> = result.logs().iter().map(StoredLog::from_log).collect();
        for log in result.logs() {
            out.bloom.accrue_log(log);
        }
        let contract_address = if tx.to().is_none() {
            Bytes::copy_from_slice(tx.sender.create(tx.nonce()).as_slice())
        } else {
            Bytes::new()
        };
        let receipt = StoredReceipt {
            status: u8::from(result.is_success()),
            gas_used,
            cumulative_gas_used: out.gas_used,
            effective_gas_price: tx.effective_gas_price(params.base_fee),
            contract_address,
            logs,
        };
        out.executed.push(Executed { tx, receipt });
    }
    Ok(out)
}

/// The alloy receipt envelope (for the receipts root) of a stored receipt.
pub fn receipt_envelope(tx_type: u8, r: &StoredReceipt) -> ReceiptEnvelope {
    let logs: Vec<Log> = r.logs.iter().map(StoredLog::to_log).collect();
    let receipt = Receipt {
        status: Eip658Value::Eip658(r.status == 1),
        cumulative_gas_used: r.cumulative_gas_used,
        logs,
    };
    let with_bloom = ReceiptWithBloom::from(receipt);
    match tx_type {
        0 => ReceiptEnvelope::Legacy(with_bloom),
        1 => ReceiptEnvelope::Eip2930(with_bloom),
        _ => ReceiptEnvelope::Eip1559(with_bloom),
    }
}

/// Roots of a block's executed transactions and receipts.
pub fn roots(executed: &[Executed]) -> (B256, B256) {
    let envelopes: Vec<&TxEnvelope> = executed.iter().map(|e| &e.tx.envelope).collect();
    let tx_root = alloy_consensus::proofs::calculate_transaction_root(&envelopes);
    let receipts: Vec<ReceiptEnvelope> =
        executed.iter().map(|e| receipt_envelope(e.tx.tx_type(), &e.receipt)).collect();
    let receipts_root = alloy_consensus::proofs::calculate_receipt_root(&receipts);
    (tx_root, receipts_root)
}

// --- calls ----------------------------------------------------------------------------------

/// The transaction-shaped argument of `eth_call`, `eth_estimateGas`, `eth_createAccessList`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// Sender (zero address when missing).
    pub from: Option<Address>,
    /// Recipient (`None` = contract creation).
    pub to: Option<Address>,
    /// Gas limit (block gas limit when missing).
    pub gas: Option<u64>,
    /// Legacy gas price.
    pub gas_price: Option<u128>,
    /// EIP-1559 fee cap.
    pub max_fee_per_gas: Option<u128>,
    /// EIP-1559 tip cap.
    pub max_priority_fee_per_gas: Option<u128>,
    /// Value.
    pub value: U256,
    /// Call data or init code.
    pub data: Bytes,
    /// Nonce (the account's when missing).
    pub nonce: Option<u64>,
    /// Access list.
    pub access_list: Option<AccessList>,
}

impl CallRequest {
    /// Sender, zero address when missing.
    pub fn sender(&self) -> Address {
        self.from.unwrap_or(Address::ZERO)
    }

    /// Fee cap per gas, 0 when no fee field is set.
    pub fn fee_cap(&self) -> u128 {
        self.gas_price.or(self.max_fee_per_gas).unwrap_or(0)
    }

    fn no_fee(&self) -> bool {
        self.gas_price.unwrap_or(0) == 0
            && self.max_fee_per_gas.unwrap_or(0) == 0
            && self.max_priority_fee_per_gas.unwrap_or(0) == 0
    }

    /// The revm transaction for this request with `gas` and the sender's `nonce`.
    pub fn tx_env(&self, chain_id: u64, gas: u64, nonce: u64) -> TxEnv {
        let eip1559 = self.max_fee_per_gas.is_some() || self.max_priority_fee_per_gas.is_some();
        let (tx_type, gas_price, priority) = if eip1559 {
            let max_fee = self.max_fee_per_gas.or(self.max_priority_fee_per_gas).unwrap_or(0);
            (2u8, max_fee, Some(self.max_priority_fee_per_gas.unwrap_or(0)))
        } else if self.access_list.is_some() {
            (1u8, self.gas_price.unwrap_or(0), None)
        } else {
            (0u8, self.gas_price.unwrap_or(0), None)
        };
        TxEnv {
            tx_type,
            caller: self.sender(),
            gas_limit: gas,
            gas_price,
            kind: kind_of(self.to),
            value: self.value,
            data: self.data.clone(),
            nonce: self.nonce.unwrap_or(nonce),
            chain_id: Some(chain_id),
            access_list: self.access_list.clone().unwrap_or_default(),
            gas_priority_fee: priority,
            ..Default::default()
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone)]
pub enum CallOutcome {
    /// Success with output and gas used.
    Success {
        /// Return data (or deployed code for a creation).
        output: Bytes,
        /// Gas used (after refunds).
        gas_used: u64,
        /// Gas refunded.
        refunded: u64,
    },
    /// REVERT with data.
    Revert {
        /// Revert data.
        output: Bytes,
        /// Gas used.
        gas_used: u64,
    },
    /// Exceptional halt.
    Halt {
        /// geth-style reason.
        reason: String,
        /// Gas used.
        gas_used: u64,
    },
}

/// geth's wording of a halt reason.
pub fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".into(),
        HaltReason::InvalidJump => "invalid jump destination".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack limit reached 1024 (1023)".into(),
        HaltReason::CreateCollision => "contract address collision".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::CreateContractStartingWithEF => "invalid code: must not begin with 0xef".into(),
        HaltReason::CreateInitCodeSizeLimit => "max initcode size exceeded".into(),
        HaltReason::StateChangeDuringStaticCall | HaltReason::CallNotAllowedInsideStatic => {
            "write protection".into()
        }
        HaltReason::OutOfFunds => "insufficient balance for transfer".into(),
        HaltReason::CallTooDeep => "max call depth exceeded".into(),
        HaltReason::OutOfOffset => "return data out of bounds".into(),
        HaltReason::NonceOverflow => "nonce uint64 overflow".into(),
        other => format!("{other:?}"),
    }
}

fn call_cfg(chain_id: u64, req: &CallRequest) -> CfgEnv {
    let mut cfg = cfg_env(chain_id);
    // eth_call semantics (geth/anvil): no nonce check, calls from contracts allowed, gas above
    // the block limit allowed, and no base-fee floor when no price is given.
    cfg.disable_nonce_check = true;
    cfg.disable_eip3607 = true;
    cfg.disable_block_gas_limit = true;
    cfg.disable_base_fee = req.no_fee();
    cfg
}

fn outcome(result: ExecutionResult) -> CallOutcome {
    let gas_used = result.tx_gas_used();
    match result {
        ExecutionResult::Success { output, gas, .. } => {
            let output = match output {
                Output::Call(b) => b,
                Output::Create(b, _) => b,
            };
            CallOutcome::Success { output, gas_used, refunded: gas.final_refunded() }
        }
        ExecutionResult::Revert { output, .. } => CallOutcome::Revert { output, gas_used },
        ExecutionResult::Halt { reason, .. } => {
            CallOutcome::Halt { reason: halt_message(&reason), gas_used }
        }
    }
}

fn call_error(e: EVMError<DbError>, env: &TxEnv, base_fee: u64) -> Error {
    match e {
        EVMError::Transaction(t) => Error::Call(invalid_tx_message(&t, env, base_fee)),
        other => Error::Call(other.to_string()),
    }
}

/// Run a call once with `gas`, committing nothing.
pub fn run_call<DB: revm::DatabaseRef<Error = DbError>>(
    db: DB,
    params: &BlockParams,
    chain_id: u64,
    req: &CallRequest,
    gas: u64,
    nonce: u64,
) -> Result<CallOutcome> {
    let env = req.tx_env(chain_id, gas, nonce);
    let mut evm = Context::mainnet()
        .with_ref_db(db)
        .with_block(block_env(params))
        .with_cfg(call_cfg(chain_id, req))
        .build_mainnet();
    match evm.transact(env.clone()) {
        Ok(r) => Ok(outcome(r.result)),
        Err(e) => Err(call_error(e, &env, params.base_fee)),
    }
}

/// Run one transaction-shaped call with the blocks' configuration and commit its effects into
/// `db` whatever its outcome (genesis building). `Ok(Err(reason))` when revm refuses the
/// transaction (geth's wording: nonce, funds, intrinsic gas, sender with code).
pub fn commit_call<DB>(
    db: DB,
    params: &BlockParams,
    chain_id: u64,
    env: TxEnv,
) -> Result<std::result::Result<CallOutcome, String>>
where
    DB: Database<Error = DbError> + DatabaseCommit,
{
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_block(block_env(params))
        .with_cfg(cfg_env(chain_id))
        .build_mainnet();
    match evm.transact_commit(env.clone()) {
        Ok(r) => Ok(Ok(outcome(r))),
        Err(EVMError::Transaction(e)) => Ok(Err(invalid_tx_message(&e, &env, params.base_fee))),
        Err(e) => Err(Error::Chain(format!("execution failed: {e}"))),
    }
}

/// The access list a call touches (geth's `AccessListTracer` rules) and its outcome.
pub fn run_access_list<DB: revm::DatabaseRef<Error = DbError>>(
    db: DB,
    params: &BlockParams,
    chain_id: u64,
    req: &CallRequest,
    gas: u64,
    nonce: u64,
    excluded: BTreeSet<Address>,
) -> Result<(AccessList, CallOutcome)> {
    let env = req.tx_env(chain_id, gas, nonce);
    let mut inspector = AccessListInspector { excluded, list: BTreeMap::new() };
    for item in req.access_list.iter().flat_map(|l| l.0.iter()) {
        inspector.list.entry(item.address).or_default().extend(item.storage_keys.iter().copied());
    }
    let mut evm = Context::mainnet()
        .with_ref_db(db)
        .with_block(block_env(params))
        .with_cfg(call_cfg(chain_id, req))
        .build_mainnet_with_inspector(&mut inspector);
    let result = evm.inspect_tx(env.clone());
    drop(evm);
    let result = match result {
        Ok(r) => outcome(r.result),
        Err(e) => return Err(call_error(e, &env, params.base_fee)),
    };
    let list = AccessList(
        inspector
            .list
            .into_iter()
            .map(|(address, keys)| AccessListItem {
                address,
                storage_keys: keys.into_iter().collect(),
            })
            .collect(),
    );
    Ok((list, result))
}

/// Records the addresses and slots a call touches (geth's `AccessListTracer`).
struct AccessListInspector {
    excluded: BTreeSet<Address>,
    list: BTreeMap<Address, BTreeSet<B256>>,
}

impl<CTX> Inspector<CTX, EthInterpreter> for AccessListInspector {
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, _context: &mut CTX) {
        let op = interp.bytecode.opcode();
        let stack = interp.stack.data();
        let top = |i: usize| stack.len().checked_sub(i).and_then(|j| stack.get(j)).copied();
        use revm::bytecode::opcode::*;
        match op {
            SLOAD | SSTORE => {
                if let Some(slot) = top(1) {
                    let addr = interp.input.target_address();
                    self.list.entry(addr).or_default().insert(B256::from(slot));
                }
            }
            EXTCODECOPY | EXTCODEHASH | EXTCODESIZE | BALANCE | SELFDESTRUCT => {
                if let Some(a) = top(1) {
                    let addr = Address::from_word(B256::from(a));
                    if !self.excluded.contains(&addr) {
                        self.list.entry(addr).or_default();
                    }
                }
            }
            DELEGATECALL | CALL | STATICCALL | CALLCODE => {
                if let Some(a) = top(2) {
                    let addr = Address::from_word(B256::from(a));
                    if !self.excluded.contains(&addr) {
                        self.list.entry(addr).or_default();
                    }
                }
            }
            _ => {}
        }
    }
}

/// Decode revert data into geth's message: `execution reverted[: reason]`.
pub fn revert_message(data: &[u8]) -> String {
    match revert_reason(data) {
        Some(reason) => format!("execution reverted: {reason}"),
        None => "execution reverted".into(),
    }
}

/// The reason of an `Error(string)` or `Panic(uint256)` revert, `None` for other data.
pub(crate) fn revert_reason(data: &[u8]) -> Option<String> {
    let (selector, body) = (data.get(..4)?, data.get(4..)?);
    let word = |i: usize| body.get(i * 32..i * 32 + 32).map(U256::from_be_slice);
    if selector == [0x08, 0xc3, 0x79, 0xa0] {
        let offset = usize::try_from(word(0)?).ok()?;
        let len_word = body.get(offset..offset.checked_add(32)?)?;
        let len = usize::try_from(U256::from_be_slice(len_word)).ok()?;
        let start = offset.checked_add(32)?;
        let bytes = body.get(start..start.checked_add(len)?)?;
        return String::from_utf8(bytes.to_vec()).ok();
    }
    if selector == [0x4e, 0x48, 0x7b, 0x71] {
        let code = word(0)?;
        let reason = match u64::try_from(code).unwrap_or(u64::MAX) {
            0x00 => "generic panic".to_string(),
            0x01 => "assert(false)".into(),
            0x11 => "arithmetic underflow or overflow".into(),
            0x12 => "division or modulo by zero".into(),
            0x21 => "enum overflow".into(),
            0x22 => "storage byte array that is incorrectly encoded".into(),
            0x31 => "out-of-bounds array access; popping on an empty array".into(),
            0x32 => "out-of-bounds access of an array or bytesN".into(),
            0x41 => "out of memory".into(),
            0x51 => "uninitialized function".into(),
            _ => format!("unknown panic code: {code:#x}"),
        };
        return Some(reason);
    }
    None
}
