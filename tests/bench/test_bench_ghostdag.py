"""GhostDAG speed: the Rust core (through `citrate_native.GhostDag`) against the pure-Python
reference (`packages/citrate-node/tests/ghostdag_reference.py`), in one run.

Run with `make bench`. The DAG is Citrate's block-production shape at full width: rounds of 10
parallel blocks, each with the 10 blocks of the previous round as parents (the first round sits on
the genesis), k = 18. Targets from the issue: at least 20,000 blocks/s for the core, and at least
100x the reference.

The reference keeps every block's whole past and blue set, so its cost per block grows with the
DAG; the ratio is therefore measured on the same prefix for both sides, and grows with it (roughly
200x at 100 blocks to 500x at 500 blocks on the development machine; 300 blocks is 230-370x).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from citrate_native import GhostDag

from .interleave import interleave

K = 18
WIDTH = 10
BLOCKS = 20_000
PREFIX = 300  # blocks the reference runs (30 rounds)
GENESIS = hashlib.sha256(b"citrate ghostdag bench genesis").digest()

_REFERENCE = (
    Path(__file__).resolve().parents[2] / "packages/citrate-node/tests/ghostdag_reference.py"
)


def _load_reference() -> Any:
    """The reference lives with the node's tests (not an importable package); load it by path."""
    spec = importlib.util.spec_from_file_location("_bench_ghostdag_reference", _REFERENCE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module.ReferenceGhostDag


ReferenceGhostDag = _load_reference()


def _wide_dag(count: int) -> list[tuple[bytes, list[bytes]]]:
    """`count` blocks in rounds of WIDTH, each round over all of the previous one."""
    blocks: list[tuple[bytes, list[bytes]]] = []
    previous = [GENESIS]
    round_number = 0
    while len(blocks) < count:
        current = [
            hashlib.sha256(round_number.to_bytes(8, "big") + bytes([i])).digest()
            for i in range(WIDTH)
        ]
        blocks += [(block, previous) for block in current]
        previous = current
        round_number += 1
    return blocks[:count]


DAG = _wide_dag(BLOCKS)


def _rust(blocks: list[tuple[bytes, list[bytes]]]) -> GhostDag:
    dag = GhostDag(K, GENESIS, WIDTH)
    for block, parents in blocks:
        dag.add_block(block, parents)
    return dag


def _reference(blocks: list[tuple[bytes, list[bytes]]]) -> Any:
    ref = ReferenceGhostDag(K, GENESIS)
    for block, parents in blocks:
        ref.add_block(block, parents)
    return ref


@pytest.mark.benchmark(group="ghostdag-20000-blocks")
def test_rust_blocks_per_second(benchmark: BenchmarkFixture) -> None:
    dag = benchmark.pedantic(_rust, args=(DAG,), rounds=5, iterations=1)
    assert len(dag) == BLOCKS + 1
    last = dag.get(DAG[-1][0])
    assert last is not None
    assert (last.blue_score, last.mergeset_reds) == (1 + WIDTH * (BLOCKS // WIDTH - 1), [])
    assert benchmark.stats is not None
    rate = BLOCKS / benchmark.stats.stats.min
    start = time.perf_counter()
    order = dag.total_order()
    order_ms = (time.perf_counter() - start) * 1e3
    assert len(order) == BLOCKS + 1
    print(
        f"\nGhostDag.add_block: {rate:,.0f} blocks/s best of 5 "
        f"({BLOCKS:,} blocks, width {WIDTH}, k = {K}); total_order {order_ms:.1f} ms"
    )
    # The target is 20,000 blocks/s; the development machine does ~100,000, so this floor only
    # trips on a real regression, not on a noisy neighbour.
    assert rate >= 20_000


@pytest.mark.benchmark(group="ghostdag-prefix")
def test_rust_prefix(benchmark: BenchmarkFixture) -> None:
    benchmark(_rust, DAG[:PREFIX])


@pytest.mark.benchmark(group="ghostdag-prefix")
def test_reference_prefix(benchmark: BenchmarkFixture) -> None:
    ref = benchmark.pedantic(_reference, args=(DAG[:PREFIX],), rounds=1, iterations=1)
    rust = _rust(DAG[:PREFIX])
    assert ref.total_order() == rust.total_order()


def _interleaved_ratio(
    slow: Callable[[], object], fast: Callable[[], object], rounds: int, name: str
) -> float:
    """Best slow time / best fast time, run back to back in each round (see interleave.py)."""
    times = interleave(slow, fast, rounds)
    best_slow, best_fast = min(times.slow_times), min(times.fast_times)
    print(
        f"\n{name}: {times.ratio:.0f}x best vs best, {times.median_ratio:.0f}x median of rounds "
        f"({rounds} rounds; best {best_slow * 1e3:.0f} ms vs {best_fast * 1e3:.2f} ms, "
        f"{best_slow / PREFIX * 1e3:.2f} ms vs {best_fast / PREFIX * 1e6:.1f} µs a block)"
    )
    return times.ratio


def test_ratio_reference() -> None:
    prefix = DAG[:PREFIX]
    ratio = _interleaved_ratio(
        lambda: _reference(prefix),
        lambda: _rust(prefix),
        3,
        f"reference / GhostDag ({PREFIX} blocks)",
    )
    assert ratio >= 100
