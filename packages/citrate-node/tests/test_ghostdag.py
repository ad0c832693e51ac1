"""GhostDAG through the binding (`citrate_native.GhostDag`).

Kaspa's known-answer DAGs (`tests/vectors/ghostdag/`, also read by `cargo test`), the pure-Python
reference (`ghostdag_reference.py`) on the same vectors and on hypothesis-generated DAGs, where
the two must agree on every block and on the total order, and the error contract: every refused
input raises `GhostDagError` and leaves the DAG as it was.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citrate_native import GhostDag, GhostDagData
from citrate_native.errors import CitrateValueError, GhostDagError

from .ghostdag_reference import ReferenceGhostDag

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "ghostdag"
VECTOR_FILES = sorted(VECTORS.glob("*.json"))


def id_hash(block_id: str) -> bytes:
    """Kaspa's test convention: the id's UTF-8 bytes, zero-padded on the right to 32 bytes."""
    return block_id.encode().ljust(32, b"\0")


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_topological(order: list[bytes], parents: dict[bytes, list[bytes]]) -> None:
    position = {block: i for i, block in enumerate(order)}
    assert len(position) == len(order) == len(parents), "every block exactly once"
    for block, block_parents in parents.items():
        assert all(position[p] < position[block] for p in block_parents)


def test_vector_files_are_there() -> None:
    assert [p.name for p in VECTOR_FILES] == ["kaspa-dag0.json", "kaspa-dag4.json"]


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_kaspa_vectors_through_the_binding(path: Path) -> None:
    doc = load(path)
    genesis = id_hash(doc["GenesisID"])
    dag = GhostDag(doc["K"], genesis)
    parents: dict[bytes, list[bytes]] = {genesis: []}
    for block in doc["Blocks"]:
        block_hash = id_hash(block["ID"])
        parents[block_hash] = [id_hash(p) for p in block["Parents"]]
        data = dag.add_block(block_hash, parents[block_hash])
        assert data.hash == block_hash
        assert data.blue_score == block["ExpectedScore"]
        assert data.blue_work == data.blue_score
        assert data.selected_parent == id_hash(block["ExpectedSelectedParent"])
        # Kaspa's own test compares these as lists: the order is part of the contract.
        assert data.mergeset_blues == [id_hash(b) for b in block["ExpectedBlues"]]
        assert data.mergeset_reds == [id_hash(b) for b in block["ExpectedReds"]]
        stored = dag.get(block_hash)
        assert stored is not None
        assert stored.mergeset_blues == data.mergeset_blues
        ordered = dag.ordered_mergeset(block_hash)
        assert ordered[0] == data.selected_parent
        assert sorted(ordered[1:]) == sorted(data.mergeset_blues[1:] + data.mergeset_reds)
    assert len(dag) == len(doc["Blocks"]) + 1
    assert_topological(dag.total_order(), parents)


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_kaspa_vectors_through_the_reference(path: Path) -> None:
    doc = load(path)
    ref = ReferenceGhostDag(doc["K"], id_hash(doc["GenesisID"]))
    dag = GhostDag(doc["K"], id_hash(doc["GenesisID"]))
    for block in doc["Blocks"]:
        block_parents = [id_hash(p) for p in block["Parents"]]
        data = ref.add_block(id_hash(block["ID"]), block_parents)
        dag.add_block(id_hash(block["ID"]), block_parents)
        assert data.blue_score == block["ExpectedScore"]
        assert data.selected_parent == id_hash(block["ExpectedSelectedParent"])
        assert data.mergeset_blues == [id_hash(b) for b in block["ExpectedBlues"]]
        assert data.mergeset_reds == [id_hash(b) for b in block["ExpectedReds"]]
        assert ref.ordered_mergeset(data.hash) == dag.ordered_mergeset(data.hash)
    if "ExpectedReds" in doc:
        assert ref.virtual_reds() == {id_hash(b) for b in doc["ExpectedReds"]}
    assert ref.tips() == dag.tips()
    assert ref.total_order() == dag.total_order()


# --- random DAGs: the binding against the reference ------------------------------------------


@dataclass(frozen=True)
class Dag:
    k: int
    max_parents: int
    genesis: bytes
    blocks: list[tuple[bytes, list[bytes]]]


@st.composite
def dags(draw: st.DrawFn, max_blocks: int = 40) -> Dag:
    """Random DAGs: each block picks distinct parents among the last `window` blocks.

    Small k with several recent parents gives red blocks; narrow windows give long chains.
    With `tail_only` the hashes share 28 zero bytes, so ties are decided by the last bytes.
    """
    k = draw(st.integers(0, 6))
    max_parents = draw(st.integers(1, 6))
    window = draw(st.integers(1, 10))
    count = draw(st.integers(1, max_blocks))
    salt = draw(st.binary(min_size=4, max_size=4))
    tail_only = draw(st.booleans())

    def block_hash(i: int) -> bytes:
        digest = hashlib.sha256(salt + i.to_bytes(4, "big")).digest()
        return bytes(28) + digest[:4] if tail_only else digest

    genesis = block_hash(0)
    hashes = [genesis]
    blocks = []
    for i in range(1, count + 1):
        recent = hashes[-window:]
        parents = draw(
            st.lists(
                st.sampled_from(recent),
                min_size=1,
                max_size=min(max_parents, len(recent)),
                unique=True,
            )
        )
        blocks.append((block_hash(i), parents))
        hashes.append(block_hash(i))
    return Dag(k, max_parents, genesis, blocks)


def assert_agree(case: Dag) -> None:
    dag = GhostDag(case.k, case.genesis, case.max_parents)
    ref = ReferenceGhostDag(case.k, case.genesis)
    parents: dict[bytes, list[bytes]] = {case.genesis: []}
    for block_hash, block_parents in case.blocks:
        got = dag.add_block(block_hash, block_parents)
        want = ref.add_block(block_hash, block_parents)
        parents[block_hash] = block_parents
        assert (got.blue_score, got.blue_work) == (want.blue_score, want.blue_work)
        assert got.selected_parent == want.selected_parent
        assert got.mergeset_blues == want.mergeset_blues
        assert got.mergeset_reds == want.mergeset_reds
        assert dag.ordered_mergeset(block_hash) == ref.ordered_mergeset(block_hash)
    assert dag.tips() == ref.tips()
    order = dag.total_order()
    assert order == ref.total_order()
    assert_topological(order, parents)


@settings(max_examples=300, deadline=None)
@given(dags())
def test_random_dags_agree_with_the_reference(case: Dag) -> None:
    assert_agree(case)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 18])
def test_larger_random_dags_agree_and_have_reds(k: int) -> None:
    # Seeded, bigger than hypothesis draws: 10 parallel producers that each see a random
    # subset of the previous rounds, so small k leaves red blocks.
    rng = random.Random(k)
    genesis = hashlib.sha256(b"genesis").digest()
    hashes = [genesis]
    blocks = []
    for i in range(1, 301):
        recent = hashes[-12:]
        chosen = rng.sample(recent, rng.randint(1, min(5, len(recent))))
        block_hash = hashlib.sha256(i.to_bytes(4, "big")).digest()
        blocks.append((block_hash, chosen))
        hashes.append(block_hash)
    case = Dag(k, 5, genesis, blocks)
    assert_agree(case)
    ref = ReferenceGhostDag(k, genesis)
    for block_hash, chosen in blocks:
        ref.add_block(block_hash, chosen)
    reds = sum(len(d.mergeset_reds) for d in ref.data.values())
    assert reds > 0


# --- API and errors ---------------------------------------------------------------------------

G, A, B = id_hash("G"), id_hash("A"), id_hash("B")


@pytest.fixture
def small_dag() -> GhostDag:
    dag = GhostDag(3, G, max_parents=2)
    dag.add_block(A, [G])
    dag.add_block(B, [G])
    return dag


def test_genesis_only() -> None:
    dag = GhostDag(18, G)
    assert (dag.k, dag.genesis_hash, dag.max_parents, len(dag)) == (18, G, 10, 1)
    assert G in dag
    assert (id_hash("X") in dag, b"short" in dag, "G" in dag, None in dag) == (False,) * 4
    data = dag.get(G)
    assert isinstance(data, GhostDagData)
    assert (data.hash, data.blue_score, data.blue_work, data.selected_parent) == (G, 0, 0, None)
    assert (data.mergeset_blues, data.mergeset_reds) == ([], [])
    assert dag.get(id_hash("X")) is None
    assert dag.ordered_mergeset(G) == []
    assert dag.tips() == [G]
    assert dag.total_order() == [G]
    assert repr(dag) == "GhostDag(k=18, max_parents=10, blocks=1)"
    assert repr(data).startswith("GhostDagData(hash=0x47000000…, blue_score=0")


def test_ties_go_to_the_higher_hash() -> None:
    dag = GhostDag(18, G)
    low, high = b"\x01" * 32, b"\xff" * 31 + b"\x00"
    dag.add_block(high, [G])
    dag.add_block(low, [G])
    assert dag.tips() == [low, high]
    data = dag.add_block(id_hash("M"), [low, high])
    assert data.selected_parent == high
    assert data.mergeset_blues == [high, low]
    assert dag.total_order() == [G, high, low, id_hash("M")]


def _state(dag: GhostDag) -> tuple[int, list[bytes], list[bytes]]:
    return len(dag), dag.tips(), dag.total_order()


@pytest.mark.parametrize(
    ("block", "parents", "message"),
    [
        (A, [G], f"block `0x{A.hex()}` is already in the dag\nhint: each block hash"),
        (G, [A], "is already in the dag"),
        (id_hash("C"), [], "a block needs at least one parent; only the genesis block has none"),
        (id_hash("C"), [A, B, G], "`3` parents is more than the maximum of 2\nhint: pick at most"),
        (id_hash("C"), [A, A], f"parent `0x{A.hex()}` is listed more than once\nhint:"),
        (id_hash("C"), [A, id_hash("X")], "is not in the dag\nhint: add a block only after"),
        (id_hash("C"), [id_hash("C")], f"parent `0x{id_hash('C').hex()}` is not in the dag"),
        (b"\x01" * 31, [A], "a block hash is 32 bytes, got `31` bytes"),
        (id_hash("C"), [A, b"\x01" * 33], "a block hash is 32 bytes, got `33` bytes"),
        (b"", [A], "got `0` bytes"),
    ],
    ids=[
        "duplicate",
        "duplicate-genesis",
        "no-parents",
        "too-many",
        "repeated-parent",
        "unknown-parent",
        "own-parent",
        "short-hash",
        "long-parent",
        "empty-hash",
    ],
)
def test_refused_blocks_leave_the_dag_unchanged(
    small_dag: GhostDag, block: bytes, parents: list[bytes], message: str
) -> None:
    before = _state(small_dag)
    with pytest.raises(GhostDagError) as info:
        small_dag.add_block(block, parents)
    assert message in str(info.value)
    assert _state(small_dag) == before
    assert id_hash("C") not in small_dag


def test_errors_are_value_errors(small_dag: GhostDag) -> None:
    assert issubclass(GhostDagError, CitrateValueError)
    with pytest.raises(ValueError, match="is not in the dag"):
        small_dag.ordered_mergeset(id_hash("X"))
    with pytest.raises(GhostDagError, match="got `3` bytes"):
        small_dag.get(b"abc")
    with pytest.raises(GhostDagError, match="got `3` bytes"):
        small_dag.ordered_mergeset(b"abc")


def test_wrong_types_are_type_errors(small_dag: GhostDag) -> None:
    before = _state(small_dag)
    with pytest.raises(TypeError):
        small_dag.add_block("C" * 32, [A])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        small_dag.add_block(id_hash("C"), ["A"])  # type: ignore[list-item]
    assert _state(small_dag) == before


@pytest.mark.parametrize(
    ("k", "genesis", "max_parents", "message"),
    [
        (-1, G, 10, "`k` is `-1`; it must be between 0 and 65535"),
        (65536, G, 10, "`k` is `65536`"),
        (2**100, G, 10, f"`k` is `{2**100}`"),
        (18, G, 0, "`max_parents` is `0`; it must be between 1 and 4294967295"),
        (18, G, -5, "`max_parents` is `-5`"),
        (18, b"G", 10, "a block hash is 32 bytes, got `1` bytes"),
    ],
)
def test_bad_parameters(k: int, genesis: bytes, max_parents: int, message: str) -> None:
    with pytest.raises(GhostDagError) as info:
        GhostDag(k, genesis, max_parents)
    assert str(info.value).startswith(message)


def test_data_is_a_snapshot(small_dag: GhostDag) -> None:
    data = small_dag.get(A)
    assert data is not None
    small_dag.add_block(id_hash("C"), [A, B])
    assert data.blue_score == 1
    assert small_dag.tips() == [id_hash("C")]


def test_threads_share_one_dag() -> None:
    dag = GhostDag(18, G, max_parents=10)

    def grow(worker: int) -> None:
        parent = G
        for i in range(200):
            block_hash = hashlib.sha256(f"{worker}-{i}".encode()).digest()
            dag.add_block(block_hash, [parent])
            parent = block_hash

    threads = [threading.Thread(target=grow, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(dag) == 801
    assert len(dag.tips()) == 4
    assert len(dag.total_order()) == 801
