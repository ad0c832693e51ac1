# Hand-written stubs for the Rust extension `citrate_native._core` (citrate-py/src/lib.rs).
# Checked by `python -m mypy.stubtest citrate_native._core`; keep both in step.
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Literal, TypeAlias, TypedDict, final, type_check_only

# `_mnemonic_to_seed` is internal (kept out of `citrate_native.__all__`), but it is a name the
# extension module exports, and stubtest checks this list against the module.
__all__ = [
    "CallRequest",
    "Chain",
    "GhostDag",
    "GhostDagData",
    "HdWallet",
    "PrivateKey",
    "Scheduler",
    "__version__",
    "_mnemonic_to_seed",
    "build_genesis",
    "english_wordlist",
    "generate_mnemonic",
    "keccak256",
    "mnemonic_from_entropy",
    "to_checksum_address",
    "validate_mnemonic",
]

__version__: str

def generate_mnemonic(word_count: int = 12) -> str: ...
def mnemonic_from_entropy(entropy: bytes) -> str: ...
def validate_mnemonic(phrase: str) -> str: ...
def _mnemonic_to_seed(phrase: str, passphrase: str = "") -> bytes:
    """Internal: the 64-byte BIP39 seed (key material); not in ``__all__``.

    Only for the vector tests, the vault's password-gated export and the legacy-migration and
    benchmark code in citrate_crypto.
    """

def english_wordlist() -> list[str]: ...
def keccak256(data: bytes) -> bytes: ...
def to_checksum_address(address: str) -> str: ...

@final
class HdWallet:
    @staticmethod
    def from_mnemonic(phrase: str, passphrase: str = "") -> HdWallet: ...
    @staticmethod
    def from_seed(seed: bytes) -> HdWallet: ...
    def address(self, index: int, account: int = 0) -> str: ...
    def addresses(self, count: int, start: int = 0, account: int = 0) -> list[str]: ...
    def key(self, index: int, account: int = 0) -> PrivateKey: ...
    def key_at(self, path: str) -> PrivateKey: ...
    def extended_public_key(self, path: str) -> str: ...
    def _extended_private_key(self, path: str) -> str:
        """Internal: the ``xprv`` key at ``path`` (key material).

        Only for the vector tests, the vault's password-gated export and the legacy-migration
        and benchmark code in citrate_crypto.
        """

