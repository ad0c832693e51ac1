"""The job process: `python -m citrate_compute.worker WORKDIR`, started by `sandbox.Sandbox`.

The parent writes `WORKDIR/task.json` (what to run and how to confine it) and `WORKDIR/input`
(the input document). This process then, before any job code runs:

1. confines itself as the task says (see `_confine`): a private mount namespace in which the
   paths the job needs are visible (the interpreter, site-packages, the model, its own working
   directory) and others are hidden (a private /tmp, the provider's home, configured paths), a
   network namespace with no interfaces up, resource limits, `no_new_privs`, and, when the
   provider runs as root, a per-job unprivileged uid/gid (no supplementary groups, no
   capabilities); without root, a user namespace provides the mounts instead;
2. resolves the handler (the built-in one for the job type from `citrate_compute.handlers`, or a
   `module:function` the provider's configuration allows), runs it with a `HandlerContext`, and
   writes what it returns to `WORKDIR/output`.

It reports to the parent over an inherited pipe, one JSON object per line:
`{"type": "progress", "value": 0.5}`, then `{"type": "done", "size": n}` or
`{"type": "error", "kind": ..., "error": ...}` (kinds: handler, memory, output, setup,
unsupported).
The parent trusts none of it for safety: it checks the output file itself (regular file, owner,
size) and enforces the timeout and memory cap from outside.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import json
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ComputeError, UnsupportedJobType
from .jobs import JobType

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

__all__ = [
    "BUILTIN_HANDLERS",
    "HandlerContext",
    "resolve_handler",
]

TASK_FILE = "task.json"
INPUT_FILE = "input"
OUTPUT_FILE = "output"
PROTOCOL_VERSION = 1

# Exit codes (the parent reads the status line first; these are for humans and crash paths).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_MEMORY = 3
EXIT_SETUP = 70

# Built-in handlers by job type (helper module `citrate_compute.handlers`). Training, LoRA and
# image jobs have no built-in handler yet: they fail with `UnsupportedJobType`.
BUILTIN_HANDLERS: dict[JobType, str] = {
    JobType.INFERENCE: "citrate_compute.handlers:inference",
    JobType.EMBEDDING: "citrate_compute.handlers:embedding",
}


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets. A handler is `def handler(ctx: HandlerContext) -> bytes`.

    Attributes:
        input: the input document (already fetched and verified by the provider).
        model: the model name or path the provider resolved (trusted, provider-side).
        seed: the seed to use for anything random.
        workdir: the job's private working directory (also its HOME and TMPDIR).
        report_progress: call with 0.0-1.0 to report progress (rate-limited, never raises).
        job_id / job_type / device / threads / memory_bytes: the task's settings.
    """

    input: bytes
    model: str
    seed: int
    workdir: Path
    report_progress: Callable[[float], None]
    job_id: str = ""
    job_type: JobType = JobType.INFERENCE
    device: str = "cpu0"
    threads: int = 1
    memory_bytes: int = 0


Handler = Callable[[HandlerContext], bytes]


def resolve_handler(job_type: JobType, override: str | None = None) -> Handler:
    """The handler for `job_type`, or the `module:function` named by `override`.

    Raises:
        UnsupportedJobType: no built-in handler for the type and no override.
        ComputeError: the override is malformed or does not name a callable.
        ImportError: the handler's module cannot be imported.
    """
    target = override or BUILTIN_HANDLERS.get(job_type)
    if target is None:
        served = ", ".join(t.name.lower() for t in BUILTIN_HANDLERS)
        raise UnsupportedJobType(
            f"job type `{job_type.name.lower()}` has no handler on this provider",
            hint=f"this provider runs {served} jobs; do not bid on other types",
        )
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ComputeError(
            f"handler `{target}` is not of the form module:function",
            hint="name handlers like `my_package.handlers:run`",
        )
    module = importlib.import_module(module_name)
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ComputeError(
            f"handler `{target}` does not name a function",
            hint="check the handler name in the provider's configuration",
        )
    return handler  # type: ignore[no-any-return]


