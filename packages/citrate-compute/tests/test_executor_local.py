"""What only one executor does: the local one's queue, pause/resume and shutdown; Ray missing."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from citrate_compute.errors import ExecutorClosed, RuntimeUnavailable
from citrate_compute.executors import LocalExecutor, RayExecutor
from citrate_compute.sandbox import Sandbox


def _wait_for_secret(sandbox: Sandbox, deadline_s: float = 60) -> Path:
    deadline = time.monotonic() + deadline_s
    while True:
        found = list(sandbox.jobs_dir.glob("*/secret.txt"))
        if found:
            return found[0]
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)


def test_a_queued_job_is_cancelled_without_running(sandbox: Sandbox, make_task: Any) -> None:
    with LocalExecutor(max_workers=1, sandbox=sandbox) as executor:
        busy = make_task("hold", {"seconds": 60})
        busy_future = executor.submit(busy)
        queued = make_task("echo")
        queued_future = executor.submit(queued)
        secret = _wait_for_secret(sandbox)
        assert sorted(executor.running()) == sorted([busy.job_id, queued.job_id])
        assert executor.cancel(queued.job_id)
        result = queued_future.result(timeout=5)
        assert result.killed == "cancelled" and result.exit_code is None
        assert result.error == "cancelled before it started"
        (secret.parent / "release").touch()
        assert busy_future.result(timeout=60).ok
        assert executor.running() == []


def test_pause_and_resume_through_the_executor(sandbox: Sandbox, make_task: Any) -> None:
    with LocalExecutor(max_workers=1, sandbox=sandbox) as executor:
        spec = make_task("hold", {"seconds": 60})
        future = executor.submit(spec)
        secret = _wait_for_secret(sandbox)
        assert executor.pause(spec.job_id)
        assert not executor.pause(spec.job_id)
        assert executor.resume(spec.job_id)
        assert not executor.resume(spec.job_id)
        assert not executor.pause("unknown")
        (secret.parent / "release").touch()
        assert future.result(timeout=60).ok


def test_shutdown_cancels_running_jobs_and_refuses_new_ones(
    sandbox: Sandbox, make_task: Any
) -> None:
    executor = LocalExecutor(max_workers=1, sandbox=sandbox)
    future = executor.submit(make_task("hold", {"seconds": 60}))
    _wait_for_secret(sandbox)
    executor.shutdown()
    assert future.result(timeout=5).killed == "cancelled"
    with pytest.raises(ExecutorClosed, match="shut down"):
        executor.submit(make_task("echo"))
    assert list(sandbox.jobs_dir.iterdir()) == []


def test_progress_callback_of_the_local_executor(sandbox: Sandbox, make_task: Any) -> None:
    seen: list[float] = []
    with LocalExecutor(
        max_workers=1, sandbox=sandbox, on_progress=lambda _, v: seen.append(v)
    ) as executor:
        assert executor.submit(make_task("echo")).result(timeout=60).ok
    assert seen == [0.25, 0.5, 0.75, 1.0]
    assert executor.describe()["sandbox"]["isolation"]["mode"] == sandbox.isolation.mode


def test_local_executor_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        LocalExecutor(max_workers=0)


def test_ray_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when it is absent
    with pytest.raises(RuntimeUnavailable, match="Ray is not installed") as info:
        RayExecutor()
    assert "citrate-compute[ray]" in (info.value.hint or "")
