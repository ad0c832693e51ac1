"""The sandbox itself: isolation modes, limits, cleanup, the output file, pause and cancel.

Every job here is a real worker process; the isolation cases use two real concurrent jobs and
real files, so they fail if the isolation they test is missing (see the `none` case).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from citrate_compute.errors import ComputeValueError, SandboxError
from citrate_compute.jobs import JobType
from citrate_compute.sandbox import (
    DEFAULT_MIN_MEMORY,
    Isolation,
    RunControl,
    Sandbox,
    SandboxConfig,
    TaskResult,
    TaskSpec,
    _uid_processes,
    _UidPool,
)

ROOT = os.geteuid() == 0


@pytest.fixture
def fresh_root() -> Iterator[Path]:
    """A sandbox root under the system temp dir (pytest's own tmp dir is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="citrate-compute-test-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def provider_secret() -> Iterator[Path]:
    """A wallet-like 0600 file in a directory anyone may enter, outside the provider's home and
    outside /tmp, so only file permissions (or a hiding mount) stand between it and a job."""
    directory = Path(tempfile.mkdtemp(prefix="citrate-provider-", dir="/var/tmp"))
    directory.chmod(0o755)
    secret = directory / "wallet.json"
    secret.write_text("PROVIDER-WALLET-SECRET")
    secret.chmod(0o600)
    yield secret
    shutil.rmtree(directory, ignore_errors=True)


def _identity(sandbox: Sandbox, make_task: Any, **overrides: Any) -> dict[str, Any]:
    result = sandbox.run(make_task("identity", **overrides))
    assert result.ok, result.error
    assert result.output is not None
    identity: dict[str, Any] = json.loads(result.output)
    return identity


def _read_other_job(sandbox: Sandbox, make_task: Any, extra: list[str]) -> dict[str, str]:
    """Job B holds a secret in its directory; job A tries to read it and `extra` paths."""
    results: dict[str, TaskResult] = {}
    b_spec = make_task("hold", {"secret": "JOB-B-SECRET", "seconds": 60})
    thread = threading.Thread(target=lambda: results.setdefault("b", sandbox.run(b_spec)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        found: list[Path] = []
        while not found:
            assert time.monotonic() < deadline, "job B never started"
            found = list(sandbox.jobs_dir.glob("*/secret.txt"))
            time.sleep(0.02)
        b_file = found[0]
        paths = [str(b_file), str(b_file.parent), *extra]
        a_result = sandbox.run(make_task("read_paths", {"paths": paths}))
        (b_file.parent / "release").touch()
    finally:
        thread.join(60)
    assert results["b"].ok, results["b"].error
    assert a_result.ok, a_result.error
    assert a_result.output is not None
    report: dict[str, str] = json.loads(a_result.output)
    report["_b_file"] = str(b_file)
    return report


# --- isolation ----------------------------------------------------------------------------------


@pytest.mark.skipif(not ROOT, reason="per-job uids need the provider to run as root")
def test_root_provider_runs_each_job_under_its_own_uid(sandbox: Sandbox, make_task) -> None:
    isolation = sandbox.isolation
    assert isolation.mode == "uid"
    assert isolation.protects_files
    assert sandbox.describe()["isolation"]["label"] == isolation.label

    first = _identity(sandbox, make_task, memory_bytes=200 << 20)
    second = _identity(sandbox, make_task)
    for identity in (first, second):
        base, count = sandbox.config.uid_base, sandbox.config.uid_count
        assert base <= identity["uid"] < base + count
        assert identity["gid"] == identity["uid"]
        assert identity["groups"] == []
        assert identity["cap_eff"] == "0000000000000000"
        assert identity["workdir_mode"] == "0o700"
        assert identity["cwd"] == identity["workdir"]
        assert identity["core_limit"] == 0
        assert identity["nproc_limit"] == sandbox.config.max_processes
    assert first["as_limit"] == 200 << 20
    assert first["workdir"] != second["workdir"]
    if isolation.mount_ns:
        # A private /tmp: only the path down to the job's own directory is there.
        assert first["tmp"] == [sandbox.root.name]


@pytest.mark.skipif(not ROOT, reason="per-job uids need the provider to run as root")
def test_uid_separation_alone_keeps_files_private(
    fresh_root: Path, sandbox_config: SandboxConfig, make_task, provider_secret: Path
) -> None:
    # No hiding mounts at all: only the job uids and the 0700 directories protect the files.
    config = replace(sandbox_config, root=fresh_root, private_tmp=False, hide_home=False)
    sandbox = Sandbox(config)
    report = _read_other_job(sandbox, make_task, [str(provider_secret)])
    b_file = Path(report.pop("_b_file"))
    assert report == {
        str(b_file): "denied: PermissionError",
        str(b_file.parent): "denied: PermissionError",
        str(provider_secret): "denied: PermissionError",
    }


def test_user_namespace_mode_hides_the_provider_and_other_jobs(
    fresh_root: Path, sandbox_config: SandboxConfig, make_task, provider_secret: Path
) -> None:
    config = replace(
        sandbox_config, root=fresh_root, isolation="userns", hide_paths=(provider_secret.parent,)
    )
    sandbox = Sandbox(config)
    try:
        isolation = sandbox.isolation
    except SandboxError as exc:
        pytest.skip(f"user namespaces are not available here: {exc.message}")
    assert isolation.mode == "userns"
    assert isolation.protects_files
    report = _read_other_job(sandbox, make_task, [str(provider_secret)])
    b_file = Path(report.pop("_b_file"))
    assert report == {
        str(b_file): "denied: FileNotFoundError",
        str(b_file.parent): "denied: FileNotFoundError",
        str(provider_secret): "denied: FileNotFoundError",
    }


def test_without_isolation_a_job_can_read_what_the_provider_can(
    fresh_root: Path, sandbox_config: SandboxConfig, make_task, provider_secret: Path
) -> None:
    # The counter-test: the isolation tests above fail when isolation is missing.
    sandbox = Sandbox(replace(sandbox_config, root=fresh_root, isolation="none"))
    assert sandbox.isolation == Isolation("none")
    assert not sandbox.describe()["isolation"]["protects_files"]
    report = _read_other_job(sandbox, make_task, [str(provider_secret)])
    b_file = Path(report.pop("_b_file"))
    assert report[str(b_file)] == "read: JOB-B-SECRET"
    assert report[str(provider_secret)] == "read: PROVIDER-WALLET-SECRET"


class _NamespacesRefusedSandbox(Sandbox):
    """TEST DOUBLE of a machine that refuses namespaces (e.g. a container without
    CAP_SYS_ADMIN and with user namespaces disabled): the probe fails for those modes."""

    def _probe(self, isolation: Isolation) -> str | None:
        if isolation.mount_ns or isolation.mode == "userns":
            return "unshare: Operation not permitted"
        return super()._probe(isolation)


def test_a_weaker_fallback_is_logged_and_shown(
    fresh_root: Path, sandbox_config: SandboxConfig, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = _NamespacesRefusedSandbox(replace(sandbox_config, root=fresh_root))
    with caplog.at_level(logging.WARNING, logger="citrate_compute.sandbox"):
        isolation = sandbox.isolation
    notes = sandbox.describe()["isolation"]["notes"]
    assert any("unavailable: unshare: Operation not permitted" in note for note in notes)
    assert isolation.mode in ("uid", "none")
    assert not isolation.mount_ns
    assert f"using {isolation.label} isolation" in caplog.text
    if isolation.mode == "none":
        assert "jobs can read what the provider's user can read" in caplog.text


def test_required_mode_that_cannot_work_is_an_error(
    fresh_root: Path, sandbox_config: SandboxConfig, make_task
) -> None:
    sandbox = _NamespacesRefusedSandbox(
        replace(sandbox_config, root=fresh_root, isolation="userns")
    )
    result = sandbox.run(make_task("echo"))
    assert not result.ok
    assert result.exit_code is None
    assert "userns isolation cannot be enforced here" in (result.error or "")
    assert "hint: use isolation='auto'" in (result.error or "")


def test_jobs_have_no_network_unless_allowed(
    fresh_root: Path, sandbox: Sandbox, sandbox_config: SandboxConfig, make_task
) -> None:
    if not sandbox.isolation.net_ns:
        pytest.skip(f"no network namespace here ({sandbox.isolation.label})")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        closed = sandbox.run(make_task("connect", {"port": port}))
        assert closed.ok, closed.error
        assert closed.output is not None and closed.output.startswith(b"refused: ")
        open_sandbox = Sandbox(replace(sandbox_config, root=fresh_root, allow_network=True))
        opened = open_sandbox.run(make_task("connect", {"port": port}))
        assert opened.ok, opened.error
        assert opened.output == b"connected"


@pytest.mark.skipif(not ROOT, reason="the uid sweep needs per-job uids")
def test_a_process_left_behind_is_killed(sandbox: Sandbox, make_task) -> None:
    result = sandbox.run(make_task("daemon"))
    assert result.ok, result.error
    assert result.output is not None
    pid = json.loads(result.output)["pid"]
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return  # gone, as it should be
    fields = {
        key: value.split()[0]
        for key, _, value in (ln.partition(":") for ln in lines)
        if value.split()
    }
    if fields["State"] == "Z":
        return  # killed; only the reaping by its new parent is left
    uid = int(fields["Uid"])
    base = sandbox.config.uid_base
    assert not base <= uid < base + sandbox.config.uid_count, "the job's daemon survived"


_PROVIDER_SCRIPT = """
import json, sys
from pathlib import Path
from citrate_compute.jobs import JobType
from citrate_compute.sandbox import Sandbox, SandboxConfig, TaskSpec
config = SandboxConfig(
    root=Path(sys.argv[1]),
    extra_sys_path=(Path(sys.argv[2]),),
    allowed_handlers=frozenset({"sandbox_handlers:hold"}),
)
spec = TaskSpec("orphan", JobType.INFERENCE, "m", b'{"seconds": 120}', 256 << 20, 120,
                handler="sandbox_handlers:hold")
Sandbox(config).run(spec)
"""


@pytest.mark.skipif(not ROOT, reason="finding the job's processes uses its uid")
def test_a_provider_killed_mid_job_takes_its_job_with_it(fresh_root: Path) -> None:
    provider = subprocess.Popen(
        [sys.executable, "-c", _PROVIDER_SCRIPT, str(fresh_root), str(Path(__file__).parent)],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        found: list[Path] = []
        while not found:
            assert time.monotonic() < deadline and provider.poll() is None, "no job started"
            found = list((fresh_root / "jobs").glob("*/secret.txt"))
            time.sleep(0.02)
        job_uid = found[0].parent.stat().st_uid
        assert _uid_processes(job_uid), "the job is not running"
    finally:
        provider.kill()
        provider.wait()
    # The worker dies with its provider (parent-death signal), so no job outlives the agent.
    deadline = time.monotonic() + 30
    while _uid_processes(job_uid):
        assert time.monotonic() < deadline, "the job survived its provider"
        time.sleep(0.05)


# --- results and limits -------------------------------------------------------------------------


def test_output_that_is_a_link_is_refused(sandbox: Sandbox, make_task, tmp_path: Path) -> None:
    target = tmp_path / "root-only.txt"
    target.write_text("ROOT-ONLY-CONTENT")
    target.chmod(0o600)
    result = sandbox.run(make_task("symlink_output", {"target": str(target)}))
    assert not result.ok
    assert result.output is None
    assert "not a regular file" in (result.error or "")
    assert "ROOT-ONLY-CONTENT" not in (result.error or "")


def test_progress_reaches_the_caller(sandbox: Sandbox, make_task) -> None:
    seen: list[tuple[str, float]] = []
    spec = make_task("echo")
    result = sandbox.run(spec, on_progress=lambda job_id, value: seen.append((job_id, value)))
    assert result.ok, result.error
    assert seen == [
        (spec.job_id, 0.25),
        (spec.job_id, 0.5),
        (spec.job_id, 0.75),
        (spec.job_id, 1.0),
    ]


def test_a_failing_progress_callback_does_not_fail_the_job(sandbox: Sandbox, make_task) -> None:
    def broken(job_id: str, value: float) -> None:
        raise RuntimeError("display crashed")

    result = sandbox.run(make_task("echo"), on_progress=broken)
    assert result.ok, result.error


def test_declared_memory_below_the_runtime_floor_is_refused(sandbox: Sandbox, make_task) -> None:
    floor = DEFAULT_MIN_MEMORY["handler"]
    small = sandbox.run(make_task("echo", memory_bytes=floor - 1))
    assert not small.ok
    assert small.exit_code is None
    assert f"below the {floor} bytes of address space that handler jobs need" in (small.error or "")
    assert f"hint: declare at least {floor} bytes" in (small.error or "")

    embedding = sandbox.run(
        make_task("echo", job_type=JobType.EMBEDDING, handler=None, memory_bytes=1 << 30)
    )
    assert not embedding.ok
    assert f"{DEFAULT_MIN_MEMORY['embedding']} bytes" in (embedding.error or "")


def test_gpu_jobs_get_their_device_and_no_address_space_limit(sandbox: Sandbox, make_task) -> None:
    # No GPU here: the worker finds no CUDA and runs; what is checked is what it was given.
    env = sandbox.run(make_task("environment", device="gpu0"))
    assert env.ok, env.error
    assert env.output is not None
    assert json.loads(env.output)["CUDA_VISIBLE_DEVICES"] == "0"
    identity = _identity(sandbox, make_task, device="gpu0")
    assert identity["as_limit"] == -1  # RLIM_INFINITY: CUDA reserves huge virtual ranges
    cpu_env = sandbox.run(make_task("environment"))
    assert cpu_env.output is not None
    assert json.loads(cpu_env.output)["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.slow
def test_gpu_jobs_cap_torch_when_they_import_it(sandbox: Sandbox, make_task) -> None:
    # The cap is installed as an import hook: it runs when the job imports torch (here it finds
    # no CUDA and caps nothing), and costs nothing to jobs that never import torch.
    result = sandbox.run(make_task("import_torch", device="gpu0", timeout_s=120))
    assert result.ok, result.error
    assert result.output is not None
    report = json.loads(result.output)
    assert "_TorchCap" in report["before"]
    assert "_TorchCap" not in report["after"]
    cpu = sandbox.run(make_task("import_torch", {"import": False}))
    assert cpu.ok, cpu.error
    assert cpu.output is not None
    assert "_TorchCap" not in json.loads(cpu.output)["before"]


@pytest.mark.slow
def test_pause_stops_the_job_and_paused_time_does_not_count(sandbox: Sandbox, make_task) -> None:
    control = RunControl()
    results: dict[str, TaskResult] = {}
    spec = make_task("hold", {"seconds": 60}, timeout_s=2.0)
    thread = threading.Thread(
        target=lambda: results.setdefault("r", sandbox.run(spec, control=control))
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        found: list[Path] = []
        while not found:
            assert time.monotonic() < deadline, "the job never started"
            found = list(sandbox.jobs_dir.glob("*/secret.txt"))
            time.sleep(0.02)
        assert control.pause()
        assert control.paused
        assert not control.pause()  # already paused
        pgid = control._pgid
        assert pgid is not None
        state = Path(f"/proc/{pgid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "T"  # stopped
        time.sleep(2.5)  # longer than the timeout: paused time must not count
        assert control.resume()
        assert not control.resume()
        (found[0].parent / "release").touch()
    finally:
        thread.join(60)
    assert results["r"].ok, results["r"].error


def test_cancel_before_start(sandbox: Sandbox, make_task) -> None:
    control = RunControl()
    assert control.cancel()
    result = sandbox.run(make_task("echo"), control=control)
    assert result == TaskResult(result.job_id, False, None, "cancelled", None, 0.0, "cancelled")
    assert not control.cancel()  # finished
    assert not control.pause()


def test_job_directories_and_logs_are_removed(sandbox: Sandbox, make_task) -> None:
    for name in ("echo", "fail", "die"):
        sandbox.run(make_task(name))
        assert list(sandbox.jobs_dir.iterdir()) == []
        assert list(sandbox.logs_dir.iterdir()) == []


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("job_id", "", "non-empty job_id"),
        ("memory_bytes", 0, "memory_bytes must be positive"),
        ("memory_bytes", -5, "memory_bytes must be positive"),
        ("memory_bytes", 1.5, "memory_bytes must be an int"),
        ("memory_bytes", True, "memory_bytes must be an int"),
        ("timeout_s", 0, "timeout_s must be a positive number"),
        ("timeout_s", float("nan"), "timeout_s must be a positive number"),
        ("timeout_s", float("inf"), "timeout_s must be a positive number"),
        ("device", "tpu0", "unknown device `tpu0`"),
        ("device", "gpu", "unknown device `gpu`"),
        ("input", "text", "input must be bytes, not str"),
        ("job_type", 9, "unknown job type 9"),
    ],
)
def test_task_spec_rejects_bad_fields(field: str, value: Any, message: str) -> None:
    fields: dict[str, Any] = {
        "job_id": "j",
        "job_type": JobType.INFERENCE,
        "model": "m",
        "input": b"{}",
        "memory_bytes": 1 << 30,
        "timeout_s": 10.0,
    }
    fields[field] = value
    with pytest.raises(ComputeValueError, match=message):
        TaskSpec(**fields)


def test_task_spec_normalises_inputs() -> None:
    spec = TaskSpec("j", "embedding", "m", bytearray(b"ab"), 1 << 30, 5)  # type: ignore[arg-type]
    assert spec.job_type is JobType.EMBEDDING
    assert spec.input == b"ab" and type(spec.input) is bytes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"isolation": "chroot"}, "unknown isolation mode `chroot`"),
        ({"uid_base": 0}, "bad job uid range"),
        ({"uid_base": 2**32 - 10, "uid_count": 100}, "bad job uid range"),
        ({"max_output_bytes": 0}, "max_output_bytes must be positive"),
        ({"threads": 0}, "threads must be positive"),
        ({"read_paths": ("relative/dir",)}, "is not an absolute path"),
    ],
)
def test_sandbox_config_rejects_bad_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ComputeValueError, match=message):
        SandboxConfig(**changes)


def test_an_unsafe_root_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(SandboxError, match="not a private directory"):
        Sandbox(SandboxConfig(root=shared))
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(SandboxError, match="not a private directory"):
        Sandbox(SandboxConfig(root=link))
    with pytest.raises(SandboxError, match="is not absolute"):
        Sandbox(SandboxConfig(root=Path("relative")))


def test_uid_leases_are_exclusive(tmp_path: Path) -> None:
    pool = _UidPool(tmp_path / "uids", 3_000_000_000, 2)
    first, second = pool.acquire(), pool.acquire()
    assert {first.uid, second.uid} == {3_000_000_000, 3_000_000_001}
    # Another pool over the same directory (another sandbox, a Ray worker) sees them taken.
    other = _UidPool(tmp_path / "uids", 3_000_000_000, 2)
    with pytest.raises(SandboxError, match="all 2 job uids are in use"):
        other.acquire()
    first.release()
    again = other.acquire()
    assert again.uid == first.uid
    again.release()
    second.release()
