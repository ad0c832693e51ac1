//! The node core's error type. Each variant maps to one Python exception in `citrate-py`.

/// Errors of the node core. Messages follow geth's wording where geth has one, so that Ethereum
/// clients (ethers, viem, web3.py) recognise them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The pool refused a raw transaction (`TransactionRejected`).
    #[error("{0}")]
    Rejected(String),
    /// A call or estimate reverted (`ExecutionReverted`): `"execution reverted[: reason]"`.
    #[error("{message}")]
    Reverted {
        /// `"execution reverted"` or `"execution reverted: <reason>"`.
        message: String,
        /// The raw revert data.
        data: Vec<u8>,
    },
    /// A call or estimate failed without a revert (`CallError`).
    #[error("{0}")]
    Call(String),
    /// A block number or hash the node does not have (`BlockNotFound`).
    #[error("{0}")]
    BlockNotFound(String),
    /// The on-disk store failed or does not match (`StoreError`).
    #[error("{0}")]
    Store(String),
    /// An argument has a bad length or range (`CitrateValueError`).
    #[error("{0}")]
    InvalidArgument(String),
    /// A genesis call of `build_genesis` reverted, halted or was invalid (`GenesisError`).
    #[error("{message}")]
    Genesis {
        /// What went wrong, naming the call's index and target.
        message: String,
        /// Index of the failed call in the list given.
        index: u64,
        /// The revert data (empty unless the call reverted).
        data: Vec<u8>,
    },
    /// Any other failure of the node core (`ChainError`).
    #[error("{0}")]
    Chain(String),
}

/// Result alias of the node core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `BlockNotFound("header not found")`, geth's message for an unknown block.
    pub fn header_not_found() -> Self {
        Error::BlockNotFound("header not found".into())
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        Error::Store(format!("chain store: {e}"))
    }
}

macro_rules! redb_err {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Store(format!("chain store: {e}"))
            }
        }
    )*};
}
redb_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<alloy_rlp::Error> for Error {
    fn from(e: alloy_rlp::Error) -> Self {
        Error::Store(format!("chain store: corrupt record: {e}"))
    }
}
