"""The running devnet: the Rust chain, its block producer, filters and subscriptions.

All chain writes (mining, rewinds, state edits) go through one asyncio lock, run in a worker
thread (the Rust core releases the GIL), and are durable before anyone is told about them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from citrate_node import _native
from citrate_node.config import DevnetConfig, producer_coinbases
from citrate_node.errors import SERVER_ERROR, RpcError
from citrate_node.params import BlockRef, LogFilter

log = logging.getLogger("citrate.node")

FILTER_TIMEOUT_S = 300.0  # geth: filters not polled for 5 minutes are removed
MAX_FILTER_QUEUE = 10_000
MAX_FILTERS = 1_000  # installed filters (geth has no cap; they expire after 5 minutes unpolled)
MAX_SUBSCRIPTIONS = 1_000  # across all WebSocket connections
PRODUCER_RETRY_S = 1.0


@dataclass(slots=True)
class _Filter:
    kind: str  # "logs" | "blocks" | "pending"
    spec: LogFilter | None = None
    next_block: int = 0
    queue: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_FILTER_QUEUE))
    last_poll: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Subscription:
    """One eth_subscribe subscription of a WebSocket connection."""

    id: str
    kind: str  # "newHeads" | "logs" | "newPendingTransactions"
    send: Callable[[dict[str, Any]], None]
    spec: LogFilter | None = None


class Node:
    """A devnet node: chain, producer loop, filters, snapshots and subscriptions."""

    def __init__(self, config: DevnetConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.chain = _native.Chain(
            config.data_dir,
            chain_id=config.chain_id,
            k=config.k,
            max_parents=config.max_parents,
            block_gas_limit=config.block_gas_limit,
            initial_base_fee=config.initial_base_fee,
            genesis_alloc=config.genesis_alloc(),
            genesis_timestamp=config.genesis_timestamp,
        )
        self.coinbases = producer_coinbases(config.producers)
        self.system_contracts = config.system_contracts_map()
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self._snapshots: dict[int, tuple[int, int, int]] = {}  # id: (head, time offset, edits)
        # State edits made while a snapshot exists: (head, kind, address, slot, previous value).
        self._edits: list[tuple[int, str, bytes, bytes | None, Any]] = []
        self._next_snapshot = 0
        self._filters: dict[str, _Filter] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._write_lock = asyncio.Lock()
        self._tx_arrived = asyncio.Event()
        self._producer: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._producer is None:
            self._producer = asyncio.get_running_loop().create_task(
                self._produce(), name="citrate-producer"
            )

    async def close(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
            self._producer = None
        async with self._write_lock:
            if not self._closed:
                self._closed = True
                self.chain.close()

    async def _produce(self) -> None:
        """Mine forever. A failed round is logged and retried after a pause: the producer never
        dies quietly while the RPC keeps answering."""
        while True:
            try:
                await self._produce_until_error()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("block production failed; retrying in %.0f s", PRODUCER_RETRY_S)
                await asyncio.sleep(PRODUCER_RETRY_S)

    async def _produce_until_error(self) -> None:
        block_time = self.config.block_time
        if block_time > 0:
            next_tick = time.monotonic() + block_time
            while True:
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
                next_tick = max(next_tick + block_time, time.monotonic())
                await self.mine()
        while True:
            await self._tx_arrived.wait()
            self._tx_arrived.clear()
            # Mine while the pool has executable transactions (queued, nonce-gapped ones wait
            # for their gap to close); a round that includes nothing (no transaction pays the
            # base fee) ends the burst.
            while self.chain.pool_pending_len():
                mined = await self.mine()
                if not mined["skipped"] and not any(b["tx_hashes"] for b in mined["blocks"]):
                    break

    # -- writes --------------------------------------------------------------------------------

    def peek_timestamp(self) -> int:
        """The timestamp the next block would get (for the `pending` block)."""
        if self.next_timestamp is not None:
            return self.next_timestamp
        return int(time.time()) + self.time_offset

    def _timestamp(self) -> int:
        if self.next_timestamp is not None:
            ts, self.next_timestamp = self.next_timestamp, None
            return ts
        return int(time.time()) + self.time_offset

    async def mine(
        self, timestamp: int | None = None, tx_sets: list[list[bytes]] | None = None
    ) -> _native.MinedRound:
        async with self._write_lock:
            ts = self._timestamp() if timestamp is None else timestamp
            if tx_sets is None:
                mined = await asyncio.to_thread(
                    self.chain.mine, self.config.producers, self.coinbases, ts
                )
            else:
                mined = await asyncio.to_thread(
                    self.chain.mine_transactions, tx_sets, self.coinbases, ts
                )
        for tx_hash, reason in mined["skipped"]:
            log.warning("skipped transaction 0x%s: %s", tx_hash.hex(), reason)
        self._publish_blocks(mined)
        return mined

    def send_raw_transaction(self, raw: bytes) -> bytes:
        tx_hash = self.chain.send_raw_transaction(raw)
        self._publish_pending(tx_hash)
        self._tx_arrived.set()
        return tx_hash

    def snapshot(self) -> int:
        snap = self._next_snapshot
        self._next_snapshot += 1
        self._snapshots[snap] = (self.chain.head_number, self.time_offset, len(self._edits))
        return snap

    async def revert(self, snap: int) -> bool:
        """Back to a snapshot: blocks mined since are dropped, and so are state edits
        (anvil_set*) made since, including those written at the snapshot's own head block."""
        target = self._snapshots.get(snap)
        if target is None:
            return False
        number, offset, edits = target
        async with self._write_lock:
            await asyncio.to_thread(self.chain.rewind, number)
            for head, kind, address, slot, previous in reversed(self._edits[edits:]):
                if head <= number:  # later ones went with their blocks
                    await asyncio.to_thread(self._apply_edit, kind, address, slot, previous)
            del self._edits[edits:]
        self.time_offset = offset
        for key in [k for k in self._snapshots if k >= snap]:
            del self._snapshots[key]
        head = self.chain.head_number
        for flt in self._filters.values():
            flt.next_block = min(flt.next_block, head + 1)
            if flt.kind == "blocks":  # forget blocks that no longer exist
                exists = self.chain.block_number
                kept = [h for h in flt.queue if exists(bytes.fromhex(h[2:])) is not None]
                flt.queue.clear()
                flt.queue.extend(kept)
        return True

    def _apply_edit(self, kind: str, address: bytes, slot: bytes | None, value: Any) -> None:
        if kind == "balance":
            self.chain.set_balance(address, value)
        elif kind == "nonce":
            self.chain.set_nonce(address, value)
        elif kind == "code":
            self.chain.set_code(address, value)
        else:
            assert slot is not None
            self.chain.set_storage_at(address, slot, value)

    def _current(self, kind: str, address: bytes, slot: bytes | None) -> Any:
        head = self.chain.head_number
        if kind == "balance":
            return self.chain.balance(address, head)
        if kind == "nonce":
            return self.chain.nonce(address, head)
        if kind == "code":
            return self.chain.code(address, head)
        assert slot is not None
        return self.chain.storage_at(address, slot, head)

    async def set_state(
        self, kind: str, address: bytes, value: Any, slot: bytes | None = None
    ) -> None:
        """anvil_setBalance/Nonce/Code/StorageAt, undone by evm_revert to an earlier snapshot."""
        async with self._write_lock:
            if self._snapshots:
                previous = self._current(kind, address, slot)
                self._edits.append((self.chain.head_number, kind, address, slot, previous))
            await asyncio.to_thread(self._apply_edit, kind, address, slot, value)

    # -- reads ---------------------------------------------------------------------------------

    def resolve_state_block(self, ref: BlockRef) -> int:
        """A block for a state query; a block the node does not have is an error."""
        head = self.chain.head_number
        if ref.hash is not None:
            number = self.chain.block_number(ref.hash)
            if number is None:
                raise RpcError(SERVER_ERROR, f"header for hash 0x{ref.hash.hex()} not found")
            return number
        if ref.tag is not None:
            return 0 if ref.tag == "earliest" else head
        assert ref.number is not None
        if ref.number > head:
            raise RpcError(
                SERVER_ERROR,
                f"header not found: block {ref.number} is beyond the head block {head}",
            )
        return ref.number

    def resolve_block(self, ref: BlockRef) -> int | None:
        """A block to fetch; None when the node does not have it (the RPC answers null)."""
        if ref.hash is not None:
            return self.chain.block_number(ref.hash)
        if ref.tag is not None:
            return 0 if ref.tag == "earliest" else self.chain.head_number
        assert ref.number is not None
        return ref.number if ref.number <= self.chain.head_number else None

    def log_range(self, spec: LogFilter) -> tuple[int, int] | None:
        """The inclusive block range of a log filter, or None if it selects nothing."""
        if spec.block_hash is not None:
            number = self.chain.block_number(spec.block_hash)
            if number is None:
                raise RpcError(SERVER_ERROR, f"unknown block 0x{spec.block_hash.hex()}")
            return number, number
        head = self.chain.head_number
        lo = self.resolve_block(spec.from_block)
        hi = self.resolve_block(spec.to_block)
        if spec.from_block.number is not None and lo is None:
            return None  # starts beyond the head: nothing yet
        lo = 0 if lo is None else lo
        hi = head if hi is None else hi
        if lo > hi:
            if spec.to_block.number is not None or spec.from_block.number is not None:
                raise RpcError(
                    -32602, f"invalid block range params: fromBlock {lo} is after toBlock {hi}"
                )
            return None
        return lo, hi

    def logs(self, spec: LogFilter, lo: int, hi: int) -> str:
        return self.chain.logs(lo, hi, spec.addresses, spec.topics)

    # -- filters (HTTP polling) ----------------------------------------------------------------

    def _new_id(self) -> str:
        return "0x" + secrets.token_hex(16)

    def _expire_filters(self) -> None:
        now = time.monotonic()
        for key in [k for k, f in self._filters.items() if now - f.last_poll > FILTER_TIMEOUT_S]:
            del self._filters[key]

    def new_filter(self, kind: str, spec: LogFilter | None = None) -> str:
        self._expire_filters()
        if len(self._filters) >= MAX_FILTERS:
            raise RpcError(
                SERVER_ERROR,
                f"too many filters ({MAX_FILTERS}): uninstall some with eth_uninstallFilter",
            )
        flt = _Filter(kind, spec, next_block=self.chain.head_number + 1)
        key = self._new_id()
        self._filters[key] = flt
        return key

    def uninstall_filter(self, key: str) -> bool:
        return self._filters.pop(key, None) is not None

    def _filter(self, key: str) -> _Filter:
        flt = self._filters.get(key)
        if flt is None:
            raise RpcError(SERVER_ERROR, "filter not found")
        flt.last_poll = time.monotonic()
        return flt

    def filter_changes(self, key: str) -> Any:
        flt = self._filter(key)
        if flt.kind != "logs":
            out = list(flt.queue)
            flt.queue.clear()
            return out
        spec = flt.spec
        assert spec is not None
        head = self.chain.head_number
        # Logs of the blocks mined since the last poll; only numeric bounds narrow that
        # ("latest"/"pending" bounds move with the head, as in geth).
        lo, hi = flt.next_block, head
        flt.next_block = head + 1
        if spec.from_block.number is not None:
            lo = max(lo, spec.from_block.number)
        if spec.to_block.number is not None:
            hi = min(hi, spec.to_block.number)
        elif spec.to_block.tag == "earliest":
            hi = 0
        if lo > hi:
            return []
        return orjson.Fragment(self.logs(spec, lo, hi))

    def filter_logs(self, key: str) -> Any:
        flt = self._filter(key)
        if flt.kind != "logs" or flt.spec is None:
            raise RpcError(SERVER_ERROR, "filter not found: eth_getFilterLogs needs a log filter")
        rng = self.log_range(flt.spec)
        if rng is None:
            return []
        return orjson.Fragment(self.logs(flt.spec, *rng))

    # -- subscriptions (WebSocket) -------------------------------------------------------------

    def subscribe(
        self, kind: str, send: Callable[[dict[str, Any]], None], spec: LogFilter | None = None
    ) -> str:
        if len(self._subscriptions) >= MAX_SUBSCRIPTIONS:
            raise RpcError(
                SERVER_ERROR,
                f"too many subscriptions ({MAX_SUBSCRIPTIONS}): eth_unsubscribe some first",
            )
        key = self._new_id()
        self._subscriptions[key] = Subscription(key, kind, send, spec)
        return key

    def unsubscribe(self, key: str) -> bool:
        return self._subscriptions.pop(key, None) is not None

    def drop_subscriptions(self, send: Callable[[dict[str, Any]], None]) -> None:
        for key in [k for k, s in self._subscriptions.items() if s.send is send]:
            del self._subscriptions[key]

    def _notify(self, sub: Subscription, result: Any) -> None:
        sub.send(
            {
                "jsonrpc": "2.0",
                "method": "eth_subscription",
                "params": {"subscription": sub.id, "result": result},
            }
        )

    def _publish_pending(self, tx_hash: bytes) -> None:
        text = "0x" + tx_hash.hex()
        for flt in self._filters.values():
            if flt.kind == "pending":
                flt.queue.append(text)
        for sub in list(self._subscriptions.values()):
            if sub.kind == "newPendingTransactions":
                self._notify(sub, text)

    def _publish_blocks(self, mined: _native.MinedRound) -> None:
        blocks = sorted(mined["blocks"], key=lambda b: b["number"])
        for flt in self._filters.values():
            if flt.kind == "blocks":
                flt.queue.extend("0x" + b["hash"].hex() for b in blocks)
        subs = list(self._subscriptions.values())
        if not subs or not blocks:
            return
        heads = [s for s in subs if s.kind == "newHeads"]
        log_subs = [s for s in subs if s.kind == "logs"]
        for block in blocks:
            if heads:
                text = self.chain.block_by_number(block["number"], False)
                if text is None:
                    continue
                header = orjson.loads(text)
                header.pop("transactions", None)
                header.pop("uncles", None)
                for sub in heads:
                    self._notify(sub, header)
            if log_subs and block["tx_hashes"]:
                for sub in log_subs:
                    assert sub.spec is not None
                    entries = orjson.loads(
                        self.chain.logs(
                            block["number"], block["number"], sub.spec.addresses, sub.spec.topics
                        )
                    )
                    for entry in entries:
                        self._notify(sub, entry)