# --- Reporting ----------------------------------------------------------------------------------


class _Reporter:
    """Line protocol to the parent over the inherited pipe."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._last_progress = -1.0
        self._last_time = 0.0

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        with contextlib.suppress(OSError):  # the parent is gone: nothing to tell
            os.write(self._fd, data)

    def progress(self, value: float) -> None:
        try:
            value = min(1.0, max(0.0, float(value)))
        except (TypeError, ValueError):
            return
        now = time.monotonic()
        if value == self._last_progress:
            return
        if value < 1.0 and value - self._last_progress < 0.01 and now - self._last_time < 0.2:
            return
        self._last_progress, self._last_time = value, now
        self.send({"type": "progress", "value": value})


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, ComputeError):
        return f"{type(exc).__name__}: {exc}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_MEMORY_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory", "bad_alloc")


def _is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _MEMORY_WORDS)


# --- Confinement --------------------------------------------------------------------------------

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_NOATIME = 1024
_MS_NODIRATIME = 2048
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MS_RELATIME = 1 << 21
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class SetupError(Exception):
    """Confinement could not be applied; the job does not run."""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _Libc:
    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise SetupError(f"{what}: {os.strerror(errno)}")

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), "unshare")

    def mount(self, source: str, target: str, fstype: str | None, flags: int, data: str) -> None:
        result = self._libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        )
        self._check(result, f"mount {target}")

    def prctl(self, option: int, value: int) -> None:
        ulong = ctypes.c_ulong
        self._check(self._libc.prctl(option, ulong(value), ulong(0), ulong(0), ulong(0)), "prctl")

    def drop_capabilities(self) -> None:
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        # glibc's capset(2) wrapper; the result is checked through /proc/self/status afterwards.
        self._check(self._libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _capabilities_effective() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return -1


def _searchable(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid == gid:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


def _ancestors(path: Path) -> list[Path]:
    """`/`, `/a`, `/a/b` for `/a/b/c` (strict ancestors, outermost first)."""
    return list(reversed(path.parents))


def _is_under(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents


def _outermost(paths: list[Path]) -> list[Path]:
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: len(p.parts)):
        if not any(_is_under(path, other) for other in kept):
            kept.append(path)
    return kept


def _needed_paths(task: dict[str, Any]) -> tuple[list[Path], Path]:
    """Read-only paths the job must see (interpreter, imports, model), and its workdir."""
    candidates: list[str] = [sys.base_prefix, sys.prefix, str(Path(sys.executable).parent)]
    candidates += [p for p in sys.path if p]
    candidates += task.get("extra_sys_path", [])
    candidates += task["isolation"].get("read_paths", [])
    found: list[Path] = []
    for raw in candidates:
        try:
            path = Path(raw).resolve(strict=True)
        except OSError:
            continue
        found.append(path)
    return _outermost(found), Path(task["workdir"])


def _remount_flags(path: Path) -> int:
    """The flags a read-only bind remount must keep (a user namespace cannot clear them)."""
    st = os.statvfs(path)
    flags = 0
    for st_flag, ms_flag in (
        (os.ST_NOSUID, _MS_NOSUID),
        (os.ST_NODEV, _MS_NODEV),
        (os.ST_NOEXEC, _MS_NOEXEC),
        (os.ST_NOATIME, _MS_NOATIME),
        (os.ST_NODIRATIME, _MS_NODIRATIME),
        (os.ST_RELATIME, _MS_RELATIME),
    ):
        if st.f_flag & st_flag:
            flags |= ms_flag
    return flags


Needed = tuple[list[Path], Path]


def _setup_mounts(
    libc: _Libc, task: dict[str, Any], needed_paths: Needed, uid: int | None, gid: int | None
) -> None:
    """In a fresh mount namespace: hide, cover blocked ancestors, and re-expose what is needed.

    Covers are tmpfs mounts over a hidden path or over an ancestor the job's uid cannot search
    (e.g. `/root` when the interpreter lives in `/root/.pyenv`); the needed paths under a cover
    are bind-mounted back at their own path (read-only, except the workdir).
    """
    iso = task["isolation"]
    ro_paths, workdir = needed_paths
    hidden: list[Path] = [Path(p) for p in iso.get("hide", [])]
    private_tmp = [Path(p) for p in iso.get("private_tmp", [])]
    needed = [*ro_paths, workdir]

    covers = set(hidden) | set(private_tmp)
    if uid is not None and gid is not None:
        for path in needed:
            for ancestor in _ancestors(path):
                if ancestor in covers:
                    break
                try:
                    st = ancestor.stat()
                except OSError:
                    break
                if not _searchable(st, uid, gid):
                    covers.add(ancestor)
                    break
    # A cover over a needed path itself (e.g. hiding a directory the job must import from)
    # would be undone by the bind; those are mounted after the binds instead.
    late = [c for c in covers if any(_is_under(c, p) and c != p for p in needed)]
    early = _outermost([c for c in covers if c not in late and c.is_dir()])

    libc.mount("none", "/", None, _MS_REC | _MS_PRIVATE, "")
    # Open the sources now, in the new namespace, before the covers hide them.
    sources: list[tuple[Path, int, bool]] = []
    for path in needed:
        if any(_is_under(path, c) and path != c for c in early) or path in early:
            sources.append((path, os.open(path, os.O_PATH | os.O_CLOEXEC), path == workdir))
    tmp_size = int(iso.get("tmp_bytes", 64 << 20))
    for cover in early:
        if cover in private_tmp:
            libc.mount(
                "tmpfs", str(cover), "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=1777,size={tmp_size}"
            )
        else:
            libc.mount("tmpfs", str(cover), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
    for path, fd, writable in sources:
        try:
            if not path.exists():
                if Path(f"/proc/self/fd/{fd}").is_dir():
                    path.mkdir(mode=0o755, parents=True, exist_ok=True)
                else:
                    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                    path.touch(mode=0o444)
            libc.mount(f"/proc/self/fd/{fd}", str(path), None, _MS_BIND | _MS_REC, "")
            if not writable:
                flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _remount_flags(path)
                libc.mount("none", str(path), None, flags, "")
        finally:
            os.close(fd)
    for cover in late:
        if cover.is_dir():
            libc.mount("tmpfs", str(cover), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")


def _unreadable(needed_paths: Needed) -> str | None:
    """The first path a job needs but cannot read (the probe's check), or None."""
    ro_paths, workdir = needed_paths
    for path in ro_paths:
        try:
            mode = os.R_OK | (os.X_OK if path.is_dir() else 0)
        except OSError:
            return str(path)
        if not os.access(path, mode):
            return str(path)
    if not os.access(workdir, os.R_OK | os.W_OK | os.X_OK):
        return str(workdir)
    return None


def _set_limits(limits: dict[str, int | None]) -> None:
    def cap(which: int, soft: int | None, hard: int | None = None) -> None:
        if soft is None:
            return
        current_hard = resource.getrlimit(which)[1]
        new_hard = soft if hard is None else hard
        if current_hard != resource.RLIM_INFINITY:
            new_hard = min(new_hard, current_hard)
        resource.setrlimit(which, (min(soft, new_hard), new_hard))

    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NOFILE, limits.get("nofile"))
    cap(resource.RLIMIT_FSIZE, limits.get("fsize"))
    cpu = limits.get("cpu")
    cap(resource.RLIMIT_CPU, cpu, None if cpu is None else cpu + 5)
    cap(resource.RLIMIT_NPROC, limits.get("nproc"))
    cap(resource.RLIMIT_AS, limits.get("as"))


