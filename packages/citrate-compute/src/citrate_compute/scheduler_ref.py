"""Pure-Python reference of the compute scheduler (``citrate_native.Scheduler``).

Same semantics, error classes and messages as the Rust core (``native/citrate-compute``); the
tests run random operation sequences against both and compare every result. It is written to
be read, and as a fair baseline for the benchmark: plain dataclasses, a sorted list for the
queue, one scan of the open nodes per job.

Order of checks in every call: argument types (``TypeError``) and ranges
(``InvalidSchedulerArgument``) in signature order, then unknown or duplicate ids, then admission
(``NoCapableNode``, ``JobTooLarge``). ``submit_many`` checks every item's arguments before any
item's admission. A refused call changes nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from citrate_compute.scheduler import (
    DuplicateJob,
    DuplicateNode,
    InvalidSchedulerArgument,
    JobTooLarge,
    LedgerInconsistent,
    NoCapableNode,
    SchedulerError,
    UnknownJob,
    UnknownNode,
)

__all__ = ["JOB_TYPE_NAMES", "ReferenceScheduler"]

JOB_TYPE_NAMES: Final = ("inference", "embedding", "training", "lora", "image")
SCALE: Final = 10_000  # each partial score is in basis points

_U32: Final = 2**32 - 1
_U64: Final = 2**64 - 1
_U128: Final = 2**128 - 1
_BOUND_TEXT: Final = {
    _U128: "2**128 - 1",
    _U64: "2**64 - 1",
    _U32: "2**32 - 1",
    2**31 - 1: "2**31 - 1",
    -(2**31): "-2**31",
}


@dataclass(frozen=True)
class _Arg:
    """A checked argument: its name (the keyword), its range, and what to do about a bad value."""

    name: str
    low: int
    high: int
    hint: str

    def invalid(self, value: int) -> str:
        low = _BOUND_TEXT.get(self.low, str(self.low))
        high = _BOUND_TEXT.get(self.high, str(self.high))
        return (
            f"`{self.name}` is `{_int_text(value)}`; it must be an integer from {low} to "
            f"{high}\nhint: {self.hint}"
        )

    def empty(self) -> str:
        return f"`{self.name}` is empty\nhint: {self.hint}"


_ALLOCATION_HINT: Final = (
    "the allocation is the share of the device's memory lent to the network, in percent"
)
NODE_ID: Final = _Arg("node_id", 0, 0, "give every node a unique, non-empty id (e.g. `gpu0`)")
JOB_ID: Final = _Arg(
    "job_id", 0, 0, "give every job a unique, non-empty id (e.g. the market's job id)"
)
TOTAL_MEMORY: Final = _Arg("total_memory", 0, _U64, "pass the device's memory in bytes")
ALLOCATION_PERCENT: Final = _Arg("allocation_percent", 0, 100, _ALLOCATION_HINT)
PERCENT: Final = _Arg("percent", 0, 100, _ALLOCATION_HINT)
MAX_JOBS: Final = _Arg(
    "max_jobs", 1, _U32, "a node runs at least one job; to stop new placements, pause it"
)
JOB_TYPES: Final = _Arg(
    "job_types",
    1,
    2 ** len(JOB_TYPE_NAMES) - 1,
    "job_types is a bit mask of the job types served: 1 inference, 2 embedding, 4 training, "
    "8 lora, 16 image (3 = inference and embedding)",
)
PRICE: Final = _Arg("price", 0, _U128, "pass the node's price per job in wei")
LATENCY_MS: Final = _Arg("latency_ms", 0, _U32, "pass the node's expected latency in milliseconds")
REPUTATION: Final = _Arg(
    "reputation", 0, 10_000, "reputation is in basis points: 0 to 10000 (5000 is neutral)"
)
JOB_TYPE: Final = _Arg(
    "job_type",
    0,
    len(JOB_TYPE_NAMES) - 1,
    "job types are 0 inference, 1 embedding, 2 training, 3 lora, 4 image",
)
MEMORY: Final = _Arg("memory", 0, _U64, "pass the job's declared memory in bytes")
MAX_PRICE: Final = _Arg(
    "max_price", 1, _U128, "pass the most the job pays in wei; it must be positive"
)
PRIORITY: Final = _Arg(
    "priority", -(2**31), 2**31 - 1, "priorities are 32-bit signed integers; higher runs first"
)
MAX_LATENCY_MS: Final = _Arg(
    "max_latency_ms", 0, _U32, "pass a latency limit in milliseconds, or 0 for none"
)


def _int_text(value: int) -> str:
    """An int in a message: its digits up to 256 bits, else only its size (a huge int's `str`
    is slow, and refused by Python above 4300 digits)."""
    bits = value.bit_length()
    if bits <= 256:
        return str(value)
    return f"<{'negative ' if value < 0 else ''}{bits}-bit integer>"


def _prefix(item: int | None) -> str:
    return "" if item is None else f"batch item {item}: "


def _type_error(value: object, name: str, expected: str, item: int | None) -> TypeError:
    return TypeError(f"{_prefix(item)}`{name}` must be {expected}, not `{type(value).__name__}`")


def _int(value: object, arg: _Arg, item: int | None = None) -> int:
    if not isinstance(value, int):
        raise _type_error(value, arg.name, "an int", item)
    if not arg.low <= value <= arg.high:
        raise InvalidSchedulerArgument(_prefix(item) + arg.invalid(value))
    return int(value)  # a bool becomes 0 or 1, as in the Rust core


def _id(value: object, arg: _Arg, item: int | None = None) -> str:
    if not isinstance(value, str):
        raise _type_error(value, arg.name, "a str", item)
    if not value:
        raise InvalidSchedulerArgument(_prefix(item) + arg.empty())
    return value


def _unknown_node(node_id: str) -> UnknownNode:
    return UnknownNode(
        f"there is no node `{node_id}`\nhint: add it with add_node first (nodes() lists them)"
    )


def _unknown_job(job_id: str, *, queued: bool = False) -> UnknownJob:
    if queued:
        return UnknownJob(
            f"job `{job_id}` is queued, not running\nhint: use cancel to drop a queued job"
        )
    return UnknownJob(
        f"there is no queued or running job `{job_id}`\nhint: it may have finished or been "
        "cancelled already (queued() and running() list the current jobs)"
    )


@dataclass(eq=False)
class _Node:
    node_id: str
    total_memory: int
    allocation_percent: int
    max_jobs: int
    job_types: int
    price: int
    latency_ms: int
    reputation: int
    share: int = 0  # total_memory * allocation_percent // 100, kept by set_allocation
    paused: bool = False
    reserved: int = 0
    running: dict[str, None] = field(default_factory=dict)  # job ids in placement order

    def __post_init__(self) -> None:
        self.share = self.total_memory * self.allocation_percent // 100

    @property
    def free(self) -> int:
        return max(0, self.share - self.reserved)

    @property
    def has_slot(self) -> bool:
        return not self.paused and len(self.running) < self.max_jobs


@dataclass(eq=False)
class _Job:
    job_id: str
    job_type: int
    memory: int
    max_price: int
    priority: int
    max_latency_ms: int
    seq: int = 0  # submission number
    node: _Node | None = None  # where it runs; None while queued

    @property
    def sort_key(self) -> tuple[int, int]:
        return (-self.priority, self.seq)


def _fits(node: _Node, job: _Job) -> bool:
    """Whether an open node (not paused, below its job limit) can take the job now."""
    return (
        (node.job_types >> job.job_type) & 1 == 1
        and node.free >= job.memory
        and node.price <= job.max_price
        and (job.max_latency_ms == 0 or node.latency_ms <= job.max_latency_ms)
    )


def _score(node: _Node, job: _Job) -> int:
    """ComputeMarket's bid weights, in integers with floor division."""
    price_score = (job.max_price - node.price) * SCALE // job.max_price
    load_score = (node.max_jobs - len(node.running)) * SCALE // node.max_jobs
    if job.max_latency_ms == 0:
        latency_score = SCALE
    else:
        latency_score = (job.max_latency_ms - node.latency_ms) * SCALE // job.max_latency_ms
    return 40 * price_score + 30 * node.reputation + 20 * load_score + 10 * latency_score


