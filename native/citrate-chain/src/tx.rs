//! Signed transactions: decoding (legacy, EIP-2930, EIP-1559), sender recovery, the static
//! checks that need no state, intrinsic gas, and conversion to revm's `TxEnv`.

use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use std::sync::OnceLock;

use alloy_primitives::{keccak256, Address, Bytes, TxKind, B256, U256};
use revm::context::TxEnv;

use crate::error::{Error, Result};

/// geth's `txMaxSize`: 4 slots of 32 KiB.
pub const TX_MAX_SIZE: usize = 4 * 32 * 1024;
/// EIP-3860 initcode limit (2 * 24576).
pub const MAX_INITCODE_SIZE: usize = 49_152;

/// A decoded, sender-recovered transaction together with its canonical encoding.
#[derive(Debug, Clone)]
pub struct Tx {
    /// The decoded envelope (never EIP-4844 or EIP-7702).
    pub envelope: TxEnvelope,
    /// The transaction hash.
    pub hash: B256,
    /// The recovered sender.
    pub sender: Address,
    /// The EIP-2718 encoding (what `eth_sendRawTransaction` carries).
    pub raw: Bytes,
}

fn rejected(msg: impl Into<String>) -> Error {
    Error::Rejected(msg.into())
}

impl Tx {
    /// Decode raw bytes and recover the sender. Never panics on arbitrary input; every failure is
    /// `Error::Rejected` with geth's wording.
    pub fn decode(raw: &[u8]) -> Result<Self> {
        let first = *raw.first().ok_or_else(|| rejected("typed transaction too short"))?;
        // Typed transactions start with their type byte (< 0x80); legacy ones with an RLP list.
        if first < 0x80 && !matches!(first, 1 | 2) {
            return Err(rejected("transaction type not supported"));
        }
        if raw.len() > TX_MAX_SIZE {
            return Err(rejected(format!(
                "oversized data: transaction size {}, limit {TX_MAX_SIZE}",
                raw.len()
            )));
        }
        let mut buf = raw;
        let envelope = TxEnvelope::decode_2718(&mut buf)
            .map_err(|e| rejected(format!("failed to decode signed transaction: {e}")))?;
        if !buf.is_empty() {
            return Err(rejected("failed to decode signed transaction: trailing bytes"));
        }
        if matches!(envelope, TxEnvelope::Eip4844(_) | TxEnvelope::Eip7702(_)) {
            return Err(rejected("transaction type not supported"));
        }
        let sender = recover_sender(&envelope).ok_or_else(|| rejected("invalid sender"))?;
        let hash = *envelope.tx_hash();
        let raw = Bytes::from(envelope.encoded_2718());
        Ok(Self { envelope, hash, sender, raw })
    }

    /// Rebuild a stored transaction whose sender is already known (no signature recovery).
    pub fn from_stored(raw: &[u8], sender: Address) -> Result<Self> {
        let mut buf = raw;
        let envelope = TxEnvelope::decode_2718(&mut buf)
            .map_err(|e| Error::Store(format!("chain store: corrupt transaction: {e}")))?;
        let hash = *envelope.tx_hash();
        Ok(Self { envelope, hash, sender, raw: Bytes::copy_from_slice(raw) })
    }

