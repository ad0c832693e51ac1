"""Content addressing of job documents: bytes32 <-> CID, verified fetches, size caps.

The store is the real citrate-store (`ContentStore` behind its Kubo-compatible API on
127.0.0.1); only the dishonest store is a test double, since an honest store cannot lie.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citrate_compute.content import (
    CHUNK_SIZE,
    ContentClient,
    ContentError,
    ContentMismatch,
    ContentNotFound,
    ContentTooLarge,
    as_digest,
    canonical_json,
    cid_of,
    cids_for_digest,
    declared_memory,
    digest_of_cid,
    handler_input,
    hash_document,
    input_document,
    parse_document,
)
from citrate_compute.errors import ComputeValueError, MalformedInput
from citrate_compute.jobs import JobType
from citrate_store import ContentStore, ServerThread


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    with ContentStore(tmp_path / "store") as store, ServerThread(store, port=0) as server:
        yield server.url


@pytest.fixture
def client(store_url: str) -> Iterator[ContentClient]:
    with ContentClient(store_url, max_input_bytes=2 * 1024 * 1024) as opened:
        yield opened


# ------------------------------------------------------------------------------ hashes


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7]
)
def test_the_onchain_hash_is_the_digest_inside_the_stores_cid(size: int) -> None:
    data = os.urandom(size)
    cid = cid_of(data)
    digest = hash_document(data)
    assert digest == digest_of_cid(cid)
    raw, dag_pb = cids_for_digest(digest)
    # One chunk: a raw CID (the bytes' own sha2-256); more: a dag-pb root.
    assert cid == (raw if size <= CHUNK_SIZE else dag_pb)
    if size <= CHUNK_SIZE:
        assert digest == hashlib.sha256(data).digest()


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_cids_of_a_digest_carry_it_back(digest: bytes) -> None:
    for cid in cids_for_digest(digest):
        assert digest_of_cid(cid) == digest
    assert as_digest("0x" + digest.hex()) == digest == as_digest(digest)


@pytest.mark.parametrize("value", [b"short", "0x1234", "0x" + "zz" * 32, 42])
def test_a_value_that_is_not_32_bytes_is_refused(value: object) -> None:
    with pytest.raises(ComputeValueError, match="is not a 32-byte hash"):
        as_digest(value)  # type: ignore[arg-type]


def test_a_cid_with_another_hash_is_refused() -> None:
    with pytest.raises(ComputeValueError, match=r"`not-a-cid` is not a valid CID"):
        digest_of_cid("not-a-cid")


# ------------------------------------------------------------------------------ documents


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{nope", "not JSON"),
        (b"[1, 2]", "is a JSON list, not an object"),
    ],
)
def test_documents_that_are_not_json_objects_are_malformed(data: bytes, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        parse_document(data)


def test_input_documents_from_a_prompt() -> None:
    doc = input_document(JobType.INFERENCE, prompt="Hi", max_tokens=8, seed=3)
    assert doc == {
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 8,
        "temperature": 0,
        "seed": 3,
    }
    assert input_document(JobType.EMBEDDING, prompt="Hi") == {"input": ["Hi"]}


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        (JobType.INFERENCE, {}, "either a prompt or an input document"),
        (JobType.INFERENCE, {"prompt": "a", "document": {"prompt": "b"}}, "either a prompt"),
        (JobType.INFERENCE, {"document": {"text": "x"}}, "needs `messages` or `prompt`"),
        (JobType.EMBEDDING, {"document": {"text": "x"}}, "needs `input`"),
        (JobType.TRAINING, {"prompt": "x"}, "needs an input document, not a prompt"),
    ],
)
def test_input_documents_of_the_wrong_shape_are_refused(
    kind: JobType, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(MalformedInput, match=message):
        input_document(kind, **kwargs)  # type: ignore[arg-type]


def test_declared_memory_and_the_handlers_view_of_the_input() -> None:
    assert declared_memory({"prompt": "x"}) == 0
    assert declared_memory({"memory_bytes": 1024}) == 1024
    for bad in (-1, "1", 1.5, True):
        with pytest.raises(MalformedInput, match="`memory_bytes`"):
            declared_memory({"memory_bytes": bad})
    plain = b'{"prompt": "x"}'
    assert handler_input(plain, json.loads(plain)) is plain  # unchanged bytes
    envelope = b'{"memory_bytes": 5, "prompt": "x"}'
    assert handler_input(envelope, json.loads(envelope)) == b'{"prompt":"x"}'


# ------------------------------------------------------------------------------ the store


@pytest.mark.parametrize("size", [100, CHUNK_SIZE + 10])
def test_put_then_get_by_hash_is_verified(client: ContentClient, size: int) -> None:
    data = os.urandom(size)
    ref = client.put(data)
    assert ref.cid == cid_of(data) and ref.digest == hash_document(data) and ref.size == size
    assert client.get(ref.digest) == data
    assert client.get(ref.hex) == data


def test_a_missing_document_says_so(client: ContentClient) -> None:
    with pytest.raises(ContentNotFound, match="is not in the content store") as missing:
        client.get(b"\x07" * 32, what="the input of job 3")
    assert "the input of job 3" in str(missing.value)


def test_documents_above_the_caps_are_refused(client: ContentClient) -> None:
    with pytest.raises(ContentTooLarge, match="more than the limit of 16 bytes"):
        client.put(b"x" * 17, limit=16)
    ref = client.put(b"y" * 1000)
    with pytest.raises(ContentTooLarge, match="larger than the limit of 999 bytes"):
        client.get(ref.digest, limit=999)
    assert client.get(ref.digest, limit=1000) == b"y" * 1000


def test_an_unreachable_store_is_an_error_without_the_urls_secrets() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ContentClient(f"http://user:hunter2@127.0.0.1:{port}/secret", timeout=5) as client:
        with pytest.raises(ContentError, match="cannot fetch") as failed:
            client.get(b"\x01" * 32)
        with pytest.raises(ContentError, match="cannot store"):
            client.put(b"data")
    assert "hunter2" not in str(failed.value) and "secret" not in str(failed.value)


class _LyingStore(http.server.BaseHTTPRequestHandler):
    """TEST DOUBLE: a store that answers every `cat` with other bytes."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"not what you asked for"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_bytes_that_do_not_match_the_hash_are_rejected() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LyingStore)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with ContentClient(url) as client, pytest.raises(ContentMismatch, match="hash to"):
            client.get(hash_document(b"the real document"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
