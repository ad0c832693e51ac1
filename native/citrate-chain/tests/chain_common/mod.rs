//! Helpers shared by the `chain_*` integration tests: keys, signing, contracts.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::str::FromStr;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, Signature, TxKind, B256, U256};
use citrate_chain::{Chain, ChainConfig};

pub const GWEI: u128 = 1_000_000_000;
pub const ETH: u128 = 1_000_000_000_000_000_000;
pub const CHAIN_ID: u64 = 1337;

pub struct Key {
    pub key: citrate_core::PrivateKey,
    pub address: Address,
}

pub fn key(i: u8) -> Key {
    let mut secret = [0u8; 32];
    secret[31] = i;
    secret[0] = 0x11;
    let key = citrate_core::PrivateKey::from_bytes(&secret).unwrap();
    let address = Address::from_str(&key.address()).unwrap();
    Key { key, address }
}

fn sign_hash(k: &Key, hash: B256) -> Signature {
    let sig = k.key.sign_hash(hash.as_slice()).unwrap();
    Signature::new(U256::from_be_slice(&sig[..32]), U256::from_be_slice(&sig[32..64]), sig[64] == 1)
}

/// A signed EIP-1559 transaction's raw bytes.
#[allow(clippy::too_many_arguments)]
pub fn tx1559(
    k: &Key,
    nonce: u64,
    to: Option<Address>,
    value: u128,
    data: &[u8],
    gas: u64,
    max_fee: u128,
    tip: u128,
) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: to.map_or(TxKind::Create, TxKind::Call),
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::copy_from_slice(data),
    };
    let sig = sign_hash(k, tx.signature_hash());
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

pub fn transfer(k: &Key, nonce: u64, to: Address, value: u128) -> Vec<u8> {
    tx1559(k, nonce, Some(to), value, &[], 21_000, 2 * GWEI, GWEI)
}

pub fn legacy(k: &Key, nonce: u64, to: Address, value: u128, chain_id: Option<u64>) -> Vec<u8> {
    let tx = TxLegacy {
        chain_id,
        nonce,
        gas_price: 2 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        input: Bytes::new(),
    };
    let sig = sign_hash(k, tx.signature_hash());
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

pub fn tx2930(k: &Key, nonce: u64, to: Address, value: u128) -> Vec<u8> {
    let tx = TxEip2930 {
        chain_id: CHAIN_ID,
        nonce,
        gas_price: 2 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = sign_hash(k, tx.signature_hash());
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

pub fn open(dir: &Path, alloc: &[(Address, u128)]) -> Chain {
    let cfg = ChainConfig {
        genesis_alloc: alloc
            .iter()
            .map(|(a, w)| citrate_chain::GenesisAccount::with_balance(*a, U256::from(*w)))
            .collect(),
        genesis_timestamp: Some(1_700_000_000),
        ..Default::default()
    };
    Chain::open(dir, cfg).unwrap()
}

fn push32(out: &mut Vec<u8>, word: [u8; 32]) {
    out.push(0x7f);
    out.extend_from_slice(&word);
}

/// Runtime: empty calldata -> return sload(0); calldata `01` -> sstore(0, sload(0)+1) and emit
/// LOG1(topic 0xaa..); anything else -> revert Error("nope").
pub fn counter_runtime() -> Vec<u8> {
    let mut c = vec![
        0x36, 0x60, 0x00, 0x57, // CALLDATASIZE PUSH1 <nonempty> JUMPI  (patched below)
        0x60, 0x00, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3, // return sload(0)
    ];
    let nonempty = c.len();
    c[2] = nonempty as u8;
    c.push(0x5b); // JUMPDEST
                  // if calldataload(0) >> 248 == 1 -> increment
    c.extend_from_slice(&[0x60, 0x00, 0x35, 0x60, 0xf8, 0x1c, 0x60, 0x01, 0x14, 0x60, 0x00, 0x57]);
    let patch = c.len() - 2;
    // revert Error("nope")
    let mut sel = [0u8; 32];
    sel[..4].copy_from_slice(&[0x08, 0xc3, 0x79, 0xa0]);
    push32(&mut c, sel);
    c.extend_from_slice(&[0x60, 0x00, 0x52]);
    c.extend_from_slice(&[0x60, 0x20, 0x60, 0x04, 0x52]);
    c.extend_from_slice(&[0x60, 0x04, 0x60, 0x24, 0x52]);
    let mut s = [0u8; 32];
    s[..4].copy_from_slice(b"nope");
    push32(&mut c, s);
    c.extend_from_slice(&[0x60, 0x44, 0x52, 0x60, 0x64, 0x60, 0x00, 0xfd]);
    let inc = c.len();
    c[patch] = inc as u8;
    c.push(0x5b);
    // sstore(0, sload(0) + 1); log1(0, 0, 0xaa..aa); stop
    c.extend_from_slice(&[0x60, 0x01, 0x60, 0x00, 0x54, 0x01, 0x60, 0x00, 0x55]);
    push32(&mut c, [0xaa; 32]);
    c.extend_from_slice(&[0x60, 0x00, 0x60, 0x00, 0xa1, 0x00]);
    c
}

/// Init code: sstore(0, 42) then return the runtime.
pub fn counter_init() -> Vec<u8> {
    let runtime = counter_runtime();
    let mut init = vec![0x60, 0x2a, 0x60, 0x00, 0x55];
    let prelude_len = init.len() + 12;
    init.extend_from_slice(&[
        0x60,
        runtime.len() as u8,
        0x60,
        prelude_len as u8,
        0x60,
        0x00,
        0x39,
        0x60,
        runtime.len() as u8,
        0x60,
        0x00,
        0xf3,
    ]);
    init.extend_from_slice(&runtime);
    init
}
