"""Tokens per second of local generation: `LocalRuntime.chat` (and the node's
`/v1/chat/completions`) against llama.cpp called directly, in the same run.

All sides generate the same answer: Gemma 3 270M (the offline default GGUF), the same chat
template (Gemma 3's), greedy decoding, 64 new tokens, llama.cpp's default thread count. The
baseline is `Llama.create_chat_completion` on its own instance of the same file, called as a
user of llama-cpp-python would call it (keeping its prompt cache between calls); the runtime
starts every call from an empty cache and a re-seeded sampler (for repeatable output), which is
part of what is measured. The node runs as `citrate devnet` in its own process, answering the
official `openai` client over HTTP.

Rounds are interleaved (direct, runtime, node in each round) and each side's best round is
compared (see interleave.py: load on a shared machine only ever adds time).

Target (issue 6): runtime tokens/s ≥ 0.95 x llama.cpp's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from citrate_compute.runtime import GEMMA3_CHAT_TEMPLATE, LocalRuntime, default_gguf_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MESSAGES = [{"role": "user", "content": "Write a short poem about the sea."}]
TOKENS = 64
ROUNDS = 5
TARGET = 0.95
_NODE_TESTS = Path(__file__).resolve().parents[2] / "packages/citrate-node/tests"


def _load_devnet_helper() -> ModuleType:
    name = "_bench_devnet_process"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _NODE_TESTS / "devnet_process.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def direct() -> Iterator[Any]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(default_gguf_path()), n_ctx=2048, verbose=False)
    formatter = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
        GEMMA3_CHAT_TEMPLATE, "<eos>", "<bos>", stop_token_ids=[1, 106]
    )
    llm.chat_handler = formatter.to_chat_handler()
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    helper = _load_devnet_helper()
    data = tmp_path_factory.mktemp("bench-ai") / "data"
    with helper.Devnet(data, "--block-time", "0", "--no-ipfs") as net:
        yield net


def _best(times: list[float]) -> float:
    return min(times)


def test_generation_tokens_per_second(
    benchmark: BenchmarkFixture, direct: Any, devnet: Any
) -> None:
    import openai

    runtime = LocalRuntime()
    client = openai.OpenAI(base_url=f"{devnet.url}/v1", api_key="x", max_retries=0, timeout=600)

    def by_llama() -> int:
        answer = direct.create_chat_completion(
            MESSAGES, max_tokens=TOKENS, temperature=0, top_k=0, min_p=0.0, top_p=1.0, seed=0
        )
        return int(answer["usage"]["completion_tokens"])

    def by_runtime() -> int:
        return runtime.chat(MESSAGES, max_tokens=TOKENS, temperature=0).completion_tokens

    def by_node() -> int:
        answer = client.chat.completions.create(
            model="gemma-3-270m",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=TOKENS,
            temperature=0,
        )
        assert answer.usage is not None
        return answer.usage.completion_tokens

    sides: dict[str, Callable[[], int]] = {
        "llama.cpp direct": by_llama,
        "LocalRuntime.chat": by_runtime,
        "node /v1/chat/completions": by_node,
    }
    try:
        # Same answer everywhere (and everything loaded before timing).
        texts = {
            runtime.chat(MESSAGES, max_tokens=TOKENS, temperature=0).text,
            direct.create_chat_completion(
                MESSAGES, max_tokens=TOKENS, temperature=0, top_k=0, min_p=0.0, top_p=1.0, seed=0
            )["choices"][0]["message"]["content"],
            client.chat.completions.create(
                model="gemma-3-270m",
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=TOKENS,
                temperature=0,
            )
            .choices[0]
            .message.content,
        }
        assert len(texts) == 1, texts
        times: dict[str, list[float]] = {name: [] for name in sides}
        tokens: dict[str, int] = {}
        for _ in range(ROUNDS):
            for name, side in sides.items():
                started = time.perf_counter()
                tokens[name] = side()
                times[name].append(time.perf_counter() - started)
        benchmark.pedantic(by_runtime, rounds=2, iterations=1)
    finally:
        client.close()
    assert set(tokens.values()) == {TOKENS}
    rate = {name: TOKENS / _best(t) for name, t in times.items()}
    baseline = rate["llama.cpp direct"]
    print(
        f"\nGemma 3 270M Q4_K_M, {TOKENS} new tokens, greedy, best of {ROUNDS} interleaved rounds:"
    )
    for name, value in rate.items():
        print(f"  {name:<27} {value:6.1f} tokens/s  ({value / baseline:.3f} x llama.cpp)")
    ratio = rate["LocalRuntime.chat"] / baseline
    assert ratio >= TARGET, f"LocalRuntime is {ratio:.3f} x llama.cpp's tokens/s"
