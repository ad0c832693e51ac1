"""Executors: where sandboxed tasks run.

`LocalExecutor` (the embedded default) runs each task in a `Sandbox` on this machine from a
small thread pool. `RayExecutor` sends each task to a Ray cluster (for providers whose GPUs span
several machines); the Ray worker that picks it up runs the very same `Sandbox` on its own
machine, so isolation holds there too. Both resolve every future to a `TaskResult`: a failing,
killed or cancelled task is a result with `ok=False`, never an exception.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from .errors import DuplicateJob, ExecutorClosed, RuntimeUnavailable
from .sandbox import RunControl, Sandbox, SandboxConfig, TaskResult, TaskSpec

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "TaskResult", "TaskSpec"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float], None]


def _failed(spec: TaskSpec, error: str, killed: Any = None, duration: float = 0.0) -> TaskResult:
    return TaskResult(spec.job_id, False, None, error, None, duration, killed)


def _resolve(future: Future[TaskResult], result: TaskResult) -> None:
    with contextlib.suppress(InvalidStateError):  # already resolved (e.g. cancelled meanwhile)
        future.set_result(result)


class Executor(ABC):
    """Runs `TaskSpec`s; every future resolves to a `TaskResult`.

    `pause`/`resume` (thermal throttling) are optional: executors that cannot reach the job's
    process return False.
    """

    name: str = "executor"

    @abstractmethod
    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        """Queue `spec`. Raises `ExecutorClosed` after `shutdown`, `DuplicateJob` if a task with
        the same job id is still queued or running."""

    @abstractmethod
    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running task (its future resolves with `killed="cancelled"`).
        False if there is no such task or it already finished."""

    @abstractmethod
    def shutdown(self) -> None:
        """Cancel what is queued or running, wait for it, and release the executor."""

    def pause(self, job_id: str) -> bool:
        """Stop a running task's processes (SIGSTOP). False if unsupported or not running."""
        return False

    def resume(self, job_id: str) -> bool:
        """Continue a paused task. False if unsupported or not paused."""
        return False

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


# --- Local --------------------------------------------------------------------------------------


@dataclass
class _LocalEntry:
    future: Future[TaskResult]
    control: RunControl
    inner: Future[None] | None = None


class LocalExecutor(Executor):
    """Runs tasks on this machine, `max_workers` at a time, each in its own sandboxed process.

    Args:
        max_workers: tasks running at once (the resource manager decides what may start; this
            only bounds the threads that wait on job processes).
        sandbox: the sandbox to use (default: one built from `config`).
        config: sandbox settings when no sandbox is given.
        on_progress: called with (job_id, 0.0-1.0) as jobs report progress.
    """

    name = "local"

    def __init__(
        self,
        max_workers: int = 2,
        *,
        sandbox: Sandbox | None = None,
        config: SandboxConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.sandbox = sandbox or Sandbox(config)
        # Probe now: a setup problem shows at start, not at the first job.
        log.info("local executor: %s isolation", self.sandbox.isolation.label)
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="citrate-job")
        self._jobs: dict[str, _LocalEntry] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._on_progress = on_progress

    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        with self._lock:
            if self._closed:
                raise ExecutorClosed(
                    "the local executor was shut down", hint="create a new executor"
                )
            if spec.job_id in self._jobs:
                raise DuplicateJob(
                    f"job `{spec.job_id}` is already queued or running here",
                    hint="wait for its result or cancel it first",
                )
            future: Future[TaskResult] = Future()
            future.set_running_or_notify_cancel()  # cancel through the executor, not the future
            entry = _LocalEntry(future, RunControl())
            self._jobs[spec.job_id] = entry
            entry.inner = self._pool.submit(self._run, spec, entry)
        return future

    def _run(self, spec: TaskSpec, entry: _LocalEntry) -> None:
        started = time.monotonic()
        try:
            result = self.sandbox.run(spec, control=entry.control, on_progress=self._on_progress)
        except BaseException as exc:  # never leave a future unresolved
            log.exception("local executor: job %s failed inside the executor", spec.job_id)
            result = _failed(
                spec, f"internal error: {type(exc).__name__}", duration=time.monotonic() - started
            )
        finally:
            with self._lock:
                if self._jobs.get(spec.job_id) is entry:
                    del self._jobs[spec.job_id]
        _resolve(entry.future, result)

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            entry = self._jobs.get(job_id)
            if entry is None:
                return False
            if entry.inner is not None and entry.inner.cancel():
                del self._jobs[job_id]
                queued = True
            else:
                queued = False
        if queued:
            _resolve(
                entry.future,
                TaskResult(
                    job_id, False, None, "cancelled before it started", None, 0.0, "cancelled"
                ),
            )
            return True
        return entry.control.cancel()

    def pause(self, job_id: str) -> bool:
        with self._lock:
            entry = self._jobs.get(job_id)
        return entry is not None and entry.control.pause()

    def resume(self, job_id: str) -> bool:
        with self._lock:
            entry = self._jobs.get(job_id)
        return entry is not None and entry.control.resume()

    def running(self) -> list[str]:
        """Job ids queued or running."""
        with self._lock:
            return sorted(self._jobs)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            job_ids = list(self._jobs)
        for job_id in job_ids:
            self.cancel(job_id)
        self._pool.shutdown(wait=True)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "sandbox": self.sandbox.describe()}


# --- Ray ----------------------------------------------------------------------------------------

_SANDBOXES: dict[SandboxConfig, Sandbox] = {}
_SANDBOXES_LOCK = threading.Lock()


def _sandbox_for(config: SandboxConfig) -> Sandbox:
    """One sandbox per configuration per process (a Ray worker serves many tasks)."""
    with _SANDBOXES_LOCK:
        sandbox = _SANDBOXES.get(config)
        if sandbox is None:
            sandbox = _SANDBOXES[config] = Sandbox(config)
        return sandbox


