//! JSON-RPC views in the shape geth/anvil return (hex quantities, camelCase keys), and the
//! queries that produce them.

use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_primitives::{Address, Bloom, BloomInput, B256, U256};
use serde_json::{json, Map, Value};

use crate::chain::{eth_header, next_base_fee_after, prevrandao, Chain};
use crate::error::{Error, Result};
use crate::store::{Body, Header, Reader, StoredReceipt};
use crate::tx::Tx;

fn q<T: std::fmt::LowerHex>(v: T) -> Value {
    Value::String(format!("{v:#x}"))
}

fn hex(bytes: &[u8]) -> Value {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    Value::String(s)
}

fn addr(a: &Address) -> Value {
    hex(a.as_slice())
}

/// Where a mined transaction sits.
#[derive(Debug, Clone, Copy)]
pub struct TxLocation {
    /// Block hash.
    pub block_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// Index in the block.
    pub index: u64,
    /// The block's base fee.
    pub base_fee: u64,
    /// The block's timestamp.
    pub timestamp: u64,
}

/// A transaction object (`eth_getTransactionByHash`); block fields null when pooled.
pub fn tx_json(tx: &Tx, loc: Option<TxLocation>) -> Value {
    let mut m = Map::new();
    let env = &tx.envelope;
    m.insert("type".into(), q(tx.tx_type()));
    if let Some(id) = tx.chain_id() {
        m.insert("chainId".into(), q(id));
    }
    m.insert("nonce".into(), q(tx.nonce()));
    m.insert("gas".into(), q(tx.gas_limit()));
    m.insert("to".into(), tx.to().map(|a| addr(&a)).unwrap_or(Value::Null));
    m.insert("value".into(), q(tx.value()));
    m.insert("input".into(), hex(tx.input()));
    let (sig, y_parity_field) = match env {
        TxEnvelope::Legacy(s) => (*s.signature(), false),
        TxEnvelope::Eip2930(s) => (*s.signature(), true),
        TxEnvelope::Eip1559(s) => (*s.signature(), true),
        TxEnvelope::Eip4844(s) => (*s.signature(), true),
        TxEnvelope::Eip7702(s) => (*s.signature(), true),
    };
    m.insert("r".into(), q(sig.r()));
    m.insert("s".into(), q(sig.s()));
    let parity = u64::from(sig.v());
    if y_parity_field {
        m.insert("yParity".into(), q(parity));
        m.insert("v".into(), q(parity));
    } else {
        // EIP-155 v = parity + 35 + 2 * chainId (27/28 unprotected).
        let v = match tx.chain_id() {
            Some(id) => u128::from(parity) + 35 + 2 * u128::from(id),
            None => u128::from(parity) + 27,
        };
        m.insert("v".into(), q(v));
    }
    match env {
        TxEnvelope::Eip1559(s) => {
            let t = s.tx();
            m.insert("maxFeePerGas".into(), q(t.max_fee_per_gas));
            m.insert("maxPriorityFeePerGas".into(), q(t.max_priority_fee_per_gas));
            let price = match loc {
                Some(l) => tx.effective_gas_price(l.base_fee),
                None => t.max_fee_per_gas,
            };
            m.insert("gasPrice".into(), q(price));
        }
        _ => {
            m.insert("gasPrice".into(), q(tx.max_fee()));
        }
    }
    if let Some(list) = env.access_list() {
        let items: Vec<Value> = list
            .0
            .iter()
            .map(|i| {
                json!({
                    "address": addr(&i.address),
                    "storageKeys": i.storage_keys.iter().map(|k| hex(k.as_slice())).collect::<Vec<_>>(),
                })
            })
            .collect();
        m.insert("accessList".into(), Value::Array(items));
    }
    m.insert("hash".into(), hex(tx.hash.as_slice()));
    m.insert("from".into(), addr(&tx.sender));
    match loc {
        Some(l) => {
            m.insert("blockHash".into(), hex(l.block_hash.as_slice()));
            m.insert("blockNumber".into(), q(l.block_number));
            m.insert("transactionIndex".into(), q(l.index));
            m.insert("blockTimestamp".into(), q(l.timestamp));
        }
        None => {
            m.insert("blockHash".into(), Value::Null);
            m.insert("blockNumber".into(), Value::Null);
            m.insert("transactionIndex".into(), Value::Null);
        }
    }
    Value::Object(m)
}

