"""The Kubo RPC API subset on a real server on 127.0.0.1, through `KuboClient` and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from citrate_store import (
    CHUNK_SIZE,
    ApiError,
    ApiUnavailable,
    ContentStore,
    KuboClient,
    ServerThread,
    compute_cid,
    start_server,
)

from .support import flip_byte, payload, snapshot

SIZES = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 10 * 1024 * 1024]


def _post(server: ServerThread, command: str, **kwargs: Any) -> requests.Response:
    return requests.post(f"{server.url}/api/v0/{command}", timeout=30, **kwargs)


def _kubo_error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"Message", "Code", "Type"}
    assert body["Type"] == "error" and body["Code"] == (1 if status < 500 else 0)
    return str(body["Message"])


@pytest.mark.parametrize("size", SIZES, ids=["0B", "1B", "256KiB", "256KiB+1", "10MB"])
def test_round_trip_through_the_api(client: KuboClient, store: ContentStore, size: int) -> None:
    data = payload(size, seed=size)
    cid = client.add(data)
    assert cid == compute_cid(data)
    assert client.cat(cid) == data
    assert client.pin_ls() == {cid: "recursive"}
    assert store.pins() == [cid]


def test_add_answers_like_kubo(server: ServerThread, store: ContentStore) -> None:
    data = payload(2 * CHUNK_SIZE + 1)
    # The query the Go CLI sends (recorded in kubo's test/sharness/t0040-add-and-cat.sh).
    query = (
        "chunker=size-262144&encoding=json&hash=sha2-256&pin=true&progress=true"
        "&recursive=true&stream-channels=true&cid-version=1"
    )
    response = _post(server, f"add?{query}", files={"file": ("big file.bin", data)})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    events = [json.loads(line) for line in response.text.splitlines()]
    cid = compute_cid(data)
    assert events == [{"Name": "big file.bin", "Hash": cid, "Size": str(store.stat(cid).size)}]
    assert store.stat(cid).size > len(data)  # cumulative: leaves plus the root block
    unnamed = _post(server, "add", files={"file": ("", b"x")}).json()
    assert unnamed == {"Name": compute_cid(b"x"), "Hash": compute_cid(b"x"), "Size": "1"}


def test_several_files_in_one_add(server: ServerThread) -> None:
    files = [("file", ("a", b"first")), ("file", ("b", b"second"))]
    response = _post(server, "add", files=files)
    events = [json.loads(line) for line in response.text.splitlines()]
    assert [(e["Name"], e["Hash"]) for e in events] == [
        ("a", compute_cid(b"first")),
        ("b", compute_cid(b"second")),
    ]


def test_only_hash_and_unpinned_adds(client: KuboClient, store: ContentStore) -> None:
    data = payload(CHUNK_SIZE + 9)
    assert client.add(data, only_hash=True) == compute_cid(data)
    assert store.blocks() == []
    cid = client.add(data, pin=False)
    assert store.pins() == [] and store.has(cid)
    removed = client.repo_gc()
    assert cid in removed and len(removed) == 3  # the root and its two leaves
    assert store.blocks() == []


def test_pin_commands_answer_like_kubo(server: ServerThread, client: KuboClient) -> None:
    data = payload(CHUNK_SIZE + 1)
    cid = client.add(data, pin=False)
    assert _post(server, f"pin/add?arg={cid}").json() == {"Pins": [cid]}
    leaves = [compute_cid(data[:CHUNK_SIZE]), compute_cid(data[CHUNK_SIZE:])]
    assert _post(server, "pin/ls").json() == {
        "Keys": {cid: {"Type": "recursive"}, **{leaf: {"Type": "indirect"} for leaf in leaves}}
    }
    assert _post(server, "pin/ls?type=recursive").json() == {"Keys": {cid: {"Type": "recursive"}}}
    assert _post(server, f"pin/ls?arg={leaves[0]}").json() == {
        "Keys": {leaves[0]: {"Type": f"indirect through {cid}"}}
    }
    lines = _post(server, "pin/ls?type=recursive&stream=true").text.splitlines()
    assert [json.loads(line) for line in lines] == [{"Cid": cid, "Type": "recursive"}]
    assert client.pin_ls(cid) == {cid: "recursive"}
    assert _post(server, f"pin/rm?arg={cid}").json() == {"Pins": [cid]}
    assert client.pin_ls() == {}
    message = _kubo_error(_post(server, f"pin/ls?arg={cid}"), 500)
    assert "not pinned" in message
    assert sorted(client.repo_gc()) == sorted([cid, *leaves])


def test_version(client: KuboClient) -> None:
    assert {"Version", "Commit", "Repo", "System", "Golang"} <= set(client.version())


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("cid-version=0", "cid-version=0"),
        ("raw-leaves=false", "raw-leaves=false"),
        ("trickle=true", "trickle"),
        ("wrap-with-directory=true", "directory"),
        ("chunker=size-1024", "chunker"),
        ("hash=blake2b-256", "blake2b-256"),
        ("pin=maybe", '"maybe"'),
    ],
)
def test_add_options_that_change_the_cid_are_refused(
    server: ServerThread, store: ContentStore, query: str, fragment: str
) -> None:
    before = snapshot(store.root)
    message = _kubo_error(_post(server, f"add?{query}", files={"file": ("f", b"data")}), 400)
    assert fragment in message and "hint:" in message
    assert snapshot(store.root) == before


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "multipart"),
        ({"data": b"raw bytes"}, "multipart"),
        ({"files": {"upload": ("f", b"data")}}, "upload"),
        ({"files": {"file": ("dir/f", b"data")}}, "directory"),
        ({"files": {"file": ("d", b"", "application/x-directory")}}, "directories"),
    ],
)
def test_add_without_a_file_is_refused(
    server: ServerThread, store: ContentStore, kwargs: dict[str, Any], fragment: str
) -> None:
    before = snapshot(store.root)
    message = _kubo_error(_post(server, "add", **kwargs), 400)
    assert fragment in message and "hint:" in message
    assert snapshot(store.root) == before


def test_an_empty_multipart_body_is_refused(server: ServerThread) -> None:
    body = b"--xyz--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    message = _kubo_error(_post(server, "add", data=body, headers=headers), 400)
    assert 'argument "path" is required' in message


def test_a_failed_multi_file_add_stores_nothing(server: ServerThread, store: ContentStore) -> None:
    before = snapshot(store.root)
    files = [("file", ("a", payload(CHUNK_SIZE + 1))), ("file", ("dir/b", b"x"))]
    _kubo_error(_post(server, "add", files=files), 400)
    assert snapshot(store.root) == before


def test_an_upload_cut_off_by_the_client_stores_nothing(
    server: ServerThread, store: ContentStore
) -> None:
    before = snapshot(store.root)
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v0/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            + f"Content-Length: {10 * CHUNK_SIZE}\r\n\r\n".encode()
            + head
            + payload(6 * CHUNK_SIZE)
        )
        # Let the server stage the first chunks (it feeds the importer 1 MiB at a time)
        # before the connection drops.
        deadline = time.monotonic() + 20
        while not any((store.root / "staging").rglob("b*")):
            assert time.monotonic() < deadline, "the server staged nothing"
            time.sleep(0.02)
    deadline = time.monotonic() + 20
    while any((store.root / "staging").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert snapshot(store.root) == before
    assert list((store.root / "staging").iterdir()) == []


def test_uploads_over_the_limit_are_refused(store: ContentStore) -> None:
    with ServerThread(store, port=0, max_add_bytes=1000) as server:
        before = snapshot(store.root)
        message = _kubo_error(_post(server, "add", files={"file": ("f", bytes(5000))}), 413)
        assert "1000" in message and "hint:" in message
        assert snapshot(store.root) == before


def test_get_is_not_allowed(server: ServerThread) -> None:
    response = requests.get(f"{server.url}/api/v0/version", timeout=30)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert "POST" in response.json()["Message"]


def test_unknown_commands_are_404(server: ServerThread) -> None:
    assert "/api/v0/cat" in _kubo_error(_post(server, "block/put"), 404)


@pytest.mark.parametrize("command", ["cat", "pin/add", "pin/rm"])
def test_commands_without_their_argument_are_refused(server: ServerThread, command: str) -> None:
    assert "is required" in _kubo_error(_post(server, command), 400)


@pytest.mark.parametrize("command", ["cat", "pin/add", "pin/rm", "pin/ls"])
def test_garbage_cids_get_kubos_error_shape(
    server: ServerThread, store: ContentStore, command: str
) -> None:
    store.add(b"present")
    before = snapshot(store.root)
    message = _kubo_error(_post(server, f"{command}?arg=garbage"), 500)
    assert "`garbage` is not a valid CID" in message and "hint:" in message
    assert snapshot(store.root) == before


def test_client_errors_carry_the_servers_message(client: KuboClient) -> None:
    cid = compute_cid(b"never added")
    with pytest.raises(ApiError) as caught:
        client.pin_rm(cid)
    assert caught.value.status == 500
    assert caught.value.server_message.startswith(f"`{cid}` is not pinned")
    assert caught.value.server_message in str(caught.value)
    with pytest.raises(ApiError, match="is not in the store"):
        client.cat(cid)


def test_an_unreachable_api_is_reported_with_a_hint(tmp_path: Path) -> None:
    with ContentStore(tmp_path / "s") as store, ServerThread(store, port=0) as server:
        url = server.url
    with pytest.raises(ApiUnavailable, match="hint: start `citrate devnet`"):
        KuboClient(url, timeout=5).version()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5001", "192.0.2.1"])
def test_foreign_host_headers_are_refused(server: ServerThread, host: str) -> None:
    message = _kubo_error(_post(server, "version", headers={"Host": host}), 403)
    assert "invalid host" in message and "hint:" in message


def test_loopback_host_headers_are_accepted(server: ServerThread) -> None:
    for host in ("localhost", f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        assert _post(server, "version", headers={"Host": host}).status_code == 200


def test_browser_origins_are_refused(server: ServerThread, store: ContentStore) -> None:
    before = snapshot(store.root)
    for origin in ("https://evil.example", "null", f"http://127.0.0.1:{server.port}"):
        headers = {"Origin": origin}
        message = _kubo_error(
            _post(server, "add", headers=headers, files={"file": ("f", b"x")}), 403
        )
        assert "not allowed" in message
    assert snapshot(store.root) == before


def test_allowed_origins_get_cors_headers(store: ContentStore) -> None:
    origin = "https://app.example"
    with ServerThread(store, port=0, allowed_origins=[origin]) as server:
        response = _post(server, "version", headers={"Origin": origin})
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == origin
        preflight = requests.options(
            f"{server.url}/api/v0/add", headers={"Origin": origin}, timeout=30
        )
        assert preflight.headers["Access-Control-Allow-Methods"] == "POST"


# -- damaged content over HTTP ----------------------------------------------------------------


def test_a_corrupt_single_block_file_is_a_500_not_its_bytes(
    server: ServerThread, store: ContentStore
) -> None:
    data = b"a small file whose only block will be damaged"
    cid = store.add(data)
    flip_byte(store.block_path(cid), 3)
    damaged = store.block_path(cid).read_bytes()
    response = _post(server, f"cat?arg={cid}")
    message = _kubo_error(response, 500)
    assert "corrupt" in message and cid in message
    assert damaged not in response.content


def test_a_missing_leaf_is_a_500_before_any_byte(server: ServerThread, store: ContentStore) -> None:
    data = payload(3 * CHUNK_SIZE)
    cid = store.add(data)
    store.block_path(compute_cid(data[2 * CHUNK_SIZE :])).unlink()
    assert "is not in the store" in _kubo_error(_post(server, f"cat?arg={cid}"), 500)


def test_a_corrupt_later_leaf_breaks_the_transfer(
    server: ServerThread, store: ContentStore, client: KuboClient
) -> None:
    data = payload(3 * CHUNK_SIZE, seed=5)
    cid = store.add(data)
    leaf = store.block_path(compute_cid(data[2 * CHUNK_SIZE :]))
    flip_byte(leaf, 10)
    damaged = leaf.read_bytes()
    received = bytearray()
    with (
        pytest.raises(requests.exceptions.ChunkedEncodingError),
        _post(server, f"cat?arg={cid}", stream=True) as response,
    ):
        assert response.status_code == 200
        for piece in response.iter_content(65536):
            received += piece
    assert len(received) <= 2 * CHUNK_SIZE
    assert bytes(received) == data[: len(received)]
    assert damaged[:64] not in received
    with pytest.raises(ApiError, match="broke off"):
        client.cat(cid)
    # Bytes before the damage, asked for by range, are still served.
    assert client.cat(cid, length=2 * CHUNK_SIZE) == data[: 2 * CHUNK_SIZE]


def test_cat_ranges_and_several_files(server: ServerThread, client: KuboClient) -> None:
    one = payload(CHUNK_SIZE + 10, seed=1)
    two = payload(100, seed=2)
    a, b = client.add(one), client.add(two)
    both = one + two
    for offset, length in [(0, None), (5, 10), (CHUNK_SIZE, 30), (len(one) - 3, 6), (len(both), 5)]:
        query = f"cat?arg={a}&arg={b}&offset={offset}" + (
            "" if length is None else f"&length={length}"
        )
        response = _post(server, query)
        expected = both[offset:] if length is None else both[offset : offset + length]
        assert response.content == expected
        assert response.headers["X-Content-Length"] == str(len(expected))
    assert "negative" in _kubo_error(_post(server, f"cat?arg={a}&offset=-1"), 400)


# -- in an existing event loop ----------------------------------------------------------------


def test_start_server_runs_inside_a_running_loop(store: ContentStore) -> None:
    async def scenario() -> None:
        server = await start_server(store, "127.0.0.1", 0)
        try:
            assert server.port != 0
            async with aiohttp.ClientSession() as session:
                form = aiohttp.FormData()
                form.add_field("file", b"async", filename="a.txt")
                async with session.post(f"{server.url}/api/v0/add", data=form) as reply:
                    event = json.loads(await reply.text())
                async with session.post(f"{server.url}/api/v0/cat?arg={event['Hash']}") as reply:
                    assert await reply.read() == b"async"
        finally:
            await server.close()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.post(f"{server.url}/api/v0/version")

    asyncio.run(scenario())


def test_a_busy_port_is_reported(store: ContentStore, server: ServerThread) -> None:
    with pytest.raises(OSError):
        ServerThread(store, port=server.port)
