"""`ContentStore`: round trips, verification, pins and GC, bad input, locking, crash leftovers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multiformats import CID

from citrate_store import (
    CHUNK_SIZE,
    BlockNotFound,
    ContentStore,
    ContentStoreError,
    ContentStoreValueError,
    CorruptBlock,
    InvalidCid,
    InvalidDag,
    NotPinned,
    StoreClosed,
    StoreLocked,
    UnsupportedContent,
    compute_cid,
)
from citrate_store._cid import DAG_PB, cid_to_str, make_cid

from .support import flip_byte, modes, payload, snapshot

ROUND_TRIP_SIZES = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 10 * 1024 * 1024]
_RANGED = payload(3 * CHUNK_SIZE + 100, seed=7)


def _leaf(data: bytes, index: int) -> str:
    """The CID of chunk `index` of `data` (a one-chunk file's CID is its raw leaf's)."""
    return compute_cid(data[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE])


@pytest.mark.parametrize("size", ROUND_TRIP_SIZES, ids=["0B", "1B", "256KiB", "256KiB+1", "10MB"])
def test_round_trip(store: ContentStore, size: int) -> None:
    data = payload(size, seed=size)
    cid = store.add(data)
    assert cid == compute_cid(data)
    assert cid.startswith("bafk" if size <= CHUNK_SIZE else "bafy")
    assert store.cat(cid) == data
    assert b"".join(store.iter_cat(cid)) == data
    assert store.stat(cid).file_size == size
    assert store.pins() == [cid]
    assert store.check(cid) == (1 if size <= CHUNK_SIZE else -(-size // CHUNK_SIZE) + 1)


def test_streams_and_paths_are_added_like_bytes(store: ContentStore, tmp_path: Path) -> None:
    data = payload(3 * CHUNK_SIZE + 11)
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    expected = compute_cid(data)
    assert store.add(path) == expected
    with path.open("rb") as stream:
        assert store.add(stream) == expected
    assert store.add(io.BytesIO(data), pin=False) == expected
    assert store.pins() == [expected]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offset=st.integers(0, 4 * CHUNK_SIZE), length=st.none() | st.integers(0, 3 * CHUNK_SIZE))
def test_ranges_read_only_what_is_asked(
    store: ContentStore, offset: int, length: int | None
) -> None:
    data = _RANGED
    cid = compute_cid(data)
    if not store.has(cid):  # hypothesis runs every example against the same store
        store.add(data)
    expected = data[offset:] if length is None else data[offset : offset + length]
    assert store.cat(cid, offset=offset, length=length) == expected


def test_files_are_private(store: ContentStore) -> None:
    cid = store.add(payload(2 * CHUNK_SIZE + 1))
    store.pin_rm(cid)
    store.pin_add(cid)
    assert modes(store.root) == {("dir", 0o700), ("file", 0o600)}


# -- verification -----------------------------------------------------------------------------


def test_a_corrupt_leaf_is_reported_and_never_served(store: ContentStore) -> None:
    data = payload(3 * CHUNK_SIZE, seed=3)
    cid = store.add(data)
    bad = _leaf(data, 1)
    path = store.block_path(bad)
    flip_byte(path, 1000)
    with pytest.raises(CorruptBlock) as caught:
        store.cat(cid)
    assert (caught.value.cid, caught.value.path) == (bad, path)
    message = str(caught.value)
    assert bad in message and str(path) in message and "hint:" in message
    # Streaming yields the verified first chunk, then stops before the damaged one.
    served = bytearray()
    with pytest.raises(CorruptBlock):
        for piece in store.iter_cat(cid):
            served += piece
    assert bytes(served) == data[:CHUNK_SIZE]
    # A range that avoids the damaged block is still served.
    assert store.cat(cid, offset=2 * CHUNK_SIZE) == data[2 * CHUNK_SIZE :]
    assert store.verify() == [bad]
    with pytest.raises(CorruptBlock):
        store.pin_add(cid)
    # Adding the same bytes again repairs the block.
    assert store.add(data) == cid
    assert store.cat(cid) == data
    assert store.verify() == []


def test_a_corrupt_root_is_reported(store: ContentStore) -> None:
    cid = store.add(b"small file")
    flip_byte(store.block_path(cid))
    for call in (store.cat, store.stat, store.check):
        with pytest.raises(CorruptBlock, match=cid):
            call(cid)


def test_a_truncated_or_swapped_block_is_corrupt(store: ContentStore) -> None:
    one = store.add(b"one")
    two = store.add(b"two")
    store.block_path(one).write_bytes(b"")
    with pytest.raises(CorruptBlock):
        store.cat(one)
    store.block_path(two).unlink()
    store.block_path(two).symlink_to(store.block_path(one))
    with pytest.raises(CorruptBlock, match="symbolic link"):
        store.cat(two)


def test_a_missing_block_is_reported(store: ContentStore) -> None:
    data = payload(2 * CHUNK_SIZE + 5, seed=4)
    cid = store.add(data)
    missing = _leaf(data, 2)
    store.block_path(missing).unlink()
    with pytest.raises(BlockNotFound) as caught:
        store.cat(cid)
    assert (caught.value.cid, caught.value.wanted_by) == (missing, cid)
    assert missing in str(caught.value) and "hint:" in str(caught.value)
    with pytest.raises(BlockNotFound):
        store.check(cid, read_leaves=False)
    store.pin_rm(cid)
    before = snapshot(store.root)
    with pytest.raises(BlockNotFound):
        store.pin_add(cid)
    assert snapshot(store.root) == before
    with pytest.raises(BlockNotFound):
        store.cat(compute_cid(b"never added"))


def test_blocks_that_are_not_unixfs_files_are_refused(store: ContentStore) -> None:
    directory = b"\x0a\x02\x08\x01"  # PBNode{Data: UnixFS{Type: Directory}}
    not_dag_pb = b"\xff\xff\xff"
    for block in (directory, not_dag_pb):
        path = store.block_path(cid_to_str(make_cid(DAG_PB, block)))
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_bytes(block)
    with pytest.raises(UnsupportedContent, match=r"directory.*hint:"):
        store.cat(cid_to_str(make_cid(DAG_PB, directory)))
    with pytest.raises(InvalidDag, match="not a UnixFS node"):
        store.cat(cid_to_str(make_cid(DAG_PB, not_dag_pb)))


def test_an_oversized_block_file_is_not_read(store: ContentStore) -> None:
    cid = store.add(b"tiny")
    store.block_path(cid).write_bytes(bytes(3 << 20))
    with pytest.raises(CorruptBlock, match="more than any block"):
        store.cat(cid)


# -- pins and GC ------------------------------------------------------------------------------


def test_gc_removes_only_what_no_pin_reaches(store: ContentStore) -> None:
    shared = payload(CHUNK_SIZE, seed=10)
    kept = shared + payload(CHUNK_SIZE + 3, seed=11)
    dropped = shared + payload(CHUNK_SIZE + 3, seed=12)
    kept_cid = store.add(kept)
    dropped_cid = store.add(dropped, pin=False)
    lonely = store.add(b"unpinned", pin=False)
    shared_leaf = _leaf(kept, 0)
    assert shared_leaf == _leaf(dropped, 0)
    removed = store.gc()
    assert sorted(removed) == sorted({dropped_cid, _leaf(dropped, 1), _leaf(dropped, 2), lonely})
    assert store.has(shared_leaf)
    assert store.cat(kept_cid) == kept
    with pytest.raises(BlockNotFound):
        store.cat(dropped_cid)
    assert store.gc() == []
    assert store.indirect_pins() == sorted({_leaf(kept, i) for i in range(3)})
    assert store.pin_type(shared_leaf) == f"indirect through {kept_cid}"
    assert store.pin_type(kept_cid) == "recursive"
    assert store.pin_type(lonely) is None
    store.pin_rm(kept_cid)
    assert len(store.gc()) == 4
    assert store.blocks() == []


def test_pins_survive_reopening(tmp_path: Path) -> None:
    with ContentStore(tmp_path / "s") as store:
        cid = store.add(b"keep me")
        store.add(b"drop me", pin=False)
    with ContentStore(tmp_path / "s") as store:
        assert store.pins() == [cid]
        store.gc()
        assert store.blocks() == [cid]
    doc = json.loads((tmp_path / "s" / "pins.json").read_text())
    assert doc == {"format": 1, "recursive": [cid]}


def test_gc_stops_before_removing_anything_if_a_pinned_dag_is_damaged(store: ContentStore) -> None:
    cid = store.add(payload(2 * CHUNK_SIZE + 1))
    store.add(b"garbage", pin=False)
    flip_byte(store.block_path(cid))  # the root: its links cannot be trusted
    before = store.blocks()
    with pytest.raises(CorruptBlock):
        store.gc()
    assert store.blocks() == before


def test_unpinning_what_is_not_pinned_is_refused(store: ContentStore) -> None:
    cid = store.add(b"x", pin=False)
    with pytest.raises(NotPinned, match="hint:") as caught:
        store.pin_rm(cid)
    assert isinstance(caught.value, ValueError)


def test_a_damaged_pins_file_is_not_guessed_at(tmp_path: Path) -> None:
    with ContentStore(tmp_path / "s") as store:
        store.add(b"pinned")
    pins = tmp_path / "s" / "pins.json"
    for damage in (b"{not json", b'{"format": 1}', b'{"format": 1, "recursive": ["nope"]}'):
        pins.write_bytes(damage)
        with pytest.raises(ContentStoreError, match="pins"):
            ContentStore(tmp_path / "s")


# -- bad input --------------------------------------------------------------------------------

BAD_CIDS = [
    "",
    "garbage",
    "bafy",
    "QmNotAValidMultihashxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    # dag-cbor: valid CID, codec this store does not hold
    "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua",
    # blake2b-256 raw leaf, published by t0040 (add_directory '--hash=blake2b-256', Mars)
    "bafk2bzaceaqcxw46uzkyd2jmczoogof6pnkqt4dpiv3pwkunsv4g5rkkmecie",
    "/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku/sub/path",
    "x" * 500,
]


@pytest.mark.parametrize("bad", BAD_CIDS)
def test_bad_cids_get_a_clear_error_and_change_nothing(store: ContentStore, bad: str) -> None:
    store.add(b"something")
    before = snapshot(store.root)
    for call in (store.cat, store.pin_add, store.pin_rm, store.has, store.stat):
        with pytest.raises(InvalidCid, match="hint:") as caught:
            call(bad)
        assert isinstance(caught.value, ValueError)
    assert snapshot(store.root) == before


def test_other_cid_forms_of_the_same_block_are_accepted(store: ContentStore) -> None:
    data = payload(CHUNK_SIZE + 1)
    cid = store.add(data)
    v0 = str(CID.decode(cid).set(base="base58btc", version=0))
    assert v0.startswith("Qm")
    assert store.cat(v0) == data
    assert store.cat(f"/ipfs/{cid}") == data
    assert store.pin_add(CID.decode(cid).encode("base58btc")) == cid


def test_a_failed_add_changes_nothing(store: ContentStore) -> None:
    store.add(b"existing")
    before = snapshot(store.root)

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            if self.sent >= 3 * CHUNK_SIZE:
                raise OSError("the upload was cut")
            n = len(buffer)
            buffer[:n] = b"\x07" * n
            self.sent += n
            return n

    with pytest.raises(OSError, match="cut"):
        store.add(io.BufferedReader(Broken()))
    with pytest.raises(ContentStoreValueError, match="hint:"):
        store.add(io.StringIO("text mode"))  # type: ignore[arg-type]
    with pytest.raises(ContentStoreValueError, match="hint:"):
        store.add("a path as str")  # type: ignore[arg-type]
    assert snapshot(store.root) == before
    assert list((store.root / "staging").iterdir()) == []


def test_an_aborted_add_changes_nothing(store: ContentStore) -> None:
    before = snapshot(store.root)
    with store.open_add() as pending:
        pending.write(payload(2 * CHUNK_SIZE))
        pending.abort()
        with pytest.raises(ContentStoreValueError):
            pending.write(b"more")
    with pytest.raises(RuntimeError), store.open_add() as pending:
        pending.write(payload(CHUNK_SIZE * 2))
        raise RuntimeError("caller gave up")
    assert snapshot(store.root) == before


def test_negative_ranges_are_refused(store: ContentStore) -> None:
    cid = store.add(b"abc")
    with pytest.raises(ContentStoreValueError, match="offset"):
        store.cat(cid, offset=-1)
    with pytest.raises(ContentStoreValueError, match="length"):
        store.cat(cid, length=-1)


# -- ownership --------------------------------------------------------------------------------

_HOLDER = """
import sys
from citrate_store import ContentStore
with ContentStore(sys.argv[1]):
    print("ready", flush=True)
    sys.stdin.readline()
