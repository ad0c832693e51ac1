"""The importer's blocks, its streaming behaviour, and the dag-pb/UnixFS codec."""

from __future__ import annotations

import contextlib
import hashlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID

from citrate_store import CHUNK_SIZE, ContentStoreValueError, FileImporter, compute_cid
from citrate_store._cid import DAG_PB, RAW, cid_to_str, make_cid, parse_link
from citrate_store._protobuf import (
    UNIXFS_FILE,
    ProtobufError,
    decode_pbnode,
    decode_unixfs,
    encode_varint,
)
from citrate_store.unixfs import import_stream

from .support import payload


def _blocks(data: bytes, **options: int) -> tuple[str, dict[bytes, bytes], list[bytes]]:
    blocks: dict[bytes, bytes] = {}
    order: list[bytes] = []

    def sink(cid: bytes, block: bytes) -> None:
        blocks[cid] = block
        order.append(cid)

    return import_stream(data, sink, **options).cid, blocks, order


def test_one_chunk_is_the_raw_block_itself() -> None:
    data = payload(CHUNK_SIZE)
    cid, blocks, _ = _blocks(data)
    assert cid == str(CID("base32", 1, "raw", ("sha2-256", hashlib.sha256(data).digest())))
    assert list(blocks.values()) == [data]


def test_two_chunks_make_a_canonical_dag_pb_root() -> None:
    data = payload(CHUNK_SIZE + 1)
    cid, blocks, order = _blocks(data)
    root = CID.decode(cid)
    assert (root.version, root.codec.name, root.hashfun.name) == (1, "dag-pb", "sha2-256")
    block = blocks[order[-1]]
    assert cid_to_str(order[-1]) == cid
    leaf0, leaf1 = order[0], order[1]

    # Byte for byte what Kubo writes: Links (Hash, empty Name, Tsize) first, then the UnixFS
    # Data {Type: File, filesize, blocksizes (unpacked)}.
    def field(tag: bytes, body: bytes) -> bytes:
        return tag + encode_varint(len(body)) + body

    expected = b""
    for leaf, tsize in ((leaf0, CHUNK_SIZE), (leaf1, 1)):
        expected += field(b"\x12", field(b"\x0a", leaf) + b"\x12\x00\x18" + encode_varint(tsize))
    unixfs = b"\x08\x02\x18" + encode_varint(CHUNK_SIZE + 1)
    unixfs += b"\x20" + encode_varint(CHUNK_SIZE) + b"\x20\x01"
    expected += field(b"\x0a", unixfs)
    assert block == expected
    node = decode_pbnode(block)
    assert [link.name for link in node.links] == ["", ""]
    assert [link.tsize for link in node.links] == [CHUNK_SIZE, 1]
    assert node.data is not None
    fs = decode_unixfs(node.data)
    assert (fs.type, fs.filesize, fs.blocksizes, fs.data) == (
        UNIXFS_FILE,
        CHUNK_SIZE + 1,
        (CHUNK_SIZE, 1),
        b"",
    )


def _reference(data: bytes, chunk_size: int, max_links: int) -> str:
    """The balanced layout as js-ipfs-unixfs states it: batch, reduce, repeat until one root."""
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    level: list[tuple[bytes, int, int]] = [(make_cid(RAW, c), len(c), len(c)) for c in chunks]
    if len(level) == 1:
        return cid_to_str(level[0][0])
    while len(level) > 1:
        parents = []
        for start in range(0, len(level), max_links):
            group = level[start : start + max_links]
            fs = b"\x08\x02\x18" + encode_varint(sum(g[2] for g in group))
            fs += b"".join(b"\x20" + encode_varint(g[2]) for g in group)
            node = b""
            for cid, tsize, _ in group:
                link = b"\x0a\x24" + cid + b"\x12\x00\x18" + encode_varint(tsize)
                node += b"\x12" + encode_varint(len(link)) + link
            node += b"\x0a" + encode_varint(len(fs)) + fs
            parents.append(
                (
                    make_cid(DAG_PB, node),
                    len(node) + sum(g[1] for g in group),
                    sum(g[2] for g in group),
                )
            )
        level = parents
    return cid_to_str(level[0][0])


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(0, 600),
    chunk_size=st.integers(1, 9),
    max_links=st.integers(2, 5),
    cuts=st.lists(st.integers(0, 600), max_size=12),
)
def test_streaming_builder_matches_the_batch_reference_for_any_split(
    size: int, chunk_size: int, max_links: int, cuts: list[int]
) -> None:
    data = payload(size, seed=size)
    importer = FileImporter(chunk_size=chunk_size, max_links=max_links)
    start = 0
    for cut in sorted(c for c in cuts if c <= size):
        importer.write(data[start:cut])
        start = cut
    importer.write(memoryview(data)[start:])
    assert importer.finish().cid == _reference(data, chunk_size, max_links)


def test_streams_are_read_one_chunk_at_a_time() -> None:
    class Recorder(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.requests: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            self.requests.append(-1 if size is None else size)
            return super().read(size)

    data = payload(3 * CHUNK_SIZE + 7)
    stream = Recorder(data)
    assert compute_cid(stream) == compute_cid(data)
    assert stream.requests and all(0 < r <= CHUNK_SIZE for r in stream.requests)


def test_iterables_of_pieces_are_accepted() -> None:
    data = payload(CHUNK_SIZE * 2 + 3)
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert compute_cid(iter(pieces)) == compute_cid(data)


def test_finish_is_idempotent_and_closes_the_importer() -> None:
    importer = FileImporter()
    importer.write(b"abc")
    first = importer.finish()
    assert importer.finish() == first
    with pytest.raises(ContentStoreValueError, match="finished"):
        importer.write(b"more")


@pytest.mark.parametrize(
    "source", ["text", io.StringIO("text"), [b"ok", "text"]], ids=["str", "text-stream", "mixed"]
)
def test_text_is_refused_with_a_hint(source: object) -> None:
    with pytest.raises(ContentStoreValueError, match="hint:"):
        compute_cid(source)  # type: ignore[arg-type]


@pytest.mark.parametrize(("chunk_size", "max_links"), [(0, 174), (2**20 + 1, 174), (1024, 1)])
def test_impossible_layouts_are_refused(chunk_size: int, max_links: int) -> None:
    with pytest.raises(ContentStoreValueError, match="hint:"):
        FileImporter(chunk_size=chunk_size, max_links=max_links)


def test_v0_links_are_read_as_v1_dag_pb() -> None:
    digest = hashlib.sha256(b"x").digest()
    assert parse_link(b"\x12\x20" + digest) == b"\x01\x70\x12\x20" + digest


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoders_reject_garbage_cleanly(blob: bytes) -> None:
    # Whatever the bytes, the only failure is ProtobufError (never IndexError, ...).
    for decode in (decode_pbnode, decode_unixfs):
        with contextlib.suppress(ProtobufError):
            decode(blob)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(b"\x0a\x05abc", id="length-past-end"),
        pytest.param(b"\x12\x02\x12\x00", id="link-without-hash"),
        pytest.param(b"\x0a\x00\x12\x00", id="links-after-data"),
        pytest.param(b"\x0a\x00\x0a\x00", id="data-twice"),
        pytest.param(b"\x18\x01", id="unknown-field"),
        pytest.param(b"\x0b", id="group-wire-type"),
        pytest.param(b"\x08" + b"\xff" * 10 + b"\x01", id="varint-over-64-bits"),
    ],
)
def test_malformed_dag_pb_is_refused(blob: bytes) -> None:
    with pytest.raises(ProtobufError):
        decode_pbnode(blob)
