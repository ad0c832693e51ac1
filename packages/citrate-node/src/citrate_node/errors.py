"""JSON-RPC errors, with the codes geth and anvil use.

Every error a client can cause is an :class:`RpcError` whose message says what is wrong and, where
it helps, what to send instead. Internal failures become ``-32603`` without details (they are
logged on the node's side, never echoed).
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # geth: transaction pool and state errors ("nonce too low", ...)
EXECUTION_REVERTED = 3  # geth/anvil: eth_call/eth_estimateGas reverted; `data` is the revert data


class RpcError(Exception):
    """An error object for a JSON-RPC response."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class InvalidParams(RpcError):
    """A parameter is missing, of the wrong type, or out of range (-32602)."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


class MethodNotFound(RpcError):
    def __init__(self, method: str) -> None:
        super().__init__(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")


class InvalidRequest(RpcError):
    def __init__(self, message: str) -> None:
        super().__init__(INVALID_REQUEST, message)
