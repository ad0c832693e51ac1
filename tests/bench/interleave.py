"""The benchmarks' way of comparing two implementations on a shared, noisy machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Interleaved:
    """Times of two sides run back to back in each round."""

    slow_times: list[float]
    fast_times: list[float]

    @property
    def ratio(self) -> float:
        """Best slow time / best fast time.

        On a shared machine load comes in bursts that only ever add time, so each side's
        minimum over the rounds is its least disturbed measurement (the estimator `timeit`
        recommends); interleaving the sides keeps a long burst from landing on one of them
        only.
        """
        return min(self.slow_times) / min(self.fast_times)

    @property
    def median_ratio(self) -> float:
        """The median of the per-round ratios (printed beside `ratio`)."""
        pairs = zip(self.slow_times, self.fast_times, strict=True)
        return statistics.median(s / f for s, f in pairs)


def interleave(slow: Callable[[], object], fast: Callable[[], object], rounds: int) -> Interleaved:
    """Run `fast` then `slow` in each of `rounds` rounds; each side's wall times."""
    fast_times, slow_times = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fast()
        t1 = time.perf_counter()
        slow()
        t2 = time.perf_counter()
        fast_times.append(t1 - t0)
        slow_times.append(t2 - t1)
    return Interleaved(slow_times, fast_times)