fn log_json(
    log: &crate::store::StoredLog,
    h: &Header,
    tx_hash: &B256,
    tx_index: u64,
    log_index: u64,
) -> Value {
    json!({
        "address": addr(&log.address),
        "topics": log.topics.iter().map(|t| hex(t.as_slice())).collect::<Vec<_>>(),
        "data": hex(&log.data),
        "blockHash": hex(h.hash.as_slice()),
        "blockNumber": q(h.number),
        "blockTimestamp": q(h.timestamp),
        "transactionHash": hex(tx_hash.as_slice()),
        "transactionIndex": q(tx_index),
        "logIndex": q(log_index),
        "removed": false,
    })
}

fn receipt_json(tx: &Tx, r: &StoredReceipt, h: &Header, index: u64, first_log: u64) -> Value {
    let mut bloom = Bloom::ZERO;
    let logs: Vec<Value> = r
        .logs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            bloom.accrue_log(&l.to_log());
            log_json(l, h, &tx.hash, index, first_log + i as u64)
        })
        .collect();
    json!({
        "type": q(tx.tx_type()),
        "status": q(r.status),
        "cumulativeGasUsed": q(r.cumulative_gas_used),
        "gasUsed": q(r.gas_used),
        "effectiveGasPrice": q(r.effective_gas_price),
        "blobGasPrice": q(1u8),
        "logs": logs,
        "logsBloom": hex(bloom.as_slice()),
        "transactionHash": hex(tx.hash.as_slice()),
        "transactionIndex": q(index),
        "blockHash": hex(h.hash.as_slice()),
        "blockNumber": q(h.number),
        "blockTimestamp": q(h.timestamp),
        "from": addr(&tx.sender),
        "to": tx.to().map(|a| addr(&a)).unwrap_or(Value::Null),
        "contractAddress": if r.contract_address.len() == 20 {
            hex(&r.contract_address)
        } else {
            Value::Null
        },
    })
}

fn loc(h: &Header, index: u64) -> TxLocation {
    TxLocation {
        block_hash: h.hash,
        block_number: h.number,
        index,
        base_fee: h.base_fee,
        timestamp: h.timestamp,
    }
}

fn body_txs(body: &Body) -> Result<Vec<Tx>> {
    body.txs.iter().map(|t| Tx::from_stored(&t.raw, t.sender)).collect()
}

/// A block object (`eth_getBlockByNumber`) with Citrate's DAG fields.
pub fn block_json(h: &Header, body: &Body, full: bool) -> Result<Value> {
    let eh = eth_header(h);
    let txs = body_txs(body)?;
    let transactions: Vec<Value> = if full {
        txs.iter().enumerate().map(|(i, t)| tx_json(t, Some(loc(h, i as u64)))).collect()
    } else {
        txs.iter().map(|t| hex(t.hash.as_slice())).collect()
    };
    let merge_parents: Vec<Value> = h.parents.iter().skip(1).map(|p| hex(p.as_slice())).collect();
    Ok(json!({
        "hash": hex(h.hash.as_slice()),
        "parentHash": hex(h.parent_hash.as_slice()),
        "sha3Uncles": hex(eh.ommers_hash.as_slice()),
        "miner": addr(&h.coinbase),
        "stateRoot": hex(h.state_root.as_slice()),
        "transactionsRoot": hex(h.tx_root.as_slice()),
        "receiptsRoot": hex(h.receipts_root.as_slice()),
        "logsBloom": hex(h.logs_bloom.as_slice()),
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "number": q(h.number),
        "gasLimit": q(h.gas_limit),
        "gasUsed": q(h.gas_used),
        "timestamp": q(h.timestamp),
        "extraData": "0x",
        "mixHash": hex(prevrandao(&h.hash).as_slice()),
        "nonce": "0x0000000000000000",
        "baseFeePerGas": q(h.base_fee),
        "withdrawalsRoot": hex(eh.withdrawals_root.unwrap_or_default().as_slice()),
        "blobGasUsed": "0x0",
        "excessBlobGas": "0x0",
        "parentBeaconBlockRoot": hex(B256::ZERO.as_slice()),
        "requestsHash": hex(eh.requests_hash.unwrap_or_default().as_slice()),
        "size": q(h.size),
        "uncles": [],
        "transactions": transactions,
        "withdrawals": [],
        "blueScore": q(h.blue_score),
        "blueWork": q(h.blue_work),
        "selectedParent": if h.number == 0 { Value::Null } else { hex(h.selected_parent.as_slice()) },
        "mergeParents": merge_parents,
    }))
}

