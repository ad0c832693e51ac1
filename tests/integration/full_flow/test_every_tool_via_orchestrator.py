"""Every tool through the orchestrator, with the selftest's checks against the chain.

The selftest's scenario runs again, but each tool call is made by a ONE-CALL MODEL (a test
double of the LLM: it asks for exactly the tool and arguments the scenario wants, then says
"done") and goes through `Orchestrator.send`: argument JSON, schema checks, the worker thread
and its time limit, the audit log, and for value-moving tools the prepared action that the
scenario then approves. A tool error comes back as the structured result the model would see.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from citrate_agent.errors import AgentError, NotInstalledError
from citrate_agent.orchestrator import Orchestrator
from citrate_agent.providers.base import AssistantTurn, Message, ToolCall, ToolSpec
from citrate_agent.selftest import Selftest, run_selftest
from citrate_agent.tools import ToolContext


class OneCallModel:
    """TEST DOUBLE of an LLM: one tool call, then a short reply."""

    name = "one-call"
    model = "script"

    def __init__(self, tool: str, arguments: dict[str, Any]) -> None:
        self.call = ToolCall("call-1", tool, json.dumps(arguments))
        self.offered: list[str] = []

    def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: Callable[[str], None] | None = None,
    ) -> AssistantTurn:
        self.offered = [t.name for t in tools]
        if messages[-1].role == "user":
            return AssistantTurn(tool_calls=(self.call,), provider=self.name)
        return AssistantTurn(text="done", provider=self.name)


class ViaOrchestrator(Selftest):
    def call(self, tool: str, ctx: ToolContext | None = None, **args: Any) -> Any:
        model = OneCallModel(tool, args)
        agent = Orchestrator(ctx or self.ctx, lambda: [model], registry=self.registry)
        try:
            reply = agent.send(f"run {tool}")
        finally:
            agent.close()
        assert tool in model.offered
        (run,) = reply.tool_runs
        if reply.pending:
            return reply.pending[0]
        if not run.ok:
            error = run.result["error"]
            kind = NotInstalledError if error["type"] == "not_installed" else AgentError
            raise kind(error["message"], hint=error.get("hint"))
        assert reply.text == "done"
        return run.result


def test_every_tool_through_the_orchestrator() -> None:
    report = run_selftest(harness=ViaOrchestrator)
    assert report["failed"] == [], json.dumps(report["tools"], indent=1)
    assert report["passed"] == report["total"] >= 25
