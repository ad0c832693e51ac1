"""One job suite, run on both executors: the local one and Ray (a real local Ray instance).

Every case goes through a real sandboxed worker process with the small handlers of
`sandbox_handlers.py`. A failing job is a `TaskResult` with `ok=False` (never an exception), the
executor keeps working afterwards, and the job's directory is gone when the result arrives.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citrate_compute.errors import DuplicateJob
from citrate_compute.executors import Executor, RayExecutor
from citrate_compute.jobs import JobType
from citrate_compute.sandbox import Sandbox, SandboxConfig, TaskResult, TaskSpec

pytestmark = pytest.mark.slow  # the Ray half starts a Ray instance once per session

RESULT_TIMEOUT = 120  # seconds to wait for a future (the first Ray task starts a worker)

SCRUBBED_ENV = {
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TOKENIZERS_PARALLELISM",
    "MALLOC_ARENA_MAX",
    "PYTHONHASHSEED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONNOUSERSITE",
    "CUDA_VISIBLE_DEVICES",
}


def run(executor: Executor, spec: TaskSpec) -> TaskResult:
    return executor.submit(spec).result(timeout=RESULT_TIMEOUT)


@pytest.fixture(autouse=True)
def _no_leftover_job_dirs(sandbox_config: SandboxConfig) -> Iterator[None]:
    yield
    assert sandbox_config.root is not None
    assert list((sandbox_config.root / "jobs").iterdir()) == []
    assert list((sandbox_config.root / "logs").iterdir()) == []


def test_success_returns_the_output_bytes(executor: Executor, make_task) -> None:
    spec = make_task("echo", {"hello": "world"})
    result = run(executor, spec)
    assert result.ok, result.error
    assert result.output == b'echo:{"hello": "world"}'
    assert result.job_id == spec.job_id
    assert result.exit_code == 0
    assert result.killed is None
    assert result.error is None


def test_handler_exception_is_a_failed_result(executor: Executor, make_task) -> None:
    result = run(executor, make_task("fail"))
    assert not result.ok
    assert result.output is None
    assert result.error == "ValueError: boom from the handler"
    assert result.exit_code == 1
    assert result.killed is None


def test_timeout_kills_the_job(executor: Executor, make_task) -> None:
    result = run(executor, make_task("sleep", {"seconds": 60}, timeout_s=1.0))
    assert not result.ok
    assert result.killed == "timeout"
    assert "timed out after 1 s" in (result.error or "")
    assert result.exit_code == -9


def test_memory_cap_exceeded_is_killed_memory(executor: Executor, make_task) -> None:
    cap = 256 << 20
    result = run(executor, make_task("allocate", {"bytes": 2 * cap}, memory_bytes=cap))
    assert not result.ok
    assert result.killed == "memory"
    assert f"cap of {cap} bytes" in (result.error or "")
    # Under the cap the same handler succeeds: the limit is the cap, not something lower.
    ok = run(executor, make_task("allocate", {"bytes": cap // 4}, memory_bytes=cap))
    assert ok.ok, ok.error


def test_jobs_cannot_read_each_other_or_the_provider(
    executor: Executor,
    make_task,
    sandbox_config: SandboxConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The provider's secrets: a wallet-like file in its (temporary) home, and its environment.
    home = Path(os.environ["HOME"])
    wallet = home / "wallet.json"
    wallet.write_text('{"crypto": "PROVIDER-WALLET-SECRET"}')
    wallet.chmod(0o600)
    monkeypatch.setenv("CITRATE_SECRET", "PROVIDER-ENV-SECRET")

    # Job B writes a secret into its own directory and waits.
    b_spec = make_task("hold", {"secret": "JOB-B-SECRET", "seconds": 60})
    b_future = executor.submit(b_spec)
    assert sandbox_config.root is not None
    deadline = time.monotonic() + RESULT_TIMEOUT
    b_files: list[Path] = []
    while not b_files and time.monotonic() < deadline and not b_future.done():
        b_files = list((sandbox_config.root / "jobs").glob("*/secret.txt"))
        time.sleep(0.02)
    assert b_files, "job B never wrote its secret"
    b_file = b_files[0]
    assert b_file.read_text() == "JOB-B-SECRET"  # it is there, readable by the provider

    targets = [
        str(b_file),
        str(b_file.parent),
        str(wallet),
        str(home),
        f"/proc/{os.getpid()}/environ",
    ]
    a_result = run(executor, make_task("read_paths", {"paths": targets}))
    (b_file.parent / "release").touch()
    b_result = b_future.result(timeout=RESULT_TIMEOUT)
    assert b_result.ok, b_result.error

    assert a_result.ok, a_result.error
    assert a_result.output is not None
    report = json.loads(a_result.output)
    assert set(report) == set(targets)
    for path, outcome in report.items():
        assert outcome.startswith("denied:"), f"job A got at {path}: {outcome}"
    for secret in (b"JOB-B-SECRET", b"PROVIDER-WALLET-SECRET", b"PROVIDER-ENV-SECRET"):
        assert secret not in a_result.output

    env_result = run(executor, make_task("environment"))
    assert env_result.ok, env_result.error
    assert env_result.output is not None
    env = json.loads(env_result.output)
    assert "CITRATE_SECRET" not in env
    assert set(env) == SCRUBBED_ENV
    assert env["HOME"] == env["TMPDIR"]
    assert env["HF_HUB_OFFLINE"] == "1"


def test_output_too_large_fails(executor: Executor, make_task, sandbox: Sandbox) -> None:
    cap = sandbox.config.max_output_bytes
    result = run(executor, make_task("big_output", {"bytes": cap + 1}))
    assert not result.ok
    assert result.error == f"output too large: {cap + 1} bytes, the cap is {cap}"
    at_cap = run(executor, make_task("big_output", {"bytes": 1000}))
    assert at_cap.ok and at_cap.output == b"x" * 1000


def test_cancel_a_running_job(executor: Executor, make_task, sandbox_config) -> None:
    spec = make_task("hold", {"seconds": 60})
    future = executor.submit(spec)
    assert sandbox_config.root is not None
    deadline = time.monotonic() + RESULT_TIMEOUT
    while not list((sandbox_config.root / "jobs").glob("*/secret.txt")):
        assert time.monotonic() < deadline and not future.done()
        time.sleep(0.02)
    assert executor.cancel(spec.job_id)
    result = future.result(timeout=RESULT_TIMEOUT)
    assert not result.ok
    assert result.killed == "cancelled"
    assert not executor.cancel(spec.job_id)  # finished: nothing to cancel
    assert not executor.cancel("no-such-job")


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_worker_dying_mid_job_is_a_failure_and_the_executor_goes_on(
    executor: Executor, make_task, how: str
) -> None:
    result = run(executor, make_task("die", {"how": how}))
    assert not result.ok
    assert result.killed is None
    if how == "exit":
        assert result.exit_code == 7
        assert "exited with code 7 before reporting a result" in (result.error or "")
    else:
        assert result.exit_code == -9
        assert "died (SIGKILL) before finishing" in (result.error or "")
    after = run(executor, make_task("echo"))
    assert after.ok, after.error


def test_unsupported_job_type_and_unlisted_handler_are_clear_errors(
    executor: Executor, make_task
) -> None:
    training = run(executor, make_task("echo", job_type=JobType.TRAINING, handler=None))
    assert not training.ok
    assert training.exit_code is None  # refused before any process started
    assert "job type `training` has no handler on this provider" in (training.error or "")
    assert "hint: this provider runs inference, embedding jobs" in (training.error or "")

    rogue = run(executor, make_task("echo", handler="os:system"))
    assert not rogue.ok
    assert "handler `os:system` is not allowed" in (rogue.error or "")


def test_a_job_id_runs_once_at_a_time(executor: Executor, make_task, sandbox_config) -> None:
    spec = make_task("hold", {"seconds": 60})
    future = executor.submit(spec)
    with pytest.raises(DuplicateJob, match="already queued or running"):
        executor.submit(spec)
    assert executor.cancel(spec.job_id)
    assert future.result(timeout=RESULT_TIMEOUT).killed == "cancelled"
    again = run(executor, make_task("echo", job_id=spec.job_id))
    assert again.ok, again.error


def test_ray_workers_use_this_environment_not_uv_run(ray_executor: RayExecutor) -> None:
    """Under `uv run` (as `make test` runs pytest) Ray would start its workers with `uv run`,
    re-syncing the project in each: they hung past Ray's registration timeout on CI."""
    context = ray_executor._ray.get_runtime_context()
    assert "py_executable" not in (context.runtime_env or {})