fn to_text(v: &Value) -> String {
    v.to_string()
}

fn topic_matches(filter: &[Option<Vec<B256>>], topics: &[B256]) -> bool {
    filter.iter().enumerate().all(|(i, f)| match f {
        None => true,
        Some(list) if list.is_empty() => true,
        Some(list) => topics.get(i).is_some_and(|t| list.contains(t)),
    })
}

fn bloom_may_match(bloom: &Bloom, addresses: &[Address], topics: &[Option<Vec<B256>>]) -> bool {
    let addr_ok = addresses.is_empty()
        || addresses.iter().any(|a| bloom.contains_input(BloomInput::Raw(a.as_slice())));
    addr_ok
        && topics.iter().all(|f| match f {
            None => true,
            Some(list) if list.is_empty() => true,
            Some(list) => list.iter().any(|t| bloom.contains_input(BloomInput::Raw(t.as_slice()))),
        })
}

impl Chain {
    fn reader(&self) -> Result<(crate::chain::ReadGuard<'_>, ())> {
        Ok((self.read()?, ()))
    }

    /// `eth_getBlockByNumber`.
    pub fn block_by_number(&self, number: u64, full: bool) -> Result<Option<String>> {
        let (g, ()) = self.reader()?;
        let r = Reader::new(g.inner()?.store.read()?);
        let (Some(h), Some(b)) = (r.header(number)?, r.body(number)?) else { return Ok(None) };
        Ok(Some(to_text(&block_json(&h, &b, full)?)))
    }

    /// `eth_getBlockByHash`.
    pub fn block_by_hash(&self, hash: &B256, full: bool) -> Result<Option<String>> {
        let n = self.block_number(hash)?;
        match n {
            Some(n) => self.block_by_number(n, full),
            None => Ok(None),
        }
    }

    /// `eth_getTransactionByHash`: mined, or pooled with null block fields.
    pub fn transaction(&self, hash: &B256) -> Result<Option<String>> {
        let (g, ()) = self.reader()?;
        let r = Reader::new(g.inner()?.store.read()?);
        if let Some((n, i)) = r.tx_location(hash)? {
            return self.transaction_by_block_and_index(n, u64::from(i));
        }
        drop(r);
        let pool = self.pool()?;
        Ok(pool.get(hash).map(|t| to_text(&tx_json(t, None))))
    }

    /// `eth_getTransactionByBlockNumberAndIndex`.
    pub fn transaction_by_block_and_index(
        &self,
        number: u64,
        index: u64,
    ) -> Result<Option<String>> {
        let (g, ()) = self.reader()?;
        let r = Reader::new(g.inner()?.store.read()?);
        let (Some(h), Some(b)) = (r.header(number)?, r.body(number)?) else { return Ok(None) };
        let Some(st) = usize::try_from(index).ok().and_then(|i| b.txs.get(i)) else {
            return Ok(None);
        };
        let tx = Tx::from_stored(&st.raw, st.sender)?;
        Ok(Some(to_text(&tx_json(&tx, Some(loc(&h, index))))))
    }

