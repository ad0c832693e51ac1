//! Execution, fee accounting, contracts, parallel blocks, persistence and history.
#![allow(missing_docs, clippy::unwrap_used)]

mod chain_common;

use alloy_primitives::{Address, Bytes, U256};
use chain_common::*;
use citrate_chain::{CallRequest, Error, TxStatus};

fn tmp() -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!(
        "citrate-chain-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::create_dir_all(&base).unwrap();
    base
}

#[test]
fn transfer_fee_accounting() {
    let dir = tmp();
    let (a, b) = (key(1), key(2));
    let coinbase = Address::repeat_byte(0xcb);
    let chain = open(&dir, &[(a.address, 100 * ETH)]);
    let supply0 = citrate_chain::json::total_balance(&chain).unwrap();
    let base_fee = chain.next_base_fee().unwrap();
    assert_eq!(base_fee, 875_000_000); // 1 gwei genesis, empty -> -12.5%
    let h = chain.send_raw_transaction(&transfer(&a, 0, b.address, ETH)).unwrap();
    let round = chain.mine(1, &[coinbase], None).unwrap();
    assert_eq!(round.blocks.len(), 1);
    assert_eq!(round.blocks[0].tx_hashes, vec![h]);
    assert!(round.skipped.is_empty());
    let effective = u128::from(base_fee) + GWEI; // min(maxFee 2 gwei, base + tip)
    assert_eq!(chain.balance(&b.address, 1).unwrap(), U256::from(ETH));
    assert_eq!(chain.balance(&a.address, 1).unwrap(), U256::from(99 * ETH - 21_000 * effective));
    assert_eq!(chain.balance(&coinbase, 1).unwrap(), U256::from(21_000 * GWEI));
    let supply1 = citrate_chain::json::total_balance(&chain).unwrap();
    assert_eq!(supply0 - supply1, U256::from(21_000u128 * u128::from(base_fee)));
    assert_eq!(chain.nonce(&a.address, 1).unwrap(), 1);
    // The receipt and block views.
    let receipt: serde_json::Value =
        serde_json::from_str(&chain.receipt(&h).unwrap().unwrap()).unwrap();
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["gasUsed"], "0x5208");
    assert_eq!(receipt["effectiveGasPrice"], format!("{effective:#x}"));
    let block: serde_json::Value =
        serde_json::from_str(&chain.block_by_number(1, false).unwrap().unwrap()).unwrap();
    assert_eq!(block["parentHash"], format!("{}", chain.genesis_hash()));
    assert_eq!(block["gasUsed"], "0x5208");
    assert_eq!(block["miner"], format!("{coinbase:#x}"));
    assert_eq!(
        chain.transaction_status(&h).unwrap(),
        TxStatus::Mined {
            block_hash: round.blocks[0].hash,
            block_number: 1,
            blue_score: round.blocks[0].blue_score,
        }
    );
    // Base fee of block 2 follows EIP-1559 from block 1 (21000 of 30M used: goes down).
    assert!(chain.next_base_fee().unwrap() < base_fee);
}