    /// The EIP-2718 type (0, 1 or 2).
    pub fn tx_type(&self) -> u8 {
        self.envelope.tx_type() as u8
    }
    /// The nonce.
    pub fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }
    /// The gas limit.
    pub fn gas_limit(&self) -> u64 {
        self.envelope.gas_limit()
    }
    /// Fee cap: `maxFeePerGas`, or `gasPrice` for legacy and EIP-2930.
    pub fn max_fee(&self) -> u128 {
        self.envelope.max_fee_per_gas()
    }
    /// Tip cap: `maxPriorityFeePerGas`, or `gasPrice` for legacy and EIP-2930.
    pub fn max_priority_fee(&self) -> u128 {
        self.envelope.priority_fee_or_price()
    }
    /// The value sent.
    pub fn value(&self) -> U256 {
        self.envelope.value()
    }
    /// The recipient, `None` for a contract creation.
    pub fn to(&self) -> Option<Address> {
        self.envelope.to()
    }
    /// The call data or init code.
    pub fn input(&self) -> &Bytes {
        self.envelope.input()
    }
    /// The chain id (`None` for an unprotected legacy transaction).
    pub fn chain_id(&self) -> Option<u64> {
        self.envelope.chain_id()
    }

    /// The tip the producer earns per gas at `base_fee`, `None` when the fee cap is below it.
    pub fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        self.envelope.effective_tip_per_gas(base_fee)
    }

    /// Price per gas actually paid at `base_fee`.
    pub fn effective_gas_price(&self, base_fee: u64) -> u128 {
        self.envelope.effective_gas_price(Some(base_fee))
    }

    /// `gas * feeCap + value`, the balance the sender needs up front.
    pub fn max_cost(&self) -> U256 {
        U256::from(self.gas_limit())
            .saturating_mul(U256::from(self.max_fee()))
            .saturating_add(self.value())
    }

    /// Intrinsic gas (Prague rules: EIP-2028 calldata, EIP-2930 access list, EIP-3860 initcode)
    /// and the EIP-7623 calldata floor.
    pub fn intrinsic_gas(&self) -> (u64, u64) {
        let access_list = self
            .envelope
            .access_list()
            .map(|l| {
                l.0.iter().fold((0u64, 0u64), |(a, k), item| {
                    (a.saturating_add(1), k.saturating_add(item.storage_keys.len() as u64))
                })
            })
            .unwrap_or((0, 0));
        intrinsic_gas(self.input(), self.to().is_none(), access_list)
    }

    /// The checks that need no state: chain id, replay protection, fee fields, gas, sizes.
    pub fn check_static(&self, chain_id: u64, block_gas_limit: u64) -> Result<()> {
        match self.chain_id() {
            None => {
                return Err(rejected(
                    "only replay-protected (EIP-155) transactions allowed over RPC",
                ))
            }
            Some(id) if id != chain_id => return Err(rejected("invalid chain id")),
            Some(_) => {}
        }
        if self.to().is_none() && self.input().len() > MAX_INITCODE_SIZE {
            return Err(rejected(format!(
                "max initcode size exceeded: code size {}, limit {MAX_INITCODE_SIZE}",
                self.input().len()
            )));
        }
        if self.gas_limit() > block_gas_limit {
            return Err(rejected("exceeds block gas limit"));
        }
        if self.max_priority_fee() > self.max_fee() {
            return Err(rejected("max priority fee per gas higher than max fee per gas"));
        }
        let (intrinsic, floor) = self.intrinsic_gas();
        if self.gas_limit() < intrinsic {
            return Err(rejected(format!(
                "intrinsic gas too low: gas {}, minimum needed {intrinsic}",
                self.gas_limit()
            )));
        }
        if self.gas_limit() < floor {
            return Err(rejected(format!(
                "insufficient gas for floor data gas cost: gas {}, minimum needed {floor}",
                self.gas_limit()
            )));
        }
        Ok(())
    }

    /// The revm transaction environment.
    pub fn tx_env(&self) -> TxEnv {
        let access_list = self.envelope.access_list().cloned().unwrap_or_default();
        let (gas_price, priority) = match &self.envelope {
            TxEnvelope::Eip1559(s) => {
                (s.tx().max_fee_per_gas, Some(s.tx().max_priority_fee_per_gas))
            }
            _ => (self.max_fee(), None),
        };
        TxEnv {
            tx_type: self.tx_type(),
            caller: self.sender,
            gas_limit: self.gas_limit(),
            gas_price,
            kind: self.envelope.kind(),
            value: self.value(),
            data: self.input().clone(),
            nonce: self.nonce(),
            chain_id: self.chain_id(),
            access_list,
            gas_priority_fee: priority,
            ..Default::default()
        }
    }
}

/// Intrinsic gas and EIP-7623 floor of a transaction with `data`, creation flag and access list
/// counts `(addresses, storage keys)`.
pub fn intrinsic_gas(data: &[u8], create: bool, access_list: (u64, u64)) -> (u64, u64) {
    let zeros = data.iter().filter(|b| **b == 0).count() as u64;
    let nonzeros = (data.len() as u64).saturating_sub(zeros);
    let tokens = zeros.saturating_add(nonzeros.saturating_mul(4));
    let mut gas = 21_000u64.saturating_add(tokens.saturating_mul(4));
    if create {
        let words = (data.len() as u64).div_ceil(32);
        gas = gas.saturating_add(32_000).saturating_add(words.saturating_mul(2));
    }
    gas = gas
        .saturating_add(access_list.0.saturating_mul(2_400))
        .saturating_add(access_list.1.saturating_mul(1_900));
    let floor = 21_000u64.saturating_add(tokens.saturating_mul(10));
    (gas, floor)
}

fn secp() -> &'static secp256k1::Secp256k1<secp256k1::VerifyOnly> {
    static CTX: OnceLock<secp256k1::Secp256k1<secp256k1::VerifyOnly>> = OnceLock::new();
    CTX.get_or_init(secp256k1::Secp256k1::verification_only)
}

/// The signer of a transaction, with EIP-2's low-`s` rule (what alloy's `recover_signer` does),
/// computed with libsecp256k1.
pub fn recover_sender(envelope: &TxEnvelope) -> Option<Address> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let sig = envelope.signature();
    if sig.normalize_s().is_some() {
        return None; // high s: malleable, refused since Homestead
    }
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
    let id = RecoveryId::try_from(i32::from(sig.v())).ok()?;
    let rsig = RecoverableSignature::from_compact(&compact, id).ok()?;
    let msg = secp256k1::Message::from_digest(envelope.signature_hash().0);
    let key = secp().recover_ecdsa(msg, &rsig).ok()?;
    let hash = keccak256(&key.serialize_uncompressed()[1..]);
    Some(Address::from_slice(&hash[12..]))
}

/// The transaction kind of an optional recipient.
pub fn kind_of(to: Option<Address>) -> TxKind {
    to.map_or(TxKind::Create, TxKind::Call)
}
