"""Run one task in an isolated process: `Sandbox.run(TaskSpec) -> TaskResult`.

Each task gets its own `python -m citrate_compute.worker` process (see `worker.py`) in its own
session, with its own working directory (0700, removed afterwards; the output is read from it),
a scrubbed environment, resource limits and a wall-clock timeout after which its whole process
group (and, under uid isolation, every process of its uid) is killed.

Isolation: what keeps one job from reading another's files or the provider's
------------------------------------------------------------------------------
The strongest mode this machine supports is chosen once (a probe process tries it) and shown in
`Sandbox.isolation` / `describe()`; a weaker fallback is logged as a warning, never silent:

- `uid` (the provider runs as root): every running job gets its own unprivileged uid/gid from a
  host-wide pool (`flock`ed lease files, so Ray workers on one host never share one), with no
  supplementary groups and no capabilities (`no_new_privs`; the worker verifies it cannot get
  root back). Its working directory is 0700 and owned by that uid, so other jobs cannot enter it;
  the provider's 0600/0700 files (wallet, keystore, data dir) are out of reach. In a private mount
  namespace, /tmp, /var/tmp and /dev/shm are fresh size-capped tmpfs, the provider's home and any
  configured paths are hidden, and only the paths a job needs (interpreter, site-packages, the
  model, its working directory) are bound back, read-only except the working directory; a
  network namespace leaves it without network (jobs get their inputs from the provider; this also
  keeps them off the node's RPC and an unauthenticated Ray cluster). After the job, every process
  of its uid is killed, so a job cannot leave a daemon behind. Without the mount namespace
  (`CAP_SYS_ADMIN` missing, e.g. Docker's default) the uid separation still holds.
- `userns` (not root, unprivileged user namespaces allowed): a user + mount (+ network)
  namespace hides the provider's home, the other jobs' directories and the configured paths. The
  job keeps the provider's uid on disk, so what is not hidden stays readable: list the provider's
  data directory in `SandboxConfig.hide_paths` if it is outside the home.
- `none`: private 0700 directories, scrubbed environment, limits and a session only. A job can
  read whatever the provider's user can: the status shows it and a warning is logged.

Memory: CPU jobs run under `RLIMIT_AS = memory_bytes` (address space, which is what PyTorch and
llama.cpp reserve, not only what they touch: resident memory is far lower). Peaks measured on
the development machine (x86-64, Python 3.11, torch 2.15 CUDA build, `MALLOC_ARENA_MAX=2`):
the worker with a trivial handler 19 MiB; llama.cpp with the Gemma 3 270M GGUF, 8 tokens
1.6 GiB (390 MiB resident; under a 1.5 GiB cap the context cannot be created); `import torch`
3.0 GiB; sentence-transformers with MiniLM, one text 3.6 GiB (1 GiB resident; a 3 GiB cap
fails with `killed="memory"`). `DEFAULT_MIN_MEMORY` rounds these up (2 GiB, 4.5 GiB) and a
declared memory below them is refused with a clear error instead of a crash at import. GPU
jobs get no address-space limit (CUDA reserves terabytes of virtual space); their worker caps
PyTorch with `torch.cuda.set_per_process_memory_fraction` when the job imports torch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import ComputeValueError, IsolationUnavailable, SandboxError
from .jobs import JobType
from .worker import (
    BUILTIN_HANDLERS,
    EXIT_SETUP,
    INPUT_FILE,
    OUTPUT_FILE,
    PROTOCOL_VERSION,
    TASK_FILE,
)

__all__ = [
    "DEFAULT_MIN_MEMORY",
    "Isolation",
    "RunControl",
    "Sandbox",
    "SandboxConfig",
    "TaskResult",
    "TaskSpec",
]

log = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Address-space floors (see the module docstring for the measurements they round up).
DEFAULT_MIN_MEMORY: Mapping[str, int] = {
    "handler": 96 * MiB,  # a custom `module:function` handler: the worker plus a little
    "inference": 2 * GiB,  # llama.cpp + a small GGUF
    "embedding": 4608 * MiB,  # PyTorch + sentence-transformers + MiniLM
}

IsolationMode = Literal["auto", "uid", "userns", "none"]
Killed = Literal["timeout", "memory", "cancelled"]

_MAX_MESSAGE = 64 * KiB  # one protocol line from the worker
_MAX_ERROR = 2000  # characters of an error in a TaskResult
_POLL_S = 0.25  # longest wait between checks of the deadline and of cancellation
# Replaced by a fresh tmpfs in each job's mount namespace (not used as temp paths here).
_PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")  # noqa: S108
_NEVER_HIDDEN = frozenset(Path(p) for p in ("/", "/proc", "/dev", "/sys", "/usr", "/etc"))


@dataclass(frozen=True)
class TaskSpec:
    """One execution of a job (what an `Executor` runs).

    Attributes:
        job_id: the job's id (only used in messages and for `cancel`; never in paths).
        job_type: selects the built-in handler.
        model: the model name or path the handler resolves (provider-side, trusted). An
            absolute path that exists is made readable inside the sandbox.
        input: the input document, already fetched and verified.
        memory_bytes: the cap: `RLIMIT_AS` for CPU jobs, PyTorch's per-process fraction on GPUs.
        timeout_s: wall-clock seconds of running time (time spent paused for heat is not
            counted), then the job is killed.
        device: the device id from the resource manager (`cpu0`, `gpu0`, ...).
        seed: passed to the handler.
        handler: a `module:function` override; only from the provider's own configuration and
            only if `SandboxConfig.allowed_handlers` lists it, never from a requester.
    """

    job_id: str
    job_type: JobType
    model: str
    input: bytes
    memory_bytes: int
    timeout_s: float
    device: str = "cpu0"
    seed: int = 0
    handler: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.job_id, str) or not self.job_id:
            raise ComputeValueError("a task needs a non-empty job_id", hint="pass the job's id")
        try:
            job_type = JobType.parse(self.job_type)
        except ValueError as exc:
            raise ComputeValueError(str(exc), hint="use a JobType") from exc
        object.__setattr__(self, "job_type", job_type)
        data: object = self.input
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
            object.__setattr__(self, "input", data)
        if not isinstance(data, bytes):
            raise ComputeValueError(
                f"task `{self.job_id}`: input must be bytes, not {type(data).__name__}",
                hint="pass the input document's bytes",
            )
        if isinstance(self.memory_bytes, bool) or not isinstance(self.memory_bytes, int):
            raise ComputeValueError(
                f"task `{self.job_id}`: memory_bytes must be an int",
                hint="declare the job's memory in bytes",
            )
        if self.memory_bytes <= 0:
            raise ComputeValueError(
                f"task `{self.job_id}`: memory_bytes must be positive, got `{self.memory_bytes}`",
                hint="declare the job's memory in bytes",
            )
        if not (isinstance(self.timeout_s, int | float) and math.isfinite(self.timeout_s)) or (
            self.timeout_s <= 0
        ):
            raise ComputeValueError(
                f"task `{self.job_id}`: timeout_s must be a positive number of seconds, "
                f"got `{self.timeout_s}`",
                hint="give the job a finite timeout",
            )
        if not (self.device.startswith(("cpu", "gpu")) and self.device[3:].isdigit()):
            raise ComputeValueError(
                f"task `{self.job_id}`: unknown device `{self.device}`",
                hint="use a device id from the resource manager, like cpu0 or gpu0",
            )

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("gpu")


@dataclass(frozen=True)
class TaskResult:
    """What came back. A failed task is a result with `ok=False`, never an exception.

    Attributes:
        output: the output document's bytes when `ok`.
        error: why it failed (clear, no secrets).
        exit_code: the worker's exit code (negative: killed by that signal); None if it never ran.
        duration_s: wall time from start to cleanup.
        killed: "timeout", "memory" or "cancelled" when the job was stopped for that reason.
    """

    job_id: str
    ok: bool
    output: bytes | None
    error: str | None
    exit_code: int | None
    duration_s: float
    killed: Killed | None = None


@dataclass(frozen=True)
class SandboxConfig:
    """The provider's sandbox settings.

    Attributes:
        root: where working directories go (default `$TMPDIR/citrate-compute-<euid>`); must be
            owned by the provider and not writable by others.
        isolation: "auto" (the strongest that works), or require "uid", "userns" or "none".
        uid_base / uid_count: the pool of per-job uids (uid mode); pick a range no one uses.
        uid_lock_dir: where the host-wide uid leases live (default `/run/citrate-compute-uids`,
            shared by every sandbox on the host whatever its root).
        allow_network: give jobs the network (off: an empty network namespace).
        private_tmp: fresh tmpfs /tmp, /var/tmp, /dev/shm per job (`tmp_bytes` each).
        hide_home: hide the provider's home directory from jobs.
        hide_paths: more directories to hide (the provider's data directory, keys, ...).
        read_paths: more paths jobs may read (model directories outside site-packages).
        extra_sys_path: directories added to the worker's `sys.path` (operator handlers).
        allowed_handlers: the `module:function` handlers a TaskSpec may name.
        max_output_bytes: larger outputs fail the task.
        max_file_bytes: `RLIMIT_FSIZE`: the largest file a job may write.
        max_open_files: `RLIMIT_NOFILE`.
        max_processes: `RLIMIT_NPROC` (threads count); only applied with per-job uids, where
            the count is the job's alone.
        threads: `OMP_NUM_THREADS` and friends for the job.
        min_memory: address-space floors (see `DEFAULT_MIN_MEMORY`).
        python: the interpreter for workers (default: this one).
    """

    root: Path | None = None
    isolation: IsolationMode = "auto"
    uid_base: int = 2_000_000_000
    uid_count: int = 1024
    uid_lock_dir: Path | None = None
    allow_network: bool = False
    private_tmp: bool = True
    tmp_bytes: int = 64 * MiB
    hide_home: bool = True
    hide_paths: tuple[Path, ...] = ()
    read_paths: tuple[Path, ...] = ()
    extra_sys_path: tuple[Path, ...] = ()
    allowed_handlers: frozenset[str] = frozenset()
    max_output_bytes: int = 16 * MiB
    max_file_bytes: int = 1 * GiB
    max_open_files: int = 1024
    max_processes: int = 512
    threads: int = 1
    min_memory: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_MIN_MEMORY), hash=False
    )
    python: str | None = None

    def __post_init__(self) -> None:
        if self.isolation not in ("auto", "uid", "userns", "none"):
            raise ComputeValueError(
                f"unknown isolation mode `{self.isolation}`", hint="use auto, uid, userns or none"
            )
        if self.uid_base <= 0 or self.uid_count <= 0 or self.uid_base + self.uid_count >= 2**32 - 1:
            raise ComputeValueError(
                f"bad job uid range {self.uid_base}+{self.uid_count}",
                hint="pick an unused range of 32-bit uids above 65535",
            )
        for name in ("max_output_bytes", "max_file_bytes", "max_open_files", "max_processes"):
            if getattr(self, name) <= 0:
                raise ComputeValueError(f"{name} must be positive", hint="raise the limit")
        if self.threads <= 0:
            raise ComputeValueError("threads must be positive", hint="use 1 or more")
        for name in ("hide_paths", "read_paths", "extra_sys_path"):
            paths = tuple(Path(p) for p in getattr(self, name))
            for path in paths:
                if not path.is_absolute():
                    raise ComputeValueError(
                        f"{name}: `{path}` is not an absolute path", hint="use absolute paths"
                    )
            object.__setattr__(self, name, paths)
        object.__setattr__(self, "allowed_handlers", frozenset(self.allowed_handlers))
        object.__setattr__(self, "min_memory", dict(self.min_memory))


@dataclass(frozen=True)
class Isolation:
    """The isolation in force: the mode, its namespaces, and why stronger modes were skipped."""

    mode: Literal["uid", "userns", "none"]
    mount_ns: bool = False
    net_ns: bool = False
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        parts: list[str] = [self.mode]
        if self.mount_ns:
            parts.append("mount-ns")
        if self.net_ns:
            parts.append("net-ns")
        return "+".join(parts)

    @property
    def protects_files(self) -> bool:
        """Whether another job's directory and the provider's private files are out of reach."""
        return self.mode == "uid" or (self.mode == "userns" and self.mount_ns)

    @property
    def gaps(self) -> list[str]:
        """What this mode does not enforce (shown to operators; see the module docstring)."""
        gaps = ["no PID namespace; disk is capped per file, memory by address space"]
        if self.mode != "uid":
            gaps.append(
                "a job runs as the provider's user: it can signal (stop or kill) the provider's "
                "processes and other jobs, and a process that calls setsid can outlive the job"
            )
        if not self.protects_files:
            gaps.append("a job can read every file the provider's user can")
        if not self.net_ns:
            gaps.append("jobs have network access")
        return gaps

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "label": self.label,
            "mount_namespace": self.mount_ns,
            "network_namespace": self.net_ns,
            "protects_files": self.protects_files,
            "gaps": self.gaps,
            "notes": list(self.notes),
        }


# --- Running processes --------------------------------------------------------------------------


def _uid_processes(uid: int) -> list[int]:
    """Live (not zombie) pids whose real uid is `uid`."""
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            with (entry / "status").open(encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("State:") and line.split()[1] in ("Z", "X"):
                        break  # dead, waiting for its (new) parent to reap it
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry.name))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return pids


def _signal_uid(uid: int, sig: int) -> int:
    count = 0
    for pid in _uid_processes(uid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            count += 1
    return count


def _sweep_uid(uid: int) -> None:
    """Kill every process of a job uid (a job may have left the process group with setsid)."""
    for _ in range(100):
        if _signal_uid(uid, signal.SIGKILL) == 0:
            return
        time.sleep(0.01)
    log.error("processes of job uid %d survive SIGKILL", uid)


class RunControl:
    """Cancel, pause and resume one running task (thread-safe; used by executors).

    Pausing sends SIGSTOP to the job's process group (and, under uid isolation, to every process
    of its uid); resuming sends SIGCONT. Time spent paused does not count toward the timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pgid: int | None = None
        self._uid: int | None = None
        self._finished = False
        self._cancelled = False
        self._paused_since: float | None = None
        self._paused_total = 0.0

    def _signal(self, sig: int) -> None:
        if self._pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pgid, sig)
        if self._uid is not None:
            _signal_uid(self._uid, sig)

    def cancel(self) -> bool:
        """Stop the task (now if it runs, before it starts otherwise). False if it finished."""
        with self._lock:
            if self._finished:
                return False
            self._cancelled = True
            self._signal(signal.SIGKILL)
            return True

    def pause(self) -> bool:
        """SIGSTOP the running task. False if it is not running or already paused."""
        with self._lock:
            if self._pgid is None or self._finished or self._paused_since is not None:
                return False
            self._signal(signal.SIGSTOP)
            self._paused_since = time.monotonic()
            return True

    def resume(self) -> bool:
        """SIGCONT a paused task. False if it is not paused."""
        with self._lock:
            if self._paused_since is None:
                return False
            if not self._finished:
                self._signal(signal.SIGCONT)
            self._paused_total += time.monotonic() - self._paused_since
            self._paused_since = None
            return True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    def _paused_seconds(self, now: float) -> float:
        with self._lock:
            extra = now - self._paused_since if self._paused_since is not None else 0.0
            return self._paused_total + extra

    def _attach(self, pgid: int, uid: int | None) -> bool:
        """Start controlling a process group; False (and killed) if cancelled meanwhile."""
        with self._lock:
            self._pgid, self._uid = pgid, uid
            if self._cancelled:
                self._signal(signal.SIGKILL)
                return False
            return True

    def _finish(self) -> None:
        with self._lock:
            self._finished = True
            self._pgid = None
            self._uid = None