def _confine(task: dict[str, Any], needed_paths: Needed) -> list[str]:
    """Apply the task's isolation; returns the features in force. Raises SetupError."""
    iso = task["isolation"]
    mode = iso["mode"]
    applied: list[str] = []
    libc = _Libc() if mode in ("uid", "userns") else None
    try:
        if mode == "uid":
            assert libc is not None
            if os.geteuid() != 0:
                raise SetupError("uid isolation needs the provider to run as root")
            uid, gid = int(iso["uid"]), int(iso["gid"])
            if iso.get("mount_ns"):
                flags = _CLONE_NEWNS | (_CLONE_NEWNET if iso.get("net_ns") else 0)
                libc.unshare(flags)
                applied += ["mount_ns"] + (["net_ns"] if iso.get("net_ns") else [])
                _setup_mounts(libc, task, needed_paths, uid, gid)
            _set_limits(task["limits"])
            applied.append("rlimits")
            libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid or os.getgroups():
                raise SetupError("the job's uid/gid did not take effect")
            try:
                os.setuid(0)
            except PermissionError:
                pass
            else:
                raise SetupError("the job process could regain root after dropping it")
            applied += ["uid", "no_new_privs"]
        elif mode == "userns":
            assert libc is not None
            outer_uid, outer_gid = os.getuid(), os.getgid()
            flags = _CLONE_NEWUSER | _CLONE_NEWNS | (_CLONE_NEWNET if iso.get("net_ns") else 0)
            libc.unshare(flags)
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{outer_uid} {outer_uid} 1")
            Path("/proc/self/gid_map").write_text(f"{outer_gid} {outer_gid} 1")
            applied += ["user_ns", "mount_ns"] + (["net_ns"] if iso.get("net_ns") else [])
            _setup_mounts(libc, task, needed_paths, None, None)
            _set_limits(task["limits"])
            applied.append("rlimits")
            libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
            libc.drop_capabilities()
            applied.append("no_new_privs")
        elif mode == "none":
            _set_limits(task["limits"])
            applied.append("rlimits")
        else:
            raise SetupError(f"unknown isolation mode `{mode}`")
        if libc is not None:
            if _capabilities_effective() != 0:
                raise SetupError("the job process still holds capabilities")
            applied.append("no_caps")
            # Die with the parent (cleared by the uid change, so set it after).
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
            if os.getppid() != int(task["parent_pid"]):
                raise SetupError("the provider exited while the job was starting")
    except (OSError, ValueError) as exc:
        raise SetupError(f"{type(exc).__name__}: {exc}") from exc
    return applied


