"""The requester's checks: every term ComputeMarket would refuse, and every malformed input, is
refused before anything leaves the machine (the node here is down: a refusal that came from it
would be a connection error instead)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from citrate_compute.content import ContentClient, ContentTooLarge, hash_document
from citrate_compute.errors import ComputeValueError, MalformedInput
from citrate_compute.jobs import JobType
from citrate_compute.market import MarketClient, model_id
from citrate_compute.requester import RequesterClient


@pytest.fixture
def client() -> Iterator[RequesterClient]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with (
        MarketClient(url, address="0x" + "11" * 20) as market,
        ContentClient(url, max_input_bytes=1024) as content,
    ):
        yield RequesterClient(market, content)


def test_prepare_builds_the_job_spec_from_the_document(client: RequesterClient) -> None:
    spec, data = client.prepare(
        "embedding", "all-minilm-l6-v2", prompt="hello", max_price=5, bid_window=30, tier=2
    )
    assert json.loads(data) == {"input": ["hello"]}
    assert spec.job_type == JobType.EMBEDDING and spec.model_id == model_id("all-minilm-l6-v2")
    assert spec.input_hash == hash_document(data)
    assert (spec.max_price, spec.bid_window, spec.exec_window, spec.verification_tier) == (
        5,
        30,
        600,
        2,
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_price": 0}, ComputeValueError, "max price must be more than 0"),
        ({"bid_window": 29}, ComputeValueError, "bid window `29` s is not between 30 and 86400"),
        ({"exec_window": 59}, ComputeValueError, "execution window `59` s"),
        ({"exec_window": 7 * 86400 + 1}, ComputeValueError, "execution window"),
        ({"tier": 3}, ComputeValueError, "verification tier `3` is not 0, 1 or 2"),
        ({"job_type": "sculpture"}, ComputeValueError, "unknown job type 'sculpture'"),
        ({"model": ""}, ComputeValueError, "a model name must not be empty"),
        ({"prompt": None}, MalformedInput, "either a prompt or an input document"),
        ({"prompt": None, "document": {"x": 1}}, MalformedInput, "needs `messages` or `prompt`"),
        ({"prompt": "x" * 2000}, ContentTooLarge, "more than the limit of 1024 bytes"),
    ],
)
def test_bad_terms_and_inputs_are_refused_before_sending(
    client: RequesterClient, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    args: dict[str, Any] = {"job_type": "inference", "model": "m", "prompt": "hi", "max_price": 1}
    args.update(kwargs)
    job_type, model = args.pop("job_type"), args.pop("model")
    with pytest.raises(error, match=message):
        client.submit(job_type, model, **args)
