//! Timing of the hot paths (ignored by default: `cargo test --release --test chain_perf -- --ignored --nocapture`).
#![allow(missing_docs, clippy::unwrap_used)]

mod chain_common;

use std::time::Instant;

use alloy_primitives::Address;
use chain_common::*;

#[test]
#[ignore = "timing only"]
fn perf_transfers() {
    let dir = std::env::temp_dir().join(format!("citrate-perf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a = key(1);
    let chain = open(&dir, &[(a.address, 1_000_000 * ETH)]);
    let sink = Address::repeat_byte(0x22);
    let raws: Vec<Vec<u8>> = (0..2000).map(|n| transfer(&a, n, sink, 1)).collect();
    let t = Instant::now();
    for r in &raws {
        citrate_chain::tx::Tx::decode(r).unwrap();
    }
    println!("decode+recover: {:?}/tx", t.elapsed() / 2000);
    let t = Instant::now();
    for r in &raws[..1000] {
        chain.send_raw_transaction(r).unwrap();
    }
    println!("send: {:?}/tx", t.elapsed() / 1000);
    let t = Instant::now();
    chain.mine(1, &[], None).unwrap();
    println!("mine 1000-tx block: {:?}", t.elapsed());
    let t = Instant::now();
    for r in &raws[1000..1200] {
        chain.send_raw_transaction(r).unwrap();
        chain.mine(1, &[], None).unwrap();
    }
    println!("send+mine 1 tx/block: {:?}/block", t.elapsed() / 200);
    let t = Instant::now();
    for _ in 0..200 {
        chain.mine(1, &[], None).unwrap();
    }
    println!("mine empty block: {:?}/block", t.elapsed() / 200);
}