    fn block_receipt_values(r: &Reader, number: u64) -> Result<Option<(Header, Vec<Value>)>> {
        let (Some(h), Some(b), Some(receipts)) =
            (r.header(number)?, r.body(number)?, r.receipts(number)?)
        else {
            return Ok(None);
        };
        let txs = body_txs(&b)?;
        let mut first_log = 0u64;
        let mut out = Vec::with_capacity(txs.len());
        for (i, (tx, rc)) in txs.iter().zip(&receipts).enumerate() {
            out.push(receipt_json(tx, rc, &h, i as u64, first_log));
            first_log += rc.logs.len() as u64;
        }
        Ok(Some((h, out)))
    }

    /// `eth_getTransactionReceipt`.
    pub fn receipt(&self, hash: &B256) -> Result<Option<String>> {
        let (g, ()) = self.reader()?;
        let r = Reader::new(g.inner()?.store.read()?);
        let Some((n, i)) = r.tx_location(hash)? else { return Ok(None) };
        let Some((_, receipts)) = Self::block_receipt_values(&r, n)? else { return Ok(None) };
        Ok(receipts.get(i as usize).map(to_text))
    }

    /// `eth_getBlockReceipts`.
    pub fn block_receipts(&self, number: u64) -> Result<Option<String>> {
        let (g, ()) = self.reader()?;
        let r = Reader::new(g.inner()?.store.read()?);
        Ok(Self::block_receipt_values(&r, number)?.map(|(_, v)| to_text(&Value::Array(v))))
    }

    /// `eth_getLogs` over `from..=to` (clamped to the head).
    pub fn logs(
        &self,
        from: u64,
        to: u64,
        addresses: &[Address],
        topics: &[Option<Vec<B256>>],
    ) -> Result<String> {
        let (g, ()) = self.reader()?;
        let inner = g.inner()?;
        let to = to.min(inner.head.number);
        let r = Reader::new(inner.store.read()?);
        let mut out = Vec::new();
        if from <= to {
            for n in from..=to {
                let Some(h) = r.header(n)? else { continue };
                if h.tx_count == 0 || !bloom_may_match(&h.logs_bloom, addresses, topics) {
                    continue;
                }
                let (Some(b), Some(receipts)) = (r.body(n)?, r.receipts(n)?) else { continue };
                let mut log_index = 0u64;
                for (i, (st, rc)) in b.txs.iter().zip(&receipts).enumerate() {
                    let hash = alloy_primitives::keccak256(&st.raw);
                    for l in &rc.logs {
                        if (addresses.is_empty() || addresses.contains(&l.address))
                            && topic_matches(topics, &l.topics)
                        {
                            out.push(log_json(l, &h, &hash, i as u64, log_index));
                        }
                        log_index += 1;
                    }
                }
            }
        }
        Ok(to_text(&Value::Array(out)))
    }