class ReferenceScheduler:
    """The pure-Python scheduler; see :mod:`citrate_compute.scheduler` for the semantics."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}  # in add order
        self._jobs: dict[str, _Job] = {}  # queued and running
        self._queue: list[_Job] = []  # sorted by sort_key
        self._running: dict[str, None] = {}  # every node's running jobs, in placement order
        self._next_seq = 0

    def __repr__(self) -> str:
        return (
            f"ReferenceScheduler(nodes={len(self._nodes)}, queued={len(self._queue)}, "
            f"running={len(self._running)})"
        )

    # -- nodes ---------------------------------------------------------------------------------

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
        node = _Node(
            _id(node_id, NODE_ID),
            _int(total_memory, TOTAL_MEMORY),
            _int(allocation_percent, ALLOCATION_PERCENT),
            _int(max_jobs, MAX_JOBS),
            _int(job_types, JOB_TYPES),
            _int(price, PRICE),
            _int(latency_ms, LATENCY_MS),
            _int(reputation, REPUTATION),
        )
        if node_id in self._nodes:
            raise DuplicateNode(
                f"node `{node_id}` is already added\nhint: node ids are unique; change a node "
                "with set_allocation, set_paused or set_reputation"
            )
        self._nodes[node_id] = node

    def _node(self, node_id: object) -> _Node:
        node = self._nodes.get(_id(node_id, NODE_ID))
        if node is None:
            raise _unknown_node(str(node_id))
        return node

    def set_allocation(self, node_id: str, percent: int) -> None:
        _id(node_id, NODE_ID)
        percent = _int(percent, PERCENT)
        node = self._node(node_id)
        node.allocation_percent = percent
        node.share = node.total_memory * percent // 100

    def set_paused(self, node_id: str, paused: bool) -> None:
        _id(node_id, NODE_ID)
        if not isinstance(paused, bool):
            raise _type_error(paused, "paused", "a bool", None)
        self._node(node_id).paused = paused

    def set_reputation(self, node_id: str, reputation: int) -> None:
        _id(node_id, NODE_ID)
        reputation = _int(reputation, REPUTATION)
        self._node(node_id).reputation = reputation

    # -- admission -----------------------------------------------------------------------------

    def _largest_shares(self) -> list[int | None]:
        """The largest share among the nodes serving each job type (paused or not)."""
        largest: list[int | None] = [None] * len(JOB_TYPE_NAMES)
        for node in self._nodes.values():
            for job_type, current in enumerate(largest):
                if (node.job_types >> job_type) & 1:
                    largest[job_type] = node.share if current is None else max(current, node.share)
        return largest

    def _admission_error(
        self, job: _Job, largest: list[int | None], batch: dict[str, int] | None = None
    ) -> SchedulerError | None:
        """Why `job` cannot be queued (a known id, no node for its type, too large), if so."""
        hint = (
            "hint: job ids are unique among queued and running jobs; "
            "finish or cancel the other job first"
        )
        known = self._jobs.get(job.job_id)
        if known is not None:
            state = "queued" if known.node is None else "running"
            return DuplicateJob(f"job `{job.job_id}` is already {state}\n{hint}")
        if batch is not None and job.job_id in batch:
            return DuplicateJob(
                f"job `{job.job_id}` is already batch item {batch[job.job_id]}\n"
                "hint: list each job once in a batch"
            )
        name = JOB_TYPE_NAMES[job.job_type]
        share = largest[job.job_type]
        if share is None:
            return NoCapableNode(
                f"no node serves {name} jobs (job `{job.job_id}`)\n"
                f"hint: add a node whose job_types include {1 << job.job_type}"
            )
        if job.memory > share:
            return JobTooLarge(
                f"job `{job.job_id}` needs `{job.memory}` bytes but the largest share of a node "
                f"serving {name} jobs is {share} bytes\nhint: lower the job's memory, or raise "
                "a node's allocation (set_allocation)"
            )
        return None

    def _enqueue(self, job: _Job) -> None:
        job.seq = self._next_seq
        self._next_seq += 1
        self._jobs[job.job_id] = job

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
        job = _Job(
            _id(job_id, JOB_ID),
            _int(job_type, JOB_TYPE),
            _int(memory, MEMORY),
            _int(max_price, MAX_PRICE),
            _int(priority, PRIORITY),
            _int(max_latency_ms, MAX_LATENCY_MS),
        )
        error = self._admission_error(job, self._largest_shares())
        if error is not None:
            raise error
        self._enqueue(job)
        bisect.insort(self._queue, job, key=lambda j: j.sort_key)

    @staticmethod
    def _batch_item(item: object, index: int) -> _Job:
        if not isinstance(item, (tuple, list)):
            raise _type_error(
                item,
                "job",
                "a tuple (job_id, job_type, memory, max_price, priority, max_latency_ms)",
                index,
            )
        if len(item) != 6:
            raise InvalidSchedulerArgument(
                f"batch item {index}: a job is a tuple (job_id, job_type, memory, max_price, "
                f"priority, max_latency_ms) of 6 items, got `{len(item)}` items\n"
                "hint: pass one 6-item tuple per job"
            )
        job_id, job_type, memory, max_price, priority, max_latency_ms = item
        return _Job(
            _id(job_id, JOB_ID, index),
            _int(job_type, JOB_TYPE, index),
            _int(memory, MEMORY, index),
            _int(max_price, MAX_PRICE, index),
            _int(priority, PRIORITY, index),
            _int(max_latency_ms, MAX_LATENCY_MS, index),
        )

    def submit_many(self, jobs: Sequence[tuple[str, int, int, int, int, int]]) -> None:
        if not isinstance(jobs, (list, tuple)):
            raise _type_error(jobs, "jobs", "a list of job tuples", None)
        batch = [self._batch_item(item, index) for index, item in enumerate(jobs)]
        largest = self._largest_shares()
        seen: dict[str, int] = {}
        for index, job in enumerate(batch):
            error = self._admission_error(job, largest, seen)
            if error is not None:
                raise type(error)(f"batch item {index}: {error}")
            seen[job.job_id] = index
        for job in batch:
            self._enqueue(job)
        self._queue.extend(batch)
        self._queue.sort(key=lambda j: j.sort_key)

    # -- placement -----------------------------------------------------------------------------

    def schedule(self) -> list[tuple[str, str]]:
        # Nodes that may take a job this round, in add order; a node that fills up leaves.
        open_nodes = [node for node in self._nodes.values() if node.has_slot]
        placements: list[tuple[str, str]] = []
        remaining: list[_Job] = []
        for position, job in enumerate(self._queue):
            if not open_nodes:
                remaining.extend(self._queue[position:])
                break
            feasible = [node for node in open_nodes if _fits(node, job)]
            if not feasible:
                remaining.append(job)
                continue
            # Highest score, then lower price; max() keeps the first (earliest-added) on a tie.
            best = max(feasible, key=lambda node: (_score(node, job), -node.price))
            job.node = best
            best.reserved += job.memory
            best.running[job.job_id] = None
            self._running[job.job_id] = None
            placements.append((job.job_id, best.node_id))
            if not best.has_slot:
                open_nodes.remove(best)
        self._queue = remaining
        return placements

    def _release(self, job: _Job, node: _Node) -> None:
        del self._jobs[job.job_id]
        del self._running[job.job_id]
        del node.running[job.job_id]
        node.reserved -= job.memory

    def finish(self, job_id: str) -> None:
        job = self._jobs.get(_id(job_id, JOB_ID))
        if job is None:
            raise _unknown_job(job_id)
        if job.node is None:
            raise _unknown_job(job_id, queued=True)
        self._release(job, job.node)

    def cancel(self, job_id: str) -> None:
        job = self._jobs.get(_id(job_id, JOB_ID))
        if job is None:
            raise _unknown_job(job_id)
        if job.node is not None:
            self._release(job, job.node)
            return
        at = bisect.bisect_left(self._queue, job.sort_key, key=lambda j: j.sort_key)
        del self._queue[at]
        del self._jobs[job_id]

    # -- views ---------------------------------------------------------------------------------

    def ledger(self, node_id: str) -> dict[str, int | bool]:
        node = self._node(node_id)
        return {
            "total": node.total_memory,
            "share": node.share,
            "reserved": node.reserved,
            "free": node.free,
            "running": len(node.running),
            "max_jobs": node.max_jobs,
            "paused": node.paused,
        }

    def queued(self) -> list[str]:
        return [job.job_id for job in self._queue]

    def running(self, node_id: str | None = None) -> list[str]:
        if node_id is None:
            return list(self._running)
        return list(self._node(node_id).running)

    def job_node(self, job_id: str) -> str | None:
        job = self._jobs.get(_id(job_id, JOB_ID))
        if job is None:
            raise _unknown_job(job_id)
        return None if job.node is None else job.node.node_id

    def nodes(self) -> list[str]:
        return list(self._nodes)

    def check(self) -> None:
        held = {node_id: [0, 0] for node_id in self._nodes}  # memory, count (from the job table)
        for job in self._jobs.values():
            if job.node is not None:
                held[job.node.node_id][0] += job.memory
                held[job.node.node_id][1] += 1
        for node in self._nodes.values():
            memory, count = held[node.node_id]
            if node.reserved != memory or len(node.running) != count:
                raise LedgerInconsistent(
                    f"node `{node.node_id}` has {node.reserved} bytes reserved but its {count} "
                    f"running jobs hold {memory} bytes\nhint: this is a bug in the scheduler; "
                    "please report it"
                )
