//! Genesis accounts with code, storage and nonces, and `build_genesis`.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

mod chain_common;

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_rlp::RlpEncodable;
use alloy_trie::root::{state_root_unhashed, storage_root_unhashed};
use alloy_trie::{TrieAccount, EMPTY_ROOT_HASH};
use chain_common::*;
use citrate_chain::{
    build_genesis, CallRequest, Chain, ChainConfig, Error, GenesisAccount, GenesisCall,
};

const TIMESTAMP: u64 = 1_700_000_000;
const GAS: u64 = 30_000_000;

fn tmp() -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!(
        "citrate-genesis-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::create_dir_all(&base).unwrap();
    base
}

fn open_with(dir: &std::path::Path, alloc: Vec<GenesisAccount>) -> Result<Chain, Error> {
    Chain::open(
        dir,
        ChainConfig {
            genesis_alloc: alloc,
            genesis_timestamp: Some(TIMESTAMP),
            ..Default::default()
        },
    )
}

fn create(from: Address, init: Vec<u8>) -> GenesisCall {
    GenesisCall { from, to: None, data: init.into(), value: U256::ZERO }
}

/// keccak256(rlp([sender, nonce]))[12..] for nonce < 128, RLP written out by hand (not
/// `Address::create`, which the builder itself uses).
fn create_address(sender: Address, nonce: u8) -> Address {
    assert!(nonce < 0x80);
    let mut rlp = vec![0xd6, 0x94];
    rlp.extend_from_slice(sender.as_slice());
    rlp.push(if nonce == 0 { 0x80 } else { nonce });
    Address::from_slice(&keccak256(rlp)[12..])
}

fn push32(out: &mut Vec<u8>, word: [u8; 32]) {
    out.push(0x7f);
    out.extend_from_slice(&word);
}

/// Init code that reverts with `Error(msg)` (msg at most 32 bytes).
fn revert_init(msg: &str) -> Vec<u8> {
    let mut c = Vec::new();
    let mut sel = [0u8; 32];
    sel[..4].copy_from_slice(&[0x08, 0xc3, 0x79, 0xa0]);
    push32(&mut c, sel);
    c.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x04, 0x52]);
    c.extend_from_slice(&[0x60, msg.len() as u8, 0x60, 0x24, 0x52]);
    let mut s = [0u8; 32];
    s[..msg.len()].copy_from_slice(msg.as_bytes());
    push32(&mut c, s);
    c.extend_from_slice(&[0x60, 0x44, 0x52, 0x60, 0x64, 0x60, 0x00, 0xfd]);
    c
}

fn error_string(msg: &str) -> Vec<u8> {
    let mut d = vec![0x08, 0xc3, 0x79, 0xa0];
    d.extend_from_slice(&U256::from(0x20).to_be_bytes::<32>());
    d.extend_from_slice(&U256::from(msg.len()).to_be_bytes::<32>());
    let mut s = [0u8; 32];
    s[..msg.len()].copy_from_slice(msg.as_bytes());
    d.extend_from_slice(&s);
    d
}

fn genesis_error(r: Result<Vec<GenesisAccount>, Error>) -> (String, u64, Vec<u8>) {
    match r {
        Err(Error::Genesis { message, index, data }) => (message, index, data),
        other => panic!("expected a genesis error, got {other:?}"),
    }
}

fn invalid_argument<T>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        Err(other) => panic!("expected InvalidArgument, got {other:?}"),
        Ok(_) => panic!("expected InvalidArgument, got success"),
    }
}

fn predeploys(deployer: Address) -> Vec<GenesisAccount> {
    let alloc = vec![GenesisAccount::with_balance(deployer, U256::from(ETH))];
    build_genesis(CHAIN_ID, alloc, vec![create(deployer, counter_init())], TIMESTAMP, GAS).unwrap()
}

