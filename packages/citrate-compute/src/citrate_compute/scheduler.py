"""The compute scheduler: admission, the job queue and the memory ledger of a provider.

Two implementations with the same semantics, the same error classes and the same messages:
the Rust core (``citrate_native.Scheduler``, the default) and a pure-Python reference
(:class:`citrate_compute.scheduler_ref.ReferenceScheduler`) that the tests cross-check it
against. Both satisfy the :class:`Scheduler` protocol; :func:`make_scheduler` returns either.

This module is the package's only importer of ``citrate_native`` (CONTRIBUTING, "the Python ↔
Rust seam"); the scheduler's exceptions are re-exported here.

Semantics in brief (the docstrings of ``citrate_native._core.Scheduler`` have the details):

* A node lends ``share = total_memory * allocation_percent // 100`` bytes; its ledger keeps
  ``reserved`` (the memory of its running jobs) and ``free = max(0, share - reserved)``.
* ``submit`` admits a job if some node serves its type (else ``NoCapableNode``) and its memory
  fits the largest share among those nodes (else ``JobTooLarge``); ``submit_many`` is all or
  nothing.
* ``schedule`` visits queued jobs by priority (descending), then submission order, and places
  each on its feasible node with the best ComputeMarket bid score (price 40, reputation 30,
  load 20, latency 10); a job that fits nowhere stays queued while later ones may be placed.
* ``set_paused`` is the thermal hold: no new placements, running jobs untouched.
* Argument errors come first (in signature order), then unknown or duplicate ids, then
  admission.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from citrate_compute.errors import ComputeValueError
from citrate_native import Scheduler as NativeScheduler
from citrate_native.errors import (
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

__all__ = [
    "DuplicateJob",
    "DuplicateNode",
    "InvalidSchedulerArgument",
    "JobTooLarge",
    "LedgerInconsistent",
    "NativeScheduler",
    "NoCapableNode",
    "Scheduler",
    "SchedulerError",
    "SchedulerKind",
    "UnknownJob",
    "UnknownNode",
    "make_scheduler",
]

SchedulerKind = Literal["native", "reference"]


class Scheduler(Protocol):
    """What both scheduler implementations provide."""

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
        """Add a node (``job_types``: bit mask, 1 inference, 2 embedding, 4 training, ...)."""
        ...

    def set_allocation(self, node_id: str, percent: int) -> None:
        """Change a node's allocation; below its reserved memory is allowed (free is 0)."""
        ...

    def set_paused(self, node_id: str, paused: bool) -> None:
        """Hold back (or allow again) new placements on a node."""
        ...

    def set_reputation(self, node_id: str, reputation: int) -> None:
        """Change a node's reputation (basis points, 0 to 10000)."""
        ...

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
        """Admit one job into the queue."""
        ...

    def submit_many(self, jobs: Sequence[tuple[str, int, int, int, int, int]]) -> None:
        """Admit ``(job_id, job_type, memory, max_price, priority, max_latency_ms)`` jobs, all
        or nothing."""
        ...

    def schedule(self) -> list[tuple[str, str]]:
        """Place what can be placed now; the ``(job_id, node_id)`` placements, in order."""
        ...

    def finish(self, job_id: str) -> None:
        """A running job ended: release it."""
        ...

    def cancel(self, job_id: str) -> None:
        """Drop a queued job, or release a running one."""
        ...

    def ledger(self, node_id: str) -> dict[str, int | bool]:
        """``total``, ``share``, ``reserved``, ``free``, ``running``, ``max_jobs``, ``paused``."""
        ...

    def queued(self) -> list[str]:
        """Queued job ids in scheduling order."""
        ...

    def running(self, node_id: str | None = None) -> list[str]:
        """Running job ids in placement order, of one node or of all."""
        ...

    def job_node(self, job_id: str) -> str | None:
        """The node a job runs on; None while it is queued."""
        ...

    def nodes(self) -> list[str]:
        """Node ids in the order they were added."""
        ...

    def check(self) -> None:
        """Raise ``LedgerInconsistent`` if a node's reserved memory is not the sum of its
        running jobs' memory."""
        ...


def make_scheduler(kind: SchedulerKind = "native") -> Scheduler:
    """A new, empty scheduler: the Rust core (``"native"``) or the pure-Python reference.

    Raises:
        ComputeValueError: ``kind`` is neither.
    """
    if kind == "native":
        return NativeScheduler()
    if kind == "reference":
        from citrate_compute.scheduler_ref import ReferenceScheduler

        return ReferenceScheduler()
    raise ComputeValueError(
        f"unknown scheduler kind `{kind}`", hint="use 'native' (the default) or 'reference'"
    )
