"""The provider agent: register with a stake, bid on jobs it can serve, run them, get paid.

`ProviderAgent.run_once()` is one step of the loop and `run_forever(stop_event)` repeats it:

1. **Register** (once): with the configured stake, job types and models, unless the account
   already is a provider. A stake below ComputeMarket's minimum is refused before anything is
   sent.
2. **Follow its own jobs** (`getProviderJobs`): an assigned job's input is fetched by its
   `inputHash` and verified, admitted by the resource manager (its memory must fit the free
   share), and run by the executor in its sandbox. A result is uploaded, committed
   (`commitment = keccak256(abi.encode(jobId, outputHash, nonce, provider))`, computed here with
   a random nonce that is saved *before* the commit is sent, so a restarted agent can still
   reveal) and revealed. A job that fails (malformed input, unknown model, a crash, the memory
   cap, a timeout) is recorded with its reason and never committed: a wrong result is not
   revealed; the requester gets the escrow back (and the stake slash) through `timeoutJob`.
   A revealed job past its challenge window is completed by the agent itself if nobody else
   did; a dispute the arbiter let lapse is expired.
3. **Scan open jobs** (`getOpenJobs`) and bid on those it can serve: never below its cost for
   the job type, never above the job's max price, only if its latency estimate (from its own
   history, else the configuration) fits the execution window with a margin, only if the job's
   memory (the model's, or what the input declares, whichever is larger) fits its share, and
   only while it has free slots. Every skipped job is recorded with the reason.
4. **Claim**: earnings are the `providerAmount` of the chain's `JobCompleted` events for this
   provider (fed to `resources.record_earnings`), and credits owed (PullPayments) are withdrawn.

State (the jobs, their nonces, skip reasons, the earnings cursor, latency history) is saved
atomically to a 0600 JSON file in a 0700 directory after every step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citrate_compute.content import (
    ContentClient,
    ContentError,
    ContentMismatch,
    ContentNotFound,
    ContentTooLarge,
    declared_memory,
    handler_input,
    parse_document,
)
from citrate_compute.errors import (
    ComputeError,
    ComputeValueError,
    ProviderError,
    UnknownJob,
)
from citrate_compute.jobs import ComputeJob, JobStatus, JobType
from citrate_compute.market import (
    MIN_PROVIDER_STAKE,
    ChainError,
    Job,
    JobState,
    MarketClient,
    ProviderInfo,
    ServiceConfig,
    SignerUnavailable,
    TransactionReverted,
    commitment_of,
    format_salt,
    model_id,
)
from citrate_compute.runtime import DEFAULT_MAX_TOKENS
from citrate_crypto._files import atomic_write

if TYPE_CHECKING:
    from citrate_compute.executors import Executor
    from citrate_compute.resources import GPUResourceManager
    from citrate_compute.sandbox import TaskResult
    from citrate_compute.verifier import Verifier

log = logging.getLogger("citrate_compute.provider")

GIB = 1024**3
#: Memory a job reserves when neither the model nor the input says (bytes).
#: The inference and embedding figures are the sandbox's address-space floors for llama.cpp with
#: a small GGUF and for PyTorch + MiniLM (`sandbox.DEFAULT_MIN_MEMORY`).
DEFAULT_MEMORY = {
    JobType.INFERENCE: 2 * GIB,
    JobType.EMBEDDING: 4608 * 1024**2,
    JobType.TRAINING: 8 * GIB,
    JobType.LORA: 8 * GIB,
    JobType.IMAGE: 8 * GIB,
}
#: Latency estimate before the agent has its own history (milliseconds).
DEFAULT_LATENCY_MS = {
    JobType.INFERENCE: 20_000,
    JobType.EMBEDDING: 15_000,
    JobType.TRAINING: 3_600_000,
    JobType.LORA: 3_600_000,
    JobType.IMAGE: 120_000,
}
#: Default cost of a job (the lowest bid), per job type, in wei.
DEFAULT_COST = {t: 10**15 for t in JobType}  # 0.001 SALT
#: Built-in model names and the job type each serves.
BUILTIN_MODELS = {"gemma-3-270m": JobType.INFERENCE, "all-minilm-l6-v2": JobType.EMBEDDING}
STATE_VERSION = 1


# ------------------------------------------------------------------------------ configuration


@dataclass
class ProviderConfig:
    """What a provider offers and how it decides.

    Attributes:
        allocation_percent: share of each device lent to the network (0-100).
        stake: wei staked at registration (at least ComputeMarket's 1,000 SALT).
        job_types: job types served.
        models: on-chain model id -> the local model name the handler runs. `serve()` adds
            one (by default the id of a name is `market.model_id(name)`; a ModelRegistry
            model is listed with its registry id).
        any_model: register as serving every model (jobs for models with no local name are
            still skipped, with the reason).
        costs: the lowest price per job type (wei); bids never go below it.
        max_concurrent_jobs: slots declared on chain (active jobs + open bids).
        model_memory: memory a job of a local model reserves (bytes).
        latency_ms: latency estimate per job type before there is history.
        latency_margin: the estimate times this must fit the execution window.
        commit_margin_s: seconds kept free before the execution deadline for upload + commit.
        ms_per_token / ms_per_text: how long one generated token / one embedded text takes
            here; an input's own size gives a floor for its latency estimate, so a large job
            that cannot finish in its window is skipped instead of won and timed out.
        handlers: operator-chosen handler per job type (`module:function`), passed to the
            executor; never taken from a requester.
        seed: seed for deterministic settings when the input names none.
        state_dir: where the state file lives (0700; default: `DATA_DIR/compute`).
        poll_interval: seconds between steps of `run_forever`.
        withdraw_min: withdraw credits once they reach this many wei (0: any credit).
        verification_share: re-execute this share (0-1) of other providers' tier-1 jobs
            (tier 2: all) and dispute mismatches (`verifier.Verifier`; disputes need the
            VERIFIER_ROLE); 0 turns verification off.
    """

    allocation_percent: int = 50
    stake: int = MIN_PROVIDER_STAKE
    job_types: frozenset[JobType] = frozenset({JobType.INFERENCE, JobType.EMBEDDING})
    models: dict[bytes, str] = field(default_factory=dict)
    any_model: bool = False
    costs: dict[JobType, int] = field(default_factory=lambda: dict(DEFAULT_COST))
    max_concurrent_jobs: int = 2
    model_memory: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[JobType, int] = field(default_factory=lambda: dict(DEFAULT_LATENCY_MS))
    latency_margin: float = 2.0
    commit_margin_s: int = 20
    ms_per_token: float = 100.0
    ms_per_text: float = 150.0
    handlers: dict[JobType, str] = field(default_factory=dict)
    seed: int = 0
    state_dir: Path | None = None
    poll_interval: float = 2.0
    withdraw_min: int = 0
    verification_share: float = 0.0

    def serve(
        self, name: str, model: str | bytes | None = None, *, memory: int | None = None
    ) -> bytes:
        """Serve the local model `name` under the on-chain id `model` (default: its name's id)."""
        mid = model_id(model if model is not None else name)
        self.models[mid] = name
        if memory is not None:
            self.model_memory[name] = memory
        return mid

    def validate(self) -> None:
        """Raises ProviderError for a configuration the market or this agent cannot use."""
        if not 0 <= self.allocation_percent <= 100:
            raise ProviderError(
                f"allocation `{self.allocation_percent}` % is not between 0 and 100",
                hint="pass --allocation 1..100",
            )
        if self.stake < MIN_PROVIDER_STAKE:
            raise ProviderError(
                f"a provider stake must be at least {format_salt(MIN_PROVIDER_STAKE)} SALT "
                f"(this one is {format_salt(self.stake)} SALT); nothing was sent",
                hint="pass --stake 1000 or more",
            )
        if not self.job_types:
            raise ProviderError("serve at least one job type", hint="e.g. --type inference")
        if not 1 <= self.max_concurrent_jobs <= 64:
            raise ProviderError(
                f"max concurrent jobs `{self.max_concurrent_jobs}` is not between 1 and 64"
            )
        if not self.models and not self.any_model:
            raise ProviderError(
                "serve at least one model", hint="e.g. --model gemma-3-270m, or --any-model"
            )
        if len(self.models) > 32:
            raise ProviderError(f"{len(self.models)} models: list at most 32 (or --any-model)")
        for t, cost in self.costs.items():
            if cost < 0:
                raise ProviderError(f"the cost of {t.name.lower()} jobs is negative")
        if not 0.0 <= self.verification_share <= 1.0:
            raise ProviderError(
                f"verification share `{self.verification_share}` is not between 0 and 1"
            )

    def service(self) -> ServiceConfig:
        return ServiceConfig(
            job_types=frozenset(self.job_types),
            max_concurrent_jobs=self.max_concurrent_jobs,
            models=tuple(self.models),
            any_model=self.any_model,
        )

    def memory_for(self, job_type: JobType, model: str) -> int:
        return self.model_memory.get(model, DEFAULT_MEMORY[job_type])


# ------------------------------------------------------------------------------ state


@dataclass
class ProviderJob:
    """This provider's record of one market job."""

    job_id: int
    status: str  # bid, assigned, running, committed, revealed, completed, failed, timed_out, ...
    job_type: str = ""
    model: str = ""
    price: str = "0"
    reason: str | None = None
    nonce: str | None = None
    output_hash: str | None = None
    output_cid: str | None = None
    memory: int = 0
    device: str | None = None
    earned: str = "0"
    duration_s: float | None = None
    updated_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


TERMINAL = {"completed", "timed_out", "failed_on_chain", "expired", "cancelled", "lost"}


@dataclass
class Skip:
    """Why the agent did not bid on a job (`permanent`: it will not look again)."""

    reason: str
    permanent: bool
    at: float = field(default_factory=time.time)


class ProviderState:
    """The agent's persistent state: one JSON file, written atomically, mode 0600."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.jobs: dict[int, ProviderJob] = {}
        self.skips: dict[int, Skip] = {}
        self.assigned_seen = 0
        self.earnings_block = -1
        self.earned_total = 0
        self.withdrawn_total = 0
        self.latency: dict[str, float] = {}
        self.registered_by_agent = False
        #: What the running agent saw at its last step (devices, ledger, holds, executor);
        #: for `citrate compute provider status`, never read back into the agent.
        self.live: dict[str, Any] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProviderError(
                f"cannot read the provider state `{path}` ({type(exc).__name__})",
                hint="move the damaged file away; jobs in progress cannot be revealed without it",
            ) from None
        if doc.get("version") != STATE_VERSION:
            raise ProviderError(f"`{path}` has state version {doc.get('version')!r}")
        self.jobs = {int(k): ProviderJob(**v) for k, v in doc.get("jobs", {}).items()}
        self.skips = {int(k): Skip(**v) for k, v in doc.get("skips", {}).items()}
        self.assigned_seen = int(doc.get("assigned_seen", 0))
        self.earnings_block = int(doc.get("earnings_block", -1))
        self.earned_total = int(doc.get("earned_total", "0"))
        self.withdrawn_total = int(doc.get("withdrawn_total", "0"))
        self.latency = {str(k): float(v) for k, v in doc.get("latency", {}).items()}
        self.registered_by_agent = bool(doc.get("registered_by_agent", False))
        live = doc.get("live", {})
        self.live = live if isinstance(live, dict) else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "jobs": {str(k): v.to_json() for k, v in sorted(self.jobs.items())},
            "skips": {str(k): v.__dict__ for k, v in sorted(self.skips.items())},
            "assigned_seen": self.assigned_seen,
            "earnings_block": self.earnings_block,
            "earned_total": str(self.earned_total),
            "withdrawn_total": str(self.withdrawn_total),
            "latency": self.latency,
            "registered_by_agent": self.registered_by_agent,
            "live": self.live,
        }

    def save(self) -> None:
        if self.path is not None:
            atomic_write(self.path, json.dumps(self.to_json(), indent=1).encode())


@dataclass
class _Running:
    future: Future[TaskResult]
    started: float
    job: ComputeJob


@dataclass
class StepReport:
    """What one `run_once` did (for logs and tests)."""

    registered: bool = False
    bids: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    started: list[int] = field(default_factory=list)
    committed: list[int] = field(default_factory=list)
    revealed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    completed: list[int] = field(default_factory=list)
    earned: int = 0
    withdrawn: int = 0
    withdraw_tx: str | None = None
    errors: list[str] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------------ the agent


class ProviderAgent:
    """Serves ComputeMarket jobs from this machine's allotted share.

    Args:
        market: a `MarketClient` with this provider's signer.
        content: the content store client for job documents.
        resources: the resource manager (admission, memory ledger, earnings).
        executor: runs each job isolated (local or Ray).
        config: what to serve and how to bid.
    """

    def __init__(
        self,
        market: MarketClient,
        content: ContentClient,
        resources: GPUResourceManager,
        executor: Executor,
        config: ProviderConfig,
    ) -> None:
        config.validate()
        self.market = market
        self.content = content
        self.resources = resources
        self.executor = executor
        self.config = config
        self.address = market.account
        # The state holds the commit nonces: without it a restarted provider cannot reveal and
        # is slashed, so there is always a file (by default in the Citrate data directory).
        state_dir = config.state_dir
        if state_dir is None:
            from citrate_crypto import paths

            state_dir = paths.data_dir(None) / "compute"
        self.state = ProviderState(Path(state_dir) / f"provider-{self.address.lower()}.json")
        self._running: dict[int, _Running] = {}
        self._inputs: dict[int, bytes] = {}  # inputs of jobs waiting for memory or a slot
        self._outputs: dict[int, bytes] = {}  # results whose upload failed (store down)
        self._lock = threading.Lock()
        self._registered = False
        self.inactive_reason: str | None = None
        self.verifier: Verifier | None = None
        if config.verification_share > 0:
            from citrate_compute.verifier import Verifier, VerifierConfig

            self.verifier = Verifier(
                market,
                content,
                executor,
                VerifierConfig(
                    share=config.verification_share,
                    models=dict(config.models),
                    handlers=dict(config.handlers),
                    model_memory=dict(config.model_memory),
                    seed=config.seed,
                ),
                resources=resources,
            )

    # -------------------------------------------------------------------- the loop

    def run_forever(self, stop_event: threading.Event) -> None:
        """Step until `stop_event` is set; errors are logged and the loop goes on."""
        log.info("provider %s: serving (state: %s)", self.address, self.state.path)
        while not stop_event.is_set():
            try:
                self.run_once()
            except (ProviderError, SignerUnavailable):
                raise  # nothing to retry: the configuration or the wallet needs the operator
            except ComputeError as exc:
                log.warning("step failed: %s", exc)
            stop_event.wait(self.config.poll_interval)
        log.info("provider %s: stopping", self.address)

    def run_once(self) -> StepReport:
        """One step: register if needed, follow own jobs, bid, claim. Saves the state."""
        report = StepReport()
        with self._lock:
            try:
                report.registered = self.ensure_registered()
                now = self.market.chain_time()
                self._follow_jobs(now, report)
                self._scan_open_jobs(now, report)
                self._collect_earnings(report)
                self._withdraw(report)
                if self.verifier is not None:
                    report.verdicts = [v.to_json() for v in self.verifier.run_once()]
            finally:
                self._snapshot()
                self.state.save()
        return report

    def _snapshot(self) -> None:
        """Record the resources and the executor in the state file, for `provider status`."""
        try:
            resources = self.resources.status()
        except ComputeError as exc:  # telemetry failing must not stop the step's save
            resources = {"error": exc.message}
        self.state.live = {
            "updated_at": time.time(),
            "resources": resources,
            "executor": self.executor.describe(),
        }

    def close(self) -> None:
        """Cancel running jobs and release their memory."""
        with self._lock:
            for job_id in list(self._running):
                self.executor.cancel(str(job_id))
                self._release(job_id, reason="the provider stopped")
            for job_id in list(self._inputs):
                self._release(job_id, reason="the provider stopped")
            self._running.clear()
            self._inputs.clear()
            if self.verifier is not None:
                self.verifier.close()
            self.state.save()

    # -------------------------------------------------------------------- registration

    def ensure_registered(self) -> bool:
        """Register with the configured stake unless already registered; True if it did now.

        A provider that is registered but whose stake fell below the minimum (slashed) goes
        on following its jobs and claiming, but does not bid (`inactive_reason` says why).

        Raises:
            ComputeValueError / TransactionReverted: the registration was refused (nothing
                was sent when it is refused in simulation).
        """
        if self._registered:
            return False
        info = self.market.provider(self.address)
        if info.registered:
            self._sync_service(info)
            self._registered = True
            return False
        receipt = self.market.register_provider(self.config.service(), self.config.stake)
        log.info(
            "registered as a provider with %s SALT staked (tx %s)",
            format_salt(self.config.stake),
            receipt.tx_hash,
        )
        self.state.registered_by_agent = True
        self._registered = True
        return True

    def _sync_service(self, info: ProviderInfo) -> None:
        """Bring the on-chain service (job types, models, capacity) up to this configuration.

        A restarted provider may serve other models or job types than when it registered;
        bidding on them would otherwise revert with `UnsupportedJob`. While bids are open the
        contract only lets a provider widen what it serves; a narrowing is logged and left
        for the next start.
        """
        service = self.config.service()
        on_chain = (
            info.job_types,
            info.any_model,
            info.max_concurrent_jobs,
            sorted(self.market.provider_models(self.address)),
        )
        wanted = (
            service.mask,
            service.any_model,
            service.max_concurrent_jobs,
            sorted(service.models),
        )
        if on_chain == wanted:
            return
        try:
            receipt = self.market.update_provider(service)
        except TransactionReverted as exc:
            log.warning("kept the registered service: %s", exc.message)
            return
        log.info("updated the registered service to this configuration (tx %s)", receipt.tx_hash)

    # -------------------------------------------------------------------- own jobs

    def _follow_jobs(self, now: int, report: StepReport) -> None:
        ids, total = self.market.provider_jobs(self.address, self.state.assigned_seen)
        while ids:
            for jid in ids:
                record = self.state.jobs.get(jid)
                if record is None:
                    record = ProviderJob(jid, "assigned")
                    self.state.jobs[jid] = record
                elif record.status == "bid":
                    record.status = "assigned"
                log.info("job %d assigned to this provider", jid)
            self.state.assigned_seen += len(ids)
            if self.state.assigned_seen >= total:
                break
            ids, total = self.market.provider_jobs(self.address, self.state.assigned_seen)
        for jid, record in list(self.state.jobs.items()):
            if record.status in TERMINAL or record.status in ("bid", "skipped"):
                continue
            try:
                self._advance(jid, record, now, report)
            except (ChainError, ContentError) as exc:
                report.errors.append(f"job {jid}: {exc}")
                log.warning("job %d: %s", jid, exc)
        # Bids that lost: the job left Open without being assigned here.
        for jid, record in list(self.state.jobs.items()):
            if record.status == "bid":
                try:
                    job = self.market.job(jid)
                except ChainError as exc:
                    report.errors.append(f"job {jid}: {exc}")
                    continue
                if job.state != JobState.OPEN and job.provider != self.address:
                    record.status = "lost"
                    record.reason = f"job went to {job.provider} ({job.state.name.lower()})"
                elif job.state == JobState.OPEN and now > job.bid_deadline:
                    self._close_bidding(jid, report)

    def _close_bidding(self, jid: int, report: StepReport) -> None:
        """Assign a job this provider bid on once its bid deadline has passed.

        Anyone may call `assignBestBid` then; until someone does, the bid holds one of this
        provider's slots and locks its stake, so the provider moves it on itself. The best
        eligible bid wins, which may be another provider's.
        """
        try:
            receipt = self.market.assign_best_bid(jid)
        except TransactionReverted as exc:
            if exc.name != "InvalidJobState":  # someone else assigned it first
                report.errors.append(f"job {jid}: {exc.message}")
                log.warning("job %d: could not close the bidding: %s", jid, exc.message)
            return
        assigned = [e for e in receipt.events if e.name == "JobAssigned"]
        if assigned:
            log.info("job %d: bidding closed, assigned to %s", jid, assigned[0].args["provider"])
        else:
            log.info("job %d: expired without an eligible bid (tx %s)", jid, receipt.tx_hash)

    def _advance(self, jid: int, record: ProviderJob, now: int, report: StepReport) -> None:
        job = self.market.job(jid)
        if job.provider != self.address:
            self._forget_running(jid)
            record.status, record.reason = "lost", f"assigned to {job.provider}"
            return
        record.job_type = job.job_type.name.lower()
        record.price = str(job.price)
        state = job.state
        if state == JobState.ASSIGNED:
            self._advance_assigned(job, record, now, report)
        elif state == JobState.COMMITTED:
            self._reveal(job, record, now, report)
        elif state == JobState.REVEALED:
            record.status = "revealed"
            if now > job.challenge_deadline:
                # Anyone may complete after the challenge window: get paid.
                self.market.complete_job(jid)
                report.completed.append(jid)
                record.status = "completed"
        elif state == JobState.DISPUTED:
            record.status = "disputed"
            if now > job.arbitration_deadline:
                self.market.expire_dispute(jid)
                record.status = "completed"
        elif state == JobState.COMPLETED:
            if record.status != "completed":
                report.completed.append(jid)
            record.status = "completed"
        elif state == JobState.TIMED_OUT:
            self._forget_running(jid)
            record.status = "timed_out"
            record.reason = record.reason or "missed a deadline; the requester was refunded"
        elif state == JobState.FAILED:
            record.status = "failed_on_chain"
            record.reason = "the arbiter ruled the result wrong; the stake was slashed"
        record.updated_at = time.time()

    def _advance_assigned(
        self, job: Job, record: ProviderJob, now: int, report: StepReport
    ) -> None:
        jid = job.job_id
        running = self._running.get(jid)
        if running is not None:
            if running.future.done():
                self._finish(job, record, running, now, report)
            elif now > job.exec_deadline - self.config.commit_margin_s:
                self.executor.cancel(str(jid))
                self._fail(jid, record, "did not finish before the execution deadline", report)
            return
        if record.status == "failed":
            # Recorded. Once the deadline has passed, settle it: the requester gets the escrow
            # (and the slash) back now, and the job stops holding this provider's slot and stake.
            if now > job.exec_deadline:
                self._time_out_own(jid, record, report)
            return
        output = self._outputs.get(jid)
        if output is not None:
            if now > job.exec_deadline - self.config.commit_margin_s:
                reason = "the output could not be stored before the deadline"
                self._fail(jid, record, reason, report)
            else:
                self._publish(job, record, output, report)  # the store was down: try again
            return
        if record.status == "committing" and record.nonce and record.output_hash:
            # The commit was sent but its receipt was lost (restart): check and go on.
            self._commit(job, record, report)
            return
        if now > job.exec_deadline - self.config.commit_margin_s:
            self._fail(jid, record, "assigned too late to finish before the deadline", report)
            return
        self._start(job, record, now, report)

    def _time_out_own(self, jid: int, record: ProviderJob, report: StepReport) -> None:
        """Call `timeoutJob` on a job this provider failed (anyone may, after the deadline)."""
        try:
            receipt = self.market.timeout_job(jid)
        except TransactionReverted as exc:
            if exc.name != "InvalidJobState":  # the requester was faster: nothing to do
                report.errors.append(f"job {jid}: {exc.message}")
            return
        self._forget_running(jid)
        record.status = "timed_out"
        log.info("job %d: timed out on chain, the requester refunded (tx %s)", jid, receipt.tx_hash)

    def _start(self, job: Job, record: ProviderJob, now: int, report: StepReport) -> None:
        jid = job.job_id
        model = self.config.models.get(job.model_id)
        if model is None:
            self._fail(jid, record, f"unknown model 0x{job.model_id.hex()}", report)
            return
        try:
            data = self._inputs.get(jid) or self.content.get(
                job.input_hash, what=f"the input of job {jid}"
            )
            doc = parse_document(data, f"the input of job {jid}")
            memory = max(declared_memory(doc), self.config.memory_for(job.job_type, model))
        except (ComputeValueError, ContentNotFound, ContentMismatch) as exc:
            self._fail(jid, record, exc.message, report)
            return
        except ContentError as exc:
            # The store is unreachable: try again next step (the deadline check above stops it).
            record.status, record.reason = "assigned", exc.message
            return
        seed = doc.get("seed", self.config.seed)
        cjob = ComputeJob(
            job_id=str(jid),
            job_type=job.job_type,
            model=model,
            input_hash="0x" + job.input_hash.hex(),
            requester=job.requester,
            payment=job.price,
            memory_bytes=memory,
        )
        try:
            device = self._admit(cjob)
        except ComputeError as exc:
            self._fail(jid, record, exc.message, report)
            return
        if device is None:
            self._inputs[jid] = data
            record.status, record.reason = "assigned", "waiting for memory or a device slot"
            return
        self._inputs.pop(jid, None)
        from citrate_compute.sandbox import TaskSpec

        timeout = max(1.0, float(job.exec_deadline - now - self.config.commit_margin_s))
        try:
            spec = TaskSpec(
                job_id=str(jid),
                job_type=job.job_type,
                model=model,
                input=handler_input(data, doc),
                memory_bytes=memory,
                timeout_s=timeout,
                device=device,
                seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 0,
                handler=self.config.handlers.get(job.job_type),
            )
            future = self.executor.submit(spec)
        except ComputeError as exc:
            self._release(jid, reason=exc.message)
            self._fail(jid, record, exc.message, report)
            return
        cjob.status, cjob.device, cjob.started_at = JobStatus.RUNNING, device, time.time()
        self._running[jid] = _Running(future, time.monotonic(), cjob)
        record.status, record.model, record.memory, record.device = "running", model, memory, device
        record.reason = None
        report.started.append(jid)
        log.info("job %d: running %s on %s (%d bytes reserved)", jid, model, device, memory)

    def _finish(
        self, job: Job, record: ProviderJob, running: _Running, now: int, report: StepReport
    ) -> None:
        jid = job.job_id
        result = running.future.result()
        del self._running[jid]
        ok = result.ok and result.output is not None
        reason = result.error or (f"killed ({result.killed})" if result.killed else "failed")
        self._release(jid, ok=ok, reason=None if ok else reason)
        record.duration_s = result.duration_s
        if not ok:
            self._fail(jid, record, reason, report)
            return
        self._learn_latency(job.job_type, result.duration_s)
        if now > job.exec_deadline:
            self._fail(jid, record, "finished after the execution deadline", report)
            return
        assert result.output is not None
        self._publish(job, record, result.output, report)

    def _publish(self, job: Job, record: ProviderJob, output: bytes, report: StepReport) -> None:
        """Upload the output, save a fresh nonce, commit, reveal."""
        jid = job.job_id
        try:
            ref = self.content.put(
                output, limit=self.content.max_output_bytes, what=f"the output of job {jid}"
            )
        except ContentTooLarge as exc:
            self._outputs.pop(jid, None)
            self._fail(jid, record, exc.message, report)
            return
        except ContentError as exc:
            self._outputs[jid] = output  # keep the result; upload again next step
            record.status, record.reason = "uploading", exc.message
            report.errors.append(f"job {jid}: {exc.message}")
            return
        self._outputs.pop(jid, None)
        record.output_hash, record.output_cid = ref.hex, ref.cid
        record.nonce = "0x" + secrets.token_bytes(32).hex()
        record.status = "committing"
        # The nonce must be on disk before the commitment is: without it nothing can reveal.
        self.state.save()
        self._commit(job, record, report)

    def _commit(self, job: Job, record: ProviderJob, report: StepReport) -> None:
        assert record.output_hash is not None and record.nonce is not None
        jid = job.job_id
        commitment = commitment_of(
            jid,
            bytes.fromhex(record.output_hash[2:]),
            bytes.fromhex(record.nonce[2:]),
            self.address,
        )
        if job.state == JobState.ASSIGNED:
            self.market.commit_result(jid, commitment)
            report.committed.append(jid)
            log.info("job %d: committed to output %s", jid, record.output_cid)
        record.status = "committed"
        self.state.save()
        self._reveal(self.market.job(jid), record, self.market.chain_time(), report)

    def _reveal(self, job: Job, record: ProviderJob, now: int, report: StepReport) -> None:
        jid = job.job_id
        if job.state != JobState.COMMITTED:
            return
        if record.nonce is None or record.output_hash is None:
            record.status = "committed"
            record.reason = "the nonce of this commitment is not in the state file; cannot reveal"
            return
        if now > job.reveal_deadline:
            record.reason = "the reveal deadline passed"
            return
        self.market.reveal_result(
            jid, bytes.fromhex(record.output_hash[2:]), bytes.fromhex(record.nonce[2:])
        )
        record.status = "revealed"
        report.revealed.append(jid)
        log.info("job %d: revealed output %s", jid, record.output_hash)

    def _fail(self, jid: int, record: ProviderJob, reason: str, report: StepReport) -> None:
        self._forget_running(jid)
        self._outputs.pop(jid, None)
        if self._inputs.pop(jid, None) is not None:
            self._release(jid, reason=reason)  # admitted, still waiting for memory
        record.status, record.reason = "failed", reason
        record.updated_at = time.time()
        report.failed[jid] = reason
        log.warning(
            "job %d failed: %s (not committed; the requester is refunded on timeout)", jid, reason
        )

    def _forget_running(self, jid: int) -> None:
        """Drop everything held for `jid`: a running task, or a job still waiting for memory
        or a slot (queued in the resource manager with its input kept here)."""
        running = self._running.pop(jid, None)
        waiting = self._inputs.pop(jid, None)
        if running is not None:
            self.executor.cancel(str(jid))
        if running is not None or waiting is not None:
            self._release(jid, reason="stopped")

    def _learn_latency(self, job_type: JobType, duration_s: float) -> None:
        key = job_type.name.lower()
        ms = duration_s * 1000.0
        old = self.state.latency.get(key)
        self.state.latency[key] = ms if old is None else 0.7 * old + 0.3 * ms

    def _work_ms(self, job_type: JobType, doc: dict[str, Any]) -> int:
        """Time the input's own size needs (tokens to generate, texts to embed), in ms."""
        if job_type == JobType.INFERENCE:
            tokens = doc.get("max_tokens", DEFAULT_MAX_TOKENS)
            units = tokens if isinstance(tokens, int) else DEFAULT_MAX_TOKENS
            return int(units * self.config.ms_per_token)
        if job_type == JobType.EMBEDDING:
            texts = doc.get("input", [])
            return int((len(texts) if isinstance(texts, list) else 1) * self.config.ms_per_text)
        return 0

    def estimated_latency_ms(self, job_type: JobType) -> int:
        """The agent's latency estimate: its own history, else the configured default."""
        learned = self.state.latency.get(job_type.name.lower())
        if learned is not None:
            return max(1, int(learned))
        return self.config.latency_ms.get(job_type, DEFAULT_LATENCY_MS[job_type])

    # -------------------------------------------------------------------- bidding

    def _scan_open_jobs(self, now: int, report: StepReport) -> None:
        info = self.market.provider(self.address)
        if not info.active:
            reason = (
                f"not bidding: the stake is {format_salt(info.stake)} SALT, below the minimum "
                f"{format_salt(MIN_PROVIDER_STAKE)} SALT (slashed?); add stake to serve again"
            )
            if self.inactive_reason != reason:
                log.error("%s", reason)
            self.inactive_reason = reason
            report.errors.append(reason)
            return
        self.inactive_reason = None
        for jid in self.market.iter_open_jobs():
            if jid in self.state.jobs:
                continue
            skip = self.state.skips.get(jid)
            if skip is not None and skip.permanent:
                continue
            try:
                self._consider(jid, now, report)
            except ChainError as exc:
                report.errors.append(f"job {jid}: {exc}")
                log.warning("job %d: %s", jid, exc)

    def evaluate(self, job: Job, now: int) -> tuple[int, int] | Skip:
        """(price, latency ms) to bid on `job`, or why not (chain facts and config only)."""
        if job.state != JobState.OPEN:
            return Skip(f"the job is {job.state.name.lower()}", True)
        if now > job.bid_deadline:
            return Skip("bidding closed", True)
        if job.requester == self.address:
            return Skip("this provider posted the job", True)
        if job.job_type not in self.config.job_types:
            return Skip(f"does not serve {job.job_type.name.lower()} jobs", True)
        model = self.config.models.get(job.model_id)
        if model is None:
            return Skip(f"unknown model 0x{job.model_id.hex()}", True)
        cost = max(1, self.config.costs.get(job.job_type, DEFAULT_COST[job.job_type]))
        if cost > job.max_price:
            return Skip(
                f"max price {format_salt(job.max_price)} SALT is below this provider's cost "
                f"{format_salt(cost)} SALT",
                True,
            )
        latency = self.estimated_latency_ms(job.job_type)
        window_ms = (job.exec_window - self.config.commit_margin_s) * 1000
        if latency * self.config.latency_margin > window_ms:
            return Skip(
                f"cannot finish within the {job.exec_window} s execution window "
                f"(estimate {latency} ms x {self.config.latency_margin:g})",
                True,
            )
        return cost, min(latency, job.exec_window * 1000)

    def _consider(self, jid: int, now: int, report: StepReport) -> None:
        job = self.market.job(jid)
        verdict = self.evaluate(job, now)
        if isinstance(verdict, Skip):
            self._skip(jid, verdict, report)
            return
        price, latency = verdict
        model = self.config.models[job.model_id]
        # The input must exist and fit: fetch it now (bounded) rather than win a job that
        # cannot run.
        try:
            data = self.content.get(job.input_hash, what=f"the input of job {jid}")
            doc = parse_document(data, f"the input of job {jid}")
            memory = max(declared_memory(doc), self.config.memory_for(job.job_type, model))
            if self.config.handlers.get(job.job_type) is None:
                # Refuse now what the built-in handler would refuse: an assigned job cannot be
                # declined, so failing it later means a timeout and a slash.
                from citrate_compute.handlers import validate_input

                validate_input(job.job_type, handler_input(data, doc))
        except ContentTooLarge as exc:
            self._skip(jid, Skip(exc.message, True), report)
            return
        except ComputeValueError as exc:
            self._skip(jid, Skip(f"malformed input: {exc.message}", True), report)
            return
        except ContentError as exc:
            self._skip(jid, Skip(exc.message, False), report)
            return
        work_ms = self._work_ms(job.job_type, doc)
        window_ms = (job.exec_window - self.config.commit_margin_s) * 1000
        if work_ms * self.config.latency_margin > window_ms:
            self._skip(
                jid,
                Skip(
                    f"cannot finish this input within the {job.exec_window} s execution window "
                    f"(about {work_ms} ms of work x {self.config.latency_margin:g})",
                    True,
                ),
                report,
            )
            return
        latency = min(max(latency, work_ms), job.exec_window * 1000)
        share = self._largest_share(job.job_type)
        if memory > share:
            self._skip(
                jid,
                Skip(
                    f"the job needs {memory} bytes, more than this provider's largest share "
                    f"({share} bytes)",
                    True,
                ),
                report,
            )
            return
        info = self.market.provider(self.address)
        if info.active_jobs + info.open_bids >= info.max_concurrent_jobs:
            self._skip(
                jid, Skip("all job slots are taken (active jobs + open bids)", False), report
            )
            return
        try:
            self.market.bid(jid, price, latency)
        except TransactionReverted as exc:
            permanent = exc.name not in ("ProviderAtCapacity", "MarketPaused")
            self._skip(jid, Skip(f"bid refused: {exc.message}", permanent), report)
            return
        self.state.skips.pop(jid, None)
        self.state.jobs[jid] = ProviderJob(
            jid,
            "bid",
            job_type=job.job_type.name.lower(),
            model=model,
            price=str(price),
            memory=memory,
        )
        report.bids.append(jid)
        log.info(
            "job %d: bid %s SALT (estimate %d ms) for %s",
            jid,
            format_salt(price),
            latency,
            model,
        )

    def _skip(self, jid: int, skip: Skip, report: StepReport) -> None:
        old = self.state.skips.get(jid)
        self.state.skips[jid] = skip
        report.skipped[jid] = skip.reason
        if old is None or old.reason != skip.reason:
            log.info("job %d: skipped: %s", jid, skip.reason)

    # -------------------------------------------------------------------- claiming

    def _collect_earnings(self, report: StepReport) -> None:
        head = self.market.block_number()
        start = self.state.earnings_block + 1
        if start > head:
            return
        for event in self.market.events(
            ["JobCompleted"], from_block=start, to_block=head, account=self.address
        ):
            jid = int(event.args["jobId"])
            amount = int(event.args["providerAmount"])
            record = self.state.jobs.setdefault(jid, ProviderJob(jid, "completed"))
            if record.earned != "0":
                continue
            record.earned = str(amount)
            record.status = "completed"
            self.state.earned_total += amount
            report.earned += amount
            self.resources.record_earnings(amount, job_id=str(jid))
            log.info("job %d: earned %s SALT", jid, format_salt(amount))
        self.state.earnings_block = head

    def _withdraw(self, report: StepReport) -> None:
        credit = self.market.credit_of(self.address)
        if credit == 0 or credit < self.config.withdraw_min:
            return
        receipt = self.market.withdraw(self.address)
        self.state.withdrawn_total += credit
        report.withdrawn += credit
        report.withdraw_tx = receipt.tx_hash
        log.info("withdrew %s SALT of credits", format_salt(credit))

    # -------------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        """The agent's view: on-chain record, local jobs, skips, earnings."""
        info = self.market.provider(self.address)
        counts: dict[str, int] = {}
        for record in self.state.jobs.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        return {
            "address": self.address,
            "provider": info.to_json(),
            "jobs": counts,
            "running": sorted(self._running),
            "earned_total": str(self.state.earned_total),
            "withdrawn_total": str(self.state.withdrawn_total),
            "skips": {str(k): v.reason for k, v in self.state.skips.items()},
        }

    # -------------------------------------------------------------------- resources

    def _admit(self, job: ComputeJob) -> str | None:
        """The device the resource manager placed `job` on, or None when it must wait."""
        return self.resources.admit(job)

    def _release(self, jid: int, ok: bool = False, reason: str | None = None) -> None:
        # Unknown to the manager (refused at admission, or already released): nothing held.
        with contextlib.suppress(UnknownJob):
            self.resources.finish(str(jid), ok, error=reason)

    def _largest_share(self, job_type: JobType) -> int:
        return self.resources.largest_share(job_type)


__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_COST",
    "DEFAULT_LATENCY_MS",
    "DEFAULT_MEMORY",
    "ProviderAgent",
    "ProviderConfig",
    "ProviderError",
    "ProviderJob",
    "ProviderState",
    "Skip",
    "StepReport",
]