@final
class PrivateKey:
    @staticmethod
    def from_bytes(secret: bytes) -> PrivateKey: ...
    @property
    def address(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    def sign_hash(self, digest: bytes) -> bytes: ...
    def _secret_bytes(self) -> bytes:
        """Internal: the 32-byte secret (key material).

        Only for the vector tests, the vault's password-gated export and the legacy-migration
        and benchmark code in citrate_crypto.
        """
    def encrypt_keystore(
        self,
        password: str,
        kdf: str = "scrypt",
        *,
        iterations: int = 262144,
        scrypt_n: int = 262144,
        scrypt_r: int = 8,
        scrypt_p: int = 1,
    ) -> str: ...
    @staticmethod
    def from_keystore(keystore_json: str, password: str) -> PrivateKey: ...

# --- Node core (citrate-chain) -------------------------------------------------------------------
#
# Hashes and addresses are `bytes` (32 and 20 long); amounts are non-negative `int`s < 2**256
# (a bad length or range raises CitrateValueError). JSON-RPC objects (blocks, transactions,
# receipts, logs) come back as JSON text in the exact shape geth/anvil return (hex quantities,
# camelCase keys), so the RPC server only parses and forwards them.

@final
class GhostDagData:
    """GhostDAG data of one block, a snapshot (Kaspa's conventions: every block carries work 1,
    so ``blue_work == blue_score``; ties go to the higher hash)."""

    @property
    def hash(self) -> bytes: ...
    @property
    def blue_score(self) -> int:
        """Number of blue blocks in the block's past (0 for the genesis)."""
    @property
    def blue_work(self) -> int:
        """Work of the blue past; equals ``blue_score`` (work 1 per block)."""
    @property
    def selected_parent(self) -> bytes | None:
        """The parent with the greatest (blue work, hash); None only for the genesis block."""
    @property
    def mergeset_blues(self) -> list[bytes]:
        """The blue part of the mergeset in GhostDAG order, selected parent first (empty for
        the genesis)."""
    @property
    def mergeset_reds(self) -> list[bytes]:
        """The red part of the mergeset in GhostDAG order (ascending blue work, hash)."""

@final
class GhostDag:
    """GhostDAG over 32-byte block hashes (k is the anticone-size bound). Thread-safe.

    Hashes are ``bytes`` of length 32; another length raises GhostDagError. A refused block
    leaves the DAG unchanged.
    """

    # `__new__`, not `__init__`: PyO3 builds the object in `#[new]` (stubtest checks this).
    def __new__(cls, k: int, genesis_hash: bytes, max_parents: int = 10) -> GhostDag:
        """GhostDagError unless ``0 <= k <= 65535`` and ``1 <= max_parents < 2**32``."""
    @property
    def k(self) -> int: ...
    @property
    def genesis_hash(self) -> bytes: ...
    @property
    def max_parents(self) -> int: ...
    def add_block(self, hash: bytes, parents: Sequence[bytes]) -> GhostDagData:
        """Add a block whose parents are all known; GhostDagError on a duplicate, unknown or
        repeated parent, no parents, or more than ``max_parents``."""
    def get(self, hash: bytes) -> GhostDagData | None: ...
    def __len__(self) -> int:
        """The number of blocks, genesis included."""
    def __contains__(self, hash: object, /) -> bool:
        """False for anything but 32 ``bytes`` of a block in the DAG."""
    def tips(self) -> list[bytes]:
        """Blocks without children, in ascending (blue work, hash) order."""
    def ordered_mergeset(self, hash: bytes) -> list[bytes]:
        """The block's mergeset in consensus order: selected parent first, then the other
        members by ascending (blue work, hash); empty for the genesis. GhostDagError for an
        unknown block."""
    def total_order(self) -> list[bytes]:
        """Every block once, in the order a virtual block over all tips gives (Kaspa's): the
        ordered mergesets of the virtual's selected chain from the genesis up, then the
        virtual's own, i.e. ``G, M(C1), C1, ..., M(Cn), Cn, M(virtual)`` where ``M(B)`` is the
        ordered mergeset of B without its selected parent. Parents always come first."""

@final
class CallRequest:
    """The transaction-shaped argument of `Chain.call`, `estimate_gas`, `create_access_list`.

    Defaults like geth/anvil: ``from_`` None = the zero address; ``gas`` None = the block gas
    limit (estimate: the allowance); no fee field = price 0 without a base-fee floor and without
    a balance check for fees; ``value`` None = 0; ``nonce`` None = the sender's (never checked).
    Fee fields decide the type: ``max_fee_per_gas``/``max_priority_fee_per_gas`` -> EIP-1559,
    else ``access_list`` -> EIP-2930, else legacy. Addresses must be 20 bytes and storage keys 32
    (CitrateValueError).
    """

    def __new__(
        cls,
        *,
        from_: bytes | None = None,
        to: bytes | None = None,
        gas: int | None = None,
        gas_price: int | None = None,
        max_fee_per_gas: int | None = None,
        max_priority_fee_per_gas: int | None = None,
        value: int | None = None,
        data: bytes = ...,
        nonce: int | None = None,
        access_list: Sequence[tuple[bytes, Sequence[bytes]]] | None = None,
    ) -> CallRequest: ...

@type_check_only
class MinedBlock(TypedDict):
    hash: bytes
    number: int
    blue_score: int
    tx_hashes: list[bytes]

@type_check_only
class MinedRound(TypedDict):
    blocks: list[MinedBlock]  # in total order
    skipped: list[tuple[bytes, str]]  # (tx hash, reason), e.g. "nonce too low: ..."

@type_check_only
class TxStatus(TypedDict, total=False):
    status: Literal["pending", "queued", "mined", "skipped", "unknown"]
    blockHash: bytes
    blockNumber: int
    blueScore: int
    reason: str

@type_check_only
class DagStats(TypedDict):
    blocks: int
    tips: list[bytes]
    blue_count: int
    red_count: int
    max_blue_score: int
    k: int
    max_parents: int

@type_check_only
class DagBlock(TypedDict):
    hash: bytes
    number: int
    parents: list[bytes]  # selected parent first
    selected_parent: bytes | None
    blue_score: int
    blue_work: int
    is_blue: bool
    timestamp: int
    tx_count: int

# Type aliases are private (stub-only names, which stubtest would report as missing at runtime).
# A genesis account: ``(address, balance)``, or ``(address, balance, nonce, code, {slot: value})``
# for one with code, storage or a nonce. Addresses are 20 bytes; balances, nonces, slots and
# values are ints (slots and values below 2**256); code is the runtime code, stored like a
# deployed contract's. Plain ``(address, balance)`` entries for one address are summed; an
# account with code, storage or a nonce must be listed once (CitrateValueError).
_GenesisAccount: TypeAlias = tuple[bytes, int] | tuple[bytes, int, int, bytes, Mapping[int, int]]
# The form `build_genesis` returns (always the 5-tuple, storage without zero values).
_BuiltGenesisAccount: TypeAlias = tuple[bytes, int, int, bytes, dict[int, int]]
# A `build_genesis` call: ``(from, to, data, value)``; ``to=None`` creates a contract.
_GenesisCall: TypeAlias = tuple[bytes, bytes | None, bytes, int]

def build_genesis(
    chain_id: int,
    alloc: Sequence[_GenesisAccount],
    calls: Sequence[_GenesisCall],
    timestamp: int,
    gas_limit: int,
) -> list[_BuiltGenesisAccount]:
    """Run ``calls`` in order on a state seeded with ``alloc`` and return every resulting
    non-empty account, sorted by address: the alloc with the calls' contracts predeployed,
    ready to pass as ``Chain(..., genesis_alloc=...)``.

    Each call runs like a transaction of block 0 (the blocks' hard fork, ``timestamp``, base
    fee and gas price 0 so no fee is charged) with ``gas_limit`` gas; EIP-170's code size limit
    applies, and the sender's nonce is used and incremented, so a creation deploys at the
    standard ``keccak256(rlp([from, nonce]))[12:]``.

    GenesisError (``index``, ``data``) when a call reverts, halts or is invalid; nothing is
    returned. CitrateValueError for a bad alloc (duplicate account with code, bad lengths)."""

@final
class Chain:
    """The node core: a GhostDAG block DAG whose total order runs in revm, stored in one redb
    file under ``data_dir``. Thread-safe; every method releases the GIL while it works."""

    def __new__(
        cls,
        data_dir: str | PathLike[str],
        *,
        chain_id: int = 1337,
        k: int = 18,
        max_parents: int = 10,
        block_gas_limit: int = 30_000_000,
        initial_base_fee: int = 1_000_000_000,
        genesis_alloc: Sequence[_GenesisAccount] = ...,
        genesis_timestamp: int | None = None,
    ) -> Chain:
        """Open the chain in ``data_dir``, creating it with this genesis on first use.

        ``genesis_alloc`` accounts (see `_GenesisAccount`, e.g. from `build_genesis`) are written
        into block 0 with their code, storage and nonce, and the genesis commits to all of them.

        ``genesis_timestamp=None`` takes the clock when the chain is created and the stored
        genesis's timestamp when it is reopened.

        StoreError when the directory holds a different chain (chain id, k or genesis), is open
        in another process, or is unreadable."""
    def close(self) -> None:
        """Flush and release the store; later calls raise StoreError."""
    @property
    def chain_id(self) -> int: ...
    @property
    def k(self) -> int: ...
    @property
    def max_parents(self) -> int: ...
    @property
    def block_gas_limit(self) -> int: ...
    @property
    def head_number(self) -> int: ...
    @property
    def genesis_hash(self) -> bytes: ...
    def block_hash(self, number: int) -> bytes | None: ...
    def block_number(self, hash: bytes) -> int | None: ...
    def block_timestamp(self, number: int) -> int | None: ...
    def next_base_fee(self) -> int:
        """Base fee of the next block (EIP-1559 from the head)."""
    # -- transaction pool ---------------------------------------------------------------------
    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Decode, verify and pool a signed transaction; return its hash.

        TransactionRejected with geth's message otherwise (invalid sender, chain id, nonce too
        low, insufficient funds, intrinsic gas too low, exceeds block gas limit, fee cap below
        base fee, replacement underpriced, already known, unsupported type, ...)."""
    def pending_nonce(self, address: bytes) -> int: ...
    def pool_len(self) -> int: ...
    def pool_pending_len(self) -> int:
        """Pooled transactions executable now (queued, nonce-gapped ones excluded)."""
    def pool_snapshot(self) -> str:
        """JSON {"pending": [tx...], "queued": [tx...]} (transaction objects, block fields null)."""
    # -- block production ---------------------------------------------------------------------
    def mine(
        self, producers: int = 1, coinbases: Sequence[bytes] = ..., timestamp: int | None = None
    ) -> MinedRound:
        """One round: ``producers`` parallel blocks on the current tips, filled by the batcher
        (disjoint transaction sets), ordered by GhostDAG, executed, and committed durably
        before returning. Producer i is paid its priority fees at ``coinbases[i]`` (the zero
        address when missing). ``1 <= producers <= max_parents`` (else CitrateValueError), so
        that every block of a round references all tips and numbered blocks never reorder.
        The block timestamp is max(``timestamp`` or now, head timestamp): never backwards."""
    def mine_transactions(
        self,
        tx_sets: Sequence[Sequence[bytes]],
        coinbases: Sequence[bytes] = ...,
        timestamp: int | None = None,
    ) -> MinedRound:
        """Like `mine`, but block i carries exactly the raw signed transactions ``tx_sets[i]``
        (pooled or not). Invalid ones at their turn in the total order are skipped, not
        half-applied; bytes that do not decode as a signed transaction refuse the whole round
        (TransactionRejected) before anything is written."""
    def rewind(self, number: int) -> None:
        """Drop every block after ``number`` and its state; clears the pool. State edits
        (`set_balance` & co.) written at block ``number`` itself stay: the node's evm_revert
        undoes those from its own log.

        BlockNotFound if ``number`` is above the head."""
    def set_balance(self, address: bytes, wei: int) -> None:
        """Set state at the head block, durably (anvil_setBalance & co.; also the next three).

        The head block's ``stateRoot`` is not rewritten."""
    def set_code(self, address: bytes, code: bytes) -> None: ...
    def set_nonce(self, address: bytes, nonce: int) -> None: ...
    def set_storage_at(self, address: bytes, slot: bytes, value: bytes) -> None: ...
    # -- state at a block number --------------------------------------------------------------
    def balance(self, address: bytes, block: int) -> int: ...
    def nonce(self, address: bytes, block: int) -> int: ...
    def code(self, address: bytes, block: int) -> bytes: ...
    def storage_at(self, address: bytes, slot: bytes, block: int) -> bytes:
        """The 32-byte word at ``slot`` (32 bytes)."""
    def call(self, request: CallRequest, block: int) -> bytes:
        """Run in revm without committing; return the output. ExecutionReverted (with data) on
        revert, CallError on other failures, BlockNotFound for an unknown block. Gas is the
        request's (else the block gas limit), capped at 50M or the block gas limit if higher
        (geth's RPC gas cap), for `estimate_gas` and `create_access_list` too."""
    def estimate_gas(self, request: CallRequest, block: int) -> int: ...
    def create_access_list(
        self, request: CallRequest, block: int
    ) -> tuple[list[tuple[bytes, list[bytes]]], int]: ...
    # -- chain data (JSON text in eth_* shapes) -----------------------------------------------
    def block_by_number(self, number: int, full_transactions: bool) -> str | None: ...
    def block_by_hash(self, hash: bytes, full_transactions: bool) -> str | None: ...
    def transaction(self, hash: bytes) -> str | None:
        """Mined or pooled (block fields null) transaction object."""
    def transaction_by_block_and_index(self, number: int, index: int) -> str | None: ...
    def receipt(self, hash: bytes) -> str | None: ...
    def block_receipts(self, number: int) -> str | None: ...
    def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[bytes],
        topics: Sequence[Sequence[bytes] | None],
    ) -> str:
        """JSON array of log objects in [from_block, to_block] (inclusive)."""
    def fee_history(self, block_count: int, newest_block: int, percentiles: Sequence[float]) -> str:
        """JSON object in eth_feeHistory's shape."""
    def transaction_status(self, hash: bytes) -> TxStatus: ...
    def transactions_by_address(
        self, address: bytes, limit: int, cursor: int | None = None
    ) -> tuple[str, int | None]:
        """(JSON array of mined transactions sent or received by ``address``, newest first; the
        opaque cursor for the next page, or None on the last page). ``1 <= limit <= 10000``."""
    def dag_stats(self) -> DagStats:
        """Counts over the whole DAG: each block is coloured by the chain block (or, for the
        newest blocks, the virtual block over all tips) whose mergeset holds it."""
    def block_dag(self, from_block: int, to_block: int) -> list[DagBlock]:
        """DAG data of blocks ``from_block..=to_block`` (clamped to the head)."""

