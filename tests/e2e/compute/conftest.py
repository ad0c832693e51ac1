"""Fixtures of the compute e2e suite: a real devnet, real wallets, real sandboxed execution.

Everything is real: `citrate devnet --block-time 0` runs as a process (its content store
included), accounts sign through the Citrate wallet (the development phrase, sealed on disk
with cheap KDF parameters), jobs run in the sandbox through the local executor, and memory is
admitted by the resource manager on the CPU device.

Each test isolates itself by model id: the provider serves a local model under an on-chain id
made from the test's own name (`model_id("gemma-3-270m/<test>")`), so its providers never bid
on another test's jobs on the shared chain. Accounts (development indexes): 1 requester, 2-7
providers (one per test: registration is for good), 8 verifier, 20 admin and arbiter, 21
treasury, 22 routing pool.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from citrate_compute.content import ContentClient
from citrate_compute.devices import CpuBackend
from citrate_compute.executors import LocalExecutor
from citrate_compute.jobs import JobType
from citrate_compute.market import MarketClient, WalletSigner
from citrate_compute.provider import ProviderAgent, ProviderConfig
from citrate_compute.requester import RequesterClient
from citrate_compute.resources import GPUResourceManager
from citrate_compute.sandbox import SandboxConfig
from citrate_crypto import KdfParams, Wallet

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DEV_PHRASE = "test test test test test test test test test test test junk"
DEV_PASSWORD = "Correct-Horse-Battery-9"
FAST_KDF = KdfParams.owasp_minimum()
REQUESTER, ADMIN, TREASURY, POOL, VERIFIER = 1, 20, 21, 22, 8

sys.path.insert(0, str(HERE))
import e2e_handlers  # noqa: E402


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


devnet_process = _load(ROOT / "packages/citrate-node/tests/devnet_process.py", "_compute_devnet")


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A `citrate devnet --block-time 0` process with its content store."""
    with devnet_process.Devnet(
        tmp_path_factory.mktemp("compute-devnet"), "--block-time", "0"
    ) as node:
        yield node


@pytest.fixture(scope="session")
def wallet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Citrate data dir whose wallet holds development accounts 0-22."""
    data = tmp_path_factory.mktemp("compute-data")
    Wallet(data / "wallet", kdf=FAST_KDF).recover(DEV_PHRASE, DEV_PASSWORD, accounts=23)
    return data


@pytest.fixture(scope="session")
def wallet(wallet_dir: Path) -> Wallet:
    return Wallet(wallet_dir / "wallet", kdf=FAST_KDF)


@pytest.fixture(scope="session")
def addresses(wallet: Wallet) -> list[str]:
    return [a.address for a in wallet.accounts()]


@pytest.fixture(scope="session")
def ipfs_url(devnet: Any) -> str:
    return f"http://127.0.0.1:{devnet.ipfs_port}"


@pytest.fixture
def market_for(
    devnet: Any, wallet: Wallet, addresses: list[str]
) -> Iterator[Callable[[int], MarketClient]]:
    """`market_for(i)`: a ComputeMarket client signing as development account i (unlocked)."""
    opened: list[MarketClient] = []

    def make(index: int) -> MarketClient:
        signer = WalletSigner(wallet=wallet, address=addresses[index])
        signer.unlock(DEV_PASSWORD)
        market = MarketClient(devnet.url, signer=signer)
        opened.append(market)
        return market

    yield make
    for market in opened:
        market.close()


@pytest.fixture
def content(ipfs_url: str) -> Iterator[ContentClient]:
    with ContentClient(ipfs_url) as client:
        yield client


@pytest.fixture
def requester(market_for: Callable[[int], MarketClient], content: ContentClient) -> RequesterClient:
    return RequesterClient(market_for(REQUESTER), content)


@pytest.fixture(scope="session")
def executor() -> Iterator[LocalExecutor]:
    """One local executor (real sandbox) shared by the suite's providers and verifiers."""
    config = SandboxConfig(extra_sys_path=(HERE,), allowed_handlers=e2e_handlers.ALLOWED)
    with LocalExecutor(4, config=config) as running:
        yield running


class Chain:
    """Direct reads and time travel on the devnet (raw JSON-RPC, not the client under test)."""

    def __init__(self, devnet: Any) -> None:
        self.devnet = devnet

    def balance(self, address: str) -> int:
        return int(self.devnet.rpc("eth_getBalance", address, "latest"), 16)

    def nonce(self, address: str) -> int:
        return int(self.devnet.rpc("eth_getTransactionCount", address, "pending"), 16)

    def fee(self, tx_hash: str) -> int:
        receipt = self.devnet.rpc("eth_getTransactionReceipt", tx_hash)
        return int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)

    def advance(self, seconds: int) -> None:
        self.devnet.rpc("evm_increaseTime", seconds)
        self.devnet.rpc("evm_mine")


@pytest.fixture(scope="session")
def chain(devnet: Any) -> Chain:
    return Chain(devnet)


@dataclass
class RunningProvider:
    agent: ProviderAgent
    resources: GPUResourceManager
    model: str  # the model name requesters use (its id is the test's own)
    address: str

    def step(self) -> Any:
        return self.agent.run_once()

    def until(self, done: Callable[[], bool], timeout: float = 90.0) -> None:
        """Step until `done()`; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"provider state: {self.agent.status()}"
            self.agent.run_once()
            time.sleep(0.1)

    def job(self, job_id: int) -> Any:
        return self.agent.state.jobs.get(job_id)


@pytest.fixture
def provider_for(
    request: pytest.FixtureRequest,
    market_for: Callable[[int], MarketClient],
    ipfs_url: str,
    executor: LocalExecutor,
    tmp_path: Path,
) -> Iterator[Callable[..., RunningProvider]]:
    """`provider_for(i, handler=None, **config)`: a provider agent for development account i
    serving this test's model (`gemma-3-270m` locally) for inference jobs."""
    made: list[tuple[RunningProvider, ContentClient]] = []

    def make(
        index: int,
        *,
        handler: str | None = None,
        model: str | None = None,
        state_dir: Path | None = None,
        **overrides: Any,
    ) -> RunningProvider:
        name = model or f"gemma-3-270m/{request.node.name}"
        config = ProviderConfig(
            job_types=frozenset({JobType.INFERENCE}),
            state_dir=state_dir or tmp_path / f"provider-{index}",
            **overrides,
        )
        config.serve("gemma-3-270m", name)
        if handler is not None:
            config.handlers[JobType.INFERENCE] = handler
            config.model_memory["gemma-3-270m"] = 256 * 1024**2
        resources = GPUResourceManager(
            CpuBackend(),
            allocations=config.allocation_percent,
            max_jobs=config.max_concurrent_jobs,
            job_types=JobType.INFERENCE.bit,
            throttle=executor,
        )
        content = ContentClient(ipfs_url)
        market = market_for(index)
        agent = ProviderAgent(market, content, resources, executor, config)
        running = RunningProvider(agent, resources, name, market.account)
        made.append((running, content))
        return running

    yield make
    for running, content in made:
        running.agent.close()
        running.resources.check()
        running.resources.close()
        content.close()


def read_state(path: Path) -> dict[str, Any]:
    """A provider's state file, as another process (a status command) reads it."""
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc
