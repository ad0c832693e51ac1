"""A SCRIPTED MODEL: a test double of an LLM that speaks the OpenAI chat-completions wire format.

It is an HTTP server on 127.0.0.1 (`wire_servers.WireServer` from the agent's tests) that answers
by fixed rules instead of a model: for the user's request it streams the tool call a capable
model would make (arguments split across chunks, as OpenAI streams them), and after a tool
result it phrases its answer from that result. Everything it talks to is real.
"""

from __future__ import annotations

import importlib.util
import json
import re
import secrets
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _load_wire_servers() -> Any:
    path = ROOT / "packages/citrate-agent/tests/wire_servers.py"
    spec = importlib.util.spec_from_file_location("_scripted_llm_wire", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_scripted_llm_wire"] = module
    spec.loader.exec_module(module)
    return module


W = _load_wire_servers()


class ScriptedModel(W.WireServer):  # type: ignore[misc]
    """TEST DOUBLE of an LLM behind the OpenAI wire format: rules instead of a model."""

    def _default(self, h: BaseHTTPRequestHandler) -> Any:
        if h.command == "GET":
            return super()._default(h)
        body = self.requests[-1].body
        messages = body["messages"]
        last = messages[-1]
        if last["role"] == "tool":
            return W.openai_text_stream(*_phrase(last["content"], messages))
        call = _choose(last["content"])
        if call is None:
            return W.openai_text_stream("I can check balances, send SALT, deploy contracts, ")
        name, args = call
        text = json.dumps(args)
        pieces = [text[: len(text) // 2], text[len(text) // 2 :]]  # split across chunks
        return W.openai_tool_stream([(f"call_{secrets.token_hex(4)}", name, pieces)])


def _choose(text: str) -> tuple[str, dict[str, Any]] | None:
    lowered = text.lower()
    if "what is my balance" in lowered:
        return "balance", {}
    if lowered.startswith("deploy this contract:"):
        return "deploy_contract", {"source": text.split(":", 1)[1].strip()}
    if m := re.search(r"send ([0-9.]+) salt to (0x[0-9a-fA-F]{40})", text, re.IGNORECASE):
        return "send_transaction", {"to": m.group(2), "amount": m.group(1)}
    if "list available models" in lowered:
        return "list_models", {}
    if m := re.search(r"run inference with model (\S+)", text, re.IGNORECASE):
        return "run_inference", {"model": m.group(1), "prompt": "The capital of France is"}
    return None


def _phrase(content: str, messages: list[dict[str, Any]]) -> list[str]:
    result = json.loads(content)
    if "error" in result:
        return [f"That failed: {result['error']['message']}"]
    if "balance_salt" in result:
        return ["Your balance is ", f"{result['balance_salt']} SALT."]
    if "chain_models" in result:
        names = [m["name"] for m in result["chain_models"]]
        local = [m["name"] for m in result["local_models"]]
        return [f"On chain: {', '.join(names)}. ", f"On this machine: {', '.join(local)}."]
    if "output" in result:
        return [f"{result['model']} answered: ", result["output"]]
    return ["Done."]
