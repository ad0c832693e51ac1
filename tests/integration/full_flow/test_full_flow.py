"""The sprint plan's manual checklist, automated: five conversations, end to end.

Everything below the language model is real: a `citrate devnet` process, the wallet sealed on
disk, the official `openai` SDK, the orchestrator, every tool, the content store and llama.cpp.
The language model is a SCRIPTED MODEL (a test double for the LLM only): an HTTP server on
127.0.0.1 that speaks the OpenAI chat-completions wire format (streamed tool calls included)
and answers by fixed rules — it picks the tool a capable model would pick and phrases its last
answer from the tool result it was sent back.

Each run writes `build/reports/agent-full-flow.json` (the conversations, the tools they ran,
pass/fail) and `build/reports/agent-selftest.json` (`citrate agent selftest`'s per-tool report).
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citrate_agent.actions import PreparedAction, execute
from citrate_agent.conversations import ConversationStore
from citrate_agent.orchestrator import Orchestrator, Reply
from citrate_agent.providers.openai_provider import OpenAIProvider
from citrate_agent.units import salt

ROOT = Path(__file__).resolve().parents[3]
REPORTS = ROOT / "build" / "reports"


SOURCE = """\
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

contract Greeter {
    string public greeting;
    constructor() { greeting = "hello from the agent"; }
    function setGreeting(string calldata text) external { greeting = text; }
}
"""


@pytest.fixture
def agent(agent_ctx: Any, scripted_model: Any, tmp_path: Path) -> Iterator[Orchestrator]:
    provider = OpenAIProvider("sk-test-not-a-real-key", "scripted", scripted_model.url + "/v1")
    orchestrator = Orchestrator(
        agent_ctx, lambda: [provider], store=ConversationStore(tmp_path / "conversations")
    )
    yield orchestrator
    orchestrator.close()


def _rpc(devnet: Any, method: str, *params: Any) -> Any:
    return devnet.rpc_raw(method, list(params))["result"]


def _nonce(devnet: Any, address: str) -> int:
    return int(_rpc(devnet, "eth_getTransactionCount", address, "pending"), 16)


def _entry(prompt: str, reply: Reply, **extra: Any) -> dict[str, Any]:
    return {
        "prompt": prompt[:200],
        "reply": reply.text,
        "tools": [r.name for r in reply.tool_runs],
        "tool_ok": [r.ok for r in reply.tool_runs],
        "pending": [a.to_json()["summary"] for a in reply.pending],
        **extra,
    }


def _write(name: str, doc: dict[str, Any]) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / name).write_text(json.dumps(doc, indent=2, default=str))


def test_manual_checklist_conversations(
    agent: Orchestrator,
    agent_ctx: Any,
    agent_devnet: Any,
    scripted_model: Any,
    run_tool: Any,
    approve: Any,
) -> None:
    me = agent_ctx.require_address()
    report: dict[str, Any] = {"conversations": [], "passed": False}

    # 1. "What is my balance?" — the state balance, read now.
    prompt = "What is my balance?"
    reply = agent.send(prompt)
    real = int(_rpc(agent_devnet, "eth_getBalance", me, "latest"), 16)
    assert f"Your balance is {salt(real)} SALT." in reply.text
    report["conversations"].append(_entry(prompt, reply, balance_salt=salt(real)))
    # The model got the tools with their schemas and the live context.
    first = next(r.body for r in scripted_model.requests if r.method == "POST")
    assert {t["function"]["name"] for t in first["tools"]} >= {"balance", "send_transaction"}
    system = first["messages"][0]["content"]
    assert me in system and "Block height:" in system and "k = 18" in system

    # 2. "Deploy this contract: <solidity>" — compiled, prepared, approved, on chain.
    prompt = f"Deploy this contract: {SOURCE}"
    nonce = _nonce(agent_devnet, me)
    reply = agent.send(prompt)
    assert [a.kind for a in reply.pending] == ["deploy_contract"]
    assert "Waiting for your approval" in reply.text and "network fee" in reply.text
    assert _nonce(agent_devnet, me) == nonce  # nothing sent before the approval
    done = agent.approve(reply.pending[0].id)
    address = done.tool_runs[0].result["address"]
    assert _rpc(agent_devnet, "eth_getCode", address, "latest") not in ("0x", "")
    report["conversations"].append(_entry(prompt, reply, approved=done.text, address=address))

    # 3. "Send 1 SALT to 0x…" — exactly 1 SALT arrives.
    to = "0x" + secrets.token_hex(20)
    prompt = f"Send 1 SALT to {to}"
    reply = agent.send(prompt)
    assert [a.kind for a in reply.pending] == ["send"]
    assert int(_rpc(agent_devnet, "eth_getBalance", to, "latest"), 16) == 0
    done = agent.approve(reply.pending[0].id)
    assert int(_rpc(agent_devnet, "eth_getBalance", to, "latest"), 16) == 10**18
    report["conversations"].append(_entry(prompt, reply, approved=done.text))

    # 4. "List available models" — on chain and local. Register one first (its weights are
    # the local default model, so conversation 5 can run it from the content store).
    from citrate_agent import inference

    weights = agent_ctx.workspace / "gemma.gguf"
    shutil.copyfile(inference.default_model_path(), weights)
    name = f"gemma-flow-{secrets.token_hex(3)}"
    action = run_tool("deploy_model", path=weights.name, name=name, version="1.0.0")
    assert isinstance(action, PreparedAction)
    approve(action)
    prompt = "List available models"
    reply = agent.send(prompt)
    assert name in reply.text and inference.DEFAULT_MODEL_NAME in reply.text
    report["conversations"].append(_entry(prompt, reply))

    # 5. "Run inference with model X" — the registered model, fetched by CID, run by llama.cpp.
    prompt = f"Run inference with model {name}"
    reply = agent.send(prompt)
    run = reply.tool_runs[0]
    assert run.ok, run.result
    assert run.result["output"].strip()
    assert reply.text.startswith(f"{run.result['model']} answered: ")
    report["conversations"].append(_entry(prompt, reply, where=run.result.get("source")))

    report["passed"] = True
    _write("agent-full-flow.json", report)


def test_approval_is_needed_and_rejection_sends_nothing(
    agent: Orchestrator, agent_ctx: Any, agent_devnet: Any
) -> None:
    me = agent_ctx.require_address()
    nonce = _nonce(agent_devnet, me)
    reply = agent.send(f"Send 2 SALT to 0x{secrets.token_hex(20)}")
    (action,) = reply.pending
    assert agent.reject(action.id).text.endswith("Nothing was sent.")
    with pytest.raises(Exception, match="not waiting for approval"):
        execute(agent_ctx, action.id)
    assert _nonce(agent_devnet, me) == nonce


def test_bad_requests_reach_the_user_as_errors(agent: Orchestrator, agent_ctx: Any) -> None:
    # A checksum typo: the tool refuses, the model relays the reason, nothing is prepared.
    reply = agent.send("Send 1 SALT to 0x70997970c51812dc3A010C7d01b50e0d17dc79C8")
    assert not reply.pending and not reply.tool_runs[0].ok
    assert "checksum" in reply.text
    # More than the balance.
    reply = agent.send("Send 1000000 SALT to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    assert not reply.pending
    assert reply.tool_runs[0].result["error"]["type"] == "insufficient_funds"
    # Solidity that does not compile: line and column, no transaction.
    reply = agent.send("Deploy this contract: contract Broken { function f( }")
    assert not reply.pending and "line 1" in reply.text


def test_selftest_passes_every_tool() -> None:
    from citrate_agent.selftest import run_selftest

    report = run_selftest()
    _write("agent-selftest.json", report)
    assert report["failed"] == [], json.dumps(report["tools"], indent=1)
    assert report["passed"] == report["total"] >= 25
