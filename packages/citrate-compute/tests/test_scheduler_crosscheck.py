"""Cross-check: the Rust scheduler and the pure-Python reference, driven by the same random
operations, give identical results: placements, ledgers, queues, running lists, and the same
error class with the same message for every refused call (arguments in and out of range, wrong
types, unknown and duplicate ids, jobs too large, batches that fail part-way)."""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from citrate_compute.scheduler import NativeScheduler, Scheduler, SchedulerError
from citrate_compute.scheduler_ref import ReferenceScheduler

NODE_IDS = [f"n{i}" for i in range(5)]
JOB_IDS = [f"j{i}" for i in range(20)]

# Mostly small values in range, sometimes a bound, just past one, negative or huge.
EDGES = [-(2**300), -(2**64), -1, 0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**64 - 1, 2**64]
EDGES += [2**127, 2**128 - 1, 2**128, 2**300]


def rarely(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int) -> Any:
    """`usual`, and once in `odds + 1` draws `rare` (one_of would draw them half and half)."""
    return st.integers(0, odds).flatmap(lambda k: rare if k == 0 else usual)


def ints(low: int, high: int, odds: int = 40) -> st.SearchStrategy[int]:
    """An int in [low, high], and rarely an edge value (often out of range)."""
    result: st.SearchStrategy[int] = rarely(st.integers(low, high), st.sampled_from(EDGES), odds)
    return result


def ids(names: list[str]) -> st.SearchStrategy[Any]:
    """One of `names`, and rarely an empty id or a value of the wrong type."""
    result: st.SearchStrategy[Any] = rarely(
        st.sampled_from(names), st.sampled_from(["", None, 7, 1.0, b"x", ["n0"]]), 40
    )
    return result


node_ids = ids(NODE_IDS)
job_ids = ids(JOB_IDS)
# Wei prices, and rarely prices near 2**128 (the price score's 256-bit path).
prices = rarely(ints(0, 60), st.integers(2**127, 2**128 - 1), 10)
max_prices = rarely(ints(1, 80), st.integers(2**127, 2**128 - 1), 10)
latency_limits = rarely(ints(1, 120), st.just(0), 2)
node_specs = st.fixed_dictionaries(
    {
        "total_memory": ints(0, 2000),
        "allocation_percent": ints(0, 100),
        "max_jobs": ints(1, 4),
        "job_types": ints(1, 31),
        "price": prices,
        "latency_ms": ints(0, 100),
        "reputation": ints(0, 10_000),
    }
)
job_specs = st.fixed_dictionaries(
    {
        "job_type": ints(0, 4),
        "memory": ints(0, 600),
        "max_price": max_prices,
        "priority": ints(-3, 3),
        "max_latency_ms": latency_limits,
    }
)
batch_item = st.tuples(job_ids, ints(0, 4), ints(0, 600), max_prices, ints(-3, 3), latency_limits)
bad_item = st.sampled_from([("j0", 0, 1, 1, 0), ("j0", 0, 1, 1, 0, 0, 0), 5, None])
items = rarely(batch_item, bad_item, 60)


def _item_id(item: Any) -> str:
    return repr(item[0] if isinstance(item, tuple) and item else item)


# Mostly distinct ids within a batch (a repeated id refuses the whole batch).
batches = rarely(
    st.lists(items, max_size=8, unique_by=_item_id),
    st.lists(items, max_size=8),
    4,
)


def outcome(call: Any) -> tuple[str, Any]:
    """The result, or the error class and message (without PyO3's argument note)."""
    try:
        return ("ok", call())
    except (SchedulerError, TypeError) as e:
        return (type(e).__name__, str(e))


