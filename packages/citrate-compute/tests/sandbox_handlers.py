"""Small job handlers for the sandbox and executor tests (not the real llama/MiniLM ones).

The worker imports this module by name: the tests put this directory on the worker's path with
`SandboxConfig.extra_sys_path` and allow each handler in `SandboxConfig.allowed_handlers`.
Inputs are JSON documents; outputs are bytes.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from citrate_compute.worker import HandlerContext

MODULE = "sandbox_handlers"
NAMES = (
    "echo",
    "fail",
    "sleep",
    "allocate",
    "read_paths",
    "environment",
    "identity",
    "big_output",
    "die",
    "hold",
    "connect",
    "daemon",
    "symlink_output",
    "import_torch",
)
ALLOWED = frozenset(f"{MODULE}:{name}" for name in NAMES)


def _doc(ctx: HandlerContext) -> Any:
    return json.loads(ctx.input) if ctx.input else {}


def echo(ctx: HandlerContext) -> bytes:
    """The input back, with progress reports on the way."""
    for step in range(1, 5):
        ctx.report_progress(step / 4)
    return b"echo:" + ctx.input


def fail(ctx: HandlerContext) -> bytes:
    raise ValueError("boom from the handler")


def sleep(ctx: HandlerContext) -> bytes:
    time.sleep(float(_doc(ctx).get("seconds", 60)))
    return b"slept"


def allocate(ctx: HandlerContext) -> bytes:
    """Allocate (and touch) `bytes` bytes."""
    block = bytearray(int(_doc(ctx)["bytes"]))
    block[::4096] = b"x" * len(block[::4096])
    return b"allocated %d" % len(block)


def read_paths(ctx: HandlerContext) -> bytes:
    """Try to read (or list) each path; report what happened, with any content read."""
    report: dict[str, str] = {}
    for raw in _doc(ctx)["paths"]:
        path = Path(raw)
        try:
            if path.is_dir():
                report[raw] = "listed: " + ",".join(sorted(p.name for p in path.iterdir()))
            else:
                report[raw] = "read: " + path.read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            report[raw] = f"denied: {type(exc).__name__}"
    return json.dumps(report, sort_keys=True).encode()


def environment(ctx: HandlerContext) -> bytes:
    return json.dumps(dict(os.environ), sort_keys=True).encode()


def identity(ctx: HandlerContext) -> bytes:
    status = Path("/proc/self/status").read_text()
    caps = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
    return json.dumps(
        {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "groups": os.getgroups(),
            "cwd": str(Path.cwd()),
            "workdir": str(ctx.workdir),
            "workdir_mode": oct(ctx.workdir.stat().st_mode & 0o777),
            "cap_eff": caps,
            "tmp": sorted(p.name for p in Path("/tmp").iterdir()),
            "as_limit": resource.getrlimit(resource.RLIMIT_AS)[0],
            "nproc_limit": resource.getrlimit(resource.RLIMIT_NPROC)[0],
            "core_limit": resource.getrlimit(resource.RLIMIT_CORE)[0],
            "seed": ctx.seed,
            "model": ctx.model,
            "job_id": ctx.job_id,
        },
        sort_keys=True,
    ).encode()


def big_output(ctx: HandlerContext) -> bytes:
    return b"x" * int(_doc(ctx)["bytes"])


def die(ctx: HandlerContext) -> bytes:
    how = _doc(ctx).get("how", "exit")
    if how == "exit":
        os._exit(7)
    os.kill(os.getpid(), signal.SIGKILL)
    return b"unreachable"


def hold(ctx: HandlerContext) -> bytes:
    """Write a secret into the workdir, then wait until the test releases (or times out)."""
    doc = _doc(ctx)
    (ctx.workdir / "secret.txt").write_text(doc.get("secret", "job-secret"))
    deadline = time.monotonic() + float(doc.get("seconds", 30))
    while time.monotonic() < deadline and not (ctx.workdir / "release").exists():
        time.sleep(0.02)
    return b"held"


def connect(ctx: HandlerContext) -> bytes:
    port = int(_doc(ctx)["port"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"hello")
        return b"connected"
    except OSError as exc:
        return f"refused: {type(exc).__name__}".encode()


def daemon(ctx: HandlerContext) -> bytes:
    """Leave a process behind in a new session (the sandbox must kill it)."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        time.sleep(600)
        os._exit(0)
    return json.dumps({"pid": pid}).encode()


def symlink_output(ctx: HandlerContext) -> bytes:
    """A hostile job: claim success on the worker's pipe, leave the output as a link to a file
    only the provider may read, and exit before the worker writes anything."""
    target = _doc(ctx)["target"]
    (ctx.workdir / "output").symlink_to(target)
    task = json.loads((ctx.workdir / "task.json").read_text())
    os.write(int(task["progress_fd"]), b'{"type":"done","size":17}\n')
    os._exit(0)


def import_torch(ctx: HandlerContext) -> bytes:
    """Import torch as a PyTorch handler would; report the import hooks before and after."""
    before = [type(finder).__name__ for finder in sys.meta_path]
    if not _doc(ctx).get("import", True):
        return json.dumps({"before": before}).encode()
    import torch

    after = [type(finder).__name__ for finder in sys.meta_path]
    return json.dumps({"before": before, "after": after, "torch": torch.__version__}).encode()
