"""The node's AI endpoints through the official `openai` client and raw HTTP: `/v1/models`,
`/v1/chat/completions` (with streaming), `/v1/embeddings`, the JSON-RPC methods
`citrate_chatCompletion` and `citrate_getTextEmbedding`, their errors, and the node's answer
when the runtime is not installed.

Most tests run a real node in this process (the node's own `Node`, `RpcServer` and aiohttp app
on a free loopback port, as `citrate_node.server.serve` assembles them), so that the embedding
model (PyTorch takes ~30 s to import) loads once per test session and a test can hold the
model's lock or hide a package. One test runs the `citrate devnet` command itself.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import math
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from citrate_compute.runtime import LocalRuntime
from citrate_node.config import DevnetConfig
from citrate_node.node import Node
from citrate_node.server import RpcServer

from .devnet_process import Devnet

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CHAT = "gemma-3-270m"
EMBED = "all-minilm-l6-v2"
ORIGIN = "http://app.example"
QUESTION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a color."},
]
SENTENCES = [
    "A cat sits on the mat.",
    "A kitten is sitting on a rug.",
    "Stocks fell sharply today.",
]


class InProcessNode:
    """A node served from a thread of this process: its own event loop, a free port."""

    def __init__(self, data_dir: Path, **config: Any) -> None:
        self.config = DevnetConfig(
            data_dir=data_dir,
            port=0,
            ipfs_port=None,
            block_time=0.2,
            cors_origins=(ORIGIN,),
            **config,
        )
        self.port = 0
        self.server: RpcServer | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="in-process-node", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    async def _serve(self) -> None:
        node = Node(self.config)
        self.server = RpcServer(node, self.config)
        runner = web.AppRunner(self.server.app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._stop = asyncio.Event()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            node.start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await node.close()

    def start(self) -> InProcessNode:
        self._thread.start()
        assert self._ready.wait(60), "the in-process node did not start"
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert not self._thread.is_alive(), "the in-process node did not stop"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> openai.OpenAI:
        # max_retries=0: the client would otherwise retry 429/5xx answers, hiding them.
        return openai.OpenAI(
            base_url=f"{self.url}/v1", api_key="not-checked", max_retries=0, timeout=300
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        status, _, body = self.request("POST", "/", json.dumps(payload))
        assert status == 200, body
        reply: dict[str, Any] = json.loads(body)
        return reply


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessNode]:
    running = InProcessNode(tmp_path_factory.mktemp("ai-node") / "data").start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def client(node: InProcessNode) -> Iterator[openai.OpenAI]:
    with node.client() as c:
        yield c


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _error(body: bytes) -> dict[str, Any]:
    parsed = json.loads(body)
    assert set(parsed) == {"error"}, parsed
    error: dict[str, Any] = parsed["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    return error


# ------------------------------------------------------------------------------ models


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert list(models) == [CHAT, EMBED]
    for model in models.values():
        assert model.object == "model"
        assert model.owned_by == "citrate"
    assert models[CHAT].model_extra == {"kind": "chat", "context_length": 2048}
    assert models[EMBED].model_extra == {"kind": "embedding", "context_length": 256, "dims": 384}
    assert client.models.retrieve(EMBED).id == EMBED
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-4o")
    assert "`gpt-4o` does not exist on this node" in err.value.message


# ------------------------------------------------------------------------------ chat


@pytest.mark.slow
def test_chat_completion_matches_the_runtime(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=CHAT,
        messages=QUESTION,
        max_tokens=8,
        temperature=0,  # type: ignore[arg-type]
    )
    expected = LocalRuntime().chat(QUESTION, max_tokens=8, temperature=0)
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    assert answer.model == CHAT
    (choice,) = answer.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == expected.text
    assert expected.text  # the model did say something
    assert choice.finish_reason == expected.finish_reason == "length"
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == expected.prompt_tokens
    assert answer.usage.completion_tokens == expected.completion_tokens == 8
    assert answer.usage.total_tokens == expected.prompt_tokens + 8


@pytest.mark.slow
def test_chat_completion_stream(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=CHAT,
        messages=QUESTION,
        max_tokens=8,
        temperature=0,  # type: ignore[arg-type]
    )
    chunks = list(
        client.chat.completions.create(
            model=CHAT,
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" and c.model == CHAT for c in chunks)
    assert len({c.id for c in chunks}) == 1
    first, *middle, last, usage = chunks
    assert first.choices[0].delta.role == "assistant"
    assert len(middle) >= 2  # the text came in pieces
    assert all(c.choices[0].finish_reason is None for c in [first, *middle])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert last.choices[0].finish_reason == "length"
    assert last.choices[0].delta.content is None
    assert usage.choices == []
    assert usage.usage is not None and whole.usage is not None
    assert usage.usage.model_dump() == whole.usage.model_dump()


@pytest.mark.slow
def test_stream_wire_format(node: InProcessNode) -> None:
    body = {"model": CHAT, "messages": QUESTION, "max_tokens": 3, "temperature": 0, "stream": True}
    status, headers, raw = node.request("POST", "/v1/chat/completions", json.dumps(body))
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    events = raw.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: {") for e in events[:-2])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert all("usage" not in c for c in chunks)  # only with stream_options.include_usage


@pytest.mark.slow
def test_generation_runs_off_the_event_loop(node: InProcessNode, client: openai.OpenAI) -> None:
    """While a request waits for the model (held here), JSON-RPC answers, blocks keep coming,
    and requests past the limit in flight get 429."""
    assert node.server is not None
    service = node.server.ai
    lock = service.runtime()._chat_model(None).lock
    answers: list[Any] = []
    with lock:
        worker = threading.Thread(
            target=lambda: answers.append(
                client.chat.completions.create(
                    model=CHAT,
                    messages=QUESTION,
                    max_tokens=2,
                    temperature=0,  # type: ignore[arg-type]
                )
            )
        )
        worker.start()
        deadline = time.monotonic() + 60
        while service._pending == 0:  # the request is in, waiting for the model
            assert time.monotonic() < deadline
            time.sleep(0.01)
        start = int(node.rpc("eth_blockNumber")["result"], 16)
        while int(node.rpc("eth_blockNumber")["result"], 16) < start + 2:
            assert time.monotonic() < deadline, "no blocks while the model was busy"
            time.sleep(0.05)
        assert service._pending == 1 and not answers  # still waiting for the model
        # Past the limit of requests in flight, the node says so instead of queueing more.
        service.max_pending = 1
        try:
            body = json.dumps({"model": CHAT, "messages": QUESTION, "max_tokens": 1})
            status, _, raw = node.request("POST", "/v1/chat/completions", body)
        finally:
            service.max_pending = 16
        assert status == 429
        assert _error(raw) == {
            "message": "the node is busy with 1 AI requests; retry in a moment",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    worker.join(120)
    assert answers and answers[0].usage.completion_tokens == 2


# ------------------------------------------------------------------------------ embeddings


@pytest.mark.slow
def test_embeddings(client: openai.OpenAI) -> None:
    # The openai client asks for base64 by default and decodes it.
    answer = client.embeddings.create(model=EMBED, input=SENTENCES)
    assert answer.object == "list" and answer.model == EMBED
    assert [d.index for d in answer.data] == [0, 1, 2]
    cat, kitten, stocks = (d.embedding for d in answer.data)
    assert len(cat) == len(kitten) == len(stocks) == 384
    assert _cosine(cat, kitten) > 0.5 > 0.2 > _cosine(cat, stocks)
    assert answer.usage.prompt_tokens == answer.usage.total_tokens > len(SENTENCES) * 3
    floats = client.embeddings.create(model=EMBED, input=SENTENCES, encoding_format="float")
    assert [d.embedding for d in floats.data] == [cat, kitten, stocks]  # the same float32s
    single = client.embeddings.create(model=EMBED, input=SENTENCES[0])
    assert [d.embedding for d in single.data] == [cat]
    assert client.embeddings.create(model="sentence-transformers/all-MiniLM-L6-v2", input="x")


@pytest.mark.slow
def test_embeddings_base64_wire_format(node: InProcessNode, client: openai.OpenAI) -> None:
    body = {"model": EMBED, "input": "A cat sits on the mat.", "encoding_format": "base64"}
    status, _, raw = node.request("POST", "/v1/embeddings", json.dumps(body))
    assert status == 200
    encoded = json.loads(raw)["data"][0]["embedding"]
    vector = list(struct.unpack("<384f", base64.b64decode(encoded)))
    expected = client.embeddings.create(model=EMBED, input=body["input"], encoding_format="float")
    assert vector == expected.data[0].embedding


# ------------------------------------------------------------------------------ bad input


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)  # type: ignore[arg-type]
    assert err.value.code == "model_not_found"
    assert err.value.param == "model"
    assert f"`gpt-4o` does not exist on this node; it serves `{CHAT}`, `{EMBED}`" in (
        err.value.message
    )
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")


@pytest.mark.parametrize(
    ("kwargs", "param", "words"),
    [
        ({"messages": []}, "messages", "`messages` is empty"),
        ({"messages": "hello"}, "messages", "must be a list of messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages", "`messages[0].role`"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages", "must be a string"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages", "no `user` message"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages",
            "only text parts",
        ),
        ({"temperature": "hot"}, "temperature", "must be a number, got string"),
        ({"temperature": 3}, "temperature", "between 0 and 2"),
        ({"max_tokens": 0}, "max_tokens", "between 1 and"),
        ({"max_tokens": True}, "max_tokens", "must be an integer"),
        ({"top_p": 0}, "top_p", "above 0"),
        ({"n": 2}, "n", "`n` must be 1"),
        ({"stop": [1]}, "stop", "non-empty string"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"seed": -1}, "seed", "between 0 and"),
        ({"stream": "yes"}, "stream", "must be a boolean"),
        ({"logprobs": True}, "logprobs", "not supported"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "not supported"),
        ({"response_format": {"type": "json_object"}}, "response_format", "only"),
        ({"extra_body": {"frobnicate": 1}}, "frobnicate", "Unrecognized request argument"),
        ({"model": ""}, "model", "non-empty string"),
        ({"model": EMBED}, "model", "is an embedding model"),
    ],
)
def test_bad_chat_requests_are_400(
    client: openai.OpenAI, kwargs: dict[str, Any], param: str, words: str
) -> None:
    request: dict[str, Any] = {"model": CHAT, "messages": QUESTION, "max_tokens": 2, **kwargs}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(**request)
    assert err.value.status_code == 400
    assert err.value.param == param
    assert words in err.value.message


@pytest.mark.slow
def test_chat_errors_found_by_the_model_are_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=CHAT,
            messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            max_tokens=2,
        )
    assert "must alternate user/assistant" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=5000)  # type: ignore[arg-type]
    assert "passes the 2048-token context window" in err.value.message


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"input": ""}, 400, "`input` is an empty string"),
        ({"input": []}, 400, "`input` is an empty list"),
        ({"input": ["ok", 7.5]}, 400, "`input[1]` must be a string"),
        ({"input": [[1, 2, 3]]}, 400, "token ids"),
        ({"input": ["x"] * 2049}, 400, "at most 2048"),
        ({"input": "word " * 400}, 400, "reads at most 256"),
        ({"model": CHAT}, 400, "is a chat model"),
        ({"dimensions": 128}, 400, "384-dimensional"),
        ({"encoding_format": "int8"}, 400, "use `float` or `base64`"),
        ({"extra_body": {"truncate": True}}, 400, "Unrecognized request argument"),
    ],
)
def test_bad_embedding_requests(
    client: openai.OpenAI, kwargs: dict[str, Any], status: int, words: str
) -> None:
    request: dict[str, Any] = {"model": EMBED, "input": "fine", **kwargs}
    with pytest.raises(openai.APIStatusError) as err:
        client.embeddings.create(**request)
    assert err.value.status_code == status
    assert words in err.value.message


def test_http_rules(node: InProcessNode) -> None:
    chat = json.dumps({"model": CHAT, "messages": QUESTION, "max_tokens": 1})
    status, _, body = node.request("POST", "/v1/chat/completions", b"{not json")
    assert status == 400 and "not valid JSON" in _error(body)["message"]
    status, _, body = node.request("POST", "/v1/chat/completions", b"[1, 2]")
    assert status == 400 and "must be a JSON object, got array" in _error(body)["message"]
    status, _, body = node.request(
        "POST", "/v1/chat/completions", chat, {"Content-Type": "text/plain"}
    )
    assert status == 415 and "application/json" in _error(body)["message"]
    status, _, body = node.request("POST", "/v1/chat/completions", chat, {"Host": "evil.example"})
    assert status == 403 and _error(body)["code"] == "invalid_host"
    big = json.dumps({"model": CHAT, "input": "x" * node.config.max_body_bytes})
    status, _, body = node.request("POST", "/v1/embeddings", big)
    assert status == 413 and "request body too large" in _error(body)["message"]
    status, _, body = node.request("GET", "/v1/chat/completions")
    assert status == 405 and "use POST" in _error(body)["message"]
    status, _, body = node.request("POST", "/v1/completions", chat)
    assert status == 404 and _error(body)["code"] == "unknown_url"
    # CORS: the allowed origin gets its preflight (with the headers browsers' clients send).
    asked = "authorization, content-type, x-stainless-os"
    status, headers, _ = node.request(
        "OPTIONS",
        "/v1/chat/completions",
        headers={"Origin": ORIGIN, "Access-Control-Request-Headers": asked},
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-headers"] == asked
    status, headers, _ = node.request(
        "OPTIONS", "/v1/chat/completions", headers={"Origin": "http://evil.example"}
    )
    assert status == 403 and "access-control-allow-origin" not in headers
    status, headers, _ = node.request("GET", "/v1/models", headers={"Origin": ORIGIN})
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN


# ------------------------------------------------------------------------------ JSON-RPC


@pytest.mark.slow
def test_rpc_chat_completion(node: InProcessNode, client: openai.OpenAI) -> None:
    request = {"messages": QUESTION, "max_tokens": 4, "temperature": 0}
    reply = node.rpc("citrate_chatCompletion", request)["result"]
    rest = client.chat.completions.create(model=CHAT, **request)  # type: ignore[arg-type]
    assert reply["object"] == "chat.completion" and reply["model"] == CHAT
    assert reply["choices"][0]["message"]["content"] == rest.choices[0].message.content
    assert rest.usage is not None
    assert reply["usage"] == {
        "prompt_tokens": rest.usage.prompt_tokens,
        "completion_tokens": rest.usage.completion_tokens,
        "total_tokens": rest.usage.total_tokens,
    }
    for bad, words in [
        ({"messages": []}, "`messages` is empty"),
        ({**request, "stream": True}, "does not stream"),
        ({**request, "model": "nope"}, "`nope` does not exist"),
        ("hello", "must be a JSON object"),
    ]:
        error = node.rpc("citrate_chatCompletion", bad)["error"]
        assert error["code"] == -32602, error
        assert words in error["message"]
    assert node.rpc("citrate_chatCompletion", {**request, "model": "nope"})["error"]["data"] == {
        "status": 404,
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    error = node.rpc("citrate_chatCompletion")["error"]
    assert error["code"] == -32602 and "missing value for required argument 0" in error["message"]


@pytest.mark.slow
def test_rpc_text_embedding(node: InProcessNode, client: openai.OpenAI) -> None:
    vector = node.rpc("citrate_getTextEmbedding", SENTENCES[0])["result"]
    rest = client.embeddings.create(model=EMBED, input=SENTENCES[:2], encoding_format="float")
    assert vector == rest.data[0].embedding
    vectors = node.rpc("citrate_getTextEmbedding", SENTENCES[:2], EMBED)["result"]
    assert vectors == [d.embedding for d in rest.data]
    for params, words in [
        (("",), "empty string"),
        ((7,), "must be a string or a list of strings"),
        (([],), "empty list"),
        (("x", CHAT), "is a chat model"),
        (("x", 3), "the model must be a non-empty string"),
    ]:
        error = node.rpc("citrate_getTextEmbedding", *params)["error"]
        assert error["code"] == -32602 and words in error["message"], error


# ------------------------------------------------------------------------------ not installed


def test_without_citrate_compute_every_endpoint_is_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The package is installed here: make its import fail as if it were not.
    for name in ("citrate_compute.runtime", "citrate_compute.errors"):
        monkeypatch.setitem(sys.modules, name, None)
    bare = InProcessNode(tmp_path / "data").start()
    try:
        with bare.client() as client:
            for call in (
                client.models.list,
                lambda: client.chat.completions.create(model=CHAT, messages=QUESTION),  # type: ignore[arg-type]
                lambda: client.embeddings.create(model=EMBED, input="x"),
            ):
                with pytest.raises(openai.InternalServerError) as err:
                    call()
                assert err.value.status_code == 503
                assert err.value.code == "runtime_unavailable"
                assert "need the citrate-compute package, which is not installed" in (
                    err.value.message
                )
                assert "pip install 'citrate-node[ai]'" in err.value.message
        for method, params in [
            ("citrate_chatCompletion", [{"messages": QUESTION}]),
            ("citrate_getTextEmbedding", ["x"]),
        ]:
            error = bare.rpc(method, *params)["error"]
            assert error["code"] == -32000
            assert "pip install 'citrate-node[ai]'" in error["message"]
        assert bare.rpc("eth_blockNumber")["result"].startswith("0x")  # the node itself is fine
    finally:
        bare.stop()


def test_without_llama_cpp_or_torch_503_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("llama_cpp", "torch"):
        monkeypatch.setitem(sys.modules, name, None)
    bare = InProcessNode(tmp_path / "data").start()
    try:
        with bare.client() as client:
            with pytest.raises(openai.InternalServerError) as err:
                client.models.list()
            assert err.value.status_code == 503
            assert "llama-cpp-python is not installed: pip install 'citrate-compute[local]'" in (
                err.value.message
            )
            assert "torch not installed: pip install 'citrate-compute[ml]'" in err.value.message
            with pytest.raises(openai.InternalServerError) as err:
                client.chat.completions.create(model=CHAT, messages=QUESTION)  # type: ignore[arg-type]
            assert err.value.status_code == 503
            assert "llama-cpp-python) is not installed" in err.value.message
            assert "citrate-compute[local]" in err.value.message
            with pytest.raises(openai.InternalServerError) as err:
                client.embeddings.create(model=EMBED, input="x")
            assert "PyTorch (for the embedding model) is not installed" in err.value.message
            assert "citrate-compute[ml]" in err.value.message
    finally:
        bare.stop()


# ------------------------------------------------------------------------------ the command


def test_importing_the_node_loads_no_model_runtime() -> None:
    code = (
        "import sys, citrate_node.server, citrate_node.cli; "
        "print(sorted(m for m in ('citrate_compute', 'llama_cpp', 'torch', "
        "'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_citrate_devnet_serves_the_openai_api(tmp_path: Path) -> None:
    with Devnet(tmp_path / "data", "--block-time", "0", "--no-ipfs") as net:
        assert net.proc is not None
        with openai.OpenAI(base_url=f"{net.url}/v1", api_key="x", max_retries=0) as client:
            assert [m.id for m in client.models.list()] == [CHAT, EMBED]
            # Listing models loaded no library and no weights.
            maps = _mapped(net.proc.pid)
            assert "libllama" not in maps and "libtorch" not in maps
            answer = client.chat.completions.create(
                model=CHAT,
                messages=QUESTION,
                max_tokens=4,
                temperature=0,  # type: ignore[arg-type]
            )
            assert answer.usage is not None and answer.usage.completion_tokens == 4
            assert answer.choices[0].message.content
            assert "libllama" in _mapped(net.proc.pid)
        assert net.rpc("eth_blockNumber") == "0x0"
