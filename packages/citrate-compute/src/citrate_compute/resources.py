"""The resource manager: how much of each device is lent, what runs where, and the heat limits.

`GPUResourceManager` keeps, per device, the user's allocation (0-100 %), the memory ledger
(allotted share, reserved by running jobs, free), the running jobs, the jobs completed and the
tokens earned (set from chain events through `record_earnings`, never estimated here).
Admission, the queue and the ledger live in the scheduler (`citrate_compute.scheduler`: the Rust
core by default, or the pure-Python reference); this class adds devices, telemetry, throttling
and the record of what happened.

The allocation is enforced: a job is admitted only if its declared memory fits a device's share
(else `JobTooLarge`, recorded as a failure to refund), placed only where it fits the free share,
and its process is capped to that memory by the sandbox. `poll()` reads telemetry: over the
temperature or power limit, a device is held (no new placements) and its running jobs are
paused through the throttle (the executor: SIGSTOP of the job's processes), with a log line and
an event; back under the limit minus a margin, both resume. A device whose telemetry fails is
held the same way until it answers again (it cannot be shown to be cool).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import scheduler as sched
from .devices import Device, DeviceBackend, Telemetry, detect_devices
from .errors import (
    ComputeError,
    ComputeValueError,
    DeviceError,
    DuplicateJob,
    JobTooLarge,
    LedgerInconsistent,
    NoCapableDevice,
    UnknownDevice,
    UnknownJob,
)
from .jobs import ComputeJob, JobStatus, JobType

__all__ = [
    "DEFAULT_JOB_TYPES",
    "Admission",
    "GPUResourceManager",
    "ManagerEvent",
    "Throttle",
]

log = logging.getLogger(__name__)

# The job types this package has built-in handlers for.
DEFAULT_JOB_TYPES = JobType.INFERENCE.bit | JobType.EMBEDDING.bit


class Throttle(Protocol):
    """What pauses a running job's processes (an `Executor`)."""

    def pause(self, job_id: str) -> bool: ...

    def resume(self, job_id: str) -> bool: ...


@dataclass(frozen=True)
class Admission:
    """The outcome of `submit`.

    Attributes:
        admitted: queued (it may still wait for memory, a slot or a cool device).
        error / hint: why it was refused.
        refund: the job was refused before running: nothing is owed, the requester is refunded.
    """

    job_id: str
    admitted: bool
    error: str | None = None
    hint: str | None = None
    refund: bool = False


@dataclass(frozen=True)
class ManagerEvent:
    """Something operators should see: a hold, a resume, a refusal, a telemetry failure."""

    time: float
    kind: str
    message: str
    device: str | None = None
    job_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "kind": self.kind,
            "message": self.message,
            "device": self.device,
            "job_id": self.job_id,
        }


@dataclass
class _DeviceState:
    device: Device
    allocation: int
    max_jobs: int
    job_types: int
    hold: str | None = None  # why new jobs wait (heat, power, telemetry)
    telemetry: Telemetry | None = None
    telemetry_error: str | None = None
    throttled: set[str] = field(default_factory=set)  # jobs paused through the throttle
    completed: int = 0
    failed: int = 0
    earned_wei: int = 0


@dataclass
class _JobState:
    job: ComputeJob
    device: str | None = None
    handed_out: bool = False


def _translate(exc: Exception) -> ComputeError:
    """The scheduler's error as this package's (callers catch `ComputeError`)."""
    message, _, scheduler_hint = str(exc).partition("\nhint: ")
    if isinstance(exc, sched.JobTooLarge):
        return JobTooLarge(
            message, hint="a smaller job fits; or the operator raises the device's allocation"
        )
    if isinstance(exc, sched.NoCapableNode):
        return NoCapableDevice(message, hint="this provider does not serve that job type")
    if isinstance(exc, sched.DuplicateJob):
        return DuplicateJob(message, hint="each job id can be queued or running only once")
    if isinstance(exc, sched.UnknownJob):
        return UnknownJob(message, hint="the job is not queued or running here")
    if isinstance(exc, sched.UnknownNode):
        return UnknownDevice(message, hint="use a device id from status()")
    if isinstance(exc, sched.LedgerInconsistent):
        return LedgerInconsistent(message, hint="this is a bug: please report it with the log")
    return ComputeValueError(message, hint=scheduler_hint or None)


