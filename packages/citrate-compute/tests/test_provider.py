"""The provider agent's own decisions and records (the chain-driven loop runs in
`tests/e2e/compute/` against a real devnet): configuration checks, the bid decision, the
persisted state."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citrate_compute.content import ContentClient
from citrate_compute.devices import CpuBackend
from citrate_compute.executors import LocalExecutor
from citrate_compute.jobs import JobType
from citrate_compute.market import (
    MIN_PROVIDER_STAKE,
    Job,
    JobState,
    MarketClient,
    WalletSigner,
    model_id,
)
from citrate_compute.provider import (
    DEFAULT_COST,
    DEFAULT_MEMORY,
    ProviderAgent,
    ProviderConfig,
    ProviderError,
    ProviderJob,
    ProviderState,
    Skip,
)
from citrate_compute.resources import GPUResourceManager
from citrate_crypto import KdfParams, Wallet

DEV_PHRASE = "test test test test test test test test test test test junk"
PASSWORD = "Correct-Horse-Battery-9"
ME = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SOMEONE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NOW = 1_000_000


def _config(**overrides: Any) -> ProviderConfig:
    config = ProviderConfig(**overrides)
    config.serve("gemma-3-270m")
    return config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"allocation_percent": 101}, "allocation `101` % is not between 0 and 100"),
        ({"stake": MIN_PROVIDER_STAKE - 1}, "at least 1,000 SALT"),
        ({"job_types": frozenset()}, "serve at least one job type"),
        ({"max_concurrent_jobs": 0}, "max concurrent jobs `0`"),
        ({"verification_share": 1.5}, "verification share `1.5`"),
        ({"costs": {JobType.INFERENCE: -1}}, "cost of inference jobs is negative"),
    ],
)
def test_unusable_configurations_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        _config(**overrides).validate()


def test_models_are_served_under_their_onchain_ids() -> None:
    config = ProviderConfig()
    with pytest.raises(ProviderError, match="serve at least one model"):
        config.validate()
    registry_id = "0x" + "ab" * 32
    assert config.serve("gemma-3-270m") == model_id("gemma-3-270m")
    assert config.serve("big", registry_id, memory=123) == bytes.fromhex("ab" * 32)
    assert config.models == {model_id("gemma-3-270m"): "gemma-3-270m", model_id(registry_id): "big"}
    assert config.memory_for(JobType.INFERENCE, "big") == 123
    assert config.memory_for(JobType.EMBEDDING, "x") == DEFAULT_MEMORY[JobType.EMBEDDING]
    service = config.service()
    assert service.mask == JobType.INFERENCE.bit | JobType.EMBEDDING.bit
    assert set(service.models) == set(config.models)
    config.validate()


# ------------------------------------------------------------------------------ state


def test_state_is_saved_privately_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "compute" / "provider-x.json"
    state = ProviderState(path)
    state.jobs[3] = ProviderJob(
        3, "committed", nonce="0x" + "01" * 32, output_hash="0x" + "02" * 32
    )
    state.skips[4] = Skip("unknown model 0x00", True)
    state.earned_total = 10**30
    state.latency["inference"] = 1234.5
    state.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    again = ProviderState(path)
    assert again.jobs[3].nonce == "0x" + "01" * 32 and again.jobs[3].status == "committed"
    assert again.skips[4].reason == "unknown model 0x00" and again.skips[4].permanent
    assert again.earned_total == 10**30 and again.latency == {"inference": 1234.5}


def test_a_damaged_state_file_is_an_error_that_says_what_is_at_stake(tmp_path: Path) -> None:
    path = tmp_path / "provider.json"
    path.write_text("{not json")
    with pytest.raises(ProviderError, match="cannot read the provider state") as damaged:
        ProviderState(path)
    assert damaged.value.hint is not None and "cannot be revealed" in damaged.value.hint
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(ProviderError, match="state version 99"):
        ProviderState(path)


# ------------------------------------------------------------------------------ bidding


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> Wallet:
    wallet = Wallet(
        tmp_path_factory.mktemp("provider-wallet") / "wallet", kdf=KdfParams.owasp_minimum()
    )
    wallet.recover(DEV_PHRASE, PASSWORD)
    return wallet


@pytest.fixture
def agent(wallet: Wallet, local_executor: LocalExecutor, tmp_path: Path) -> Iterator[ProviderAgent]:
    """An agent whose node is down: the decisions below never reach the chain."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    market = MarketClient(
        f"http://127.0.0.1:{port}", signer=WalletSigner(wallet=wallet), address="0x" + "11" * 20
    )
    content = ContentClient(f"http://127.0.0.1:{port}")
    resources = GPUResourceManager(CpuBackend(), job_types=JobType.INFERENCE.bit)
    config = _config(job_types=frozenset({JobType.INFERENCE}), state_dir=tmp_path)
    agent = ProviderAgent(market, content, resources, local_executor, config)
    yield agent
    agent.close()
    resources.close()
    content.close()
    market.close()


