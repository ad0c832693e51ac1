//! The transaction pool and the batcher that fills the blocks of a round.
//!
//! Per sender, transactions are kept by nonce. Those contiguous from the account's nonce are
//! *pending* (minable now); the others are *queued* behind a gap (accepted like geth, at most
//! [`MAX_NONCE_GAP`] ahead of the sender's pending nonce).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};

use crate::error::{Error, Result};
use crate::tx::Tx;

/// How far past the sender's pending nonce (account nonce + its contiguous pooled
/// transactions) a queued transaction may be.
pub const MAX_NONCE_GAP: u64 = 64;
/// Most transactions the pool holds (geth's default global slots + queue).
pub const MAX_POOL_SIZE: usize = 5120;
/// geth's `PriceBump`: a replacement must raise both fee fields by at least 10%.
pub const PRICE_BUMP_PERCENT: u128 = 10;

/// What the pool needs to know about the sender's account and the next block.
#[derive(Debug, Clone, Copy)]
pub struct AdmitContext {
    /// Account nonce at the head.
    pub state_nonce: u64,
    /// Account balance at the head.
    pub balance: U256,
    /// Base fee of the next block.
    pub base_fee: u64,
}

/// Where a pooled transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolStatus {
    /// Minable now.
    Pending,
    /// Behind a nonce gap.
    Queued,
}

/// The mempool.
#[derive(Debug, Default)]
pub struct Pool {
    by_hash: HashMap<B256, Arc<Tx>>,
    by_sender: HashMap<Address, BTreeMap<u64, B256>>,
}

impl Pool {
    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// A pooled transaction.
    pub fn get(&self, hash: &B256) -> Option<&Arc<Tx>> {
        self.by_hash.get(hash)
    }

    /// Drop everything.
    pub fn clear(&mut self) {
        self.by_hash.clear();
        self.by_sender.clear();
    }

