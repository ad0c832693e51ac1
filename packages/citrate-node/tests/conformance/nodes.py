"""Start an Ethereum JSON-RPC dev node (anvil or `citrate devnet`) and talk to it.

Self-contained (no relative imports) so that `tests/bench/test_bench_node.py` can load it by
path. Every node is started on 127.0.0.1 on a free port, with a private HOME, and is stopped
(terminate, then kill) by `NodeProcess.stop`.

Both nodes serve HTTP JSON-RPC and WebSocket on the same port, chain id 1337, and fund the ten
accounts of the dev phrase (m/44'/60'/0'/0/0-9) with 10,000 ETH each at genesis.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

DEV_PHRASE = "test test test test test test test test test test test junk"
CHAIN_ID = 1337
DEV_BALANCE = 10_000 * 10**18
NODE_KINDS = ("anvil", "citrate")
READY_TIMEOUT = 30.0

_REPO_ROOT = Path(__file__).resolve().parents[4]
ANVIL_DEFAULT = _REPO_ROOT / "tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
# Read at import, before the root conftest's hermetic fixture strips CITRATE_* per test.
ANVIL_OVERRIDE = os.environ.get("CITRATE_ANVIL")

Account.enable_unaudited_hdwallet_features()


def dev_accounts(count: int = 10) -> list[LocalAccount]:
    """The dev phrase's accounts m/44'/60'/0'/0/0..count-1 (anvil's and Citrate's genesis)."""
    return [
        Account.from_mnemonic(DEV_PHRASE, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    ]


class NodeUnavailable(RuntimeError):
    """The node binary is missing, or the process exited or never became ready."""


class RpcError(Exception):
    """A JSON-RPC error object, raised by `Node.call`."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")
        self.data: Any = error.get("data")


# Both nodes listen on port 0 (the kernel picks a free port: no bind-close-reuse race) and
# print it: anvil "Listening on 127.0.0.1:PORT", citrate "Listening on http://127.0.0.1:PORT".
_LISTENING = re.compile(rb"Listening on (?:http://)?127\.0\.0\.1:(\d+)")


def _announced_port(stdout_log: Path) -> int | None:
    try:
        match = _LISTENING.search(stdout_log.read_bytes())
    except FileNotFoundError:
        return None
    return int(match.group(1)) if match else None


def anvil_binary() -> Path:
    path = Path(ANVIL_OVERRIDE) if ANVIL_OVERRIDE else ANVIL_DEFAULT
    if not path.is_file():
        raise NodeUnavailable(
            f"anvil not found at `{path}`\n"
            "hint: run `make node-tools` (npm ci --prefix tools), or set CITRATE_ANVIL"
        )
    return path


def citrate_binary() -> Path:
    """The `citrate` console script of the running venv."""
    beside = Path(sys.executable).parent / "citrate"
    if beside.is_file():
        return beside
    found = shutil.which("citrate")
    if found is None:
        raise NodeUnavailable("the `citrate` command is not installed in this environment")
    return Path(found)


def _child_env(home: Path) -> dict[str, str]:
    """The test environment minus secrets and CITRATE_*, with a private HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD"))
        and not k.startswith("CITRATE_")
    }
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"), NO_COLOR="1")
    return env


def node_command(kind: str, port: int, data_dir: Path) -> list[str]:
    if kind == "anvil":
        # Defaults already match Citrate's genesis: the dev phrase, 10 accounts, 10,000 ETH,
        # automine; base fee 1 gwei, gas limit 30,000,000.
        return [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(CHAIN_ID),
        ]
    if kind == "citrate":
        return [
            str(citrate_binary()),
            "devnet",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ipfs-port",
            "0",
            "--block-time",
            "0",
        ]
    raise ValueError(f"unknown node kind `{kind}`")


@dataclass
class NodeProcess:
    """A running node process; `stop` ends it. Its stdout/stderr go to files under `workdir`."""

    kind: str
    port: int
    workdir: Path
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stderr_text(self) -> str:
        parts = []
        for name in ("stderr.log", "stdout.log"):
            path = self.workdir / name
            if path.is_file():
                text = path.read_text(errors="replace").strip()
                if text:
                    parts.append(f"--- {name} ---\n{text[-4000:]}")
        return "\n".join(parts) or "(no output)"

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def start_node(kind: str, workdir: Path, timeout: float = READY_TIMEOUT) -> NodeProcess:
    """Start a node of `kind` in `workdir` (fresh data dir) and wait until it answers RPC.

    Readiness is `web3_clientVersion` answering over HTTP; NodeUnavailable (with the
    process's output) if it exits first or does not answer within `timeout` seconds.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    data_dir = workdir / "data"
    argv = node_command(kind, 0, data_dir)
    with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=_child_env(home)
        )
    proc = NodeProcess(kind, 0, workdir, popen)
    deadline = time.monotonic() + timeout
    body = {"jsonrpc": "2.0", "id": 1, "method": "web3_clientVersion", "params": []}
    while True:
        if popen.poll() is not None:
            raise NodeUnavailable(
                f"{kind} exited with code {popen.returncode} before answering RPC\n"
                f"command: {' '.join(argv)}\n{proc.stderr_text()}"
            )
        if proc.port == 0:
            proc.port = _announced_port(workdir / "stdout.log") or 0
        try:
            if proc.port:
                reply = requests.post(proc.url, json=body, timeout=1)
                if reply.ok and "result" in reply.json():
                    return proc
        except (requests.RequestException, ValueError):
            pass
        if time.monotonic() > deadline:
            proc.stop()
            raise NodeUnavailable(
                f"{kind} did not answer web3_clientVersion within {timeout:.0f}s\n"
                f"command: {' '.join(argv)}\n{proc.stderr_text()}"
            )
        time.sleep(0.1)