#[test]
fn contract_deploy_call_revert_and_logs() {
    let dir = tmp();
    let a = key(1);
    let chain = open(&dir, &[(a.address, 100 * ETH)]);
    let init = counter_init();
    let deploy = tx1559(&a, 0, None, 0, &init, 200_000, 2 * GWEI, GWEI);
    let h = chain.send_raw_transaction(&deploy).unwrap();
    chain.mine(1, &[], None).unwrap();
    let receipt: serde_json::Value =
        serde_json::from_str(&chain.receipt(&h).unwrap().unwrap()).unwrap();
    assert_eq!(receipt["status"], "0x1");
    let contract = a.address.create(0);
    assert_eq!(receipt["contractAddress"], format!("{contract:#x}"));
    assert_eq!(chain.code(&contract, 1).unwrap(), Bytes::from(counter_runtime()));
    // eth_call: returns slot 0 (42).
    let req = CallRequest { to: Some(contract), ..Default::default() };
    let out = chain.call(&req, 1).unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(42));
    // Revert with Error("nope").
    let bad =
        CallRequest { to: Some(contract), data: Bytes::from(vec![0x02]), ..Default::default() };
    match chain.call(&bad, 1) {
        Err(Error::Reverted { message, data }) => {
            assert_eq!(message, "execution reverted: nope");
            assert_eq!(&data[..4], &[0x08, 0xc3, 0x79, 0xa0]);
        }
        other => panic!("expected a revert, got {other:?}"),
    }
    assert!(matches!(chain.estimate_gas(&bad, 1), Err(Error::Reverted { .. })));
    // Increment through a transaction: storage and a log.
    let gas = chain
        .estimate_gas(
            &CallRequest {
                from: Some(a.address),
                to: Some(contract),
                data: Bytes::from(vec![1]),
                ..Default::default()
            },
            1,
        )
        .unwrap();
    assert!(gas > 21_000 && gas < 100_000, "{gas}");
    let inc = tx1559(&a, 1, Some(contract), 0, &[1], gas, 2 * GWEI, GWEI);
    let h2 = chain.send_raw_transaction(&inc).unwrap();
    chain.mine(1, &[], None).unwrap();
    let r2: serde_json::Value =
        serde_json::from_str(&chain.receipt(&h2).unwrap().unwrap()).unwrap();
    assert_eq!(r2["status"], "0x1", "estimate_gas must be enough: {r2}");
    assert_eq!(r2["logs"][0]["topics"][0], format!("0x{}", "aa".repeat(32)));
    assert_eq!(chain.storage_at(&contract, &U256::ZERO, 2).unwrap(), U256::from(43));
    // Historical state: block 1 still sees 42.
    assert_eq!(chain.storage_at(&contract, &U256::ZERO, 1).unwrap(), U256::from(42));
    assert_eq!(U256::from_be_slice(&chain.call(&req, 1).unwrap()), U256::from(42));
    let logs: serde_json::Value =
        serde_json::from_str(&chain.logs(0, 10, &[contract], &[]).unwrap()).unwrap();
    assert_eq!(logs.as_array().unwrap().len(), 1);
    // A reverted transaction is mined with status 0 and pays gas.
    let before = chain.balance(&a.address, 2).unwrap();
    let rv = tx1559(&a, 2, Some(contract), 0, &[2], 60_000, 2 * GWEI, GWEI);
    let h3 = chain.send_raw_transaction(&rv).unwrap();
    let round = chain.mine(1, &[], None).unwrap();
    assert_eq!(round.blocks[0].tx_hashes, vec![h3]);
    let r3: serde_json::Value =
        serde_json::from_str(&chain.receipt(&h3).unwrap().unwrap()).unwrap();
    assert_eq!(r3["status"], "0x0");
    assert!(chain.balance(&a.address, 3).unwrap() < before);
    // Access list of the increment: the contract's slot 0.
    let (list, _gas) = chain
        .create_access_list(
            &CallRequest {
                from: Some(a.address),
                to: Some(contract),
                data: Bytes::from(vec![1]),
                ..Default::default()
            },
            3,
        )
        .unwrap();
    assert_eq!(list.0.len(), 1);
    assert_eq!(list.0[0].address, contract);
    assert_eq!(list.0[0].storage_keys.len(), 1);
}

#[test]
fn parallel_producers_skip_conflicts() {
    let dir = tmp();
    let (a, b, c) = (key(1), key(2), key(3));
    let chain = open(&dir, &[(a.address, 10 * ETH), (b.address, 10 * ETH)]);
    // Two blocks of one round both spend a's nonce 0: the second in the total order skips.
    let t1 = transfer(&a, 0, c.address, ETH);
    let t2 = transfer(&a, 0, c.address, 2 * ETH);
    let t3 = transfer(&b, 0, c.address, 3 * ETH);
    let round = chain
        .mine_transactions(&[vec![t1.clone(), t3.clone()], vec![t2.clone()]], &[], None)
        .unwrap();
    assert_eq!(round.blocks.len(), 2);
    assert_eq!(round.blocks.iter().map(|b| b.number).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(round.skipped.len(), 1);
    assert!(
        round.skipped[0].1.starts_with("nonce too low: next nonce 1, tx nonce 0"),
        "{:?}",
        round.skipped
    );
    let mined: usize = round.blocks.iter().map(|b| b.tx_hashes.len()).sum();
    assert_eq!(mined, 2);
    let got = chain.balance(&c.address, 2).unwrap();
    assert!(got == U256::from(4 * ETH) || got == U256::from(5 * ETH));
    let skipped_hash = round.skipped[0].0;
    assert!(matches!(chain.transaction_status(&skipped_hash).unwrap(), TxStatus::Skipped { .. }));
    // The Ethereum view is linear: block 2's parentHash is block 1.
    let b2: serde_json::Value =
        serde_json::from_str(&chain.block_by_number(2, false).unwrap().unwrap()).unwrap();
    assert_eq!(b2["parentHash"], format!("{}", round.blocks[0].hash));
    // A second round on both tips merges them.
    let r2 = chain.mine_transactions(&[vec![], vec![], vec![]], &[], None).unwrap();
    assert_eq!(r2.blocks.len(), 3);
    let stats = chain.dag_stats().unwrap();
    assert_eq!(stats.blocks, 6);
    assert_eq!(stats.blue_count + stats.red_count, 6);
    assert_eq!(stats.tips.len(), 3);
    let dag = chain.block_dag(0, 10).unwrap();
    assert_eq!(dag.len(), 6);
    assert_eq!(dag[3].parents.len(), 2);
}

#[test]
fn batcher_disjoint_sets() {
    let dir = tmp();
    let keys: Vec<_> = (1..=6).map(key).collect();
    let alloc: Vec<_> = keys.iter().map(|k| (k.address, 10 * ETH)).collect();
    let chain = open(&dir, &alloc);
    let sink = Address::repeat_byte(0x55);
    for k in &keys {
        for n in 0..3 {
            chain.send_raw_transaction(&transfer(k, n, sink, 1)).unwrap();
        }
    }
    assert_eq!(chain.pool_len().unwrap(), 18);
    let round = chain
        .mine(3, &[Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3)], None)
        .unwrap();
    assert!(round.skipped.is_empty(), "{:?}", round.skipped);
    let total: usize = round.blocks.iter().map(|b| b.tx_hashes.len()).sum();
    assert_eq!(total, 18);
    // Every block got some senders.
    assert!(round.blocks.iter().all(|b| !b.tx_hashes.is_empty()));
    assert_eq!(chain.pool_len().unwrap(), 0);
    assert_eq!(chain.balance(&sink, chain.head_number().unwrap()).unwrap(), U256::from(18));
}

