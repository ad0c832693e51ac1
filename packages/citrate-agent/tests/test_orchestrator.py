"""The function-calling loop, with a SCRIPTED MODEL (a test double for the LLM only).

The tools here are real `Tool` objects that need no chain (echo, sleep), so these tests pin
the loop's own rules: schema checks before a tool runs, errors fed back to the model, the step
limit, the per-tool timeout, provider fallback notes, persistence and the audit log. The
chain-facing paths (approvals, the five checklist conversations) run against a real devnet in
tests/integration/full_flow.
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from citrate_agent.audit import AuditLog
from citrate_agent.chain import ChainClient
from citrate_agent.config import AgentSettings
from citrate_agent.conversations import ConversationStore
from citrate_agent.errors import AgentError, ProviderError
from citrate_agent.orchestrator import Orchestrator
from citrate_agent.providers.base import AssistantTurn, Message, ToolCall, ToolSpec
from citrate_agent.schema import ADDRESS, object_schema
from citrate_agent.tools import Tool, ToolContext, ToolRegistry

Step = Callable[[Sequence[Message]], AssistantTurn]
release = threading.Event()


class ScriptedModel:
    """A test double of an LLM: answers each call with the next scripted step."""

    def __init__(self, steps: list[Step], name: str = "scripted") -> None:
        self.name = name
        self.model = "script"
        self.steps = list(steps)
        self.calls: list[tuple[str, list[Message], list[str]]] = []

    def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: Callable[[str], None] | None = None,
    ) -> AssistantTurn:
        self.calls.append((system, list(messages), [t.name for t in tools]))
        turn = self.steps.pop(0)(messages)
        if on_text and turn.text:
            on_text(turn.text)
        return AssistantTurn(turn.text, turn.tool_calls, provider=self.name)


class FailingModel:
    name = "cloud"
    model = "m"

    def complete(self, *a: Any, **k: Any) -> AssistantTurn:
        raise ProviderError("cloud", "HTTP 429", status="rate_limited", hint="wait")


def call(name: str, **args: Any) -> Step:
    return lambda _: AssistantTurn(tool_calls=(ToolCall(f"c-{name}", name, json.dumps(args)),))


def raw_call(name: str, text: str) -> Step:
    return lambda _: AssistantTurn(tool_calls=(ToolCall("c-raw", name, text),))


def say(text: str) -> Step:
    return lambda _: AssistantTurn(text=text)


def say_last_tool_result() -> Step:
    return lambda messages: AssistantTurn(text="saw " + messages[-1].content)


def _echo(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"echo": args["to"]}


def _wait(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    release.wait(10)
    return {"done": True}


TOOLS = ToolRegistry(
    [
        Tool(
            "echo",
            "blockchain",
            "Echo an address.",
            object_schema({"to": ADDRESS}, ["to"]),
            run=_echo,
        ),
        Tool("wait", "terminal", "Wait.", object_schema({}), run=_wait, timeout=0.2),
    ]
)
GOOD = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BAD_CHECKSUM = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    # A node that is not there: the live context says so, and these tools never need it.
    return ToolContext(
        chain=ChainClient("http://127.0.0.1:9", timeout=0.5),
        settings=AgentSettings(workspace=str(tmp_path / "ws"), max_steps=4),
        data_dir=tmp_path,
        audit=AuditLog(tmp_path / "audit.jsonl", "s1"),
    )


def agent(ctx: ToolContext, *models: Any, store: ConversationStore | None = None) -> Orchestrator:
    return Orchestrator(ctx, lambda: list(models), registry=TOOLS, store=store)


def test_tool_result_goes_back_to_the_model(ctx: ToolContext) -> None:
    model = ScriptedModel([call("echo", to=GOOD), say_last_tool_result()])
    streamed: list[str] = []
    reply = agent(ctx, model).send("echo please", on_text=streamed.append)
    assert reply.text == 'saw {"echo": "' + GOOD + '"}'
    assert streamed == [reply.text]
    assert [r.name for r in reply.tool_runs] == ["echo"] and reply.tool_runs[0].ok
    assert reply.steps == 2 and reply.provider == "scripted"
    # The tools were offered with their schemas, and the live context says the node is down.
    system, _, offered = model.calls[0]
    assert offered == ["echo", "wait"]
    assert "Node: not reachable: the node at `http://127.0.0.1:9`" in system


def test_schema_errors_reach_the_model_and_nothing_runs(ctx: ToolContext) -> None:
    model = ScriptedModel([call("echo", to=BAD_CHECKSUM, extra=1), say_last_tool_result()])
    reply = agent(ctx, model).send("echo")
    run = reply.tool_runs[0]
    assert not run.ok
    error = run.result["error"]
    assert error["type"] == "invalid_arguments"
    assert any("checksum" in p for p in error["problems"])
    assert any("extra" in p for p in error["problems"])
    assert "echo" not in json.dumps(run.result.get("echo", ""))


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        (call("no_such_tool"), "unknown_tool"),
        (raw_call("echo", "{not json"), "agent_error"),
        (raw_call("echo", "[1, 2]"), "invalid_arguments"),
    ],
)
def test_bad_calls_are_reported_not_raised(ctx: ToolContext, step: Step, kind: str) -> None:
    reply = agent(ctx, ScriptedModel([step, say("ok")])).send("go")
    assert reply.tool_runs[0].result["error"]["type"] == kind
    assert reply.text == "ok"


def test_step_limit_stops_the_loop(ctx: ToolContext) -> None:
    model = ScriptedModel([call("echo", to=GOOD)] * 4)
    agent_ = agent(ctx, model)
    reply = agent_.send("loop forever")
    assert reply.steps == 4 and len(reply.tool_runs) == 4
    assert "stopped after 4 steps" in reply.text
    # The conversation still ends on an assistant turn, as every provider requires.
    assert agent_.conversation.messages[-1].role == "assistant"


def test_tool_timeout_is_reported(ctx: ToolContext) -> None:
    release.clear()
    try:
        reply = agent(ctx, ScriptedModel([call("wait"), say("late")])).send("wait")
    finally:
        release.set()
    assert reply.tool_runs[0].result["error"]["type"] == "timeout"
    assert "0.2 s" in reply.tool_runs[0].result["error"]["message"]


def test_fallback_is_announced(ctx: ToolContext) -> None:
    reply = agent(ctx, FailingModel(), ScriptedModel([say("hi")], name="local")).send("hello")
    assert reply.text == "hi" and reply.provider == "local"
    assert len(reply.notes) == 1 and "rate_limited" in reply.notes[0]


def test_no_provider_is_a_clear_error(ctx: ToolContext) -> None:
    with pytest.raises(AgentError, match="no LLM provider is configured"):
        agent(ctx).send("hello")
    with pytest.raises(AgentError, match="empty"):
        agent(ctx, ScriptedModel([])).send("   ")


def test_conversation_persists_privately(ctx: ToolContext, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "conversations")
    first = agent(ctx, ScriptedModel([call("echo", to=GOOD), say("done")]), store=store)
    first.send("echo it")
    saved = store.load(first.conversation.id)
    assert [m.role for m in saved.messages] == ["user", "assistant", "tool", "assistant"]
    assert saved.title == "echo it"
    path = tmp_path / "conversations" / f"{first.conversation.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Continue it: the model sees the whole earlier exchange.
    model = ScriptedModel([say("again")])
    Orchestrator(ctx, lambda: [model], registry=TOOLS, conversation=saved, store=store).send("more")
    assert len(model.calls[0][1]) == 5
    assert store.list()[0]["id"] == first.conversation.id
    with pytest.raises(AgentError, match="no conversation"):
        store.load("0123456789ab")
    with pytest.raises(AgentError, match="not a conversation id"):
        store.load("../../etc/passwd")


def test_every_tool_run_is_audited(ctx: ToolContext, tmp_path: Path) -> None:
    agent(ctx, ScriptedModel([call("echo", to=GOOD), call("echo", to="nope"), say("x")])).send(
        "two"
    )
    records = AuditLog(tmp_path / "audit.jsonl", "").read()
    assert [(r["event"], r["tool"], r["ok"]) for r in records] == [
        ("tool", "echo", True),
        ("tool", "echo", False),
    ]
    assert all(r["session"] == "s1" for r in records)
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o600