class CrossCheck(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.native: Scheduler = NativeScheduler()
        self.reference: Scheduler = ReferenceScheduler()

    def both(self, method: str, *args: Any, **kwargs: Any) -> Any:
        native = outcome(lambda: getattr(self.native, method)(*args, **kwargs))
        reference = outcome(lambda: getattr(self.reference, method)(*args, **kwargs))
        assert native == reference, (method, args, kwargs)
        return native

    @initialize(
        nodes=st.lists(
            st.tuples(
                st.sampled_from(NODE_IDS),
                st.integers(200, 2000),
                st.integers(20, 100),
                st.integers(1, 4),
                st.integers(1, 31),
                st.integers(0, 40),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def some_nodes(self, nodes: list[tuple[str, int, int, int, int, int]]) -> None:
        for node_id, total, percent, slots, types, price in nodes:
            spec = {"allocation_percent": percent, "max_jobs": slots, "job_types": types}
            self.both("add_node", node_id, total_memory=total, price=price, **spec)

    @rule(node_id=node_ids, spec=node_specs)
    def add_node(self, node_id: Any, spec: dict[str, Any]) -> None:
        self.both("add_node", node_id, **spec)

    @rule(node_id=node_ids, percent=ints(0, 100))
    def set_allocation(self, node_id: Any, percent: Any) -> None:
        self.both("set_allocation", node_id, percent)

    @rule(node_id=node_ids, paused=rarely(st.booleans(), st.sampled_from([0, 1, None]), 30))
    def set_paused(self, node_id: Any, paused: Any) -> None:
        self.both("set_paused", node_id, paused)

    @rule(node_id=node_ids, reputation=ints(0, 10_000))
    def set_reputation(self, node_id: Any, reputation: Any) -> None:
        self.both("set_reputation", node_id, reputation)

    @rule(job_id=job_ids, spec=job_specs)
    def submit(self, job_id: Any, spec: dict[str, Any]) -> None:
        self.both("submit", job_id, **spec)

    @rule(jobs=batches, as_tuple=st.booleans())
    def submit_many(self, jobs: list[Any], as_tuple: bool) -> None:
        self.both("submit_many", tuple(jobs) if as_tuple else jobs)

    @rule()
    def schedule(self) -> None:
        self.both("schedule")

    @rule(job_id=job_ids)
    def finish(self, job_id: Any) -> None:
        self.both("finish", job_id)

    @rule(job_id=job_ids)
    def cancel(self, job_id: Any) -> None:
        self.both("cancel", job_id)

    @rule(data=st.data(), cancel=st.booleans())
    def end_a_running_job(self, data: st.DataObject, cancel: bool) -> None:
        running = self.native.running()
        if running:
            self.both("cancel" if cancel else "finish", data.draw(st.sampled_from(running)))

    @rule(node_id=st.one_of(st.none(), node_ids))
    def running(self, node_id: Any) -> None:
        self.both("running", node_id)

    @rule(job_id=job_ids)
    def job_node(self, job_id: Any) -> None:
        self.both("job_node", job_id)

    @invariant()
    def same_state(self) -> None:
        nodes = self.both("nodes")
        self.both("queued")
        self.both("running")
        for node_id in nodes[1]:
            self.both("ledger", node_id)
            self.both("running", node_id)
        assert self.both("check") == ("ok", None)


CrossCheck.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCrossCheck = pytest.mark.slow(CrossCheck.TestCase)


# Few distinct values, so that scores tie often and the tie rules are exercised: at max_price
# 10000, price 3 with reputation 5004 ties price 0 with reputation 5000.
valid_nodes = st.lists(
    st.fixed_dictionaries(
        {
            "total_memory": st.sampled_from([0, 100, 400, 1000, 1000]),
            "allocation_percent": st.sampled_from([0, 25, 50, 100, 100]),
            "max_jobs": st.integers(1, 4),
            "job_types": st.sampled_from([1, 3, 31, 31, 8, 21]),
            "price": st.sampled_from([0, 3, 0, 3, 10, 2**127]),
            "latency_ms": st.sampled_from([0, 10, 50]),
            "reputation": st.sampled_from([5000, 5004, 5000, 5004, 0, 10_000]),
        }
    ),
    min_size=1,
    max_size=6,
)
valid_jobs = st.tuples(
    st.integers(0, 4),
    st.sampled_from([0, 1, 50, 100, 250, 1000]),
    st.sampled_from([10_000, 10_000, 1, 20, 2**128 - 1]),
    st.integers(-1, 1),
    st.sampled_from([0, 0, 10, 40, 60]),
)


@settings(max_examples=200, deadline=None)
@given(
    nodes=valid_nodes,
    rounds=st.lists(
        st.tuples(
            st.lists(valid_jobs, max_size=12),
            st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=4),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_random_rounds_place_identically(
    nodes: list[dict[str, int]],
    rounds: list[tuple[list[tuple[int, int, int, int, int]], list[tuple[int, bool]]]],
) -> None:
    """Rounds of (admit a batch, change a node, schedule, end some running jobs) on valid
    inputs: many placements per example, with frequent ties."""
    native, reference = NativeScheduler(), ReferenceScheduler()
    schedulers: list[Scheduler] = [native, reference]
    for i, spec in enumerate(nodes):
        for s in schedulers:
            s.add_node(f"n{i}", **spec)
    for number, (jobs, changes) in enumerate(rounds):
        batch = [(f"r{number}-{i}", *job) for i, job in enumerate(jobs)]
        results = [outcome(functools.partial(s.submit_many, batch)) for s in schedulers]
        assert results[0] == results[1]
        for which, flag in changes:
            node_id = f"n{which % len(nodes)}"
            for s in schedulers:
                if which % 3 == 0:
                    s.set_paused(node_id, flag)
                elif which % 3 == 1:
                    s.set_allocation(node_id, 30 if flag else 100)
                else:
                    s.set_reputation(node_id, 9000 if flag else 100)
        placements = [s.schedule() for s in schedulers]
        assert placements[0] == placements[1]
        assert native.queued() == reference.queued()
        for node_id in native.nodes():
            assert native.ledger(node_id) == reference.ledger(node_id)
            assert native.running(node_id) == reference.running(node_id)
        for position, (which, cancel) in enumerate(changes):
            running = native.running()
            if running:
                job_id = running[(which + position) % len(running)]
                for s in schedulers:
                    (s.cancel if cancel else s.finish)(job_id)
        assert native.running() == reference.running()
        native.check()
        reference.check()


def test_large_random_workload_is_identical() -> None:
    """Hundreds of placements over many rounds of finishing and re-scheduling."""
    rng = random.Random(6)
    native, reference = NativeScheduler(), ReferenceScheduler()
    schedulers: list[Scheduler] = [native, reference]
    for i in range(40):
        spec = {
            "total_memory": rng.randrange(1 << 30, 80 << 30),
            "allocation_percent": rng.randrange(10, 101),
            "max_jobs": rng.randrange(1, 9),
            "job_types": rng.randrange(1, 32),
            "price": rng.randrange(0, 10**18),
            "latency_ms": rng.randrange(0, 300),
            "reputation": rng.randrange(0, 10_001),
        }
        for s in schedulers:
            s.add_node(f"gpu{i}", **spec)
    admitted = 0
    for round_ in range(30):
        batch = [
            (
                f"r{round_}-j{i}",
                rng.randrange(5),
                rng.randrange(0, 8 << 30),
                rng.randrange(10**17, 2 * 10**18),
                rng.randrange(-2, 3),
                rng.choice([0, 0, 100, 250]),
            )
            for i in range(100)
        ]
        results = [outcome(functools.partial(s.submit_many, batch)) for s in schedulers]
        assert results[0] == results[1]
        admitted += results[0][0] == "ok"
        placements = [s.schedule() for s in schedulers]
        assert placements[0] == placements[1]
        finishing = native.running()[:: rng.randrange(2, 5)]
        for s in schedulers:
            for job_id in finishing:
                s.finish(job_id)
        assert native.queued() == reference.queued()
        assert native.running() == reference.running()
        for node_id in native.nodes():
            assert native.ledger(node_id) == reference.ledger(node_id)
        native.check()
        reference.check()
    assert admitted > 10
    assert len(native.running()) > 50