# --- Compute scheduler (citrate-compute) ---------------------------------------------------------
#
# Memory in bytes (< 2**64), prices in wei (< 2**128), latencies in ms (< 2**32). Every error is a
# subclass of citrate_native.errors.SchedulerError (a CitrateValueError) with the same message as
# the pure-Python reference citrate_compute.scheduler_ref; a value of the wrong type is a
# TypeError naming the argument. A refused call changes nothing.

@final
class Scheduler:
    """Admission, the job queue and the memory ledger of one provider. Thread-safe.

    Each node lends ``share = total_memory * allocation_percent // 100`` bytes; its ledger keeps
    ``reserved`` (memory of its running jobs) and ``free = max(0, share - reserved)``. Errors
    come in this order: argument errors (InvalidSchedulerArgument, in signature order), then
    unknown or duplicate ids, then admission (NoCapableNode, JobTooLarge).
    """

    def __new__(cls) -> Scheduler: ...
    def add_node(
        self,
        node_id: str,
        *,
        total_memory: int,
        allocation_percent: int,
        max_jobs: int,
        job_types: int,
        price: int = 0,
        latency_ms: int = 0,
        reputation: int = 5000,
    ) -> None:
        """Add a node. ``0 <= allocation_percent <= 100``, ``max_jobs >= 1``, ``job_types`` a
        bit mask of job types (1 inference, 2 embedding, 4 training, 8 lora, 16 image; 1 to 31),
        ``reputation`` in basis points (0 to 10000). DuplicateNode for a known id."""
    def set_allocation(self, node_id: str, percent: int) -> None:
        """Change a node's allocation (0 to 100). Lowering it below the reserved memory is
        allowed: running jobs keep their memory and ``free`` is 0 until enough of them end."""
    def set_paused(self, node_id: str, paused: bool) -> None:
        """Hold back (or allow again) new placements on a node (thermal or power limit);
        running jobs are not touched."""
    def set_reputation(self, node_id: str, reputation: int) -> None: ...
    def submit(
        self,
        job_id: str,
        *,
        job_type: int,
        memory: int,
        max_price: int,
        priority: int = 0,
        max_latency_ms: int = 0,
    ) -> None:
        """Admit a job into the queue. ``0 <= job_type <= 4``, ``max_price >= 1``, ``priority``
        a 32-bit signed int (higher first), ``max_latency_ms`` 0 for no limit. DuplicateJob if
        the id is queued or running; NoCapableNode if no node serves the type; JobTooLarge if
        ``memory`` exceeds the largest share of a node serving the type (paused or not)."""
    def submit_many(self, jobs: Sequence[tuple[str, int, int, int, int, int]]) -> None:
        """Admit a list (or tuple) of ``(job_id, job_type, memory, max_price, priority,
        max_latency_ms)`` jobs, all or nothing: every item's arguments are checked first, then
        every item against the scheduler and the items before it; the first error (its message
        starts with ``batch item <index>:``) is raised and nothing is queued."""
    def schedule(self) -> list[tuple[str, str]]:
        """Place what can be placed now; the placements made, as (job_id, node_id), in order.

        Jobs are visited by priority (descending), then submission order; each goes to its
        feasible node (not paused, serves the type, fewer than max_jobs running, enough free
        memory, price <= max_price, latency within the job's limit) with the highest score
        ``40 * price + 30 * reputation + 20 * load + 10 * latency`` (each part in basis points,
        ComputeMarket's bid weights); ties go to the lower price, then the earlier node. A job
        that fits nowhere stays queued; later jobs may still be placed."""
    def finish(self, job_id: str) -> None:
        """A running job ended: release its memory and slot. UnknownJob if it is not running."""
    def cancel(self, job_id: str) -> None:
        """Drop a queued job, or release a running one. UnknownJob otherwise."""
    def ledger(self, node_id: str) -> dict[str, int | bool]:
        """``{"total", "share", "reserved", "free", "running", "max_jobs", "paused"}``."""
    def queued(self) -> list[str]:
        """Queued job ids in scheduling order."""
    def running(self, node_id: str | None = None) -> list[str]:
        """Running job ids in placement order, of one node or of all."""
    def job_node(self, job_id: str) -> str | None:
        """The node a job runs on; None while it is queued. UnknownJob if it is neither."""
    def nodes(self) -> list[str]:
        """Node ids in the order they were added."""
    def check(self) -> None:
        """LedgerInconsistent if any node's reserved memory is not the sum of its running
        jobs' memory."""