def _job(**overrides: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": 9,
        "requester": SOMEONE,
        "state": JobState.OPEN,
        "job_type": JobType.INFERENCE,
        "verification_tier": 1,
        "timeout_slash_bps": 500,
        "wrong_result_slash_bps": 1000,
        "provider": "0x" + "00" * 20,
        "exec_window": 600,
        "reveal_window": 3600,
        "challenge_window": 3600,
        "disputer": "0x" + "00" * 20,
        "arbitration_window": 7 * 86400,
        "posted_at": NOW - 10,
        "bid_deadline": NOW + 50,
        "exec_deadline": 0,
        "reveal_deadline": 0,
        "challenge_deadline": 0,
        "arbitration_deadline": 0,
        "model_id": model_id("gemma-3-270m"),
        "input_hash": b"\x01" * 32,
        "max_price": 10**17,
        "price": 0,
        "commitment": bytes(32),
        "output_hash": bytes(32),
    }
    fields.update(overrides)
    return Job(**fields)


def test_it_bids_its_cost_with_its_latency_estimate(agent: ProviderAgent) -> None:
    assert agent.address == ME
    assert agent.evaluate(_job(), NOW) == (DEFAULT_COST[JobType.INFERENCE], 20_000)
    # History replaces the configured estimate.
    agent._learn_latency(JobType.INFERENCE, 3.0)
    assert agent.estimated_latency_ms(JobType.INFERENCE) == 3000
    assert agent.evaluate(_job(), NOW) == (DEFAULT_COST[JobType.INFERENCE], 3000)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"state": JobState.ASSIGNED}, "the job is assigned"),
        ({"bid_deadline": NOW - 1}, "bidding closed"),
        ({"requester": ME}, "this provider posted the job"),
        ({"job_type": JobType.EMBEDDING}, "does not serve embedding jobs"),
        ({"model_id": b"\x07" * 32}, "unknown model 0x" + "07" * 32),
        (
            {"max_price": 10**15 - 1},
            "max price 0.000999999999999999 SALT is below this provider's cost 0.001 SALT",
        ),
        ({"exec_window": 59}, "cannot finish within the 59 s execution window"),
    ],
)
def test_jobs_it_cannot_serve_are_skipped_with_the_reason(
    agent: ProviderAgent, overrides: dict[str, Any], reason: str
) -> None:
    verdict = agent.evaluate(_job(**overrides), NOW)
    assert isinstance(verdict, Skip) and verdict.permanent
    assert verdict.reason.startswith(reason), verdict.reason


def test_a_cost_above_the_price_is_never_bid_and_never_undercut(agent: ProviderAgent) -> None:
    agent.config.costs[JobType.INFERENCE] = 10**16
    assert agent.evaluate(_job(max_price=10**16), NOW) == (10**16, 20_000)
    assert isinstance(agent.evaluate(_job(max_price=10**16 - 1), NOW), Skip)


def test_a_job_that_ends_on_chain_while_waiting_for_a_slot_leaves_nothing_behind() -> None:
    """A job queued for a slot that times out on chain meanwhile must not be placed later,
    holding memory and the slot for nothing (the next job would then miss its deadline).
    The market and the executor are test doubles: only their answers matter here."""
    from concurrent.futures import Future

    from citrate_compute.market import Job, JobState, model_id
    from citrate_compute.provider import ProviderJob, StepReport
    from citrate_compute.sandbox import TaskResult, TaskSpec

    def job(jid: int, state: JobState) -> Job:
        z = b"\0" * 32
        return Job(jid, SOMEONE, state, JobType.INFERENCE, 1, 500, 1000, ME, 600, 300, 300,
                   "0x" + "00" * 20, 300, NOW - 100, NOW - 10, NOW + 500, NOW + 800, 0, 0,
                   model_id("gemma-3-270m"), z, 10**18, 10**15, z, z)  # fmt: skip

    class Market:
        account = ME

        def __init__(self) -> None:
            self.jobs: dict[int, Job] = {}

        def job(self, jid: int) -> Job:
            return self.jobs[jid]

    class Executor:
        def __init__(self) -> None:
            self.futures: dict[str, Future[TaskResult]] = {}

        def submit(self, spec: TaskSpec) -> Future[TaskResult]:
            self.futures[spec.job_id] = Future()
            return self.futures[spec.job_id]

        def cancel(self, job_id: str) -> bool:
            return True

    config = ProviderConfig(max_concurrent_jobs=2)
    config.serve("gemma-3-270m")
    resources = GPUResourceManager(CpuBackend(), allocations=100, max_jobs=1)
    market, executor = Market(), Executor()
    agent = ProviderAgent(market, None, resources, executor, config)  # type: ignore[arg-type]
    doc = json.dumps({"prompt": "hi", "max_tokens": 8}).encode()
    report = StepReport()

    def assigned(jid: int, at: int) -> None:
        market.jobs[jid] = job(jid, JobState.ASSIGNED)
        agent.state.jobs[jid] = ProviderJob(jid, "assigned")
        agent._inputs[jid] = doc
        agent._advance(jid, agent.state.jobs[jid], at, report)

    assigned(1, NOW)
    assigned(2, NOW)  # waits: one job at a time
    assert agent.state.jobs[1].status == "running" and agent.state.jobs[2].status == "assigned"
    market.jobs[2] = job(2, JobState.TIMED_OUT)
    agent._advance(2, agent.state.jobs[2], NOW + 5, report)
    assert agent.state.jobs[2].status == "timed_out" and resources.job("2") is None

    executor.futures["1"].set_result(TaskResult("1", False, None, "boom", 1, 1.0))
    agent._advance(1, agent.state.jobs[1], NOW + 10, report)
    assigned(3, NOW + 20)
    assert agent.state.jobs[3].status == "running"
    assert resources.ledger("cpu0")["running"] == 1 and resources.job("3") is not None
    resources.check()
