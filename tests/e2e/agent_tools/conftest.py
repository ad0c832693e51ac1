"""Fixtures shared by the agent tool tests (on top of the root `tests/conftest.py`).

- `closed_url` / `down_ctx`: a node that is down (a port nothing listens on), and the agent's
  context pointed at it.
- `chain`: independent reads of the devnet over raw JSON-RPC (not the agent's client), and raw
  transactions signed by a development account of the test's choosing.
- `w3`, `system_contract_w3`: web3 views of the devnet and its system contracts, for checking
  chain state independently of the agent's own ABI code.
- `fake_gguf`, `deploy_model`: small files with GGUF's magic bytes, registered with the
  `deploy_model` tool through the approval path.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from citrate_contracts.artifacts import load_artifact


@pytest.fixture
def closed_url() -> str:
    """`http://127.0.0.1:PORT` of a port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def down_ctx(agent_ctx: Any, closed_url: str) -> Any:
    """The agent's context (same wallet, actions, audit) with its node down."""
    from citrate_agent.chain import ChainClient

    return dataclasses.replace(agent_ctx, chain=ChainClient(closed_url, timeout=5))


class Chain:
    """Independent reads of the devnet (raw JSON-RPC, not the agent's client)."""

    def __init__(self, devnet: Any) -> None:
        self.devnet = devnet

    def balance(self, address: str, block: str = "latest") -> int:
        return int(self.devnet.rpc("eth_getBalance", address, block), 16)

    def nonce(self, address: str, block: str = "latest") -> int:
        return int(self.devnet.rpc("eth_getTransactionCount", address, block), 16)

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """The receipt of `tx_hash`, waiting (up to 30 s) for it to be mined."""
        deadline = time.monotonic() + 30
        while (receipt := self.devnet.rpc("eth_getTransactionReceipt", tx_hash)) is None:
            assert time.monotonic() < deadline, f"{tx_hash} was not mined"
            time.sleep(0.05)
        return dict(receipt)

    def send_raw(self, key: str, **fields: Any) -> dict[str, Any]:
        """Sign a transaction with `key` (a development account's), send it, return the receipt.

        Tests that need raw transactions use their own development account, so the agent's
        account 0 (and its nonce checks) is left alone.
        """
        sender = Account.from_key(key).address
        tx = {
            "type": 2,
            "chainId": 1337,
            "nonce": self.nonce(sender, "pending"),
            "value": 0,
            "data": b"",
            "gas": 200_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            **fields,
        }
        raw = bytes(Account.sign_transaction(tx, key).raw_transaction)
        return self.receipt(self.devnet.rpc("eth_sendRawTransaction", "0x" + raw.hex()))


@pytest.fixture
def chain(agent_devnet: Any) -> Chain:
    return Chain(agent_devnet)


@pytest.fixture
def w3(agent_devnet: Any) -> Web3:
    return Web3(Web3.HTTPProvider(agent_devnet.url))


@pytest.fixture
def system_contract_w3(agent_devnet: Any, w3: Web3) -> Callable[[str], Any]:
    """`system_contract_w3("ModelRegistry")`: a web3 contract for a system contract."""

    def contract(name: str) -> Any:
        address = agent_devnet.rpc("citrate_getSystemContracts")[name]
        return w3.eth.contract(address=address, abi=load_artifact(name).abi)

    return contract


def _fake_gguf(directory: Path, name: str, size: int = 4096) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.gguf"
    path.write_bytes(b"GGUF" + secrets.token_bytes(size - 4))
    return path


@pytest.fixture
def fake_gguf() -> Callable[..., Path]:
    """`fake_gguf(directory, name, size=4096)`: a file that starts like a GGUF file (enough for
    the registry), with unique random bytes after the magic."""
    return _fake_gguf


@pytest.fixture
def deploy_model(
    run_tool: Callable[..., Any], approve: Callable[..., Any], agent_ctx: Any
) -> Callable[..., dict[str, Any]]:
    """`deploy_model(name=None, path=None, **args)`: register a model with the `deploy_model`
    tool and approve it; the name defaults to a fresh `model-<8 hex digits>`, the file to a
    fake GGUF in the workspace. Returns the tool's result."""

    def deploy(
        name: str | None = None, path: Path | str | None = None, **args: Any
    ) -> dict[str, Any]:
        name = name or f"model-{secrets.token_hex(4)}"
        path = path or _fake_gguf(agent_ctx.workspace, name)
        return approve(run_tool("deploy_model", path=str(path), name=name, **args))

    return deploy
