"""Shared fixtures of the compute package's tests.

- `sandbox_config` / `sandbox`: a sandbox rooted in a fresh directory under the system temp dir
  (not under pytest's 0700 tmp dir, so the per-job uid separation is what the isolation tests
  exercise), allowed to run the small handlers of `sandbox_handlers.py`.
- `local_executor` / `ray_executor`: one of each per session (Ray starts once: ~10-20 s on two
  cores); `executor` is parametrised over both, for the conformance suite.
- `make_task`: builds a `TaskSpec` for one of the test handlers, with a unique job id.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citrate_compute.executors import Executor, LocalExecutor, RayExecutor
from citrate_compute.jobs import JobType
from citrate_compute.sandbox import Sandbox, SandboxConfig, TaskSpec

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TESTS_DIR = Path(__file__).resolve().parent


def _handler_names() -> tuple[str, ...]:
    """The test handlers' names, read from `sandbox_handlers.py` (not importable by name here:
    pytest runs with --import-mode=importlib; the worker imports it through extra_sys_path)."""
    spec = importlib.util.spec_from_file_location(
        "_citrate_compute_sandbox_handlers", TESTS_DIR / "sandbox_handlers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.NAMES)


HANDLER_NAMES = _handler_names()
ALLOWED_HANDLERS = frozenset(f"sandbox_handlers:{name}" for name in HANDLER_NAMES)

MakeTask = Callable[..., TaskSpec]


@pytest.fixture(scope="session")
def sandbox_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="citrate-compute-tests-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sandbox_config(sandbox_root: Path) -> SandboxConfig:
    return SandboxConfig(
        root=sandbox_root,
        extra_sys_path=(TESTS_DIR,),
        allowed_handlers=ALLOWED_HANDLERS,
    )


@pytest.fixture(scope="session")
def sandbox(sandbox_config: SandboxConfig) -> Sandbox:
    return Sandbox(sandbox_config)


@pytest.fixture(scope="session")
def local_executor(sandbox: Sandbox) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(max_workers=2, sandbox=sandbox)
    yield executor
    executor.shutdown()


@pytest.fixture(scope="session")
def ray_executor(sandbox_config: SandboxConfig) -> Iterator[RayExecutor]:
    executor = RayExecutor(num_cpus=2, config=sandbox_config)
    yield executor
    executor.shutdown()


@pytest.fixture(params=["local", "ray"])
def executor(request: pytest.FixtureRequest) -> Executor:
    fixture: Executor = request.getfixturevalue(f"{request.param}_executor")
    return fixture


@pytest.fixture
def make_task() -> MakeTask:
    def make(
        name: str,
        doc: Any = None,
        *,
        memory_bytes: int = 256 << 20,
        timeout_s: float = 30.0,
        **overrides: Any,
    ) -> TaskSpec:
        if name not in HANDLER_NAMES:
            raise AssertionError(f"no test handler {name}")
        fields: dict[str, Any] = {
            "job_id": f"{name}-{uuid.uuid4().hex[:8]}",
            "job_type": JobType.INFERENCE,
            "model": "test-model",
            "input": json.dumps(doc if doc is not None else {}).encode(),
            "memory_bytes": memory_bytes,
            "timeout_s": timeout_s,
            "handler": f"sandbox_handlers:{name}",
        }
        fields.update(overrides)
        return TaskSpec(**fields)

    return make