def _ray_task(spec: TaskSpec, config: SandboxConfig) -> TaskResult:
    """Runs on a Ray worker: the same sandbox, on that worker's machine."""
    if spec.on_gpu:
        import ray

        gpus = ray.get_gpu_ids()
        if gpus:  # the GPU Ray gave this task on its machine
            spec = replace(spec, device=f"gpu{int(float(gpus[0]))}")
    return _sandbox_for(config).run(spec)


def _ray_isolation(config: SandboxConfig) -> dict[str, Any]:
    return _sandbox_for(config).describe()


@dataclass
class _RayEntry:
    spec: TaskSpec
    future: Future[TaskResult]
    ref: Any
    cancelled: bool = False


class RayExecutor(Executor):
    """Runs each task as a Ray task whose worker runs it in a `Sandbox` on its own machine.

    Args:
        address: None starts a private local Ray instance (`num_cpus` CPUs); "auto" joins the
            cluster of this machine; "ray://host:10001" connects through Ray Client.
        num_cpus: CPUs of a local instance started here.
        config: sandbox settings (shipped with every task; paths must exist on the workers).
        cpus_per_task: Ray CPUs each task holds (default: the sandbox's thread count).
        init_kwargs: more `ray.init` arguments.

    Raises:
        RuntimeUnavailable: Ray is not installed.

    Progress is not streamed back from Ray workers, and `pause`/`resume` are not supported (the
    job's processes live on another machine); the resource manager then only holds new jobs.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        config: SandboxConfig | None = None,
        cpus_per_task: float | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        # Ray starts its workers with `uv run …` when the driver runs under `uv run` (its "uv
        # run runtime env", on by default), so every worker re-syncs the project: minutes, or a
        # hang on uv's lock while the driver's own `uv run` holds it. The workers must use this
        # interpreter and environment as they are. Read when Ray is imported.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError as exc:
            raise RuntimeUnavailable(
                "Ray is not installed, so the Ray executor cannot run",
                hint="pip install 'citrate-compute[ray]', or use the local executor",
            ) from exc
        self._ray = ray
        self.config = config or SandboxConfig()
        self._owns_ray = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address is None and num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            kwargs.update(init_kwargs or {})
            ray.init(address=address, **kwargs)
            self._owns_ray = True
        cpus = self.config.threads if cpus_per_task is None else cpus_per_task
        self._remote = ray.remote(num_cpus=cpus, max_retries=0)(_ray_task)
        self._jobs: dict[str, _RayEntry] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        with self._lock:
            if self._closed:
                raise ExecutorClosed("the Ray executor was shut down", hint="create a new one")
            if spec.job_id in self._jobs:
                raise DuplicateJob(
                    f"job `{spec.job_id}` is already queued or running here",
                    hint="wait for its result or cancel it first",
                )
            future: Future[TaskResult] = Future()
            future.set_running_or_notify_cancel()
            options: dict[str, Any] = {"name": f"citrate-job-{spec.job_id}"}
            if spec.on_gpu:
                options["num_gpus"] = 1
            ref = self._remote.options(**options).remote(spec, self.config)
            entry = _RayEntry(spec, future, ref)
            self._jobs[spec.job_id] = entry
        started = time.monotonic()
        ref.future().add_done_callback(lambda done: self._done(entry, done, started))
        return future

    def _done(self, entry: _RayEntry, done: Future[Any], started: float) -> None:
        ray = self._ray
        spec = entry.spec
        with self._lock:
            if self._jobs.get(spec.job_id) is entry:
                del self._jobs[spec.job_id]
        elapsed = time.monotonic() - started
        try:
            result = done.result()
        except BaseException as exc:
            if entry.cancelled or isinstance(exc, ray.exceptions.TaskCancelledError):
                result = _failed(spec, "cancelled", "cancelled", elapsed)
            elif isinstance(exc, ray.exceptions.WorkerCrashedError | ray.exceptions.NodeDiedError):
                result = _failed(spec, "the Ray worker running the job died", duration=elapsed)
            else:
                cause = getattr(exc, "cause", None) or exc
                log.warning("ray executor: job %s failed in Ray: %r", spec.job_id, exc)
                result = _failed(
                    spec, f"the Ray task failed: {type(cause).__name__}", duration=elapsed
                )
        else:
            if not isinstance(result, TaskResult):
                result = _failed(spec, "the Ray task returned no result", duration=elapsed)
            elif entry.cancelled and not result.ok:
                # Ray's cancel interrupts the task wherever it is; whatever the sandbox then
                # reported (interrupted, killed), the job ended because it was cancelled.
                result = replace(result, error="cancelled", killed="cancelled")
        _resolve(entry.future, result)

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            entry = self._jobs.get(job_id)
            if entry is None or entry.future.done():
                return False
            entry.cancelled = True
        # Not force=True: that kills the Ray worker without the sandbox's cleanup. Without it
        # Ray raises KeyboardInterrupt in the task and the sandbox kills the job's processes.
        self._ray.cancel(entry.ref, force=False)
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            entries = list(self._jobs.values())
        for entry in entries:
            self.cancel(entry.spec.job_id)
        for entry in entries:
            with contextlib.suppress(Exception):
                entry.future.result(timeout=30)
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    def isolation(self) -> dict[str, Any]:
        """The sandbox as a Ray worker sees it (runs a small Ray task)."""
        remote = self._ray.remote(num_cpus=0)(_ray_isolation)
        described: dict[str, Any] = self._ray.get(remote.remote(self.config))
        return described

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "ray_owned": self._owns_ray}
