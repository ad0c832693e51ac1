"""The compute scheduler's behaviour, run against both implementations: the Rust core
(``citrate_native.Scheduler``) and the pure-Python reference (``ReferenceScheduler``).

Admission, queue order, placement and scoring, backfill, the thermal pause, lowering an
allocation, release, every error type (with its message), and that a refused call changes
nothing. The random cross-check of the two is in ``test_scheduler_crosscheck.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from citrate_compute.errors import ComputeValueError
from citrate_compute.scheduler import (
    DuplicateJob,
    DuplicateNode,
    InvalidSchedulerArgument,
    JobTooLarge,
    LedgerInconsistent,
    NativeScheduler,
    NoCapableNode,
    Scheduler,
    SchedulerError,
    SchedulerKind,
    UnknownJob,
    UnknownNode,
    make_scheduler,
)
from citrate_compute.scheduler_ref import ReferenceScheduler
from citrate_native.errors import CitrateValueError

GIB = 1 << 30
INFERENCE, EMBEDDING, TRAINING, LORA, IMAGE = range(5)


@pytest.fixture(params=["native", "reference"])
def kind(request: pytest.FixtureRequest) -> SchedulerKind:
    value: SchedulerKind = request.param
    return value


@pytest.fixture
def s(kind: SchedulerKind) -> Scheduler:
    return make_scheduler(kind)


def add(s: Scheduler, node_id: str, **overrides: int) -> None:
    """A node with 100 bytes, all lent, 4 slots, serving inference and embedding."""
    spec: dict[str, Any] = {
        "total_memory": 100,
        "allocation_percent": 100,
        "max_jobs": 4,
        "job_types": 0b11,
    }
    spec.update(overrides)
    s.add_node(node_id, **spec)


def job(s: Scheduler, job_id: str, **overrides: int) -> None:
    """An inference job of 1 byte paying up to 1000."""
    spec: dict[str, Any] = {"job_type": INFERENCE, "memory": 1, "max_price": 1000}
    spec.update(overrides)
    s.submit(job_id, **spec)


def state(s: Scheduler) -> tuple[object, ...]:
    """Everything observable, to assert that a refused call changed nothing."""
    return (
        s.nodes(),
        s.queued(),
        s.running(),
        {node: (s.ledger(node), s.running(node)) for node in s.nodes()},
        {job_id: s.job_node(job_id) for job_id in s.queued() + s.running()},
    )


# -- construction --------------------------------------------------------------------------------


def test_make_scheduler_kinds() -> None:
    assert isinstance(make_scheduler(), NativeScheduler)
    assert isinstance(make_scheduler("native"), NativeScheduler)
    assert isinstance(make_scheduler("reference"), ReferenceScheduler)
    with pytest.raises(ComputeValueError, match="unknown scheduler kind `rust`") as info:
        make_scheduler("rust")  # type: ignore[arg-type]
    assert info.value.hint is not None
    assert "reference" in info.value.hint


def test_error_classes_are_value_errors() -> None:
    for cls in (
        DuplicateNode,
        UnknownNode,
        DuplicateJob,
        UnknownJob,
        InvalidSchedulerArgument,
        JobTooLarge,
        NoCapableNode,
        LedgerInconsistent,
    ):
        assert issubclass(cls, SchedulerError)
        assert issubclass(cls, CitrateValueError)
        assert issubclass(cls, ValueError)
    assert issubclass(UnknownNode, LookupError)
    assert issubclass(UnknownJob, LookupError)


# -- placement -----------------------------------------------------------------------------------


def test_place_and_release(s: Scheduler) -> None:
    s.add_node("gpu0", total_memory=8 * GIB, allocation_percent=50, max_jobs=2, job_types=0b11)
    s.submit("j1", job_type=INFERENCE, memory=GIB, max_price=10)
    assert s.queued() == ["j1"]
    assert s.job_node("j1") is None
    assert s.running() == []
    assert s.schedule() == [("j1", "gpu0")]
    assert s.schedule() == []
    assert s.ledger("gpu0") == {
        "total": 8 * GIB,
        "share": 4 * GIB,
        "reserved": GIB,
        "free": 3 * GIB,
        "running": 1,
        "max_jobs": 2,
        "paused": False,
    }
    assert s.job_node("j1") == "gpu0"
    assert s.running() == s.running("gpu0") == ["j1"]
    assert s.queued() == []
    s.check()
    s.finish("j1")
    assert s.ledger("gpu0")["reserved"] == 0
    assert s.ledger("gpu0")["running"] == 0
    assert s.running() == []
    with pytest.raises(UnknownJob):
        s.job_node("j1")
    # A finished id may be used again.
    s.submit("j1", job_type=EMBEDDING, memory=GIB, max_price=10)
    assert s.queued() == ["j1"]
    s.check()


def test_share_rounds_down(s: Scheduler) -> None:
    s.add_node("n", total_memory=999, allocation_percent=33, max_jobs=1, job_types=1)
    assert s.ledger("n")["share"] == 329
    s.add_node("big", total_memory=2**64 - 1, allocation_percent=99, max_jobs=1, job_types=1)
    assert s.ledger("big")["share"] == (2**64 - 1) * 99 // 100


def test_queue_order_is_priority_then_submission(s: Scheduler) -> None:
    add(s, "n", max_jobs=10)
    job(s, "low", priority=-5)
    job(s, "a", priority=1)
    job(s, "b", priority=1)
    job(s, "top", priority=2**31 - 1)
    s.submit_many([("c", INFERENCE, 1, 10, 1, 0), ("zero", INFERENCE, 1, 10, 0, 0)])
    job(s, "bottom", priority=-(2**31))
    expected = ["top", "a", "b", "c", "zero", "low", "bottom"]
    assert s.queued() == expected
    assert [j for j, _ in s.schedule()] == expected
    assert s.running() == expected


def test_cheaper_node_wins(s: Scheduler) -> None:
    add(s, "pricey", price=900)
    add(s, "cheap", price=100)
    job(s, "j")
    assert s.schedule() == [("j", "cheap")]


def test_higher_reputation_wins(s: Scheduler) -> None:
    add(s, "a")
    add(s, "b", reputation=9000)
    job(s, "j")
    assert s.schedule() == [("j", "b")]
    s.set_reputation("a", 10_000)
    job(s, "k")
    assert s.schedule() == [("k", "a")]


def test_load_spreads_jobs(s: Scheduler) -> None:
    add(s, "a", max_jobs=2)
    add(s, "b", max_jobs=2)
    s.submit_many([(f"j{i}", INFERENCE, 1, 10, 0, 0) for i in range(4)])
    assert s.schedule() == [("j0", "a"), ("j1", "b"), ("j2", "a"), ("j3", "b")]


def test_latency_limit_and_score(s: Scheduler) -> None:
    add(s, "far", latency_ms=90)
    add(s, "near", latency_ms=10)
    job(s, "any")  # no limit: latency does not count, the earlier node wins the tie
    job(s, "fast", max_latency_ms=100)
    job(s, "too-fast", max_latency_ms=5)
    assert s.schedule() == [("any", "far"), ("fast", "near")]
    assert s.queued() == ["too-fast"]


def test_ties_go_to_the_lower_price_then_the_earlier_node(s: Scheduler) -> None:
    # b at price 3 of 10000: 40 * 9997 + 30 * 5004 = 550_000; a at price 0: 40 * 10000 +
    # 30 * 5000 = 550_000. Equal scores: the lower price (a) wins though added later.
    add(s, "b", price=3, reputation=5004, max_jobs=1)
    add(s, "a", price=0, reputation=5000, max_jobs=1)
    add(s, "c", price=0, reputation=5000, max_jobs=1)
    # a and c tie on score and price for j1: the earlier-added (a) wins. For j2, a is full and c
    # (price 0) beats b (price 3) at an equal score.
    job(s, "j1", max_price=10_000)
    job(s, "j2", max_price=10_000)
    assert s.schedule() == [("j1", "a"), ("j2", "c")]


def test_huge_prices_score_exactly(s: Scheduler) -> None:
    # With max_price = 2**128 - 1: price 2**127 - 1 scores exactly 5000, price 2**127 4999; a
    # wins by 40 - 30 points only if both are computed exactly.
    half = (2**128 - 1) // 2
    add(s, "b", price=half + 1, reputation=5000)
    add(s, "a", price=half, reputation=4999)
    job(s, "j", max_price=2**128 - 1)
    assert s.schedule() == [("j", "a")]


def test_feasibility(s: Scheduler) -> None:
    add(s, "emb", job_types=1 << EMBEDDING, price=50, max_jobs=1)
    job(s, "too-cheap", job_type=EMBEDDING, max_price=49)
    job(s, "ok", job_type=EMBEDDING, max_price=50, memory=100)
    job(s, "no-slot", job_type=EMBEDDING, max_price=50, memory=0)
    assert s.schedule() == [("ok", "emb")]
    assert s.queued() == ["too-cheap", "no-slot"]
    assert s.ledger("emb")["free"] == 0


def test_backfill(s: Scheduler) -> None:
    add(s, "n")
    job(s, "big", memory=80)
    assert s.schedule() == [("big", "n")]
    job(s, "big2", memory=50, priority=1)
    job(s, "small", memory=20)
    assert s.schedule() == [("small", "n")]
    assert s.queued() == ["big2"]
    s.finish("big")
    assert s.schedule() == [("big2", "n")]
    s.check()


def test_thermal_pause_holds_new_placements_only(s: Scheduler) -> None:
    add(s, "hot")
    add(s, "cool", price=500)
    job(s, "a", memory=10)
    assert s.schedule() == [("a", "hot")]
    s.set_paused("hot", True)
    job(s, "b", memory=10)
    job(s, "c", memory=10, job_type=EMBEDDING)
    assert s.schedule() == [("b", "cool"), ("c", "cool")]
    s.set_paused("cool", True)
    job(s, "d", memory=10)
    assert s.schedule() == []
    assert s.queued() == ["d"]
    ledger = s.ledger("hot")
    assert ledger["paused"] is True
    assert (ledger["running"], ledger["reserved"]) == (1, 10)
    # The running job finishes normally while paused; a paused node still counts at admission.
    s.finish("a")
    job(s, "e", memory=100)
    s.set_paused("hot", False)
    assert s.ledger("hot")["paused"] is False
    # d fits the cool-again hot node; e (100 bytes) no longer fits beside it; cool is paused.
    assert s.schedule() == [("d", "hot")]
    assert s.queued() == ["e"]
    s.check()


def test_lowering_the_allocation_below_the_reserved_memory(s: Scheduler) -> None:
    add(s, "n", total_memory=1000)
    s.submit_many([("a", INFERENCE, 400, 10, 0, 0), ("b", INFERENCE, 400, 10, 0, 0)])
    s.schedule()
    s.set_allocation("n", 50)
    ledger = s.ledger("n")
    assert (ledger["share"], ledger["reserved"], ledger["free"]) == (500, 800, 0)
    s.check()
    with pytest.raises(JobTooLarge, match="largest share of a node serving inference jobs is 500"):
        job(s, "c", memory=501)
    job(s, "zero", memory=0)
    job(s, "c", memory=100)
    assert s.schedule() == [("zero", "n")]  # free is 0: only a zero-memory job fits
    s.finish("a")
    assert s.ledger("n")["free"] == 100
    assert s.schedule() == [("c", "n")]
    s.set_allocation("n", 0)
    assert s.ledger("n")["share"] == 0
    s.check()


def test_cancel(s: Scheduler) -> None:
    add(s, "n", max_jobs=1)
    s.submit_many([("a", INFERENCE, 10, 10, 0, 0), ("b", INFERENCE, 10, 10, 0, 0)])
    job(s, "c", memory=10)
    s.schedule()
    s.cancel("b")  # queued: dropped
    assert s.queued() == ["c"]
    s.cancel("a")  # running: released
    assert s.ledger("n")["reserved"] == 0
    assert s.schedule() == [("c", "n")]
    with pytest.raises(UnknownJob, match="there is no queued or running job `a`"):
        s.cancel("a")
    s.check()


def test_running_per_node_in_placement_order(s: Scheduler) -> None:
    add(s, "a", max_jobs=3)
    add(s, "b", max_jobs=3)
    s.submit_many([(f"j{i}", INFERENCE, 1, 10, 0, 0) for i in range(5)])
    s.schedule()
    assert s.running("a") == ["j0", "j2", "j4"]
    assert s.running("b") == ["j1", "j3"]
    s.finish("j2")
    job(s, "k")
    s.schedule()
    assert s.running("a") == ["j0", "j4", "k"]  # equal load again: the earlier node
    assert s.running("b") == ["j1", "j3"]
    assert s.running() == ["j0", "j1", "j3", "j4", "k"]
    assert s.nodes() == ["a", "b"]


# -- errors --------------------------------------------------------------------------------------


def populated(s: Scheduler) -> None:
    """Node `n` (share 50, inference only, 1 slot) running `q`, with `r` queued."""
    s.add_node("n", total_memory=100, allocation_percent=50, max_jobs=1, job_types=1)
    job(s, "q")
    job(s, "r")
    s.schedule()


def test_duplicate_node(s: Scheduler) -> None:
    populated(s)
    before = state(s)
    with pytest.raises(DuplicateNode) as info:
        add(s, "n")
    assert str(info.value) == (
        "node `n` is already added\nhint: node ids are unique; change a node with "
        "set_allocation, set_paused or set_reputation"
    )
    assert state(s) == before


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("set_allocation", ("x", 10)),
        ("set_paused", ("x", True)),
        ("set_reputation", ("x", 10)),
        ("ledger", ("x",)),
        ("running", ("x",)),
    ],
)
def test_unknown_node(s: Scheduler, call: str, args: tuple[object, ...]) -> None:
    populated(s)
    before = state(s)
    with pytest.raises(UnknownNode) as info:
        getattr(s, call)(*args)
    assert str(info.value) == (
        "there is no node `x`\nhint: add it with add_node first (nodes() lists them)"
    )
    assert state(s) == before


def test_duplicate_job(s: Scheduler) -> None:
    populated(s)
    before = state(s)
    hint = (
        "hint: job ids are unique among queued and running jobs; "
        "finish or cancel the other job first"
    )
    with pytest.raises(DuplicateJob) as info:
        job(s, "q")
    assert str(info.value) == f"job `q` is already running\n{hint}"
    with pytest.raises(DuplicateJob) as info:
        job(s, "r")
    assert str(info.value) == f"job `r` is already queued\n{hint}"
    assert state(s) == before


def test_unknown_job(s: Scheduler) -> None:
    populated(s)
    before = state(s)
    with pytest.raises(UnknownJob) as info:
        s.finish("r")
    assert str(info.value) == (
        "job `r` is queued, not running\nhint: use cancel to drop a queued job"
    )
    for call in (s.finish, s.cancel, s.job_node):
        with pytest.raises(UnknownJob) as info:
            call("zz")
        assert str(info.value) == (
            "there is no queued or running job `zz`\nhint: it may have finished or been "
            "cancelled already (queued() and running() list the current jobs)"
        )
    assert state(s) == before


def test_job_too_large_and_no_capable_node(s: Scheduler) -> None:
    populated(s)
    s.set_paused("n", True)  # paused nodes still count at admission
    add(s, "img", total_memory=10, job_types=1 << IMAGE)
    before = state(s)
    with pytest.raises(JobTooLarge) as too_large:
        job(s, "j", memory=51)
    assert str(too_large.value) == (
        "job `j` needs `51` bytes but the largest share of a node serving inference jobs is 50 "
        "bytes\nhint: lower the job's memory, or raise a node's allocation (set_allocation)"
    )
    with pytest.raises(NoCapableNode) as none:
        job(s, "j", job_type=LORA)
    assert str(none.value) == (
        "no node serves lora jobs (job `j`)\nhint: add a node whose job_types include 8"
    )
    with pytest.raises(JobTooLarge, match="image jobs is 10 bytes"):
        job(s, "j", job_type=IMAGE, memory=11)
    assert state(s) == before
    job(s, "j", memory=50)
    job(s, "k", job_type=IMAGE, memory=10)


def test_no_nodes_at_all(s: Scheduler) -> None:
    with pytest.raises(NoCapableNode, match="no node serves inference jobs"):
        job(s, "j")
    with pytest.raises(NoCapableNode):
        s.submit_many([("j", INFERENCE, 0, 1, 0, 0)])
    assert s.queued() == []
    assert s.schedule() == []
    s.check()


U32, U64, U128 = 2**32 - 1, 2**64 - 1, 2**128 - 1

NODE_ARGS: dict[str, Any] = {
    "total_memory": 1,
    "allocation_percent": 1,
    "max_jobs": 1,
    "job_types": 1,
    "price": 0,
    "latency_ms": 0,
    "reputation": 0,
}
# (argument, lowest, highest, the range as the message writes it)
NODE_RANGES = [
    ("total_memory", 0, U64, "0 to 2**64 - 1"),
    ("allocation_percent", 0, 100, "0 to 100"),
    ("max_jobs", 1, U32, "1 to 2**32 - 1"),
    ("job_types", 1, 31, "1 to 31"),
    ("price", 0, U128, "0 to 2**128 - 1"),
    ("latency_ms", 0, U32, "0 to 2**32 - 1"),
    ("reputation", 0, 10_000, "0 to 10000"),
]
JOB_ARGS: dict[str, Any] = {
    "job_type": 0,
    "memory": 0,
    "max_price": 1,
    "priority": 0,
    "max_latency_ms": 0,
}
JOB_RANGES = [
    ("job_type", 0, 4, "0 to 4"),
    ("memory", 0, U64, "0 to 2**64 - 1"),
    ("max_price", 1, U128, "1 to 2**128 - 1"),
    ("priority", -(2**31), 2**31 - 1, "-2**31 to 2**31 - 1"),
    ("max_latency_ms", 0, U32, "0 to 2**32 - 1"),
]


@pytest.mark.parametrize(("name", "low", "high", "text"), NODE_RANGES)
def test_add_node_ranges(s: Scheduler, name: str, low: int, high: int, text: str) -> None:
    s.add_node("low", **{**NODE_ARGS, name: low})
    s.add_node("high", **{**NODE_ARGS, name: high})
    before = state(s)
    for bad in (low - 1, high + 1):
        with pytest.raises(InvalidSchedulerArgument) as info:
            s.add_node("bad", **{**NODE_ARGS, name: bad})
        message = str(info.value)
        assert message.startswith(f"`{name}` is `{bad}`; it must be an integer from {text}\n")
        assert "\nhint: " in message
    assert state(s) == before


@pytest.mark.parametrize(("name", "low", "high", "text"), JOB_RANGES)
def test_submit_ranges(s: Scheduler, name: str, low: int, high: int, text: str) -> None:
    s.add_node("n", total_memory=U64, allocation_percent=100, max_jobs=1, job_types=31)
    s.submit("low", **{**JOB_ARGS, name: low})
    s.submit("high", **{**JOB_ARGS, name: high})
    before = state(s)
    for bad in (low - 1, high + 1):
        with pytest.raises(InvalidSchedulerArgument) as info:
            s.submit("bad", **{**JOB_ARGS, name: bad})
        assert str(info.value).startswith(f"`{name}` is `{bad}`; it must be an integer from {text}")
        with pytest.raises(InvalidSchedulerArgument) as info:
            s.submit_many([("ok", 0, 0, 1, 0, 0), ("bad", *{**JOB_ARGS, name: bad}.values())])
        assert str(info.value).startswith(f"batch item 1: `{name}` is `{bad}`;")
    assert state(s) == before


def test_setter_ranges(s: Scheduler) -> None:
    add(s, "n")
    before = state(s)
    with pytest.raises(InvalidSchedulerArgument, match=r"^`percent` is `101`; .* 0 to 100\n"):
        s.set_allocation("n", 101)
    with pytest.raises(InvalidSchedulerArgument, match=r"^`reputation` is `-1`; .* 0 to 10000\n"):
        s.set_reputation("n", -1)
    # Argument errors come before unknown ids.
    with pytest.raises(InvalidSchedulerArgument, match="`percent`"):
        s.set_allocation("x", 101)
    assert state(s) == before


def test_huge_and_negative_ints(s: Scheduler) -> None:
    add(s, "n")
    # Up to 256 bits the message shows the digits, above only the size.
    with pytest.raises(InvalidSchedulerArgument) as info:
        job(s, "j", max_price=2**300)
    assert str(info.value).startswith("`max_price` is `<301-bit integer>`; it must be an integer")
    with pytest.raises(InvalidSchedulerArgument, match="`<negative 257-bit integer>`"):
        job(s, "j", priority=-(2**256))
    with pytest.raises(InvalidSchedulerArgument, match=f"`priority` is `{2**256 - 1}`"):
        job(s, "j", priority=2**256 - 1)
    with pytest.raises(InvalidSchedulerArgument, match=f"`memory` is `{-(2**128)}`"):
        job(s, "j", memory=-(2**128))
    with pytest.raises(InvalidSchedulerArgument, match=f"`price` is `{2**128}`"):
        add(s, "m", price=2**128)
    assert s.queued() == []
    assert s.nodes() == ["n"]


def test_empty_ids(s: Scheduler) -> None:
    add(s, "n")
    with pytest.raises(InvalidSchedulerArgument) as info:
        add(s, "")
    assert str(info.value) == (
        "`node_id` is empty\nhint: give every node a unique, non-empty id (e.g. `gpu0`)"
    )
    with pytest.raises(InvalidSchedulerArgument, match=r"^`job_id` is empty\nhint: "):
        job(s, "")
    with pytest.raises(InvalidSchedulerArgument, match=r"^`node_id` is empty"):
        s.ledger("")
    with pytest.raises(InvalidSchedulerArgument, match=r"^batch item 0: `job_id` is empty"):
        s.submit_many([("", 0, 0, 1, 0, 0)])


def test_wrong_types(s: Scheduler) -> None:
    add(s, "n")
    before = state(s)
    text: Any = "1"
    one: Any = 1
    mapping: Any = {}
    cases: list[tuple[Any, tuple[Any, ...], dict[str, Any], str]] = [
        (s.submit, ("j",), {**JOB_ARGS, "memory": text}, "`memory` must be an int, not `str`"),
        (
            s.submit,
            ("j",),
            {**JOB_ARGS, "max_price": 1.0},
            "`max_price` must be an int, not `float`",
        ),
        (s.submit, (one,), JOB_ARGS, "`job_id` must be a str, not `int`"),
        (s.ledger, (one,), {}, "`node_id` must be a str, not `int`"),
        (s.running, (one,), {}, "`node_id` must be a str, not `int`"),
        (s.set_paused, ("n", one), {}, "`paused` must be a bool, not `int`"),
        (s.submit_many, (mapping,), {}, "`jobs` must be a list of job tuples, not `dict`"),
        (
            s.submit_many,
            ([("a", 0, 0, 1, 0, 0), one],),
            {},
            "batch item 1: `job` must be a tuple (job_id, job_type, memory, max_price, priority, "
            "max_latency_ms), not `int`",
        ),
        (
            s.submit_many,
            ([("a", 0, 0, 1, None, 0)],),
            {},
            "batch item 0: `priority` must be an int, not `NoneType`",
        ),
    ]
    for call, args, kwargs, message in cases:
        with pytest.raises(TypeError) as info:
            call(*args, **kwargs)
        assert str(info.value) == message
    assert state(s) == before


def test_bools_are_ints(s: Scheduler) -> None:
    # Python's bool is an int; both implementations take True as 1, like int(True).
    add(s, "n", job_types=True)
    job(s, "j", job_type=False, memory=True)
    assert s.schedule() == [("j", "n")]
    assert s.ledger("n")["reserved"] == 1


def test_ledger_inconsistent_reference() -> None:
    # The Rust core cannot be corrupted from Python (its unit test corrupts it from inside);
    # the reference can, which checks its message and the class.
    s = ReferenceScheduler()
    add(s, "n")
    job(s, "a", memory=10)
    s.schedule()
    s.check()
    s._nodes["n"].reserved += 1
    with pytest.raises(LedgerInconsistent) as info:
        s.check()
    assert str(info.value) == (
        "node `n` has 11 bytes reserved but its 1 running jobs hold 10 bytes\n"
        "hint: this is a bug in the scheduler; please report it"
    )


# -- submit_many ---------------------------------------------------------------------------------


def test_submit_many_is_all_or_nothing(s: Scheduler) -> None:
    populated(s)
    before = state(s)
    cases: list[tuple[list[Any], type[SchedulerError], str]] = [
        (
            [("a", 0, 1, 1, 0, 0), ("b", 0, 1, 1, 0, 0), ("a", 0, 1, 1, 0, 0)],
            DuplicateJob,
            "batch item 2: job `a` is already batch item 0\nhint: list each job once in a batch",
        ),
        ([("a", 0, 1, 1, 0, 0), ("q", 0, 1, 1, 0, 0)], DuplicateJob, "batch item 1: job `q`"),
        ([("a", 0, 1, 1, 0, 0), ("r", 0, 1, 1, 0, 0)], DuplicateJob, "batch item 1: job `r`"),
        ([("a", 0, 51, 1, 0, 0)], JobTooLarge, "batch item 0: job `a` needs `51` bytes"),
        ([("a", 0, 1, 1, 0, 0), ("b", 1, 1, 1, 0, 0)], NoCapableNode, "batch item 1: no node"),
        # Every item's arguments before any item's admission: item 2's bad type wins over
        # item 1's duplicate id.
        (
            [("a", 0, 1, 1, 0, 0), ("q", 0, 1, 1, 0, 0), ("d", 7, 1, 1, 0, 0)],
            InvalidSchedulerArgument,
            "batch item 2: `job_type` is `7`",
        ),
        (
            [("a", 0, 1, 1, 0, 0), ("b", 0, 1, 1, 0)],
            InvalidSchedulerArgument,
            "batch item 1: a job is a tuple (job_id, job_type, memory, max_price, priority, "
            "max_latency_ms) of 6 items, got `5` items\nhint: pass one 6-item tuple per job",
        ),
    ]
    for batch, error, message in cases:
        with pytest.raises(error) as info:
            s.submit_many(batch)
        assert str(info.value).startswith(message)
        assert state(s) == before
    s.submit_many([])
    mixed: Any = (["a", 0, 1, 1, 0, 0], ("b", 0, 1, 1, 3, 0))  # a tuple of a list and a tuple
    s.submit_many(mixed)
    assert s.queued() == ["b", "r", "a"]


# -- the native scheduler across threads ---------------------------------------------------------


def test_native_scheduler_is_thread_safe() -> None:
    s = NativeScheduler()
    for i in range(4):
        add(s, f"n{i}", total_memory=10_000, max_jobs=50)
    errors: list[BaseException] = []
    finished: list[str] = []

    def worker(w: int) -> None:
        try:
            for round_ in range(20):
                s.submit_many([(f"w{w}-{round_}-{i}", 0, 7, 10, i % 3, 0) for i in range(20)])
                for job_id, _ in s.schedule()[::2]:
                    s.finish(job_id)
                    finished.append(job_id)
                s.check()
        except BaseException as e:  # re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s.check()
    assert len(s.queued()) + len(s.running()) + len(finished) == 4 * 20 * 20
    assert len(set(s.queued()) | set(s.running()) | set(finished)) == 4 * 20 * 20