# --- Main ---------------------------------------------------------------------------------------


def _cap_torch(torch: Any, memory_bytes: int) -> None:
    """Cap PyTorch's CUDA allocator to the job's memory (when CUDA is there)."""
    if not torch.cuda.is_available():
        return
    total = int(torch.cuda.get_device_properties(0).total_memory)
    fraction = min(1.0, max(0.0, memory_bytes / total))
    torch.cuda.set_per_process_memory_fraction(fraction, 0)
    print(f"citrate worker: torch CUDA memory fraction {fraction:.4f}", file=sys.stderr)


class _TorchCap:  # a sys.meta_path finder (importlib.abc would cost every job 20-90 ms)
    """Applies `_cap_torch` right after the job imports torch, whenever it does.

    Importing torch only to set the fraction would cost every GPU job seconds (and llama.cpp
    jobs do not use it); handlers import their libraries lazily, so a hook is the one place
    that sees torch before the job allocates anything.
    """

    def __init__(self, memory_bytes: int) -> None:
        self._memory_bytes = memory_bytes

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torch")
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module
        memory_bytes = self._memory_bytes

        def exec_module(module: Any) -> None:
            original(module)
            _cap_torch(module, memory_bytes)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _gpu_memory_cap(task: dict[str, Any]) -> None:
    """For GPU jobs: cap PyTorch to the job's memory now or when the job imports it."""
    if not str(task.get("device", "")).startswith("gpu"):
        return
    memory_bytes = int(task["memory_bytes"])
    if "torch" in sys.modules:
        _cap_torch(sys.modules["torch"], memory_bytes)
    else:
        sys.meta_path.insert(0, _TorchCap(memory_bytes))