@dataclass
class Node:
    """What a conformance test sees of a node: reusable against any Ethereum JSON-RPC node.

    Attributes:
        kind: "anvil" or "citrate" (the key into the table of deliberate differences).
        url / ws_url: HTTP and WebSocket endpoints.
        w3: a synchronous web3.py client over HTTP.
        accounts: the ten dev accounts (eth_account LocalAccount, holding the keys locally).
    """

    kind: str
    url: str
    ws_url: str
    accounts: list[LocalAccount] = field(default_factory=dev_accounts)

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 30}))
        self._next_id = 0

    # -- raw JSON-RPC ---------------------------------------------------------------------
    def post(self, body: bytes | str, content_type: str = "application/json") -> requests.Response:
        """POST a raw body; the caller inspects status and content."""
        data = body.encode() if isinstance(body, str) else body
        return self.session.post(
            self.url, data=data, headers={"Content-Type": content_type}, timeout=30
        )

    def rpc(self, method: str, params: Sequence[Any] | Any = ()) -> dict[str, Any]:
        """The full JSON-RPC response object (with `result` or `error`)."""
        self._next_id += 1
        body = {
            "jsonrpc": "2.0",
            "id": self._next_id,
            "method": method,
            "params": list(params) if isinstance(params, tuple) else params,
        }
        reply = self.session.post(self.url, json=body, timeout=30)
        response: dict[str, Any] = reply.json()
        assert response.get("id") == self._next_id, response
        assert response.get("jsonrpc") == "2.0", response
        return response

    def call(self, method: str, params: Sequence[Any] | Any = ()) -> Any:
        """The `result` of a call; RpcError if the node answered with an error."""
        response = self.rpc(method, params)
        if "error" in response:
            raise RpcError(response["error"])
        return response["result"]

    def error(self, method: str, params: Sequence[Any] | Any = ()) -> dict[str, Any]:
        """The `error` object of a call that must fail."""
        response = self.rpc(method, params)
        assert "error" in response, f"{method} {params} succeeded: {response}"
        assert "result" not in response, response
        error: dict[str, Any] = response["error"]
        return error

    # -- helpers ----------------------------------------------------------------------------
    def mine(self) -> None:
        self.call("evm_mine", [])

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def nonce(self, address: str, tag: str = "pending") -> int:
        return int(self.call("eth_getTransactionCount", [address, tag]), 16)

    def balance(self, address: str, block: str | int = "latest") -> int:
        tag = hex(block) if isinstance(block, int) else block
        return int(self.call("eth_getBalance", [address, tag]), 16)

    def sign(self, account: LocalAccount, **tx: Any) -> str:
        """Sign a transaction; fills chainId, nonce (pending), gas and 1559 fees if absent."""
        tx.setdefault("chainId", CHAIN_ID)
        if "nonce" not in tx:
            tx["nonce"] = self.nonce(account.address)
        tx.setdefault("gas", 21_000)
        if "gasPrice" not in tx:
            tx.setdefault("maxFeePerGas", 20 * 10**9)
            tx.setdefault("maxPriorityFeePerGas", 10**9)
        return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()

    def send(self, account: LocalAccount, **tx: Any) -> str:
        """Sign and send; return the hash (RpcError if rejected)."""
        tx_hash: str = self.call("eth_sendRawTransaction", [self.sign(account, **tx)])
        return tx_hash

    def receipt(self, tx_hash: str, timeout: float = 15.0) -> dict[str, Any]:
        """Wait until the transaction is mined; its receipt."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                assert isinstance(receipt, dict)
                return receipt
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.kind}: {tx_hash} not mined within {timeout}s")
            time.sleep(0.005)

    def transact(self, account: LocalAccount, **tx: Any) -> dict[str, Any]:
        """Send and wait: the receipt."""
        return self.receipt(self.send(account, **tx))

    def close(self) -> None:
        self.session.close()
