"""The function-calling loop: the model picks tools, the agent checks and runs them.

One user message runs at most `settings.max_steps` model calls. Each tool call's arguments are
checked against the tool's JSON Schema before anything runs; a failing call goes back to the
model as a structured error it can correct. Each tool runs under a time limit. Tools that move
value only prepare: the loop stops, and the reply carries the exact summary of what would
happen and what it costs, for the user to approve (`approve`) or reject (`reject`). The
summary is written by the agent from the prepared transaction, never by the model.

Providers come from a callable evaluated on every message, so a key saved or an order changed
while the agent runs applies to the next message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from citrate_agent import actions
from citrate_agent.actions import PreparedAction
from citrate_agent.conversations import Conversation, ConversationStore
from citrate_agent.errors import AgentError, ToolTimeoutError
from citrate_agent.prompt import system_prompt
from citrate_agent.providers.base import (
    AssistantTurn,
    ChatProvider,
    Message,
    TextSink,
    ToolCall,
    ToolSpec,
)
from citrate_agent.providers.registry import complete_with_fallback
from citrate_agent.tools.base import ToolContext, ToolRegistry, call_tool
from citrate_agent.units import salt

ProviderSource = Callable[[], Sequence[ChatProvider]]


@dataclass
class ToolRun:
    """One tool call of a turn, as it happened."""

    name: str
    arguments: Any
    ok: bool
    result: dict[str, Any]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": self.arguments,
            "ok": self.ok,
            "result": self.result,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class Reply:
    """What the agent answers to one message or approval."""

    text: str
    tool_runs: list[ToolRun] = field(default_factory=list)
    pending: list[PreparedAction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provider: str = ""
    steps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tool_runs": [r.to_json() for r in self.tool_runs],
            "pending_actions": [a.to_json() for a in self.pending],
            "notes": self.notes,
            "provider": self.provider,
            "steps": self.steps,
        }


class Orchestrator:
    """A conversation with the agent.

    Args:
        ctx: the tool context (chain, wallet, limits).
        providers: returns the providers to try, in the user's order, for each message.
        registry: the tools (default: all of them).
        conversation: continue this conversation (default: a new one).
        store: where conversations persist (default: none).
    """

    def __init__(
        self,
        ctx: ToolContext,
        providers: ProviderSource,
        *,
        registry: ToolRegistry | None = None,
        conversation: Conversation | None = None,
        store: ConversationStore | None = None,
    ) -> None:
        from citrate_agent.tools import default_registry

        self.ctx = ctx
        self.providers = providers
        self.registry = registry or default_registry()
        self.conversation = conversation or Conversation()
        self.store = store
        self._specs = [ToolSpec(t.name, t.description, t.parameters) for t in self.registry]
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="citrate-tool")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def pending(self) -> list[PreparedAction]:
        return self.ctx.actions.pending()

    # ------------------------------------------------------------------------ conversation

    def send(self, text: str, *, on_text: TextSink | None = None) -> Reply:
        """Answer one user message, running tools as the model asks."""
        if not text.strip():
            raise AgentError("the message is empty", hint="type a question or a request")
        messages = self.conversation.messages
        messages.append(Message("user", text))
        system = system_prompt(self.ctx, self.registry)
        reply = Reply(text="")
        texts: list[str] = []
        finished = False
        for step in range(1, self.ctx.settings.max_steps + 1):
            reply.steps = step
            turn = self._complete(system, messages, on_text, reply)
            messages.append(Message("assistant", turn.text, turn.tool_calls))
            if turn.text:
                texts.append(turn.text)
            if not turn.tool_calls:
                finished = True
                break
            for call in turn.tool_calls:
                run = self.run_call(call)
                reply.tool_runs.append(run)
                messages.append(
                    Message("tool", json.dumps(run.result), tool_call_id=call.id, name=call.name)
                )
                if "action" in run.result:
                    reply.pending.append(self.ctx.actions.get(run.result["action"]["action_id"]))
            if reply.pending:
                break  # the user decides; the model does not get to act again first
        if not finished:
            # The conversation ends on tool results: close it with what the user is shown.
            closing = (
                _approval_text(reply.pending)
                if reply.pending
                else f"I stopped after {self.ctx.settings.max_steps} steps without finishing. "
                "Try a more specific request, or raise `max_steps` in the agent settings."
            )
            texts.append(closing)
            messages.append(Message("assistant", closing))
        reply.text = "\n\n".join(texts)
        self._save()
        return reply

    def run_call(self, call: ToolCall) -> ToolRun:
        """Check and run one tool call; every outcome is a JSON result (errors included)."""
        started = time.perf_counter()
        arguments: Any = None
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError as exc:
            result = AgentError(
                f"the arguments for `{call.name}` are not valid JSON ({exc.msg})",
                hint="send the arguments as one JSON object",
            ).to_json()
            return self._record(call.name, call.arguments, False, result, started)
        try:
            tool = self.registry.get(call.name)
            timeout = tool.timeout or self.ctx.settings.tool_timeout_seconds
            due = time.monotonic() + timeout
            future = self._pool.submit(self._call_before, due, call.name, arguments)
            try:
                outcome = future.result(timeout=timeout)
            except FutureTimeout:
                raise ToolTimeoutError(
                    f"`{call.name}` did not finish within {timeout:g} s",
                    hint="the node or the content store may be slow; try again, or check "
                    "`node_status`",
                ) from None
        except AgentError as exc:
            return self._record(call.name, arguments, False, exc.to_json(), started)
        except Exception as exc:
            # The model still gets an answer for its call (OpenAI rejects a conversation with
            # an unanswered tool call), without a traceback or any internals.
            result = AgentError(
                f"`{call.name}` failed unexpectedly ({type(exc).__name__})",
                hint="this is a bug in the agent; the audit log has the tool and arguments",
            ).to_json()
            result["error"]["type"] = "internal_error"
            return self._record(call.name, arguments, False, result, started)
        if isinstance(outcome, PreparedAction):
            self.conversation.actions[outcome.id] = {"status": "pending", "title": outcome.title}
            result = {
                "status": "awaiting_approval",
                "action": outcome.to_json(),
                "note": "Nothing has been sent. The user now sees this summary and approves or "
                "rejects it; do not claim it happened.",
            }
            return self._record(call.name, arguments, True, result, started, audit=False)
        return self._record(call.name, arguments, True, outcome, started)

    def _call_before(self, due: float, name: str, arguments: Any) -> Any:
        with actions.deadline(due):
            return call_tool(self.registry, self.ctx, name, arguments)

    def approve(
        self, action_id: str, *, password: str | None = None, totp_code: str | None = None
    ) -> Reply:
        """Execute a prepared action the user approved; the result joins the conversation."""
        result = actions.execute(self.ctx, action_id, password=password, totp_code=totp_code)
        action = self.ctx.actions.get(action_id)
        self.conversation.actions[action_id] = {"status": "executed", "title": action.title}
        text = f"Done: {action.title}.\n{_result_text(result)}"
        self.conversation.messages.append(Message("assistant", text))
        self._save()
        return Reply(text=text, tool_runs=[ToolRun(action.tool, {}, True, result, 0.0)])

    def reject(self, action_id: str) -> Reply:
        """Drop a prepared action; nothing is sent."""
        action = actions.reject(self.ctx, action_id)
        self.conversation.actions[action_id] = {"status": "rejected", "title": action.title}
        text = f"Cancelled: {action.title}. Nothing was sent."
        self.conversation.messages.append(Message("assistant", text))
        self._save()
        return Reply(text=text)

    # --------------------------------------------------------------------------- internals

    def _complete(
        self,
        system: str,
        messages: list[Message],
        on_text: TextSink | None,
        reply: Reply,
    ) -> AssistantTurn:
        turn, notes = complete_with_fallback(
            list(self.providers()), system, messages, self._specs, on_text=on_text
        )
        reply.notes.extend(notes)
        reply.provider = turn.provider
        return turn

    def _record(
        self,
        name: str,
        arguments: Any,
        ok: bool,
        result: dict[str, Any],
        started: float,
        *,
        audit: bool = True,
    ) -> ToolRun:
        run = ToolRun(name, arguments, ok, result, time.perf_counter() - started)
        if audit and self.ctx.audit is not None:
            error = result.get("error") if not ok else None
            self.ctx.audit.write("tool", tool=name, arguments=arguments, ok=ok, error=error)
        return run

    def _save(self) -> None:
        if self.store is not None:
            self.store.save(self.conversation)


def _approval_text(pending: list[PreparedAction]) -> str:
    parts = ["Waiting for your approval (nothing has been sent yet):"]
    for action in pending:
        parts.append(f"[{action.id}] {action.summary}")
    return "\n".join(parts)


def _result_text(result: dict[str, Any]) -> str:
    keys = (
        "tx_hash",
        "contract_address",
        "address",
        "model_id",
        "cid",
        "block_number",
        "gas_used",
        "fee_paid_salt",
    )
    lines = [f"  {k}: {result[k]}" for k in keys if k in result]
    if "fee_paid_wei" in result and "fee_paid_salt" not in result:
        lines.append(f"  fee paid: {salt(int(result['fee_paid_wei']))} SALT")
    return "\n".join(lines) or json.dumps(result)[:500]


__all__ = ["Orchestrator", "ProviderSource", "Reply", "ToolRun"]