"""


def test_another_process_cannot_open_a_store_in_use(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "ready"
            with pytest.raises(StoreLocked, match=f"another process \\(pid {holder.pid}\\)"):
                ContentStore(root)
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    with ContentStore(root) as store:
        assert store.pins() == []


def test_one_open_store_per_root_in_a_process_too(tmp_path: Path) -> None:
    with ContentStore(tmp_path / "s") as store:
        with pytest.raises(StoreLocked, match="this process"):
            ContentStore(tmp_path / "s")
        store.add(b"x")
    store.close()
    with pytest.raises(StoreClosed, match="hint:"):
        store.add(b"y")


def test_an_add_cannot_commit_into_a_closed_store(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "s")
    pending = store.open_add()
    pending.write(b"late")
    store.close()
    with pytest.raises(StoreClosed):
        pending.commit()
    with ContentStore(tmp_path / "s") as reopened:
        assert reopened.blocks() == [] and reopened.pins() == []


def test_leftovers_of_a_crashed_add_are_cleared_on_open(tmp_path: Path) -> None:
    with ContentStore(tmp_path / "s") as store:
        cid = store.add(b"kept")
    leftover = tmp_path / "s" / "staging" / "999-0"
    leftover.mkdir()
    (leftover / compute_cid(b"half")).write_bytes(b"half")
    with ContentStore(tmp_path / "s") as store:
        assert list((tmp_path / "s" / "staging").iterdir()) == []
        assert store.blocks() == [cid]


def test_adds_and_gc_in_threads_keep_every_pinned_file(store: ContentStore) -> None:
    errors: list[BaseException] = []
    added: dict[str, bytes] = {}
    lock = threading.Lock()

    def adder(seed: int) -> None:
        try:
            for i in range(6):
                data = payload(CHUNK_SIZE + 17 * i, seed=seed * 100 + i)
                cid = store.add(data)
                store.add(payload(1000, seed=seed * 100 + i), pin=False)
                with lock:
                    added[cid] = data
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    def collector(stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                store.gc()
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    stop = threading.Event()
    gc_thread = threading.Thread(target=collector, args=(stop,))
    gc_thread.start()
    adders = [threading.Thread(target=adder, args=(seed,)) for seed in range(3)]
    for thread in adders:
        thread.start()
    for thread in adders:
        thread.join()
    stop.set()
    gc_thread.join()
    assert errors == []
    store.gc()
    assert sorted(added) == store.pins()
    for cid, data in added.items():
        assert store.cat(cid) == data