def _check_percent(percent: object, what: str) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ComputeValueError(
            f"{what}: allocation must be a whole percentage from 0 to 100, got `{percent!r}`",
            hint="e.g. 50 lends half of the device",
        )
    return percent


class GPUResourceManager:
    """Devices, the memory ledger, admission, thermal and power holds, and the provider's tally.

    Args:
        devices: the device backend (default: `detect_devices()`, NVML or the CPU).
        allocations: percent lent, for every device (an int) or per device id (devices not
            named are not lent: 0 %).
        max_temperature_c: hold a device above this temperature (default 80 °C).
        max_power_w: hold a device above this draw (default: the board's power limit; no power
            limit when the device reports none, like the CPU).
        resume_margin_c: resume only below `max_temperature_c - resume_margin_c` (and below
            95 % of the power limit), so a device at the limit does not flap.
        max_jobs: jobs running at once per device (an int, or per device id).
        job_types: bit mask of the job types served (default: inference and embedding).
        scheduler: "native" (the Rust core) or "reference" (pure Python).
        throttle: pauses and resumes running jobs (the executor); None: only new jobs wait.
        history: how many refused or finished jobs and events to keep for `status()`.
    """

    def __init__(
        self,
        devices: DeviceBackend | None = None,
        *,
        allocations: Mapping[str, int] | int = 50,
        max_temperature_c: float = 80.0,
        max_power_w: float | None = None,
        resume_margin_c: float = 5.0,
        max_jobs: Mapping[str, int] | int = 1,
        job_types: int = DEFAULT_JOB_TYPES,
        scheduler: sched.SchedulerKind = "native",
        throttle: Throttle | None = None,
        history: int = 1000,
    ) -> None:
        self.backend = devices if devices is not None else detect_devices()
        listed = self.backend.devices()
        if not listed:
            raise DeviceError("the device backend lists no device", hint="check the backend")
        ids = [d.id for d in listed]
        for name, mapping in (("allocations", allocations), ("max_jobs", max_jobs)):
            if isinstance(mapping, Mapping):
                unknown = sorted(set(mapping) - set(ids))
                if unknown:
                    raise UnknownDevice(
                        f"{name} names unknown device(s) {', '.join(unknown)}",
                        hint=f"devices here: {', '.join(ids)}",
                    )
        if max_temperature_c <= 0:
            raise ComputeValueError(
                f"max_temperature_c must be positive, got `{max_temperature_c}`",
                hint="the default is 80 °C",
            )
        if max_power_w is not None and max_power_w <= 0:
            raise ComputeValueError(
                f"max_power_w must be positive, got `{max_power_w}`",
                hint="leave it unset for the board's limit",
            )
        self.max_temperature_c = float(max_temperature_c)
        self.max_power_w = max_power_w
        self.resume_margin_c = float(resume_margin_c)
        self.throttle = throttle
        self._scheduler = sched.make_scheduler(scheduler)
        self.scheduler_kind = scheduler
        self._lock = threading.RLock()
        self._devices: dict[str, _DeviceState] = {}
        for device in listed:
            percent = (
                allocations.get(device.id, 0) if isinstance(allocations, Mapping) else allocations
            )
            jobs = max_jobs.get(device.id, 1) if isinstance(max_jobs, Mapping) else max_jobs
            state = _DeviceState(device, _check_percent(percent, device.id), jobs, job_types)
            try:
                self._scheduler.add_node(
                    device.id,
                    total_memory=device.total_memory,
                    allocation_percent=state.allocation,
                    max_jobs=jobs,
                    job_types=job_types,
                )
            except sched.SchedulerError as exc:
                raise _translate(exc) from None
            self._devices[device.id] = state
        self._jobs: dict[str, _JobState] = {}
        self._finished: collections.OrderedDict[str, tuple[JobStatus, str | None]] = (
            collections.OrderedDict()
        )
        self._history = history
        self._events: collections.deque[ManagerEvent] = collections.deque(maxlen=history)
        self._refusals: collections.deque[Admission] = collections.deque(maxlen=history)
        self.earned_wei = 0
        self._monitor: threading.Thread | None = None
        self._stop = threading.Event()
        log.info(
            "resource manager: %s",
            ", ".join(f"{s.device.id} ({s.device.kind}) {s.allocation}%" for s in self._states()),
        )

    # --- helpers ---

    def _states(self) -> Iterable[_DeviceState]:
        return self._devices.values()

    def _state(self, device_id: str) -> _DeviceState:
        state = self._devices.get(device_id)
        if state is None:
            raise UnknownDevice(
                f"no device `{device_id}` here", hint=f"devices: {', '.join(self._devices)}"
            )
        return state

    def _event(
        self, kind: str, message: str, device: str | None = None, job_id: str | None = None
    ) -> ManagerEvent:
        event = ManagerEvent(time.time(), kind, message, device, job_id)
        self._events.append(event)
        return event

    def _remember(self, job_id: str, status: JobStatus, device: str | None) -> None:
        self._finished[job_id] = (status, device)
        while len(self._finished) > self._history:
            self._finished.popitem(last=False)

    # --- allocation ---

    def set_allocation(self, device_id: str, percent: int) -> None:
        """Lend `percent` (0-100) of a device. Lowering it below what running jobs hold is
        allowed: they keep their memory and nothing new starts there until they end."""
        with self._lock:
            state = self._state(device_id)
            percent = _check_percent(percent, device_id)
            try:
                self._scheduler.set_allocation(device_id, percent)
            except sched.SchedulerError as exc:
                raise _translate(exc) from None
            old, state.allocation = state.allocation, percent
            self._event("allocation", f"allocation {old}% -> {percent}%", device_id)
            log.info("resource manager: %s allocation %d%% -> %d%%", device_id, old, percent)

    def ledger(self, device_id: str) -> dict[str, int | bool]:
        """`total`, `share` (allotted), `reserved` (running jobs), `free`, `running`,
        `max_jobs`, `paused`."""
        with self._lock:
            self._state(device_id)
            return dict(self._scheduler.ledger(device_id))

    def largest_share(self, job_type: JobType | int) -> int:
        """The largest memory a job of this type could be given here (0: type not served)."""
        bit = 1 << int(job_type)
        with self._lock:
            shares = [
                int(self._scheduler.ledger(s.device.id)["share"])
                for s in self._states()
                if s.job_types & bit
            ]
        return max(shares, default=0)

    def check(self) -> None:
        """Raise `LedgerInconsistent` unless every device's reserved memory equals the sum of
        its running jobs' memory (and the scheduler agrees with this manager's jobs)."""
        with self._lock:
            try:
                self._scheduler.check()
            except sched.SchedulerError as exc:
                raise _translate(exc) from None
            for state in self._states():
                device_id = state.device.id
                running = self._scheduler.running(device_id)
                reserved = sum(self._jobs[j].job.memory_bytes for j in running)
                if int(self._scheduler.ledger(device_id)["reserved"]) != reserved:
                    raise LedgerInconsistent(
                        f"{device_id}: reserved memory differs from its running jobs",
                        hint="this is a bug: please report it with the log",
                    )
            known_running = {j for j, s in self._jobs.items() if s.device is not None}
            if known_running != set(self._scheduler.running()):
                raise LedgerInconsistent(
                    "the manager and the scheduler disagree on the running jobs",
                    hint="this is a bug: please report it with the log",
                )

    # --- jobs ---

    def submit(self, job: ComputeJob) -> Admission:
        """Admit `job` by its declared memory. A job larger than every share, or of a type no
        device serves, is refused and recorded as failed with `refund=True` (the ledger is
        unchanged). Raises `DuplicateJob` for an id already queued or running."""
        return self._submit(job)[0]

    def _submit(self, job: ComputeJob) -> tuple[Admission, ComputeError | None]:
        if isinstance(job.memory_bytes, bool) or not isinstance(job.memory_bytes, int):
            raise ComputeValueError(
                f"job `{job.job_id}`: memory_bytes must be an int", hint="declare bytes"
            )
        if job.memory_bytes <= 0:
            raise ComputeValueError(
                f"job `{job.job_id}`: declared memory must be positive, got `{job.memory_bytes}`",
                hint="every job declares the memory it needs; admission depends on it",
            )
        with self._lock:
            if job.job_id in self._jobs:
                raise DuplicateJob(
                    f"job `{job.job_id}` is already queued or running",
                    hint="each job id can be queued or running only once",
                )
            try:
                if job.memory_bytes >= 2**64:  # beyond the scheduler's u64: larger than any share
                    raise sched.JobTooLarge(
                        f"job `{job.job_id}` needs `{job.memory_bytes}` bytes, more than any "
                        "device has"
                    )
                self._scheduler.submit(
                    job.job_id,
                    job_type=int(job.job_type),
                    memory=job.memory_bytes,
                    max_price=max(int(job.payment), 1),
                )
            except sched.SchedulerError as exc:
                error = _translate(exc)
                if not isinstance(error, JobTooLarge | NoCapableDevice):
                    raise error from None
                job.status, job.error, job.finished_at = (
                    JobStatus.FAILED,
                    error.message,
                    time.time(),
                )
                admission = Admission(job.job_id, False, error.message, error.hint, refund=True)
                self._refusals.append(admission)
                self._remember(job.job_id, JobStatus.FAILED, None)
                self._event("refused", error.message, job_id=job.job_id)
                log.warning("resource manager: refused job %s: %s", job.job_id, error.message)
                return admission, error
            job.status, job.error, job.device = JobStatus.QUEUED, None, None
            self._jobs[job.job_id] = _JobState(job)
            return Admission(job.job_id, True), None

    def _place(self) -> None:
        for job_id, device_id in self._scheduler.schedule():
            self._jobs[job_id].device = device_id

    def start_ready(self) -> list[tuple[ComputeJob, str]]:
        """Place what fits now; the jobs that may start, with their device (each returned once;
        they are marked running)."""
        with self._lock:
            self._place()
            ready: list[tuple[ComputeJob, str]] = []
            for job_id in self._scheduler.running():
                state = self._jobs[job_id]
                if state.handed_out or state.device is None:
                    continue
                state.handed_out = True
                job = state.job
                job.status, job.device, job.started_at = (
                    JobStatus.RUNNING,
                    state.device,
                    time.time(),
                )
                ready.append((job, state.device))
            return ready

    def admit(self, job: ComputeJob) -> str | None:
        """Submit `job` if new, then place it: its device if it may start now, else None (call
        again later). Raises the refusal (`JobTooLarge`, `NoCapableDevice`) after recording it."""
        with self._lock:
            state = self._jobs.get(job.job_id)
            if state is None:
                _, error = self._submit(job)
                if error is not None:
                    raise error
                state = self._jobs[job.job_id]
            if state.device is None:
                self._place()
            if state.device is None:
                return None
            state.handed_out = True
            job = state.job
            job.status, job.device = JobStatus.RUNNING, state.device
            job.started_at = job.started_at or time.time()
            return state.device

    def finish(
        self,
        job_id: str,
        ok: bool,
        *,
        error: str | None = None,
        status: JobStatus | None = None,
    ) -> ComputeJob:
        """A job ended (or is dropped while queued): release its memory and count it.

        Args:
            ok: it completed (counted as completed on its device) or not (failed).
            error: why it failed, kept on the job.
            status: a more precise end state (TIMED_OUT, CANCELLED); default COMPLETED/FAILED.

        Raises:
            UnknownJob: it is not queued or running here.
        """
        with self._lock:
            state = self._jobs.get(job_id)
            if state is None:
                raise UnknownJob(
                    f"job `{job_id}` is not queued or running here",
                    hint="finish each job once, after it was admitted",
                )
            end = status or (JobStatus.COMPLETED if ok else JobStatus.FAILED)
            if not end.terminal:
                raise ComputeValueError(
                    f"`{end.value}` is not an end state", hint="use completed, failed, ..."
                )
            try:
                if state.device is None:
                    self._scheduler.cancel(job_id)
                else:
                    self._scheduler.finish(job_id)
            except sched.SchedulerError as exc:
                raise _translate(exc) from None
            del self._jobs[job_id]
            job = state.job
            job.status, job.finished_at = end, time.time()
            if error is not None:
                job.error = error
            if ok:
                job.progress = 1.0
            if state.device is not None:
                device = self._devices[state.device]
                device.throttled.discard(job_id)
                if end == JobStatus.COMPLETED:
                    device.completed += 1
                elif end != JobStatus.CANCELLED:
                    device.failed += 1
            self._remember(job_id, end, state.device)
            return job

    def cancel(self, job_id: str) -> ComputeJob:
        """Drop a queued job or release a running one (its process is the executor's to kill)."""
        return self.finish(job_id, False, status=JobStatus.CANCELLED)

    def job(self, job_id: str) -> ComputeJob | None:
        """A queued or running job."""
        with self._lock:
            state = self._jobs.get(job_id)
            return state.job if state else None

    def set_progress(self, job_id: str, progress: float) -> None:
        """Record a running job's progress (0.0-1.0); unknown ids are ignored."""
        with self._lock:
            state = self._jobs.get(job_id)
            if state is not None:
                state.job.progress = min(1.0, max(0.0, float(progress)))

    def refusals(self) -> list[Admission]:
        """Jobs refused at admission (latest last), with their refund flag."""
        with self._lock:
            return list(self._refusals)

    # --- earnings ---

    def record_earnings(self, wei: int, *, job_id: str | None = None) -> None:
        """Add a payment seen on the chain (e.g. the provider's share of a completed job).

        Args:
            wei: the amount credited to this provider by the contract.
            job_id: the job it paid for, to attribute it to the device that ran it.
        """
        if isinstance(wei, bool) or not isinstance(wei, int) or wei < 0:
            raise ComputeValueError(
                f"earnings must be a non-negative whole number of wei, got `{wei!r}`",
                hint="pass the amount from the chain event, in wei",
            )
        with self._lock:
            self.earned_wei += wei
            if job_id is not None:
                record = self._finished.get(job_id)
                device = record[1] if record else None
                if device is not None:
                    self._devices[device].earned_wei += wei

    # --- telemetry ---

    def _power_limit(self, state: _DeviceState) -> float | None:
        return self.max_power_w if self.max_power_w is not None else state.device.power_limit_w

    def _over_limit(self, state: _DeviceState, reading: Telemetry) -> str | None:
        if reading.temperature_c is not None and reading.temperature_c > self.max_temperature_c:
            return (
                f"temperature {reading.temperature_c:.1f} °C is over the "
                f"{self.max_temperature_c:g} °C limit"
            )
        limit = self._power_limit(state)
        if limit is not None and reading.power_w is not None and reading.power_w > limit:
            return f"power {reading.power_w:.1f} W is over the {limit:g} W limit"
        return None

    def _cool_enough(self, state: _DeviceState, reading: Telemetry) -> bool:
        if reading.temperature_c is not None and (
            reading.temperature_c > self.max_temperature_c - self.resume_margin_c
        ):
            return False
        limit = self._power_limit(state)
        return not (
            limit is not None and reading.power_w is not None and reading.power_w > 0.95 * limit
        )

    def _hold(self, state: _DeviceState, reason: str, kind: str) -> list[ManagerEvent]:
        device_id = state.device.id
        events: list[ManagerEvent] = []
        if state.hold is None:
            self._scheduler.set_paused(device_id, True)
            events.append(self._event(kind, f"holding new jobs: {reason}", device_id))
            log.warning("resource manager: %s: holding new jobs: %s", device_id, reason)
        state.hold = reason
        for job_id in self._scheduler.running(device_id):
            if job_id in state.throttled:
                continue
            if self.throttle is not None and self.throttle.pause(job_id):
                state.throttled.add(job_id)
                events.append(self._event("job_paused", f"paused: {reason}", device_id, job_id))
                log.warning("resource manager: %s: paused job %s", device_id, job_id)
        return events

    def _release_hold(self, state: _DeviceState, why: str) -> list[ManagerEvent]:
        device_id = state.device.id
        events = [self._event("resumed", f"new jobs allowed again: {why}", device_id)]
        log.info("resource manager: %s: resumed (%s)", device_id, why)
        self._scheduler.set_paused(device_id, False)
        state.hold = None
        for job_id in sorted(state.throttled):
            if self.throttle is not None and self.throttle.resume(job_id):
                events.append(self._event("job_resumed", "resumed", device_id, job_id))
        state.throttled.clear()
        return events

    def poll(self) -> list[ManagerEvent]:
        """Read every device's telemetry and apply the limits; the events this produced."""
        events: list[ManagerEvent] = []
        with self._lock:
            for state in self._states():
                device_id = state.device.id
                try:
                    reading = self.backend.telemetry(device_id)
                except DeviceError as exc:
                    if state.telemetry_error is None:
                        events.append(self._event("telemetry_failed", exc.message, device_id))
                        log.error(
                            "resource manager: %s telemetry failed: %s", device_id, exc.message
                        )
                    state.telemetry_error = exc.message
                    events += self._hold(
                        state, f"telemetry unavailable ({exc.message})", "telemetry_hold"
                    )
                    continue
                recovered = state.telemetry_error is not None
                if recovered:
                    events.append(self._event("telemetry_ok", "telemetry answers again", device_id))
                state.telemetry, state.telemetry_error = reading, None
                over = self._over_limit(state, reading)
                if over is not None:
                    events += self._hold(state, over, "held")
                elif state.hold is not None and self._cool_enough(state, reading):
                    events += self._release_hold(state, "telemetry back within limits")
        return events

    def start_monitor(self, interval_s: float = 2.0) -> None:
        """Call `poll()` every `interval_s` seconds in a background thread until `close()`."""
        if interval_s <= 0:
            raise ComputeValueError("interval_s must be positive", hint="e.g. 2 seconds")
        with self._lock:
            if self._monitor is not None:
                return
            self._stop.clear()

            def loop() -> None:
                while not self._stop.wait(interval_s):
                    try:
                        self.poll()
                    except Exception:  # keep watching: a bug here must not stop the holds
                        log.exception("resource manager: poll failed")

            self._monitor = threading.Thread(target=loop, name="citrate-telemetry", daemon=True)
            self._monitor.start()

    def close(self) -> None:
        """Stop the monitor and release the device backend."""
        self._stop.set()
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.join()
        self.backend.close()

    # --- status ---

    def events(self) -> list[ManagerEvent]:
        with self._lock:
            return list(self._events)

    def status(self) -> dict[str, Any]:
        """Everything an operator (or `citrate compute status`) shows, JSON-ready."""
        with self._lock:
            devices = []
            for state in self._states():
                device = state.device
                ledger = self._scheduler.ledger(device.id)
                reading = state.telemetry
                devices.append(
                    {
                        "id": device.id,
                        "kind": device.kind,
                        "name": device.name,
                        "allocation_percent": state.allocation,
                        "total_memory": device.total_memory,
                        "share": int(ledger["share"]),
                        "reserved": int(ledger["reserved"]),
                        "free": int(ledger["free"]),
                        "max_jobs": state.max_jobs,
                        "running": self._scheduler.running(device.id),
                        "held": state.hold is not None,
                        "hold_reason": state.hold,
                        "paused_jobs": sorted(state.throttled),
                        "temperature_c": reading.temperature_c if reading else None,
                        "power_w": reading.power_w if reading else None,
                        "power_limit_w": self._power_limit(state),
                        "utilization": reading.utilization if reading else None,
                        "memory_used": reading.memory_used if reading else None,
                        "telemetry_error": state.telemetry_error,
                        "jobs_completed": state.completed,
                        "jobs_failed": state.failed,
                        "earned_wei": str(state.earned_wei),
                    }
                )
            return {
                "backend": self.backend.describe(),
                "scheduler": self.scheduler_kind,
                "limits": {
                    "max_temperature_c": self.max_temperature_c,
                    "max_power_w": self.max_power_w,
                },
                "devices": devices,
                "queued": self._scheduler.queued(),
                "active_jobs": len(self._scheduler.running()),
                "jobs_completed": sum(s.completed for s in self._states()),
                "jobs_failed": sum(s.failed for s in self._states()),
                "refused": len(self._refusals),
                "earned_wei": str(self.earned_wei),
                "events": [e.to_json() for e in list(self._events)[-20:]],
            }