def _run(task: dict[str, Any], reporter: _Reporter) -> int:
    workdir = Path(task["workdir"])
    os.chdir(workdir)
    os.umask(0o077)
    for extra in reversed(task.get("extra_sys_path", [])):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    job_type = JobType(int(task["job_type"]))
    try:
        handler = resolve_handler(job_type, task.get("handler"))
    except UnsupportedJobType as exc:
        reporter.send({"type": "error", "kind": "unsupported", "error": _describe_exception(exc)})
        return EXIT_FAILED
    except (ImportError, ComputeError) as exc:
        traceback.print_exc()
        reporter.send(
            {
                "type": "error",
                "kind": "handler",
                "error": f"cannot load the handler: {_describe_exception(exc)}",
            }
        )
        return EXIT_FAILED
    data = (workdir / INPUT_FILE).read_bytes()
    ctx = HandlerContext(
        input=data,
        model=str(task["model"]),
        seed=int(task["seed"]),
        workdir=workdir,
        report_progress=reporter.progress,
        job_id=str(task["job_id"]),
        job_type=job_type,
        device=str(task["device"]),
        threads=int(task.get("threads", 1)),
        memory_bytes=int(task["memory_bytes"]),
    )
    try:
        _gpu_memory_cap(task)
        output: object = handler(ctx)
    except BaseException as exc:  # the job's failure, reported; SystemExit included
        if _is_memory_error(exc):
            del exc  # free what the traceback holds before formatting anything
            reporter.send(
                {
                    "type": "error",
                    "kind": "memory",
                    "error": "the job ran out of memory under its cap",
                }
            )
            return EXIT_MEMORY
        traceback.print_exc()
        reporter.send({"type": "error", "kind": "handler", "error": _describe_exception(exc)})
        return EXIT_FAILED
    if isinstance(output, bytearray | memoryview):
        output = bytes(output)
    if not isinstance(output, bytes):
        reporter.send(
            {
                "type": "error",
                "kind": "handler",
                "error": f"the handler returned {type(output).__name__}, not bytes",
            }
        )
        return EXIT_FAILED
    cap = int(task["max_output_bytes"])
    if len(output) > cap:
        reporter.send(
            {
                "type": "error",
                "kind": "output",
                "error": f"output too large: {len(output)} bytes, the cap is {cap}",
            }
        )
        return EXIT_FAILED
    partial = workdir / (OUTPUT_FILE + ".partial")
    try:
        with partial.open("wb") as fh:
            fh.write(output)
        partial.replace(workdir / OUTPUT_FILE)
    except OSError as exc:
        reporter.send(
            {"type": "error", "kind": "output", "error": f"cannot write the output: {exc}"}
        )
        return EXIT_FAILED
    reporter.progress(1.0)
    reporter.send({"type": "done", "size": len(output)})
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m citrate_compute.worker WORKDIR", file=sys.stderr)
        return 2
    workdir = Path(args[0])
    task = json.loads((workdir / TASK_FILE).read_text(encoding="utf-8"))
    if task.get("version") != PROTOCOL_VERSION:
        print("citrate worker: task protocol version mismatch", file=sys.stderr)
        return EXIT_SETUP
    reporter = _Reporter(int(task["progress_fd"]))
    needed_paths = _needed_paths(task)  # resolved with the provider's rights, before confinement
    try:
        features = _confine(task, needed_paths)
    except SetupError as exc:
        reporter.send({"type": "error", "kind": "setup", "error": str(exc)})
        return EXIT_SETUP
    reporter.send({"type": "started", "features": features, "uid": os.getuid()})
    if task.get("probe"):
        unreadable = _unreadable(needed_paths)
        if unreadable:
            reporter.send(
                {
                    "type": "error",
                    "kind": "setup",
                    "error": f"the job could not read {unreadable} (needed to run Python)",
                }
            )
            return EXIT_SETUP
        reporter.send({"type": "done", "size": 0})
        return EXIT_OK
    return _run(task, reporter)


if __name__ == "__main__":
    sys.exit(main())
