//! Citrate node core: GhostDAG consensus, EVM execution (revm), the mempool and block batcher, and
//! the crash-safe chain store. Pure Rust; the Python bindings live in `citrate-py`.

pub mod chain;
pub mod error;
pub mod exec;
pub mod genesis;
pub mod ghostdag;
pub mod json;
pub mod pool;
pub mod state;
pub mod store;
pub mod tx;

pub use chain::{Chain, ChainConfig, DagBlock, DagStats, MinedBlock, MinedRound, TxStatus};
pub use error::{Error, Result};
pub use exec::CallRequest;
pub use genesis::{build_genesis, GenesisAccount, GenesisCall};