    /// `eth_feeHistory`.
    pub fn fee_history(
        &self,
        block_count: u64,
        newest: u64,
        percentiles: &[f64],
    ) -> Result<String> {
        if percentiles.len() > 100 {
            return Err(Error::InvalidArgument("at most 100 reward percentiles".into()));
        }
        let mut last = -1.0f64;
        for p in percentiles {
            if !(0.0..=100.0).contains(p) || *p < last {
                return Err(Error::InvalidArgument(format!(
                    "invalid reward percentile: `{p}` (must be in [0, 100] and ascending)"
                )));
            }
            last = *p;
        }
        let (g, ()) = self.reader()?;
        let inner = g.inner()?;
        if newest > inner.head.number {
            return Err(Error::header_not_found());
        }
        let count = block_count.min(1024).min(newest + 1);
        let r = Reader::new(inner.store.read()?);
        let oldest = newest + 1 - count;
        let (mut base_fees, mut ratios, mut rewards) = (Vec::new(), Vec::new(), Vec::new());
        let mut next = None;
        for n in oldest..=newest {
            let h = r.header(n)?.ok_or_else(Error::header_not_found)?;
            base_fees.push(q(h.base_fee));
            ratios.push(json!(h.gas_used as f64 / h.gas_limit.max(1) as f64));
            next = Some(next_base_fee_after(&h));
            if !percentiles.is_empty() {
                let receipts = r.receipts(n)?.unwrap_or_default();
                let mut tips: Vec<(u128, u64)> = receipts
                    .iter()
                    .map(|rc| {
                        (rc.effective_gas_price.saturating_sub(u128::from(h.base_fee)), rc.gas_used)
                    })
                    .collect();
                tips.sort_unstable();
                let row: Vec<Value> = percentiles
                    .iter()
                    .map(|p| {
                        if tips.is_empty() {
                            return q(0u8);
                        }
                        let threshold = (h.gas_used as f64 * p / 100.0) as u64;
                        let mut sum = 0u64;
                        for (tip, gas) in &tips {
                            sum = sum.saturating_add(*gas);
                            if sum >= threshold {
                                return q(*tip);
                            }
                        }
                        q(tips.last().map(|t| t.0).unwrap_or(0))
                    })
                    .collect();
                rewards.push(Value::Array(row));
            }
        }
        if count > 0 {
            base_fees.push(q(next.unwrap_or(0)));
        }
        let mut m = Map::new();
        m.insert("oldestBlock".into(), q(oldest));
        m.insert("baseFeePerGas".into(), Value::Array(base_fees));
        m.insert("gasUsedRatio".into(), Value::Array(ratios));
        let blob_fees = if count > 0 { count + 1 } else { 0 };
        m.insert("baseFeePerBlobGas".into(), Value::Array(vec![q(1u8); blob_fees as usize]));
        m.insert("blobGasUsedRatio".into(), Value::Array(vec![json!(0.0); count as usize]));
        if !percentiles.is_empty() {
            m.insert("reward".into(), Value::Array(rewards));
        }
        Ok(to_text(&Value::Object(m)))
    }

    /// `{"pending": [...], "queued": [...]}` of pooled transaction objects.
    pub fn pool_snapshot(&self) -> Result<String> {
        let (pending, queued) = self.pool_content()?;
        let pending: Vec<Value> = pending.iter().map(|t| tx_json(t, None)).collect();
        let queued: Vec<Value> = queued.iter().map(|t| tx_json(t, None)).collect();
        Ok(to_text(&json!({"pending": pending, "queued": queued})))
    }

    /// Mined transactions sent or received by `address`, newest first, and the next cursor.
    pub fn transactions_by_address(
        &self,
        address: &Address,
        limit: usize,
        cursor: Option<u64>,
    ) -> Result<(String, Option<u64>)> {
        let (g, ()) = self.reader()?;
        let r = Reader::new(g.inner()?.store.read()?);
        let items = r.address_txs(address, limit.saturating_add(1), cursor)?;
        let more = items.len() > limit;
        let mut out = Vec::new();
        let mut next = None;
        for (_, n, i) in items.into_iter().take(limit) {
            let (Some(h), Some(b)) = (r.header(n)?, r.body(n)?) else { continue };
            let Some(st) = b.txs.get(i as usize) else { continue };
            let tx = Tx::from_stored(&st.raw, st.sender)?;
            out.push(tx_json(&tx, Some(loc(&h, u64::from(i)))));
            next = Some((n << 32) | u64::from(i));
        }
        Ok((to_text(&Value::Array(out)), if more { next } else { None }))
    }
}

/// Total supply helper for tests: the sum of all balances at the head.
pub fn total_balance(chain: &Chain) -> Result<U256> {
    let g = chain.read()?;
    Ok(g.inner()?
        .latest
        .accounts
        .values()
        .fold(U256::ZERO, |a, x| a.saturating_add(x.info.balance)))
}