#[test]
fn build_deploys_at_standard_addresses_and_runs_calls() {
    let deployer = key(1).address;
    let friend = Address::repeat_byte(0xf0);
    let first = create_address(deployer, 0);
    let second = create_address(deployer, 1);
    assert_eq!(first, deployer.create(0));
    let alloc = vec![
        GenesisAccount::with_balance(deployer, U256::from(10 * ETH)),
        GenesisAccount::with_balance(friend, U256::from(5)),
    ];
    let calls = vec![
        create(deployer, counter_init()),
        create(deployer, counter_init()),
        // Increment the second counter: 42 -> 43.
        GenesisCall { from: deployer, to: Some(second), data: vec![1u8].into(), value: U256::ZERO },
        // A plain transfer: no fee is charged, so the deployer's balance only loses the value.
        GenesisCall { from: deployer, to: Some(friend), data: Bytes::new(), value: U256::from(7) },
    ];
    let out = build_genesis(CHAIN_ID, alloc, calls, TIMESTAMP, GAS).unwrap();
    let mut addresses: Vec<Address> = out.iter().map(|a| a.address).collect();
    let sorted = {
        let mut s = addresses.clone();
        s.sort();
        s
    };
    assert_eq!(addresses, sorted, "accounts are sorted by address");
    addresses.sort();
    let mut want = vec![deployer, friend, first, second];
    want.sort();
    assert_eq!(addresses, want);
    let get = |a: Address| out.iter().find(|x| x.address == a).unwrap().clone();
    let runtime = Bytes::from(counter_runtime());
    assert_eq!(
        get(first),
        GenesisAccount {
            address: first,
            balance: U256::ZERO,
            nonce: 1,
            code: runtime.clone(),
            storage: vec![(U256::ZERO, U256::from(42))],
        }
    );
    assert_eq!(get(second).storage, vec![(U256::ZERO, U256::from(43))]);
    assert_eq!(get(second).code, runtime);
    assert_eq!(
        get(deployer),
        GenesisAccount {
            address: deployer,
            balance: U256::from(10 * ETH - 7),
            nonce: 4,
            ..Default::default()
        }
    );
    assert_eq!(get(friend), GenesisAccount::with_balance(friend, U256::from(12)));
    // The zero-address coinbase is touched with a zero reward and does not exist afterwards.
    assert!(out.iter().all(|a| a.address != Address::ZERO));
}

#[test]
fn build_without_calls_returns_the_merged_alloc() {
    let (a, b) = (Address::repeat_byte(2), Address::repeat_byte(1));
    let alloc = vec![
        GenesisAccount::with_balance(a, U256::from(3)),
        GenesisAccount::with_balance(b, U256::from(1)),
        GenesisAccount::with_balance(a, U256::from(4)),
        GenesisAccount::with_balance(Address::repeat_byte(3), U256::ZERO),
        GenesisAccount {
            address: Address::repeat_byte(4),
            storage: vec![(U256::from(9), U256::from(1)), (U256::from(2), U256::ZERO)],
            ..Default::default()
        },
    ];
    let out = build_genesis(CHAIN_ID, alloc, Vec::new(), TIMESTAMP, GAS).unwrap();
    assert_eq!(
        out,
        vec![
            GenesisAccount::with_balance(b, U256::from(1)),
            GenesisAccount::with_balance(a, U256::from(7)),
            GenesisAccount {
                address: Address::repeat_byte(4),
                storage: vec![(U256::from(9), U256::from(1))],
                ..Default::default()
            },
        ]
    );
}

#[test]
fn reverting_constructor_names_the_call_and_its_data() {
    let deployer = key(1).address;
    let calls = vec![create(deployer, counter_init()), create(deployer, revert_init("boom"))];
    let r = build_genesis(CHAIN_ID, Vec::new(), calls, TIMESTAMP, GAS);
    let (message, index, data) = genesis_error(r);
    assert_eq!(index, 1);
    assert_eq!(data, error_string("boom"));
    assert!(message.starts_with("genesis call 1 (create by "), "{message}");
    assert!(message.contains("at nonce 1"), "{message}");
    assert!(message.contains(&format!("{}", create_address(deployer, 1))), "{message}");
    assert!(message.contains("reverted: boom"), "{message}");
    assert!(message.contains(&format!("0x{}", alloy_primitives::hex::encode(&data))), "{message}");

    // Custom revert data (no Error(string)): shown as hex, without a reason.
    // PUSH4 deadbeef PUSH1 0 MSTORE PUSH1 4 PUSH1 28 REVERT
    let custom = vec![0x63, 0xde, 0xad, 0xbe, 0xef, 0x60, 0, 0x52, 0x60, 4, 0x60, 28, 0xfd];
    let r = build_genesis(CHAIN_ID, Vec::new(), vec![create(deployer, custom)], TIMESTAMP, GAS);
    let (message, index, data) = genesis_error(r);
    assert_eq!((index, data), (0, vec![0xde, 0xad, 0xbe, 0xef]));
    assert!(message.contains("reverted (revert data `0xdeadbeef`)"), "{message}");

    // A reverting call names its target.
    let counter = create_address(deployer, 0);
    let calls = vec![
        create(deployer, counter_init()),
        GenesisCall {
            from: deployer,
            to: Some(counter),
            data: vec![2u8].into(),
            value: U256::ZERO,
        },
    ];
    let (message, index, data) =
        genesis_error(build_genesis(CHAIN_ID, Vec::new(), calls, TIMESTAMP, GAS));
    assert_eq!((index, data), (1, error_string("nope")));
    assert!(message.contains(&format!("call from `{deployer}` to `{counter}`")), "{message}");
    assert!(message.contains("reverted: nope"), "{message}");
}

