"""`citrate compute …` as users run it, against the devnet: a provider process that is killed
mid-job, and a requester driving a job from the command line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citrate_compute.jobs import JobType
from citrate_compute.market import MIN_PROVIDER_STAKE, JobState, MarketClient
from citrate_compute.provider import ProviderAgent, ProviderConfig
from citrate_compute.requester import RequesterClient
from conftest import DEV_PASSWORD, HERE, REQUESTER, Chain, read_state

pytestmark = pytest.mark.slow
CITRATE = str(Path(sys.executable).with_name("citrate"))


def citrate(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`citrate compute ARGS` as a process, as users run it (each start imports every
    command group: seconds, so most tests call the app in-process with `compute`)."""
    return subprocess.run(
        [CITRATE, "compute", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def compute(*args: str, stdin: str = "") -> Any:
    """`citrate compute ARGS` in this process (Typer's runner; stdout and stderr apart)."""
    from typer.testing import CliRunner

    from citrate_compute.cli import app

    return CliRunner().invoke(app, list(args), input=stdin)


def test_provider_start_refuses_a_small_stake_before_touching_the_chain(
    devnet: Any, wallet_dir: Path, addresses: list[str], chain: Chain
) -> None:
    me = addresses[3]
    nonce, balance = chain.nonce(me), chain.balance(me)
    run = citrate(
        "provider", "start", "--stake", "999", "--rpc", devnet.url, "--from", me,
        "--data-dir", str(wallet_dir), "--password-stdin", "--yes",
        stdin=DEV_PASSWORD + "\n",
    )  # fmt: skip
    assert run.returncode == 1
    assert "error: a provider stake must be at least 1,000 SALT (this one is 999 SALT)" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr and DEV_PASSWORD not in run.stderr + run.stdout
    assert chain.nonce(me) == nonce and chain.balance(me) == balance


def test_a_provider_killed_mid_job_is_timed_out_and_the_requester_refunded(
    devnet: Any,
    ipfs_url: str,
    wallet_dir: Path,
    addresses: list[str],
    requester: RequesterClient,
    market_for: Callable[[int], MarketClient],
    chain: Chain,
    executor: Any,
    tmp_path: Path,
) -> None:
    me = addresses[6]
    model = "gemma-3-270m/killed-mid-job"
    log = tmp_path / "provider.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                CITRATE, "compute", "provider", "start", "--allocation", "50",
                "--rpc", devnet.url, "--ipfs", ipfs_url, "--from", me,
                "--data-dir", str(wallet_dir), "--password-stdin", "--yes",
                "--type", "inference", "--model", f"gemma-3-270m={model}",
                "--handler", "inference=e2e_handlers:slow", "--handler-path", str(HERE),
                "--devices", "cpu", "--poll", "0.2",
            ],
            stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(DEV_PASSWORD + "\n")
        proc.stdin.close()
        state_file = wallet_dir / "compute" / f"provider-{me.lower()}.json"
        try:
            sub = requester.submit(
                "inference", model, prompt="take your time", max_price=10**16, exec_window=60
            )
            deadline = time.monotonic() + 60
            while not requester.market.bids(sub.job_id):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            requester.assign(sub.job_id)
            while (
                not state_file.exists()
                or read_state(state_file)["jobs"].get(str(sub.job_id), {}).get("status")
                != "running"
            ):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    assert "registered as a provider" in log.read_text()
    assert "running gemma-3-270m" in log.read_text()
    assert stat_mode(state_file) == 0o600

    job = requester.market.job(sub.job_id)
    assert job.state == JobState.ASSIGNED and job.provider == me
    chain.advance(61)
    credit = requester.market.credit_of(addresses[REQUESTER])
    timed_out = requester.timeout(sub.job_id).event("JobTimedOut").args
    slashed = MIN_PROVIDER_STAKE * 500 // 10_000
    assert timed_out["slashed"] == slashed
    assert requester.market.credit_of(addresses[REQUESTER]) - credit == 10**16 + slashed

    # Restarted, the provider reads its state, records the timeout, and (its stake slashed
    # below the minimum) stops bidding with the reason instead of failing.
    from citrate_compute.content import ContentClient
    from citrate_compute.devices import CpuBackend
    from citrate_compute.resources import GPUResourceManager

    config = ProviderConfig(
        job_types=frozenset({JobType.INFERENCE}), state_dir=wallet_dir / "compute"
    )
    config.serve("gemma-3-270m", model)
    resources = GPUResourceManager(CpuBackend(), job_types=JobType.INFERENCE.bit)
    with ContentClient(ipfs_url) as content:
        agent = ProviderAgent(market_for(6), content, resources, executor, config)
        try:
            assert agent.state.jobs[sub.job_id].status == "running"
            report = agent.run_once()
            assert agent.state.jobs[sub.job_id].status == "timed_out"
            assert any("stake is 950 SALT, below the minimum" in e for e in report.errors)
        finally:
            agent.close()
            resources.close()


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_requester_runs_a_job_from_the_command_line(
    devnet: Any,
    ipfs_url: str,
    wallet_dir: Path,
    addresses: list[str],
    provider_for: Callable[..., Any],
    chain: Chain,
) -> None:
    provider = provider_for(9, handler="e2e_handlers:upper", state_dir=wallet_dir / "compute")
    me = addresses[REQUESTER]
    common = ["--rpc", devnet.url, "--from", me, "--data-dir", str(wallet_dir)]
    nonce = chain.nonce(me)

    # Not approved: nothing is sent.
    run = compute(
        "submit", "--type", "inference", "--model", provider.model, "--prompt", "shout this",
        "--max-price", "0.01", "--ipfs", ipfs_url, *common, "--password-stdin",
        stdin="n\n" + DEV_PASSWORD + "\n",
    )  # fmt: skip
    assert run.exit_code == 1 and "escrow: 0.01 SALT" in run.stderr
    assert "not approved; nothing was sent" in run.stderr
    assert chain.nonce(me) == nonce

    run = compute(
        "submit", "--type", "inference", "--model", provider.model, "--prompt", "shout this",
        "--max-price", "0.01", "--ipfs", ipfs_url, *common, "--password-stdin", "--json",
        stdin="y\n" + DEV_PASSWORD + "\n",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    job_id = json.loads(run.stdout)["job_id"]

    provider.step()
    run = compute("assign", str(job_id), *common, "--password-stdin", stdin=DEV_PASSWORD + "\n")
    assert run.exit_code == 0, run.stderr
    provider.until(lambda: provider.job(job_id).status == "revealed")

    run = compute("status", str(job_id), "--rpc", devnet.url, "--ipfs", ipfs_url, "--json")
    assert run.exit_code == 0, run.stderr
    status = json.loads(run.stdout)
    assert status["job"]["state"] == "revealed" and status["job"]["provider"] == provider.address
    assert status["output"] == {"model": "gemma-3-270m", "text": "SHOUT THIS"}

    run = compute("result", str(job_id), "--rpc", devnet.url, "--ipfs", ipfs_url)
    assert run.exit_code == 0 and json.loads(run.stdout)["text"] == "SHOUT THIS"

    run = compute(
        "complete", str(job_id), *common, "--password-stdin", stdin="y\n" + DEV_PASSWORD + "\n"
    )
    assert run.exit_code == 0, run.stderr
    assert "pay 0.001 SALT" in run.stderr and "provider " + provider.address in run.stderr
    assert chain_state(devnet, job_id) == JobState.COMPLETED

    provider.step()  # claims its share
    run = compute("provider", "status", "--rpc", devnet.url, "--from", provider.address,
                  "--data-dir", str(wallet_dir), "--json")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["provider"]["jobs_completed"] == 1 and doc["earned_total"] == str(950 * 10**12)
    assert doc["jobs"].get("completed") == 1
    # What the running agent saw at its last step: the device ledger, not a guess.
    (device,) = doc["live"]["resources"]["devices"]
    assert device["id"] == "cpu0" and device["kind"] == "cpu"
    assert device["reserved"] == 0 and device["running"] == []
    assert doc["live"]["executor"]["sandbox"]["isolation"]["protects_files"] is True
    run = compute("provider", "status", "--rpc", devnet.url, "--from", provider.address,
                  "--data-dir", str(wallet_dir))  # fmt: skip
    assert "cpu0 (cpu): 50 % lent" in run.stdout and "isolation: uid" in run.stdout

    run = compute("withdraw", *common, "--yes", "--password-stdin", stdin=DEV_PASSWORD + "\n")
    assert run.exit_code == 0, run.stderr


def chain_state(devnet: Any, job_id: int) -> JobState:
    with MarketClient(devnet.url) as market:
        return market.job(job_id).state
