"""A small JSON-RPC client for the node (any Ethereum node: the devnet, anvil, a remote one).

The agent talks to the node over JSON-RPC like any wallet does, never by importing it, so it
works the same against a remote node. Failures become `ChainUnavailableError` (the node is not
there) or `RpcError` (the node said no), both with a next step for the user.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from citrate_agent.errors import ChainUnavailableError, RpcError, TransactionRevertedError
from citrate_agent.reverts import AbiPairs, describe_revert

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
Transport = Callable[[dict[str, Any]], Any]


class ChainClient:
    """JSON-RPC over HTTP with a timeout per request.

    Args:
        url: the node's HTTP JSON-RPC endpoint.
        timeout: seconds per request.
        transport: replaces HTTP (benchmarks feed recorded answers through it); it takes the
            request object and returns the decoded response object.
    """

    def __init__(
        self,
        url: str = DEFAULT_RPC_URL,
        *,
        timeout: float = 10.0,
        transport: Transport | None = None,
    ) -> None:
        self.url = url
        self.display_url = redact_url(url)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._session: requests.Session | None = None
        self._transport = transport

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> ChainClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, params: list[Any] | None = None) -> Any:
        """Call `method`; return its result.

        Raises:
            ChainUnavailableError: no node answered at `url`, or it did not speak JSON-RPC.
            RpcError: the node returned an error object.
        """
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        reply = self._transport(body) if self._transport else self._post(body)
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            raise ChainUnavailableError(
                f"`{self.display_url}` answered `{method}` with something that is not JSON-RPC",
                hint="check the RPC URL points at a Citrate or Ethereum node",
            )
        if "error" in reply and reply["error"] is not None:
            err = reply["error"]
            raw_code = err.get("code", 0) if isinstance(err, dict) else 0
            code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else 0
            message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            data = err.get("data") if isinstance(err, dict) else None
            raise RpcError(method, code, message, data)
        return reply["result"]

    def _post(self, body: dict[str, Any]) -> Any:
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.post(self.url, json=body, timeout=self.timeout)
        except requests.Timeout:
            raise ChainUnavailableError(
                f"the node at `{self.display_url}` did not answer `{body['method']}` within "
                f"{self.timeout:g} s",
                hint="check the node is running and not overloaded (`citrate devnet` starts one)",
            ) from None
        except requests.RequestException as exc:
            raise ChainUnavailableError(
                f"the node at `{self.display_url}` is not reachable ({type(exc).__name__})",
                hint="start it with `citrate devnet`, or point the agent at a running node with "
                "--rpc-url",
            ) from None
        try:
            return response.json()
        except ValueError:
            raise ChainUnavailableError(
                f"`{self.display_url}` answered HTTP {response.status_code} without JSON",
                hint="check the RPC URL points at a Citrate or Ethereum node's JSON-RPC endpoint",
            ) from None

    # ------------------------------------------------------------------------------ helpers

    def quantity(self, method: str, params: list[Any] | None = None) -> int:
        """A method whose result is a hex quantity ("0x1a"); anything else is an `RpcError`."""
        result = self.request(method, params)
        value = _hex_int(result)
        if value is None:
            raise self._malformed(method, result)
        return value

    def data(self, method: str, params: list[Any] | None = None) -> bytes:
        """A method whose result is hex data ("0x…"); anything else is an `RpcError`."""
        result = self.request(method, params)
        if isinstance(result, str) and result.startswith("0x") and len(result) % 2 == 0:
            try:
                return bytes.fromhex(result[2:])
            except ValueError:
                pass
        raise self._malformed(method, result)

    def _malformed(self, method: str, result: Any) -> RpcError:
        shown = repr(result)
        return RpcError(
            method,
            -32603,
            f"the node answered with `{shown[:80]}`, which is not what `{method}` returns",
            hint="check the RPC URL points at a Citrate or Ethereum node",
        )

    def chain_id(self) -> int:
        return self.quantity("eth_chainId")

    def block_number(self) -> int:
        return self.quantity("eth_blockNumber")

    def balance(self, address: str, block: str = "latest") -> int:
        return self.quantity("eth_getBalance", [address, block])

    def nonce(self, address: str, block: str = "pending") -> int:
        return self.quantity("eth_getTransactionCount", [address, block])

    def code(self, address: str, block: str = "latest") -> bytes:
        return self.data("eth_getCode", [address, block])

    def call(
        self,
        tx: dict[str, Any],
        block: str = "latest",
        *,
        abis: AbiPairs = (),
        contract: str | None = None,
    ) -> bytes:
        """`eth_call`. A revert raises `TransactionRevertedError` with the reason decoded
        against the system contracts and `abis` (`contract` names the one called)."""
        try:
            return self.data("eth_call", [tx, block])
        except RpcError as exc:
            raise _as_revert("the call", exc, abis, contract) from None

    def estimate_gas(
        self, tx: dict[str, Any], *, abis: AbiPairs = (), contract: str | None = None
    ) -> int:
        """`eth_estimateGas`; a revert raises `TransactionRevertedError` as `call` does."""
        try:
            return self.quantity("eth_estimateGas", [tx])
        except RpcError as exc:
            raise _as_revert("the transaction", exc, abis, contract) from None

    def fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) for a transaction sent now.

        Twice the latest base fee plus the tip, as wallets do, so the transaction stays valid
        through a few blocks of rising base fee; unused fee is never charged.
        """
        block = self.request("eth_getBlockByNumber", ["latest", False])
        if not isinstance(block, dict):
            raise self._malformed("eth_getBlockByNumber", block)
        base = _hex_int(block.get("baseFeePerGas") or "0x0")
        if base is None:
            raise self._malformed("eth_getBlockByNumber", block.get("baseFeePerGas"))
        try:
            tip = self.quantity("eth_maxPriorityFeePerGas")
        except RpcError:
            tip = 10**9
        return 2 * base + tip, tip

    def send_raw(self, raw: bytes) -> str:
        return str(self.request("eth_sendRawTransaction", ["0x" + raw.hex()]))

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = self.request("eth_getTransactionReceipt", [tx_hash])
        if result is None:
            return None
        if not isinstance(result, dict):
            raise self._malformed("eth_getTransactionReceipt", result)
        return dict(result)

    def wait_receipt(self, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll for the receipt of `tx_hash`.

        Raises:
            ChainUnavailableError: no receipt within `timeout` (the transaction may still land).
        """
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise ChainUnavailableError(
                    f"transaction `{tx_hash}` was sent but not mined within {timeout:g} s",
                    hint="ask for `transaction_info` with this hash later; do not send it again",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def redact_url(url: str) -> str:
    """`scheme://host:port` of `url`: no user, password, path or query.

    Hosted RPC endpoints carry API keys in the path (`/v3/KEY`) or the user part; messages
    that reach the model, the conversation file or the audit log show only where the node is.
    """
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the configured URL"
    if not parts.scheme or not parts.hostname:
        return "the configured URL"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def _hex_int(value: Any) -> int | None:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def _as_revert(what: str, exc: RpcError, abis: AbiPairs, contract: str | None) -> Exception:
    data = exc.data if isinstance(exc.data, str) and exc.data.startswith("0x") else None
    if exc.code == 3 or data is not None or "revert" in exc.message.lower():
        reason = describe_revert(data, exc.message, abis=abis, contract=contract)
        return TransactionRevertedError(what, reason, data=data)
    return exc


__all__ = ["DEFAULT_RPC_URL", "ChainClient", "Transport", "redact_url"]
