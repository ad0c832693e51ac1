"""The built-in inference and embedding handlers on the real models: canonical, repeatable output
documents, progress reports, and a clear `MalformedInput` for every wrong input document.

The handlers are called directly with the worker's `HandlerContext`; the sandbox and the
executors (which run them in a job process) have their own tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from citrate_compute.errors import MalformedInput, UnknownModel
from citrate_compute.handlers import MAX_INPUT_BYTES, canonical_json, embedding, inference
from citrate_compute.jobs import JobType
from citrate_compute.runtime import LocalRuntime
from citrate_compute.worker import HandlerContext

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MESSAGES = [{"role": "user", "content": "Name a color."}]


def _ctx(
    tmp_path: Path,
    doc: Any,
    *,
    model: str = "",
    seed: int = 0,
    job_type: JobType = JobType.INFERENCE,
    progress: list[float] | None = None,
) -> HandlerContext:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    sink = progress if progress is not None else []
    return HandlerContext(
        input=raw,
        model=model,
        seed=seed,
        workdir=tmp_path,
        report_progress=sink.append,
        job_type=job_type,
    )


def test_inference_output_is_canonical_and_repeatable(tmp_path: Path) -> None:
    progress: list[float] = []
    doc = {"messages": MESSAGES, "max_tokens": 6, "temperature": 0, "seed": 0}
    out = inference(_ctx(tmp_path, doc, progress=progress))
    parsed = json.loads(out)
    assert out == canonical_json(parsed)
    assert out.startswith(b'{"completion_tokens":6,"finish_reason":"length","model":"gemma-3-270m"')
    expected = LocalRuntime().chat(MESSAGES, max_tokens=6)
    assert parsed == {
        "model": "gemma-3-270m",
        "text": expected.text,
        "finish_reason": "length",
        "prompt_tokens": expected.prompt_tokens,
        "completion_tokens": 6,
    }
    assert inference(_ctx(tmp_path, doc)) == out  # same job, same bytes
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert progress == sorted(progress) and len(progress) > 2


def test_inference_prompt_form_seed_and_stop(tmp_path: Path) -> None:
    out = json.loads(
        inference(_ctx(tmp_path, {"prompt": "def fib(n):", "max_tokens": 24, "stop": "return"}))
    )
    expected = LocalRuntime().complete("def fib(n):", max_tokens=24, stop="return")
    assert (out["text"], out["finish_reason"]) == (expected.text, "stop")
    # The document's seed wins over the task's; without one the task's is used.
    sampled = {"messages": MESSAGES, "max_tokens": 5, "temperature": 1.0}
    by_task = inference(_ctx(tmp_path, sampled, seed=7))
    assert inference(_ctx(tmp_path, {**sampled, "seed": 7}, seed=3)) == by_task
    assert inference(_ctx(tmp_path, sampled, seed=8)) != by_task


@pytest.mark.slow
def test_embedding_output(tmp_path: Path) -> None:
    texts = ["A cat sits on the mat.", "Stocks fell sharply today."]
    out = embedding(_ctx(tmp_path, {"input": texts}, job_type=JobType.EMBEDDING))
    parsed = json.loads(out)
    assert out == canonical_json(parsed)
    assert (parsed["model"], parsed["dims"]) == ("all-minilm-l6-v2", 384)
    vectors = LocalRuntime().embed(texts)
    assert parsed["embeddings"] == [[round(x, 6) for x in v] for v in vectors]
    assert all(len(v) == 384 for v in parsed["embeddings"])
    single = embedding(_ctx(tmp_path, {"input": texts[1]}, job_type=JobType.EMBEDDING))
    assert json.loads(single)["embeddings"] == parsed["embeddings"][1:]
    again = embedding(_ctx(tmp_path, {"input": texts}, model="all-MiniLM-L6-v2"))
    assert again == out


_BIG = b'{"prompt": "' + b"x" * MAX_INPUT_BYTES + b'"}'


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (b"\xff\xfe", "not UTF-8 text"),
        (b"{messages: []}", "the inference input is not JSON"),
        (b'{"prompt": NaN}', "`NaN` is not a JSON number"),
        ([MESSAGES], "must be a JSON object, got an array"),
        ({"prompt": "x", "model": "gpt-4o"}, "unknown fields: `model`"),
        ({}, "exactly one of `messages` and `prompt`"),
        ({"prompt": "x", "messages": MESSAGES}, "(it has both)"),
        ({"prompt": 5}, "`prompt` must be a string, got a number"),
        ({"prompt": ""}, "`prompt` is empty"),
        ({"messages": []}, "`messages` is empty"),
        ({"messages": {"role": "user"}}, "`messages` must be a list of messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "`messages[0].role` is 'robot'"),
        ({"messages": [{"role": "user", "content": None}]}, "must be a string, got null"),
        ({"prompt": "x", "max_tokens": "64"}, "`max_tokens` must be an integer, got a string"),
        ({"prompt": "x", "max_tokens": True}, "`max_tokens` must be an integer, got a boolean"),
        ({"prompt": "x", "max_tokens": 0}, "`max_tokens` 0 is outside"),
        ({"prompt": "x", "max_tokens": 4000}, "`max_tokens` 4000 is outside 1..2047"),
        # Fits the context alone, not with the prompt: only the model's tokenizer can tell.
        ({"prompt": "x y z", "max_tokens": 2047}, "passes the 2048-token context window"),
        ({"prompt": "x", "temperature": "0"}, "`temperature` must be a number, got a string"),
        ({"prompt": "x", "temperature": 9}, "`temperature` 9.0 is outside 0..2"),
        ({"prompt": "x", "seed": -3}, "`seed` -3 is outside"),
        ({"prompt": "x", "stop": 3}, "`stop` must be a string or an array of strings"),
        ({"prompt": "x", "stop": ["a", ""]}, "`stop[1]` must be a non-empty string"),
        (_BIG, "at most 4194304"),
    ],
)
def test_malformed_inference_input(tmp_path: Path, doc: Any, words: str) -> None:
    with pytest.raises(MalformedInput) as err:
        inference(_ctx(tmp_path, doc))
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (b"[", "the embedding input is not JSON"),
        ("text", "must be a JSON object, got a string"),
        ({}, "has no `input`"),
        ({"input": ["x"], "dims": 384}, "unknown fields: `dims`"),
        ({"input": 42}, "`input` must be a string or an array of strings, got a number"),
        ({"input": []}, "`input` is an empty array"),
        ({"input": ["ok", {"text": "x"}]}, "`input[1]` must be a string, got an object"),
        ({"input": ""}, "`input[0]` is an empty string"),
        ({"input": ["x"] * 2049}, "2049 texts; at most 2048"),
        ({"input": ["word " * 300]}, "reads at most 256"),
    ],
)
def test_malformed_embedding_input(tmp_path: Path, doc: Any, words: str) -> None:
    with pytest.raises(MalformedInput) as err:
        embedding(_ctx(tmp_path, doc, job_type=JobType.EMBEDDING))
    assert words in str(err.value)


def test_unknown_models(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="the inference model `llama-70b` is not served"):
        inference(_ctx(tmp_path, {"prompt": "x"}, model="llama-70b"))
    with pytest.raises(UnknownModel, match="the embedding model `gemma-3-270m` is not served"):
        embedding(_ctx(tmp_path, {"input": "x"}, model="gemma-3-270m"))
    with pytest.raises(UnknownModel, match="configured for this job does not exist"):
        inference(_ctx(tmp_path, {"prompt": "x"}, model=str(tmp_path / "missing.gguf")))


@pytest.mark.parametrize(
    ("job_type", "doc", "message"),
    [
        (0, {"prompt": "Hello", "max_tokens": 4096}, "`max_tokens` 4096 is outside 1..2047"),
        (0, {"messages": [{"role": "tool", "content": "x"}]}, "`messages[0].role` is 'tool'"),
        (0, {"prompt": "hi", "stop": [""]}, "`stop[0]` must be a non-empty string"),
        (1, {"input": ["lorem ipsum " * 200]}, "`input[0]` is 802 word pieces"),
        (1, {"input": []}, "`input` is an empty array"),
    ],
)
def test_validate_input_refuses_before_any_model_loads(
    job_type: int, doc: dict[str, object], message: str
) -> None:
    """What a provider checks before it bids: the runtime would refuse these after assignment."""
    from citrate_compute.handlers import validate_input

    with pytest.raises(MalformedInput) as refused:
        validate_input(job_type, json.dumps(doc).encode())
    assert str(refused.value).startswith(message), str(refused.value)
    validate_input(
        job_type, json.dumps({"prompt": "fine"} if job_type == 0 else {"input": "fine"}).encode()
    )
