//! Citrate node core: GhostDAG consensus, EVM execution (revm), the mempool and block batcher, and
//! the crash-safe chain store. Pure Rust; the Python bindings live in `citrate-py`.

pub mod ghostdag;