# --- Per-job uids -------------------------------------------------------------------------------


class _UidLease:
    """A held uid. The lock file says `busy` while held: a holder that died without releasing
    (a provider killed mid-job) leaves it so, and the next holder sweeps the uid first."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd
        self.stale = os.pread(fd, 4, 0) == b"busy"
        os.pwrite(fd, b"busy", 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _default_uid_lock_dir() -> Path:
    run = Path("/run")
    if os.geteuid() == 0 and run.is_dir() and os.access(run, os.W_OK):
        return run / "citrate-compute-uids"
    return Path(tempfile.gettempdir()) / f"citrate-compute-uids-{os.geteuid()}"


class _UidPool:
    """Host-wide leases on job uids: one `flock`ed file per uid (released if the holder dies)."""

    def __init__(self, directory: Path, base: int, count: int) -> None:
        self._dir = directory
        self._base = base
        self._count = count
        self._ready = False

    def acquire(self) -> _UidLease:
        if not self._ready:  # created on first use: only uid isolation needs it
            _ensure_private_dir(self._dir, 0o700)
            self._ready = True
        start = secrets.randbelow(self._count)
        for i in range(self._count):
            uid = self._base + (start + i) % self._count
            fd = os.open(
                self._dir / f"{uid}.lock",
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return _UidLease(uid, fd)
        raise SandboxError(
            f"all {self._count} job uids are in use",
            hint="run fewer jobs at once or raise SandboxConfig.uid_count",
        )


# --- Files --------------------------------------------------------------------------------------


def _ensure_private_dir(path: Path, mode: int) -> None:
    """Create `path` (mode `mode`) or check that an existing one is ours and not shared."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=mode)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise SandboxError(
            f"`{path}` is not a private directory of this user (a symlink, another owner, or "
            "writable by others)",
            hint="remove it or set SandboxConfig.root to a directory only the provider owns",
        )
    if stat.S_IMODE(st.st_mode) != mode:
        path.chmod(mode)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _remove_tree(path: Path) -> None:
    """Remove a job directory, even one whose job made parts of it unreadable."""

    def retry(function: Callable[..., Any], failed: str, _exc: Any) -> None:
        target = Path(failed)
        with contextlib.suppress(OSError):
            target.parent.chmod(0o700)
            if not target.is_symlink():
                target.chmod(0o700)
        with contextlib.suppress(FileNotFoundError):
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                function(failed)

    if path.exists():
        shutil.rmtree(path, onerror=retry)


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-6:])[-limit:]


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