#[test]
fn halts_and_invalid_calls_are_errors() {
    let deployer = key(1).address;
    // JUMPDEST PUSH1 0 JUMP: an endless loop.
    let looping = vec![0x5b, 0x60, 0x00, 0x56];
    let r =
        build_genesis(CHAIN_ID, Vec::new(), vec![create(deployer, looping)], TIMESTAMP, 100_000);
    let (message, index, data) = genesis_error(r);
    assert_eq!((index, data), (0, Vec::new()));
    assert!(message.contains("failed: out of gas (gas used 100000 of 100000)"), "{message}");
    assert!(message.contains("hint: raise `gas_limit`"), "{message}");

    // EIP-170 stays on: PUSH2 0x6001 PUSH1 0 RETURN deploys 24577 zero bytes.
    let too_big = vec![0x61, 0x60, 0x01, 0x60, 0x00, 0xf3];
    let r = build_genesis(CHAIN_ID, Vec::new(), vec![create(deployer, too_big)], TIMESTAMP, GAS);
    let (message, _, _) = genesis_error(r);
    assert!(message.contains("max code size exceeded"), "{message}");
    assert!(message.contains("24576-byte limit"), "{message}");
    // One byte less deploys.
    let max = vec![0x61, 0x60, 0x00, 0x60, 0x00, 0xf3];
    let out =
        build_genesis(CHAIN_ID, Vec::new(), vec![create(deployer, max)], TIMESTAMP, GAS).unwrap();
    assert_eq!(out.iter().find(|a| !a.code.is_empty()).unwrap().code.len(), 24_576);

    // Value the sender does not have.
    let call = GenesisCall {
        from: deployer,
        to: Some(Address::repeat_byte(7)),
        data: Bytes::new(),
        value: U256::from(1),
    };
    let (message, index, _) =
        genesis_error(build_genesis(CHAIN_ID, Vec::new(), vec![call], TIMESTAMP, GAS));
    assert_eq!(index, 0);
    assert!(message.contains("is not valid: insufficient funds"), "{message}");
    assert!(message.contains("hint: give the sender"), "{message}");
}

#[test]
fn bad_allocs_are_rejected() {
    let a = Address::repeat_byte(0xaa);
    let with_code = GenesisAccount { address: a, code: vec![0x00].into(), ..Default::default() };
    let m = invalid_argument(build_genesis(
        CHAIN_ID,
        vec![with_code.clone(), GenesisAccount::with_balance(a, U256::from(1))],
        Vec::new(),
        TIMESTAMP,
        GAS,
    ));
    assert!(m.contains(&format!("lists `{a}` more than once")), "{m}");
    let dir = tmp();
    let with_nonce = GenesisAccount { address: a, nonce: 1, ..Default::default() };
    let m = invalid_argument(open_with(&dir, vec![with_nonce.clone(), with_nonce]));
    assert!(m.contains("more than once"), "{m}");
    assert!(!dir.join("chain.redb").exists(), "a bad alloc must not create a store");
    let twice = GenesisAccount {
        address: a,
        storage: vec![(U256::from(1), U256::from(1)), (U256::from(1), U256::from(2))],
        ..Default::default()
    };
    let m = invalid_argument(open_with(&dir, vec![twice]));
    assert!(m.contains("sets slot `0x1` more than once"), "{m}");
    let bad_delegation = GenesisAccount {
        address: a,
        code: vec![0xef, 0x01, 0x00, 0x01].into(),
        ..Default::default()
    };
    let m = invalid_argument(open_with(&dir, vec![bad_delegation]));
    assert!(m.contains("EIP-7702 delegation"), "{m}");
}

#[derive(RlpEncodable)]
struct OldAllocEntry {
    address: Address,
    wei: U256,
}

#[derive(RlpEncodable)]
struct OldGenesisConfig {
    chain_id: u64,
    timestamp: u64,
    gas_limit: u64,
    base_fee: u64,
    alloc: Vec<OldAllocEntry>,
}

#[test]
fn balance_only_genesis_hash_is_unchanged() {
    // Chains created before genesis code existed must still open: a balance-only alloc hashes
    // exactly as it did ([address, wei] entries, in the order given, duplicates kept).
    let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
    let entries = [(a, 5u128), (b, 6), (a, 7)];
    let dir = tmp();
    let chain = open_with(
        &dir,
        entries.iter().map(|(x, w)| GenesisAccount::with_balance(*x, U256::from(*w))).collect(),
    )
    .unwrap();
    let cfg = ChainConfig::default();
    let old = OldGenesisConfig {
        chain_id: cfg.chain_id,
        timestamp: TIMESTAMP,
        gas_limit: cfg.block_gas_limit,
        base_fee: cfg.initial_base_fee,
        alloc: entries
            .iter()
            .map(|(x, w)| OldAllocEntry { address: *x, wei: U256::from(*w) })
            .collect(),
    };
    let mut buf = Vec::new();
    alloy_rlp::Encodable::encode(&old, &mut buf);
    let config_hash = keccak256(&buf);
    let want = keccak256([b"citrate-genesis".as_slice(), config_hash.as_slice()].concat());
    assert_eq!(chain.genesis_hash(), want);
    assert_eq!(chain.balance(&a, 0).unwrap(), U256::from(12));
}