    /// Admit a statically checked transaction (chain id, gas, fee fields already verified):
    /// nonce, balance, base fee, duplicates and replacement.
    pub fn add(&mut self, tx: Tx, ctx: AdmitContext) -> Result<B256> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(Error::Rejected("already known".into()));
        }
        let nonce = tx.nonce();
        if nonce < ctx.state_nonce {
            return Err(Error::Rejected(format!(
                "nonce too low: next nonce {}, tx nonce {nonce}",
                ctx.state_nonce
            )));
        }
        let pending = self.pending_nonce(&tx.sender, ctx.state_nonce);
        if nonce > pending.saturating_add(MAX_NONCE_GAP) {
            return Err(Error::Rejected(format!(
                "nonce too high: next nonce {pending}, tx nonce {nonce}"
            )));
        }

        if tx.max_fee() < u128::from(ctx.base_fee) {
            return Err(Error::Rejected(format!(
                "max fee per gas less than block base fee: address {}, maxFeePerGas: {}, \
                 baseFee: {}",
                tx.sender,
                tx.max_fee(),
                ctx.base_fee
            )));
        }
        let cost = tx.max_cost();
        if ctx.balance < cost {
            return Err(Error::Rejected(format!(
                "insufficient funds for gas * price + value: address {} have {} want {cost}",
                tx.sender, ctx.balance
            )));
        }
        let old = self.by_sender.get(&tx.sender).and_then(|m| m.get(&nonce)).copied();
        if old.is_none() && self.by_hash.len() >= MAX_POOL_SIZE {
            return Err(Error::Rejected("txpool is full".into()));
        }
        if let Some(old_hash) = old {
            if let Some(old) = self.by_hash.get(&old_hash) {
                if !outbids(old, &tx) {
                    return Err(Error::Rejected("replacement transaction underpriced".into()));
                }
            }
            self.by_hash.remove(&old_hash);
        }
        let hash = tx.hash;
        self.by_sender.entry(tx.sender).or_default().insert(nonce, hash);
        self.by_hash.insert(hash, Arc::new(tx));
        Ok(hash)
    }

    /// Remove one transaction.
    pub fn remove(&mut self, hash: &B256) -> Option<Arc<Tx>> {
        let tx = self.by_hash.remove(hash)?;
        if let Some(m) = self.by_sender.get_mut(&tx.sender) {
            if m.get(&tx.nonce()) == Some(hash) {
                m.remove(&tx.nonce());
            }
            if m.is_empty() {
                self.by_sender.remove(&tx.sender);
            }
        }
        Some(tx)
    }

    /// Drop every transaction whose nonce is below its sender's account nonce.
    pub fn prune(&mut self, state_nonce: impl Fn(&Address) -> u64) {
        let mut stale = Vec::new();
        for (sender, txs) in &self.by_sender {
            let n = state_nonce(sender);
            stale.extend(txs.range(..n).map(|(_, h)| *h));
        }
        for h in stale {
            self.remove(&h);
        }
    }

    /// The nonce the sender's next transaction should use.
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(txs) = self.by_sender.get(sender) {
            for n in txs.range(state_nonce..).map(|(n, _)| *n) {
                if n != next {
                    break;
                }
                next = next.saturating_add(1);
            }
        }
        next
    }

    /// Pending or queued, `None` if not pooled.
    pub fn status(&self, hash: &B256, state_nonce: impl Fn(&Address) -> u64) -> Option<PoolStatus> {
        let tx = self.by_hash.get(hash)?;
        let next = self.pending_nonce(&tx.sender, state_nonce(&tx.sender));
        Some(if tx.nonce() < next { PoolStatus::Pending } else { PoolStatus::Queued })
    }

    /// (pending, queued), each ordered by sender then nonce.
    pub fn snapshot(&self, state_nonce: impl Fn(&Address) -> u64) -> (Vec<Arc<Tx>>, Vec<Arc<Tx>>) {
        let mut senders: Vec<&Address> = self.by_sender.keys().collect();
        senders.sort();
        let (mut pending, mut queued) = (Vec::new(), Vec::new());
        for s in senders {
            let next = self.pending_nonce(s, state_nonce(s));
            for (n, h) in self.by_sender.get(s).into_iter().flatten() {
                if let Some(tx) = self.by_hash.get(h) {
                    if *n < next {
                        pending.push(tx.clone());
                    } else {
                        queued.push(tx.clone());
                    }
                }
            }
        }
        (pending, queued)
    }

    /// Block templates for `producers` parallel blocks.
    ///
    /// Each sender's pending transactions go, in nonce order, to ONE producer (disjoint sets;
    /// senders spread by load), each block is filled by fee priority (effective tip at
    /// `base_fee`) within `gas_limit`, and a sender's run stops at the first transaction that
    /// cannot pay `base_fee` or does not fit.
    pub fn build(
        &self,
        producers: usize,
        base_fee: u64,
        gas_limit: u64,
        state_nonce: impl Fn(&Address) -> u64,
    ) -> Vec<Vec<Arc<Tx>>> {
        let producers = producers.max(1);
        // Each sender's minable run.
        let mut runs: Vec<(u128, Address, Vec<Arc<Tx>>, u64)> = Vec::new();
        for (sender, txs) in &self.by_sender {
            let mut next = state_nonce(sender);
            let mut run = Vec::new();
            let mut gas = 0u64;
            for (n, h) in txs.range(next..) {
                if *n != next {
                    break;
                }
                let Some(tx) = self.by_hash.get(h) else { break };
                if tx.effective_tip(base_fee).is_none() {
                    break;
                }
                gas = gas.saturating_add(tx.gas_limit());
                run.push(tx.clone());
                next = next.saturating_add(1);
            }
            if let Some(first) = run.first() {
                let tip = first.effective_tip(base_fee).unwrap_or(0);
                runs.push((tip, *sender, run, gas));
            }
        }
        // Best-paying senders first; ties by address for determinism.
        runs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut loads = vec![0u64; producers];
        let mut assigned: Vec<Vec<Vec<Arc<Tx>>>> = vec![Vec::new(); producers];
        for (_, _, run, gas) in runs {
            let mut best = 0;
            for (i, load) in loads.iter().enumerate() {
                if *load < loads[best] {
                    best = i;
                }
            }
            loads[best] = loads[best].saturating_add(gas.min(gas_limit));
            assigned[best].push(run);
        }
        assigned.into_iter().map(|runs| fill_block(runs, base_fee, gas_limit)).collect()
    }
}

/// Whether `new` replaces `old`: both fee fields strictly higher and at least +10%.
fn outbids(old: &Tx, new: &Tx) -> bool {
    let bump = |v: u128| v.saturating_mul(100 + PRICE_BUMP_PERCENT) / 100;
    new.max_fee() > old.max_fee()
        && new.max_priority_fee() > old.max_priority_fee()
        && new.max_fee() >= bump(old.max_fee())
        && new.max_priority_fee() >= bump(old.max_priority_fee())
}

/// Fill one block from sender runs by effective tip, keeping each sender's nonce order.
fn fill_block(runs: Vec<Vec<Arc<Tx>>>, base_fee: u64, gas_limit: u64) -> Vec<Arc<Tx>> {
    // Heap of (tip, Reverse(run index), position in run).
    let mut heap = BinaryHeap::new();
    for (i, run) in runs.iter().enumerate() {
        if let Some(tx) = run.first() {
            heap.push((tx.effective_tip(base_fee).unwrap_or(0), Reverse(i), 0usize));
        }
    }
    let mut out = Vec::new();
    let mut used = 0u64;
    while let Some((_, Reverse(i), pos)) = heap.pop() {
        let Some(tx) = runs.get(i).and_then(|r| r.get(pos)) else { continue };
        let Some(total) = used.checked_add(tx.gas_limit()).filter(|t| *t <= gas_limit) else {
            // Does not fit: the sender's later nonces cannot go either.
            continue;
        };
        used = total;
        out.push(tx.clone());
        if let Some(next) = runs.get(i).and_then(|r| r.get(pos + 1)) {
            heap.push((next.effective_tip(base_fee).unwrap_or(0), Reverse(i), pos + 1));
        }
    }
    out
}