#[test]
fn pool_rejections() {
    let dir = tmp();
    let (a, b) = (key(1), key(2));
    let chain = open(&dir, &[(a.address, ETH)]);
    let rej = |raw: &[u8]| match chain.send_raw_transaction(raw) {
        Err(Error::Rejected(m)) => m,
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert_eq!(
        rej(&legacy(&a, 0, b.address, 1, None)),
        "only replay-protected (EIP-155) transactions allowed over RPC"
    );
    assert_eq!(rej(&legacy(&a, 0, b.address, 1, Some(5))), "invalid chain id");
    assert!(rej(&tx1559(&a, 0, Some(b.address), 0, &[], 20_000, 2 * GWEI, GWEI))
        .starts_with("intrinsic gas too low: gas 20000, minimum needed 21000"));
    assert_eq!(
        rej(&tx1559(&a, 0, Some(b.address), 0, &[], 30_000_001, 2 * GWEI, GWEI)),
        "exceeds block gas limit"
    );
    assert!(rej(&tx1559(&a, 0, Some(b.address), 0, &[], 21_000, GWEI / 2, 1))
        .starts_with("max fee per gas less than block base fee: address "));
    assert_eq!(
        rej(&tx1559(&a, 0, Some(b.address), 0, &[], 21_000, GWEI, 2 * GWEI)),
        "max priority fee per gas higher than max fee per gas"
    );
    assert!(rej(&transfer(&b, 0, a.address, 1))
        .starts_with("insufficient funds for gas * price + value: address "));
    assert!(rej(&transfer(&a, 65, b.address, 1)).starts_with("nonce too high"));
    assert_eq!(rej(&[]), "typed transaction too short");
    assert_eq!(rej(&[0x03, 0xc0]), "transaction type not supported");
    assert_eq!(rej(&[0x04, 0xc0]), "transaction type not supported");
    // Legacy and 2930 are accepted.
    chain.send_raw_transaction(&legacy(&a, 0, b.address, 1, Some(CHAIN_ID))).unwrap();
    chain.send_raw_transaction(&tx2930(&a, 1, b.address, 1)).unwrap();
    let t = transfer(&a, 2, b.address, 1);
    chain.send_raw_transaction(&t).unwrap();
    assert_eq!(rej(&t), "already known");
    // Replacement needs +10% on both fields.
    let low = tx1559(&a, 2, Some(b.address), 2, &[], 21_000, 2 * GWEI + 1, GWEI + 1);
    assert_eq!(rej(&low), "replacement transaction underpriced");
    let high = tx1559(&a, 2, Some(b.address), 2, &[], 21_000, 3 * GWEI, 2 * GWEI);
    chain.send_raw_transaction(&high).unwrap();
    assert_eq!(chain.pool_len().unwrap(), 3);
    // A gap is queued.
    chain.send_raw_transaction(&transfer(&a, 5, b.address, 1)).unwrap();
    assert_eq!(chain.pending_nonce(&a.address).unwrap(), 3);
    let snap: serde_json::Value = serde_json::from_str(&chain.pool_snapshot().unwrap()).unwrap();
    assert_eq!(snap["pending"].as_array().unwrap().len(), 3);
    assert_eq!(snap["queued"].as_array().unwrap().len(), 1);
    let round = chain.mine(1, &[], None).unwrap();
    assert_eq!(round.blocks[0].tx_hashes.len(), 3);
    assert_eq!(rej(&legacy(&a, 0, b.address, 1, Some(CHAIN_ID))), "already known");
    assert_eq!(
        rej(&tx1559(&a, 0, Some(b.address), 9, &[], 21_000, 2 * GWEI, GWEI)),
        "nonce too low: next nonce 3, tx nonce 0"
    );
}

#[test]
fn reopen_rewind_history() {
    let dir = tmp();
    let (a, b) = (key(1), key(2));
    let (root2, genesis) = {
        let chain = open(&dir, &[(a.address, 10 * ETH)]);
        for n in 0..3u64 {
            chain.send_raw_transaction(&transfer(&a, n, b.address, ETH)).unwrap();
            chain.mine(1, &[], None).unwrap();
        }
        chain.set_balance(Address::repeat_byte(9), U256::from(7)).unwrap();
        let blk: serde_json::Value =
            serde_json::from_str(&chain.block_by_number(2, false).unwrap().unwrap()).unwrap();
        (blk["stateRoot"].clone(), chain.genesis_hash())
    };
    // A second open of the same directory while the first is alive fails.
    let chain = open(&dir, &[(a.address, 10 * ETH)]);
    match citrate_chain::Chain::open(&dir, citrate_chain::ChainConfig::default()) {
        Err(Error::Store(m)) => assert!(m.contains("in use"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(chain.genesis_hash(), genesis);
    assert_eq!(chain.head_number().unwrap(), 3);
    assert_eq!(chain.balance(&b.address, 3).unwrap(), U256::from(3 * ETH));
    assert_eq!(chain.balance(&b.address, 1).unwrap(), U256::from(ETH));
    assert_eq!(chain.balance(&Address::repeat_byte(9), 3).unwrap(), U256::from(7));
    let blk: serde_json::Value =
        serde_json::from_str(&chain.block_by_number(2, false).unwrap().unwrap()).unwrap();
    assert_eq!(blk["stateRoot"], root2);
    assert!(matches!(chain.balance(&b.address, 4), Err(Error::BlockNotFound(_))));
    // Rewind to 1 and mine again.
    chain.rewind(1).unwrap();
    assert_eq!(chain.head_number().unwrap(), 1);
    assert_eq!(chain.balance(&b.address, 1).unwrap(), U256::from(ETH));
    assert_eq!(chain.nonce(&a.address, 1).unwrap(), 1);
    assert!(chain.block_by_number(2, false).unwrap().is_none());
    chain.send_raw_transaction(&transfer(&a, 1, b.address, 5)).unwrap();
    chain.mine(1, &[], None).unwrap();
    assert_eq!(chain.balance(&b.address, 2).unwrap(), U256::from(ETH + 5));
    drop(chain);
    // Different chain id -> StoreError naming it.
    let cfg = citrate_chain::ChainConfig { chain_id: 5, ..Default::default() };
    match citrate_chain::Chain::open(&dir, cfg) {
        Err(Error::Store(m)) => assert!(m.contains("chain id"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let chain = open(&dir, &[(a.address, 10 * ETH)]);
    assert_eq!(chain.head_number().unwrap(), 2);
    assert_eq!(chain.balance(&b.address, 2).unwrap(), U256::from(ETH + 5));
    // Mining continues on the reopened DAG.
    chain.send_raw_transaction(&transfer(&a, 2, b.address, 5)).unwrap();
    let r = chain.mine(2, &[], None).unwrap();
    assert_eq!(r.blocks.len(), 2);
    assert_eq!(chain.head_number().unwrap(), 4);
}

#[test]
fn sender_recovery_matches_alloy() {
    use alloy_consensus::transaction::SignerRecoverable;
    use alloy_eips::eip2718::Decodable2718;
    for i in 1..20u8 {
        let k = key(i);
        for raw in [
            transfer(&k, u64::from(i), Address::repeat_byte(i), 1),
            legacy(&k, 1, Address::repeat_byte(3), 7, Some(CHAIN_ID)),
            tx2930(&k, 2, Address::repeat_byte(4), 9),
        ] {
            let env = alloy_consensus::TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
            let ours = citrate_chain::tx::recover_sender(&env).unwrap();
            assert_eq!(ours, env.recover_signer().unwrap());
            assert_eq!(ours, k.address);
        }
    }
}