fn state_root_of(chain: &Chain, n: u64) -> B256 {
    let blk: serde_json::Value =
        serde_json::from_str(&chain.block_by_number(n, false).unwrap().unwrap()).unwrap();
    blk["stateRoot"].as_str().unwrap().parse().unwrap()
}

/// The state root of genesis accounts computed directly with alloy-trie.
fn expected_root(accounts: &[GenesisAccount]) -> B256 {
    state_root_unhashed(accounts.iter().map(|a| {
        let storage_root = if a.storage.is_empty() {
            EMPTY_ROOT_HASH
        } else {
            storage_root_unhashed(a.storage.iter().map(|(k, v)| (B256::from(*k), *v)))
        };
        let code_hash =
            if a.code.is_empty() { alloy_primitives::KECCAK256_EMPTY } else { keccak256(&a.code) };
        (a.address, TrieAccount { nonce: a.nonce, balance: a.balance, storage_root, code_hash })
    }))
}

#[test]
fn chain_serves_predeploys_at_genesis() {
    let user = key(2);
    let deployer = key(1).address;
    let mut alloc = predeploys(deployer);
    alloc.push(GenesisAccount::with_balance(user.address, U256::from(ETH)));
    let counter = create_address(deployer, 0);

    let plain_dir = tmp();
    let plain = open_with(
        &plain_dir,
        vec![
            GenesisAccount::with_balance(deployer, U256::from(ETH)),
            GenesisAccount::with_balance(user.address, U256::from(ETH)),
        ],
    )
    .unwrap();

    let dir = tmp();
    let chain = open_with(&dir, alloc.clone()).unwrap();
    assert_eq!(chain.code(&counter, 0).unwrap(), Bytes::from(counter_runtime()));
    assert_eq!(chain.storage_at(&counter, &U256::ZERO, 0).unwrap(), U256::from(42));
    assert_eq!(chain.nonce(&counter, 0).unwrap(), 1);
    assert_eq!(chain.nonce(&deployer, 0).unwrap(), 1);
    assert_eq!(chain.balance(&deployer, 0).unwrap(), U256::from(ETH));
    let root = state_root_of(&chain, 0);
    assert_eq!(root, expected_root(&alloc));
    assert_ne!(root, state_root_of(&plain, 0));
    assert_ne!(chain.genesis_hash(), plain.genesis_hash());
    // The predeploy runs: eth_call at block 0, then a transaction in block 1.
    let read = CallRequest { to: Some(counter), ..Default::default() };
    assert_eq!(chain.call(&read, 0).unwrap(), Bytes::from(U256::from(42).to_be_bytes::<32>()));
    let data = [1u8];
    chain
        .send_raw_transaction(&tx1559(&user, 0, Some(counter), 0, &data, 100_000, 2 * GWEI, GWEI))
        .unwrap();
    chain.mine(1, &[], None).unwrap();
    assert_eq!(chain.storage_at(&counter, &U256::ZERO, 1).unwrap(), U256::from(43));
    assert_eq!(chain.storage_at(&counter, &U256::ZERO, 0).unwrap(), U256::from(42));
    chain.close().unwrap();
    drop(chain);

    // Reopened from disk (the latest state is loaded from the store): same genesis, same code.
    let chain = open_with(&dir, alloc.clone()).unwrap();
    assert_eq!(state_root_of(&chain, 0), root);
    assert_eq!(chain.code(&counter, 1).unwrap(), Bytes::from(counter_runtime()));
    assert_eq!(chain.code(&counter, 0).unwrap(), Bytes::from(counter_runtime()));
    assert_eq!(chain.storage_at(&counter, &U256::ZERO, 1).unwrap(), U256::from(43));
    chain.close().unwrap();
    drop(chain);

    // A different predeploy set (other storage) is a different genesis.
    let mut other = alloc.clone();
    for a in &mut other {
        if a.address == counter {
            a.storage = vec![(U256::ZERO, U256::from(41))];
        }
    }
    match open_with(&dir, other) {
        Err(Error::Store(m)) => assert!(m.contains("different genesis"), "{m}"),
        r => panic!("{:?}", r.map(|_| ())),
    }
    // So is the balance-only alloc without the predeploys.
    match open_with(&dir, vec![GenesisAccount::with_balance(user.address, U256::from(ETH))]) {
        Err(Error::Store(m)) => assert!(m.contains("different genesis"), "{m}"),
        r => panic!("{:?}", r.map(|_| ())),
    }
}
