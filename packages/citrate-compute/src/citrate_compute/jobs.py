"""Jobs: what a requester asks for, and what a provider runs.

`ComputeJob` is the provider's record of a job (from the chain or submitted locally);
`TaskSpec` is what one execution of it needs (handed to an `Executor`), and `TaskResult` what
came back. Job type numbers are the ComputeMarket's (bit i of a provider's `jobTypes` mask).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any


class JobType(enum.IntEnum):
    """A job's kind; the values are ComputeMarket's job type numbers."""

    INFERENCE = 0
    EMBEDDING = 1
    TRAINING = 2
    LORA = 3
    IMAGE = 4

    @classmethod
    def parse(cls, value: str | int) -> JobType:
        """`value` as a job type: a name (any case) or a number."""
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        elif isinstance(value, str):
            key = value.strip().upper().replace("-", "_")
            if key in cls.__members__:
                return cls[key]
            if key.isdigit():
                return cls.parse(int(key))
        names = ", ".join(m.name.lower() for m in cls)
        raise ValueError(f"unknown job type {value!r}: use one of {names} (or 0-4)")

    @property
    def bit(self) -> int:
        return 1 << int(self)


class JobStatus(enum.StrEnum):
    """Where a job is on this provider (or, for a requester, on the chain)."""

    QUEUED = "queued"  # admitted, waiting for memory, a slot, or the thermal limits
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"  # ran and failed, or was refused; recorded with the reason
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED}
)


@dataclass
class ComputeJob:
    """A job as this provider sees it.

    Attributes:
        job_id: the ComputeMarket job id as a decimal string, or a local id.
        job_type: inference, embedding, training, LoRA or image.
        requester: the requester's address ("" for a local job).
        model: the model's name or id (bytes32 hex for on-chain jobs).
        input_hash: 0x-hex sha2-256 digest of the input document's CID (see `content.py`).
        payment: wei; the assigned price (or max price before assignment).
        memory_bytes: declared memory requirement ("GPU requirement"); admission uses it.
        status / progress / error: where it is; progress is 0.0-1.0.
    """

    job_id: str
    job_type: JobType
    model: str
    input_hash: str
    requester: str = ""
    payment: int = 0
    memory_bytes: int = 0
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    error: str | None = None
    device: str | None = None
    output_hash: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "job_type": self.job_type.name.lower(),
            "model": self.model,
            "input_hash": self.input_hash,
            "requester": self.requester,
            "payment": str(self.payment),
            "memory_bytes": self.memory_bytes,
            "status": self.status.value,
            "progress": self.progress,
            "error": self.error,
            "device": self.device,
            "output_hash": self.output_hash,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
