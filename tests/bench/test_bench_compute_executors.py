"""Per-job dispatch overhead of the compute executors: LocalExecutor vs RayExecutor.

Run with `make bench`. Every job is the same trivial handler (`sandbox_handlers:echo`, from the
compute package's tests) in a real sandboxed worker process, so each side pays the same sandbox
cost (a Python worker, namespaces, a per-job uid, cleanup); what differs is the dispatch: a
thread pool here, or a Ray task to a Ray worker that runs the same sandbox. Baselines in the same
run: the bare interpreter start (`python -c pass`, the floor of any process-per-job design),
`Sandbox.run` called directly (the floor of both executors), and a no-op Ray task (Ray's own
round trip).

Ray runs as a private local instance (`ray.init(num_cpus=2)`), warmed up before timing. Sides
are interleaved round by round and compared best against best (see interleave.py).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from citrate_compute.executors import Executor, LocalExecutor, RayExecutor
from citrate_compute.jobs import JobType
from citrate_compute.sandbox import Sandbox, SandboxConfig, TaskSpec

from .interleave import interleave

HANDLERS_DIR = Path(__file__).resolve().parents[2] / "packages/citrate-compute/tests"
ROUNDS = 15


def _spec(prefix: str) -> TaskSpec:
    return TaskSpec(
        job_id=f"{prefix}-{uuid.uuid4().hex[:8]}",
        job_type=JobType.INFERENCE,
        model="bench",
        input=json.dumps({"n": 1}).encode(),
        memory_bytes=256 << 20,
        timeout_s=60,
        handler="sandbox_handlers:echo",
    )


@pytest.fixture(scope="module")
def config() -> Iterator[SandboxConfig]:
    root = Path(tempfile.mkdtemp(prefix="citrate-compute-bench-"))
    root.chmod(0o711)
    yield SandboxConfig(
        root=root,
        extra_sys_path=(HANDLERS_DIR,),
        allowed_handlers=frozenset({"sandbox_handlers:echo"}),
    )
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox(config: SandboxConfig) -> Sandbox:
    sandbox = Sandbox(config)
    print(f"\nsandbox isolation: {sandbox.isolation.label}")
    return sandbox


@pytest.fixture(scope="module")
def local(sandbox: Sandbox) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(max_workers=2, sandbox=sandbox)
    yield executor
    executor.shutdown()


@pytest.fixture(scope="module")
def ray_executor(config: SandboxConfig) -> Iterator[RayExecutor]:
    started = time.perf_counter()
    executor = RayExecutor(num_cpus=2, config=config)
    for _ in range(3):  # start the Ray workers (and their sandbox probe) before timing
        assert executor.submit(_spec("warm")).result(timeout=120).ok
    print(f"\nRay start and warm-up: {time.perf_counter() - started:.1f} s")
    yield executor
    executor.shutdown()


def _through(executor: Executor) -> Callable[[], object]:
    def one() -> object:
        result = executor.submit(_spec(executor.name)).result(timeout=120)
        assert result.ok, result.error
        return result

    return one


def _direct(sandbox: Sandbox) -> Callable[[], object]:
    def one() -> object:
        result = sandbox.run(_spec("direct"))
        assert result.ok, result.error
        return result

    return one


def _bare_python() -> object:
    return subprocess.run([sys.executable, "-s", "-P", "-c", "pass"], check=True)


@pytest.mark.benchmark(group="compute-dispatch")
def test_bare_python_start(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(_bare_python, rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="compute-dispatch")
def test_sandbox_run_directly(benchmark: BenchmarkFixture, sandbox: Sandbox) -> None:
    benchmark.pedantic(_direct(sandbox), rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="compute-dispatch")
def test_local_executor(benchmark: BenchmarkFixture, local: LocalExecutor) -> None:
    benchmark.pedantic(_through(local), rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="compute-dispatch")
def test_ray_executor(benchmark: BenchmarkFixture, ray_executor: RayExecutor) -> None:
    benchmark.pedantic(_through(ray_executor), rounds=ROUNDS, iterations=1)


def _noop() -> int:
    return 1


@pytest.mark.benchmark(group="ray-task")
def test_ray_noop_task(benchmark: BenchmarkFixture, ray_executor: RayExecutor) -> None:
    """Ray's own dispatch: a no-op task submitted and awaited (no process, no sandbox)."""
    import ray

    remote = ray.remote(num_cpus=1)(_noop)
    assert ray.get(remote.remote()) == 1
    benchmark.pedantic(lambda: ray.get(remote.remote()), rounds=50, iterations=1)


def _report(name: str, side: list[float], base: list[float], base_name: str) -> float:
    best = min(side) - min(base)
    median = statistics.median(side) - statistics.median(base)
    print(
        f"\n{name}: best {min(side) * 1e3:.1f} ms, median {statistics.median(side) * 1e3:.1f} ms"
        f" a job; {base_name} best {min(base) * 1e3:.1f} ms, median "
        f"{statistics.median(base) * 1e3:.1f} ms -> overhead {best * 1e3:+.1f} ms best vs best, "
        f"{median * 1e3:+.1f} ms median vs median ({len(side)} rounds)"
    )
    return best


def test_dispatch_overhead(
    sandbox: Sandbox, local: LocalExecutor, ray_executor: RayExecutor
) -> None:
    direct = _direct(sandbox)
    sandbox_vs_python = interleave(direct, _bare_python, ROUNDS)
    _report(
        "Sandbox.run (isolated worker)",
        sandbox_vs_python.slow_times,
        sandbox_vs_python.fast_times,
        "python -c pass",
    )
    local_times = interleave(_through(local), direct, ROUNDS)
    local_overhead = _report(
        "LocalExecutor", local_times.slow_times, local_times.fast_times, "Sandbox.run"
    )
    ray_times = interleave(_through(ray_executor), _through(local), ROUNDS)
    _report("RayExecutor", ray_times.slow_times, ray_times.fast_times, "LocalExecutor")
    # The local executor is a thread handing the job to the same sandbox (1-2 ms on a quiet
    # machine); 50 ms leaves room for a loaded one and still catches a poll interval or a lock
    # in the way.
    assert local_overhead < 0.05


def test_throughput_two_at_a_time(local: LocalExecutor, ray_executor: RayExecutor) -> None:
    jobs = 8
    for executor in (local, ray_executor):
        started = time.perf_counter()
        futures = [executor.submit(_spec(f"{executor.name}-batch")) for _ in range(jobs)]
        assert all(f.result(timeout=120).ok for f in futures)
        elapsed = time.perf_counter() - started
        rate = jobs / elapsed
        print(f"\n{executor.name}: {jobs} jobs, 2 at a time, {elapsed:.2f} s ({rate:.1f} jobs/s)")
