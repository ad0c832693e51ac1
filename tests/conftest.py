"""Fixtures for the cross-package agent tests: a real devnet, a real wallet, a tool context.

Everything is real: `citrate devnet` runs as a process (mining as soon as a transaction
arrives), the wallet is the standard development phrase sealed on disk, and the content store
is the devnet's. Fixtures start only when a test asks for them.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from citrate_crypto import KdfParams, Wallet

ROOT = Path(__file__).resolve().parents[1]
DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_PASSWORD = "Correct-Horse-Battery-9"
FAST_KDF = KdfParams.owasp_minimum()


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


devnet_process = _load(ROOT / "packages/citrate-node/tests/devnet_process.py", "_agent_devnet")


@pytest.fixture(scope="session")
def agent_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A `citrate devnet --block-time 0` process with its content store."""
    with devnet_process.Devnet(
        tmp_path_factory.mktemp("agent-devnet"), "--block-time", "0"
    ) as node:
        yield node


@pytest.fixture(scope="session")
def dev_wallet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wallet of the development phrase (accounts 0-2 funded by the devnet)."""
    directory = tmp_path_factory.mktemp("agent-wallet") / "wallet"
    Wallet(directory, kdf=FAST_KDF).recover(DEV_PHRASE, DEV_PASSWORD, accounts=3)
    return directory


@pytest.fixture
def agent_ctx(agent_devnet: Any, dev_wallet_dir: Path, tmp_path: Path) -> Iterator[Any]:
    """A tool context on the devnet, acting as development account 0, wallet unlocked."""
    from citrate_agent.session import open_context

    ctx = open_context(
        data_dir=tmp_path / "home",
        rpc_url=agent_devnet.url,
        ipfs_url=f"http://127.0.0.1:{agent_devnet.ipfs_port}",
        wallet_dir=dev_wallet_dir,
        kdf=FAST_KDF,
        workspace=tmp_path / "workspace",
    )
    ctx.require_wallet().unlock(DEV_PASSWORD)
    yield ctx
    ctx.close()


@pytest.fixture(scope="session")
def registry() -> Any:
    from citrate_agent.tools import default_registry

    return default_registry()


@pytest.fixture
def run_tool(registry: Any, agent_ctx: Any) -> Callable[..., Any]:
    """`run_tool(name, **args)`: validate and run a tool as the agent would."""
    from citrate_agent.tools import call_tool

    def run(tool: str, /, **args: Any) -> Any:
        return call_tool(registry, agent_ctx, tool, args)

    return run


@pytest.fixture
def approve(agent_ctx: Any) -> Callable[..., dict[str, Any]]:
    """`approve(action)`: execute a prepared action as if the user approved it."""
    from citrate_agent.actions import execute

    def run(action: Any, **kw: Any) -> dict[str, Any]:
        return execute(agent_ctx, action.id, **kw)

    return run


@pytest.fixture(scope="session")
def scripted_model() -> Iterator[Any]:
    """A SCRIPTED MODEL (test double of an LLM) behind the OpenAI wire format; see its module."""
    module = _load(ROOT / "tests/integration/scripted_llm.py", "_scripted_llm")
    server = module.ScriptedModel()
    yield server
    server.close()
