"""Every error a public API of citrate-agent can raise.

Each error's message says what went wrong and, after `hint:`, what the user can do next. The
orchestrator hands `to_json()` to the model and the CLI prints `str(error)`, so both see the same
words. Errors never carry secrets (API keys, passwords, phrases).
"""

from __future__ import annotations

from typing import Any

from citrate_crypto.errors import CitrateError, CitrateValueError


class AgentError(CitrateError):
    """Base of the agent's errors. `hint` is the next step for the user, if there is one."""

    kind = "agent_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; hint: {hint}" if hint else message)

    def to_json(self) -> dict[str, Any]:
        """The error as the tools' JSON result shape: `{"error": {...}}`."""
        body: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return {"error": body}


class ToolNotFoundError(AgentError):
    """No tool has this name."""

    kind = "unknown_tool"


class ToolArgumentError(AgentError, CitrateValueError):
    """A tool's arguments failed its JSON schema or its own checks. `problems` lists each one."""

    kind = "invalid_arguments"

    def __init__(self, tool: str, problems: list[str], *, hint: str | None = None) -> None:
        self.tool = tool
        self.problems = list(problems)
        listed = "; ".join(self.problems)
        super().__init__(
            f"the arguments for `{tool}` are not valid: {listed}",
            hint=hint or "fix the listed arguments and call the tool again",
        )

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["error"]["problems"] = self.problems
        return out


class ToolTimeoutError(AgentError):
    """A tool ran past its time limit."""

    kind = "timeout"


class ChainUnavailableError(AgentError):
    """The node could not be reached (refused, timed out, or not a JSON-RPC server)."""

    kind = "node_unreachable"


class RpcError(AgentError):
    """The node answered a JSON-RPC error. `code` and `data` are the node's."""

    kind = "rpc_error"

    def __init__(
        self, method: str, code: int, message: str, data: Any = None, *, hint: str | None = None
    ) -> None:
        self.method = method
        self.code = code
        self.data = data
        super().__init__(f"`{method}` failed: {message} (code {code})", hint=hint)


class TransactionRevertedError(AgentError):
    """A call or transaction reverted (in simulation or on chain); `reason` is decoded."""

    kind = "reverted"

    def __init__(self, what: str, reason: str, *, data: str | None = None, hint: str | None = None):
        self.reason = reason
        self.data = data
        super().__init__(f"{what} would revert: {reason}", hint=hint)


class InsufficientFundsError(AgentError):
    """The account cannot pay the value plus the maximum gas cost."""

    kind = "insufficient_funds"


class SpendingLimitError(AgentError):
    """The action would pass the session's spending limit."""

    kind = "spending_limit"


class ApprovalError(AgentError):
    """An approval named an unknown, expired, already-used or rejected action."""

    kind = "approval"


class WalletUnavailableError(AgentError):
    """No wallet exists, or it is locked when a signature is needed."""

    kind = "wallet"


class SecondFactorRequiredError(WalletUnavailableError):
    """The wallet wants an authenticator code for this amount (missing, wrong or reused)."""

    kind = "second_factor"


class ProviderError(AgentError):
    """An LLM provider failed (network, key, rate limit, server, malformed answer)."""

    kind = "provider"

    def __init__(self, provider: str, message: str, *, status: str, hint: str | None = None):
        self.provider = provider
        self.status = status
        super().__init__(f"{provider}: {message}", hint=hint)


class CommandRefusedError(AgentError):
    """`execute_command` refused a command that breaks its rules."""

    kind = "refused"


class NotInstalledError(AgentError):
    """An optional component (local model runtime, image model) is not installed."""

    kind = "not_installed"


__all__ = [
    "AgentError",
    "ApprovalError",
    "ChainUnavailableError",
    "CommandRefusedError",
    "InsufficientFundsError",
    "NotInstalledError",
    "ProviderError",
    "RpcError",
    "SecondFactorRequiredError",
    "SpendingLimitError",
    "ToolArgumentError",
    "ToolNotFoundError",
    "ToolTimeoutError",
    "TransactionRevertedError",
    "WalletUnavailableError",
]