_MEMORY_HINTS = ("bad_alloc", "out of memory", "cannot allocate memory", "failed to allocate")


# --- The sandbox --------------------------------------------------------------------------------


@dataclass
class _Outcome:
    final: dict[str, Any] | None = None
    started: dict[str, Any] | None = None
    killed: Killed | None = None
    protocol_error: str | None = None


class Sandbox:
    """Runs tasks in isolated worker processes. Thread-safe; one per provider process.

    Args:
        config: the provider's settings (defaults: strongest isolation, no network).

    Raises:
        SandboxError: the root directory is unsafe.
        IsolationUnavailable: (on first use) a required isolation mode cannot be enforced.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        root = self.config.root or Path(tempfile.gettempdir()) / f"citrate-compute-{os.geteuid()}"
        if not root.is_absolute():
            raise SandboxError(
                f"sandbox root `{root}` is not absolute", hint="use an absolute path"
            )
        self.root = root
        # 0711: other uids may pass through to their own job directory, never list them.
        _ensure_private_dir(root, 0o711)
        self.jobs_dir = root / "jobs"
        _ensure_private_dir(self.jobs_dir, 0o711)
        self.logs_dir = root / "logs"
        _ensure_private_dir(self.logs_dir, 0o700)
        # Leases must be host-wide (not per root): two sandboxes with different roots, or Ray
        # workers on one machine, must never hand the same uid to two running jobs.
        uid_dir = self.config.uid_lock_dir or _default_uid_lock_dir()
        self._uids = _UidPool(uid_dir, self.config.uid_base, self.config.uid_count)
        self._python = self.config.python or sys.executable
        self._lock = threading.Lock()
        self._isolation: Isolation | None = None

    # --- isolation ---

    @property
    def isolation(self) -> Isolation:
        """The isolation in force (probed on first use)."""
        with self._lock:
            if self._isolation is None:
                self._isolation = self._choose_isolation()
            return self._isolation

    def describe(self) -> dict[str, Any]:
        """Status for operators: isolation, limits, root."""
        return {
            "isolation": self.isolation.describe(),
            "root": str(self.root),
            "network": self.config.allow_network,
            "max_output_bytes": self.config.max_output_bytes,
            "max_file_bytes": self.config.max_file_bytes,
        }

    def _ladder(self) -> list[Isolation]:
        wanted = self.config.isolation
        net = not self.config.allow_network
        ladder: list[Isolation] = []
        if wanted in ("auto", "uid"):
            if os.geteuid() == 0:
                ladder += [Isolation("uid", True, net), Isolation("uid", False, False)]
            elif wanted == "uid":
                raise IsolationUnavailable(
                    "uid isolation needs the provider to run as root",
                    hint="run the provider as root, or use isolation='auto'",
                )
        if wanted in ("auto", "userns"):
            ladder.append(Isolation("userns", True, net))
        if wanted in ("auto", "none"):
            ladder.append(Isolation("none"))
        return ladder

    def _choose_isolation(self) -> Isolation:
        notes: list[str] = []
        for candidate in self._ladder():
            if candidate.mode == "none":
                chosen = replace(candidate, notes=tuple(notes))
                if self.config.isolation == "auto":
                    log.warning(
                        "sandbox: using none isolation: jobs can read what the provider's user "
                        "can read (%s)",
                        "; ".join(notes) or "none tried",
                    )
                return chosen
            why = self._probe(candidate)
            if why is None:
                if notes:
                    log.warning(
                        "sandbox: using %s isolation (%s)", candidate.label, "; ".join(notes)
                    )
                else:
                    log.info("sandbox: using %s isolation", candidate.label)
                return replace(candidate, notes=tuple(notes))
            notes.append(f"{candidate.label} unavailable: {why}")
        raise IsolationUnavailable(
            f"{self.config.isolation} isolation cannot be enforced here: {'; '.join(notes)}",
            hint="use isolation='auto' to fall back to what this machine supports",
        )

    def _probe(self, isolation: Isolation) -> str | None:
        """Run a do-nothing job under `isolation`; None if it worked, else why not."""
        spec = TaskSpec(
            job_id="isolation-probe",
            job_type=JobType.INFERENCE,
            model="",
            input=b"",
            memory_bytes=self.config.min_memory.get("handler", 96 * MiB),
            timeout_s=30.0,
        )
        try:
            result = self._execute(spec, isolation, RunControl(), None, probe=True)
        except SandboxError as exc:
            return exc.message
        return None if result.ok else (result.error or "the probe failed")

    # --- running ---

    def run(
        self,
        spec: TaskSpec,
        *,
        control: RunControl | None = None,
        on_progress: Callable[[str, float], None] | None = None,
    ) -> TaskResult:
        """Run `spec` to completion. Never raises for a failing job: see `TaskResult`."""
        started = time.monotonic()
        refusal = self._refusal(spec)
        if refusal is not None:
            return TaskResult(spec.job_id, False, None, refusal, None, 0.0)
        try:
            isolation = self.isolation
        except IsolationUnavailable as exc:
            return TaskResult(spec.job_id, False, None, str(exc), None, 0.0)
        try:
            return self._execute(spec, isolation, control or RunControl(), on_progress)
        except SandboxError as exc:
            log.error("sandbox: job %s could not start: %s", spec.job_id, exc.message)
            return TaskResult(spec.job_id, False, None, str(exc), None, time.monotonic() - started)

    def _refusal(self, spec: TaskSpec) -> str | None:
        """Why `spec` must not run here, or None."""
        if spec.handler is not None:
            if spec.handler not in self.config.allowed_handlers:
                return (
                    f"handler `{spec.handler}` is not allowed by this provider's configuration\n"
                    "hint: list it in SandboxConfig.allowed_handlers (requesters cannot pick "
                    "handlers)"
                )
        elif spec.job_type not in BUILTIN_HANDLERS:
            served = ", ".join(t.name.lower() for t in BUILTIN_HANDLERS)
            return (
                f"job type `{spec.job_type.name.lower()}` has no handler on this provider\n"
                f"hint: this provider runs {served} jobs"
            )
        if not spec.on_gpu:
            key = "handler" if spec.handler else spec.job_type.name.lower()
            floor = self.config.min_memory.get(key, self.config.min_memory.get("handler", 0))
            if spec.memory_bytes < floor:
                return (
                    f"declared memory {spec.memory_bytes} bytes is below the {floor} bytes of "
                    f"address space that {key} jobs need to start\n"
                    f"hint: declare at least {floor} bytes (see SandboxConfig.min_memory)"
                )
        return None

    def _environment(self, spec: TaskSpec, workdir: Path) -> dict[str, str]:
        """The job's whole environment: nothing from the provider's (no keys, no wallet vars)."""
        threads = str(self.config.threads)
        bin_dir = Path(self._python).parent
        return {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "NUMEXPR_NUM_THREADS": threads,
            "TOKENIZERS_PARALLELISM": "false",
            # glibc's per-thread arenas reserve 64 MiB of address space each; under RLIMIT_AS
            # that would be charged to every thread of the job.
            "MALLOC_ARENA_MAX": "2",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "CUDA_VISIBLE_DEVICES": spec.device[3:] if spec.on_gpu else "",
        }

    def _task_document(
        self,
        spec: TaskSpec,
        isolation: Isolation,
        workdir: Path,
        uid: int | None,
        progress_fd: int,
        probe: bool,
    ) -> dict[str, Any]:
        config = self.config
        hide: list[str] = [str(p) for p in config.hide_paths]
        if config.hide_home:
            hide.append(str(Path.home()))
        if isolation.mode == "userns":
            hide.append(str(self.root))  # other jobs' directories and the logs
        # A home of `/` (some service accounts) or a system mount cannot be covered.
        hide = [p for p in hide if Path(p).resolve() not in _NEVER_HIDDEN]
        read_paths = [str(p) for p in config.read_paths]
        if Path(spec.model).is_absolute() and Path(spec.model).exists():
            read_paths.append(spec.model)
        cpus = os.cpu_count() or 1
        limits: dict[str, int | None] = {
            "as": None if spec.on_gpu else spec.memory_bytes,
            "cpu": math.ceil(spec.timeout_s * max(cpus, config.threads)) + 2,
            "nofile": config.max_open_files,
            "fsize": config.max_file_bytes,
            "nproc": config.max_processes if isolation.mode == "uid" else None,
        }
        return {
            "version": PROTOCOL_VERSION,
            "probe": probe,
            "job_id": spec.job_id,
            "job_type": int(spec.job_type),
            "model": spec.model,
            "seed": spec.seed,
            "device": spec.device,
            "memory_bytes": spec.memory_bytes,
            "handler": spec.handler,
            "threads": config.threads,
            "workdir": str(workdir),
            "progress_fd": progress_fd,
            "parent_pid": os.getpid(),
            "max_output_bytes": config.max_output_bytes,
            "extra_sys_path": [str(p) for p in config.extra_sys_path],
            "limits": limits,
            "isolation": {
                "mode": isolation.mode,
                "uid": uid,
                "gid": uid,
                "mount_ns": isolation.mount_ns,
                "net_ns": isolation.net_ns,
                "private_tmp": list(_PRIVATE_TMP) if config.private_tmp else [],
                "tmp_bytes": config.tmp_bytes,
                "hide": hide,
                "read_paths": read_paths,
            },
        }

    def _execute(
        self,
        spec: TaskSpec,
        isolation: Isolation,
        control: RunControl,
        on_progress: Callable[[str, float], None] | None,
        *,
        probe: bool = False,
    ) -> TaskResult:
        started = time.monotonic()
        if control.cancelled:
            control._finish()
            return TaskResult(spec.job_id, False, None, "cancelled", None, 0.0, "cancelled")
        lease = self._uids.acquire() if isolation.mode == "uid" else None
        uid = lease.uid if lease else None
        token = secrets.token_hex(8)
        workdir = self.jobs_dir / token
        log_path = self.logs_dir / f"{token}.log"
        read_fd = write_fd = -1
        proc: subprocess.Popen[bytes] | None = None
        try:
            if lease is not None and lease.stale:
                _sweep_uid(lease.uid)  # left over from a provider that died mid-job
            workdir.mkdir(mode=0o700)
            read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
            document = self._task_document(spec, isolation, workdir, uid, write_fd, probe)
            _write_private(workdir / INPUT_FILE, spec.input)
            _write_private(workdir / TASK_FILE, json.dumps(document).encode())
            if uid is not None:
                for path in (workdir / INPUT_FILE, workdir / TASK_FILE, workdir):
                    os.chown(path, uid, uid, follow_symlinks=False)
            with open(log_path, "wb", opener=_private_opener) as log_file:
                proc = subprocess.Popen(
                    [self._python, "-s", "-P", "-m", "citrate_compute.worker", str(workdir)],
                    cwd=workdir,
                    env=self._environment(spec, workdir),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                )
            os.close(write_fd)
            write_fd = -1
            outcome = self._wait(proc, spec, control, read_fd, on_progress, uid)
            return self._result(spec, proc, outcome, workdir, log_path, uid, started, probe)
        except OSError as exc:
            raise SandboxError(
                f"cannot start the job process: {exc}",
                hint=f"check that {self.root} is writable and {self._python} runs",
            ) from exc
        finally:
            if proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                if proc.returncode is None:
                    proc.kill()
                    proc.wait()
            control._finish()
            if uid is not None:
                _sweep_uid(uid)
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
            try:
                _remove_tree(workdir)
                with contextlib.suppress(FileNotFoundError):
                    log_path.unlink()
            except OSError as exc:  # keep the job's result; the operator sees the leftover
                log.error("sandbox: cannot remove %s: %s", workdir, exc)
            if lease is not None:
                lease.release()

    def _wait(
        self,
        proc: subprocess.Popen[bytes],
        spec: TaskSpec,
        control: RunControl,
        read_fd: int,
        on_progress: Callable[[str, float], None] | None,
        uid: int | None,
    ) -> _Outcome:
        outcome = _Outcome()
        if not control._attach(proc.pid, uid):
            outcome.killed = "cancelled"
        start = time.monotonic()
        pidfd = os.pidfd_open(proc.pid)
        os.set_blocking(read_fd, False)
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(read_fd, selectors.EVENT_READ)
            selector.register(pidfd, selectors.EVENT_READ)
            pipe_open = True
            protocol_kill_sent = False
            try:
                while True:
                    if control.cancelled and outcome.killed is None:
                        outcome.killed = "cancelled"
                        _kill_group(proc.pid)
                    now = time.monotonic()
                    remaining = spec.timeout_s - (now - start - control._paused_seconds(now))
                    if remaining <= 0 and outcome.killed is None and not control.paused:
                        outcome.killed = "timeout"
                        _kill_group(proc.pid)
                    # Short waits keep the loop responsive to an asynchronous exception (Ray's
                    # cancel raises KeyboardInterrupt in this thread, checked between waits).
                    stopping = outcome.killed is not None or outcome.protocol_error is not None
                    if stopping or control.paused:
                        wait = _POLL_S
                    else:
                        wait = min(max(remaining, 0.0), _POLL_S)
                    exited = False
                    for key, _ in selector.select(wait):
                        if key.fd == pidfd:
                            exited = True
                        elif pipe_open:
                            pipe_open, buffer = self._read_messages(
                                read_fd, buffer, outcome, spec, on_progress
                            )
                            if not pipe_open:
                                selector.unregister(read_fd)
                    if exited:
                        if pipe_open:  # whatever the worker wrote before it exited
                            self._read_messages(read_fd, buffer, outcome, spec, on_progress)
                        break
                    if outcome.protocol_error and not protocol_kill_sent:
                        _kill_group(proc.pid)
                        protocol_kill_sent = True
            finally:
                os.close(pidfd)
        proc.wait()
        if control.cancelled and outcome.killed is None:
            outcome.killed = "cancelled"  # killed by cancel() while the loop was waiting
        if outcome.started is not None:
            log.debug("job %s ran with %s", spec.job_id, outcome.started.get("features"))
        return outcome

    def _read_messages(
        self,
        fd: int,
        buffer: bytes,
        outcome: _Outcome,
        spec: TaskSpec,
        on_progress: Callable[[str, float], None] | None,
    ) -> tuple[bool, bytes]:
        """Read what is available; returns (pipe still open, unparsed tail)."""
        open_ = True
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                open_ = False
                break
            buffer += chunk
            if len(buffer) > _MAX_MESSAGE and b"\n" not in buffer[-_MAX_MESSAGE:]:
                outcome.protocol_error = "the job sent an oversized message to the provider"
                return False, b""
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "progress" and on_progress is not None:
                value = message.get("value")
                if isinstance(value, int | float) and 0.0 <= value <= 1.0:
                    try:
                        on_progress(spec.job_id, float(value))
                    except Exception:  # a display callback must not break the job
                        log.exception("progress callback failed")
            elif kind == "started" and outcome.started is None:
                outcome.started = message
            elif kind in ("done", "error") and outcome.final is None:
                outcome.final = message
        return open_, buffer

    def _result(
        self,
        spec: TaskSpec,
        proc: subprocess.Popen[bytes],
        outcome: _Outcome,
        workdir: Path,
        log_path: Path,
        uid: int | None,
        started: float,
        probe: bool,
    ) -> TaskResult:
        code = proc.returncode

        def failed(error: str, killed: Killed | None = None) -> TaskResult:
            return TaskResult(
                spec.job_id, False, None, _clip(error), code, time.monotonic() - started, killed
            )

        if outcome.killed == "cancelled":
            return failed("cancelled", "cancelled")
        if outcome.killed == "timeout":
            return failed(
                f"timed out after {spec.timeout_s:g} s of running time: the job was killed",
                "timeout",
            )
        if outcome.protocol_error:
            return failed(outcome.protocol_error)
        final = outcome.final
        if final is not None and final.get("type") == "error":
            kind = final.get("kind")
            message = str(final.get("error", "the job failed"))
            if kind == "memory":
                return failed(
                    f"out of memory: the job needed more than its cap of {spec.memory_bytes} "
                    "bytes and was stopped\nhint: declare more memory for this job",
                    "memory",
                )
            if kind == "setup":
                if not probe:
                    log.error("sandbox: confinement failed for job %s: %s", spec.job_id, message)
                return failed(f"sandbox setup failed: {message}")
            return failed(message)
        if code is not None and code < 0:
            signame = _signal_name(-code)
            tail = _tail(log_path)
            if -code == signal.SIGXCPU:
                return failed("the job used up its CPU time limit and was killed", "timeout")
            if any(word in tail.lower() for word in _MEMORY_HINTS):
                return failed(
                    f"out of memory: the job was killed by {signame} after an allocation failed "
                    f"under its cap of {spec.memory_bytes} bytes",
                    "memory",
                )
            return failed(
                f"the job process died ({signame}) before finishing" + (f": {tail}" if tail else "")
            )
        if final is None or final.get("type") != "done" or code != 0:
            tail = _tail(log_path)
            if code == EXIT_SETUP and not tail:
                tail = "the worker could not read its task"
            return failed(
                f"the job process exited with code {code} before reporting a result"
                + (f": {tail}" if tail else "")
            )
        if probe:
            return TaskResult(spec.job_id, True, b"", None, code, time.monotonic() - started)
        output, error = _read_output(workdir / OUTPUT_FILE, uid, self.config.max_output_bytes)
        if error is not None:
            return failed(error)
        return TaskResult(spec.job_id, True, output, None, code, time.monotonic() - started)


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _read_output(path: Path, uid: int | None, cap: int) -> tuple[bytes | None, str | None]:
    """The job's output file, read without following links and only if the job wrote it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, "the job reported success but wrote no output"
    except OSError:
        return None, "the job's output is not a regular file (a link?): refused"
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_nlink != 1
            or (uid is not None and st.st_uid != uid)
        ):
            return None, "the job's output is not a regular file it wrote itself: refused"
        if st.st_size > cap:
            return None, f"output too large: {st.st_size} bytes, the cap is {cap}"
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            return None, f"output too large: more than {cap} bytes"
        return b"".join(chunks), None
    finally:
        os.close(fd)
