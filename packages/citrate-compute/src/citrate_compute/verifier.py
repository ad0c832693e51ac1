"""Verification by re-execution: a second provider runs a share of revealed jobs again.

Job handlers run with deterministic settings (temperature 0 / greedy, a fixed seed, a fixed
thread count), so the same provider software produces the same output bytes and the same
`outputHash`. A `Verifier` follows `ResultRevealed` events, picks jobs by their verification
tier (0: commitment only, never re-executed; 1: spot check, a configurable share; 2: every
job), re-executes each picked job from its input, and compares the hash of its own output with
the revealed one. On a mismatch it opens a dispute (`disputeResult`, with the 10 SALT bond; the
account needs VERIFIER_ROLE, which the market's admin grants), inside the challenge window.
The arbiter rules; a verifier proven right earns the provider's wrong-result slash.

The pick is deterministic per (job, verifier): `keccak256(abi.encode(jobId, verifier))` read as
a fraction below `share`, so a provider cannot tell in advance which of its jobs a given
verifier checks, and the verifier's choice is reproducible.

`check(job_id)` runs one verification synchronously; the arbiter uses it to decide a dispute.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from citrate_compute.content import (
    ContentClient,
    ContentError,
    handler_input,
    hash_document,
    parse_document,
)
from citrate_compute.errors import ComputeError, ComputeValueError
from citrate_compute.jobs import JobType
from citrate_compute.market import (
    VERIFIER_ROLE,
    ChainError,
    Job,
    JobState,
    MarketClient,
    TransactionReverted,
)

if TYPE_CHECKING:
    from citrate_compute.executors import Executor
    from citrate_compute.resources import GPUResourceManager
    from citrate_compute.sandbox import TaskResult

log = logging.getLogger("citrate_compute.verifier")


@dataclass
class VerifierConfig:
    """What a verifier re-executes and how.

    Attributes:
        share: the fraction (0-1) of tier-1 jobs re-executed; tier 2 is always, tier 0 never.
        models: on-chain model id -> local model name (as a provider's).
        handlers: operator-chosen handler per job type (`module:function`).
        model_memory: memory a re-execution of a local model declares (bytes; default: the
            provider's figure for the job type).
        timeout_s: longest a re-execution may run.
        dispute: open a dispute on a mismatch (False: only record it).
        seed: seed when the input names none.
        sample_key: the secret that decides which tier-1 jobs are re-executed (random per
            run unless given; never shared, never logged).
    """

    share: float = 0.1
    models: dict[bytes, str] = field(default_factory=dict)
    handlers: dict[JobType, str] = field(default_factory=dict)
    model_memory: dict[str, int] = field(default_factory=dict)
    timeout_s: float = 600.0
    dispute: bool = True
    seed: int = 0
    sample_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def validate(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ComputeValueError(
                f"verification share `{self.share}` is not between 0 and 1",
                hint="e.g. 0.1 re-executes one tier-1 job in ten",
            )


@dataclass
class Verdict:
    """The outcome of re-executing one job."""

    job_id: int
    status: str  # match, mismatch, inconclusive
    revealed_hash: str
    computed_hash: str | None = None
    reason: str | None = None
    disputed: bool = False
    at: float = field(default_factory=time.time)

    @property
    def match(self) -> bool:
        return self.status == "match"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Pending:
    job: Job
    future: Future[TaskResult] | None = None  # None: waiting for admission
    data: bytes = b""
    memory: int = 0


def picks(job_id: int, key: bytes, share: float) -> bool:
    """Whether the verifier holding the secret `key` spot-checks `job_id` at `share`.

    Deterministic for one key, unpredictable without it: a provider cannot tell before it
    bids (or before it decides how carefully to run a job) which jobs will be re-executed.
    """
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    digest = keccak(key + job_id.to_bytes(32, "big"))
    return int.from_bytes(digest[:8], "big") < int(share * 2**64)


class Verifier:
    """Re-executes revealed jobs and disputes mismatches.

    Args:
        market: a `MarketClient`; its signer disputes (views and `check` need none).
        content: the content store client.
        executor: runs re-executions isolated, like a provider's jobs.
        config: what to re-execute.
        resources: when given, re-executions are admitted like jobs (their memory counts
            against the share; they wait for room).
    """

    def __init__(
        self,
        market: MarketClient,
        content: ContentClient,
        executor: Executor,
        config: VerifierConfig,
        *,
        resources: GPUResourceManager | None = None,
    ) -> None:
        config.validate()
        self.market = market
        self.content = content
        self.executor = executor
        self.config = config
        self.resources = resources
        self.verdicts: dict[int, Verdict] = {}
        self.cursor = -1  # last block whose ResultRevealed events were read
        self._pending: dict[int, _Pending] = {}

    @property
    def address(self) -> str | None:
        signer = self.market.signer
        return signer.address if signer is not None else None

    def selects(self, job: Job) -> bool:
        """Whether this verifier re-executes `job` (by its tier and the share)."""
        if job.verification_tier >= 2:
            return True
        if job.verification_tier == 0:
            return False
        return picks(job.job_id, self.config.sample_key, self.config.share)

    # -------------------------------------------------------------------- one job

    def check(self, job_id: int) -> Verdict:
        """Re-execute `job_id` now and compare with its revealed output hash (no dispute)."""
        job = self.market.job(job_id)
        if job.output_hash == bytes(32):
            raise ComputeValueError(
                f"job {job_id} is {job.state.name.lower()} and has no revealed result to verify"
            )
        pending = self._prepare(job)
        if isinstance(pending, Verdict):
            return pending
        deadline = time.monotonic() + self.config.timeout_s
        while True:
            started = self._launch(pending)
            if started is not None:
                break
            if time.monotonic() > deadline:
                return Verdict(
                    job_id, "inconclusive", "0x" + job.output_hash.hex(), reason="no room to run"
                )
            time.sleep(0.2)
        if isinstance(started, Verdict):
            return started
        result = started.result(timeout=self.config.timeout_s + 30)
        self._release(job.job_id, result.ok)
        return self._compare(job, result)

    def _prepare(self, job: Job) -> _Pending | Verdict:
        revealed = "0x" + job.output_hash.hex()
        model = self.config.models.get(job.model_id)
        if model is None:
            return Verdict(job.job_id, "inconclusive", revealed, reason="model not served here")
        try:
            data = self.content.get(job.input_hash, what=f"the input of job {job.job_id}")
            parse_document(data, f"the input of job {job.job_id}")
        except (ContentError, ComputeValueError) as exc:
            return Verdict(job.job_id, "inconclusive", revealed, reason=exc.message)
        from citrate_compute.provider import DEFAULT_MEMORY

        memory = self.config.model_memory.get(model, DEFAULT_MEMORY[job.job_type])
        return _Pending(job, None, data, memory)

    def _launch(self, pending: _Pending) -> Future[TaskResult] | Verdict | None:
        """Admit and start a prepared re-execution; None while it waits for room."""
        from citrate_compute.jobs import ComputeJob
        from citrate_compute.sandbox import TaskSpec

        job = pending.job
        model = self.config.models[job.model_id]
        device = "cpu0"
        if self.resources is not None:
            try:
                placed = self.resources.admit(
                    ComputeJob(
                        job_id=f"verify-{job.job_id}",
                        job_type=job.job_type,
                        model=model,
                        input_hash="0x" + job.input_hash.hex(),
                        memory_bytes=pending.memory,
                    )
                )
            except ComputeError as exc:
                return Verdict(
                    job.job_id, "inconclusive", "0x" + job.output_hash.hex(), reason=exc.message
                )
            if placed is None:
                return None
            device = placed
        doc = parse_document(pending.data)
        seed = doc.get("seed", self.config.seed)
        try:
            spec = TaskSpec(
                job_id=f"verify-{job.job_id}",
                job_type=job.job_type,
                model=model,
                input=handler_input(pending.data, doc),
                memory_bytes=pending.memory,
                timeout_s=self.config.timeout_s,
                device=device,
                seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 0,
                handler=self.config.handlers.get(job.job_type),
            )
            return self.executor.submit(spec)
        except ComputeError as exc:
            self._release(job.job_id, False)
            return Verdict(
                job.job_id, "inconclusive", "0x" + job.output_hash.hex(), reason=exc.message
            )

    def _release(self, job_id: int, ok: bool) -> None:
        if self.resources is not None:
            from citrate_compute.errors import UnknownJob

            with contextlib.suppress(UnknownJob):
                self.resources.finish(f"verify-{job_id}", ok)

    def _compare(self, job: Job, result: TaskResult) -> Verdict:
        revealed = "0x" + job.output_hash.hex()
        if not result.ok or result.output is None:
            return Verdict(
                job.job_id,
                "inconclusive",
                revealed,
                reason=f"the re-execution failed: {result.error or result.killed}",
            )
        computed = "0x" + hash_document(result.output).hex()
        status = "match" if computed == revealed else "mismatch"
        return Verdict(job.job_id, status, revealed, computed)

    # -------------------------------------------------------------------- the loop

    def run_once(self) -> list[Verdict]:
        """Pick up newly revealed jobs, collect finished re-executions, dispute mismatches."""
        done: list[Verdict] = []
        head = self.market.block_number()
        if self.cursor < head:
            for event in self.market.events(
                ["ResultRevealed"], from_block=self.cursor + 1, to_block=head
            ):
                jid = int(event.args["jobId"])
                if jid in self.verdicts or jid in self._pending:
                    continue
                if event.args["provider"] == self.address:
                    continue
                job = self.market.job(jid)
                if job.state != JobState.REVEALED or not self.selects(job):
                    continue
                prepared = self._prepare(job)
                if isinstance(prepared, Verdict):
                    self.verdicts[jid] = prepared
                    done.append(prepared)
                else:
                    self._pending[jid] = prepared
                    log.info("job %d: re-executing to verify its result", jid)
            self.cursor = head
        for jid, pending in list(self._pending.items()):
            if pending.future is None:
                started = self._launch(pending)
                if started is None:
                    continue
                if isinstance(started, Verdict):
                    del self._pending[jid]
                    self.verdicts[jid] = started
                    done.append(started)
                    continue
                pending.future = started
            if not pending.future.done():
                continue
            del self._pending[jid]
            result = pending.future.result()
            self._release(jid, result.ok)
            verdict = self._compare(pending.job, result)
            if verdict.status == "mismatch":
                self._dispute(verdict)
            self.verdicts[jid] = verdict
            done.append(verdict)
            log.info("job %d: verification %s", jid, verdict.status)
        return done

    def _dispute(self, verdict: Verdict) -> None:
        if not self.config.dispute or self.address is None:
            verdict.reason = "disputes are off"
            return
        try:
            if not self.market.has_role(VERIFIER_ROLE, self.address):
                job = self.market.job(verdict.job_id)
                if job.requester != self.address:
                    verdict.reason = "this account has no VERIFIER_ROLE; ask the admin for it"
                    return
            job = self.market.job(verdict.job_id)
            if job.state != JobState.REVEALED:
                verdict.reason = f"the job is already {job.state.name.lower()}"
                return
            if self.market.chain_time() > job.challenge_deadline:
                verdict.reason = "the challenge window closed before the re-execution finished"
                return
            self.market.dispute_result(verdict.job_id)
        except (TransactionReverted, ChainError) as exc:
            verdict.reason = f"the dispute failed: {exc.message}"
            return
        verdict.disputed = True
        log.warning(
            "job %d: result %s does not match the re-execution %s: disputed",
            verdict.job_id,
            verdict.revealed_hash,
            verdict.computed_hash,
        )

    def close(self) -> None:
        for jid, pending in list(self._pending.items()):
            if pending.future is not None:
                self.executor.cancel(f"verify-{jid}")
            self._release(jid, False)
        self._pending.clear()


def arbitrate(market: MarketClient, verifier: Verifier, job_id: int) -> Verdict:
    """Decide a disputed job by re-executing it, and rule (the market's ARBITER_ROLE).

    An inconclusive re-execution rules nothing (the result stands if nobody rules in time).

    Raises:
        ComputeError: the job is not disputed.
    """
    job = market.job(job_id)
    if job.state != JobState.DISPUTED:
        raise ComputeError(f"job {job_id} is {job.state.name.lower()}, not disputed")
    verdict = verifier.check(job_id)
    if verdict.status in ("match", "mismatch"):
        market.resolve_dispute(job_id, verdict.match)
    return verdict


__all__ = ["Verdict", "Verifier", "VerifierConfig", "arbitrate", "picks"]
