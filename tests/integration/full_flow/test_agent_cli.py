"""`citrate agent tool`, `config` and `chat` as a user runs them, against a real devnet.

The commands run as real processes (`python -m citrate_crypto agent …`, the `citrate`
entry point). The chat uses the saved settings and the provider registry exactly as a user's
would, pointed at the SCRIPTED MODEL (a test double of an LLM speaking the OpenAI wire format)
as an OpenAI-compatible endpoint.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from citrate_agent.config import AgentSettings, ProviderSettings, load_settings, save_settings

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def home(dev_wallet_dir: Path, tmp_path: Path) -> Path:
    """A data directory holding a copy of the development wallet."""
    shutil.copytree(dev_wallet_dir, tmp_path / "home" / "wallet")
    return tmp_path / "home"


def agent_cli(
    home: Path, devnet: Any, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citrate_crypto", "agent", *args, "--data-dir", str(home)]
        + (
            ["--rpc-url", devnet.url, "--ipfs-url", f"http://127.0.0.1:{devnet.ipfs_port}"]
            if args[0] == "tool"
            else []
        ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
    )


def balance_of(devnet: Any, address: str) -> int:
    return int(devnet.rpc_raw("eth_getBalance", [address, "latest"])["result"], 16)


def test_tool_prints_json(home: Path, agent_devnet: Any) -> None:
    done = agent_cli(home, agent_devnet, "tool", "balance")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert int(result["balance_wei"]) == balance_of(agent_devnet, result["address"])


def test_value_moves_only_with_approval(home: Path, agent_devnet: Any) -> None:
    to = "0x" + secrets.token_hex(20)
    args = json.dumps({"to": to, "amount": "0.25"})
    # Declined at the prompt: nothing sent, exit 1, the summary was shown.
    declined = agent_cli(
        home, agent_devnet, "tool", "send_transaction", "--args", args, stdin="n\n"
    )
    assert declined.returncode == 1
    assert "Send 0.25 SALT" in declined.stderr and "network fee" in declined.stderr
    assert json.loads(declined.stdout)["error"]["type"] == "approval"
    assert balance_of(agent_devnet, to) == 0
    # A wrong password: nothing sent.
    wrong = agent_cli(
        home,
        agent_devnet,
        "tool",
        "send_transaction",
        "--args",
        args,
        "--yes",
        "--password-stdin",
        stdin="Not-The-Password-1\n",
    )
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    assert PASSWORD not in wrong.stdout + wrong.stderr
    assert balance_of(agent_devnet, to) == 0
    # Approved with the password: exactly the amount arrives.
    sent = agent_cli(
        home,
        agent_devnet,
        "tool",
        "send_transaction",
        "--args",
        args,
        "--yes",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["tx_hash"].startswith("0x")
    assert balance_of(agent_devnet, to) == 25 * 10**16


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["tool", "no_such_tool"], "unknown_tool"),
        (["tool", "balance", "--args", "{bad json"], None),
        (
            [
                "tool",
                "send_transaction",
                "--args",
                '{"to": "0x70997970c51812dc3A010C7d01b50e0d17dc79C8", "amount": "1"}',
            ],
            "invalid_arguments",
        ),
    ],
)
def test_tool_errors(home: Path, agent_devnet: Any, args: list[str], kind: str | None) -> None:
    done = agent_cli(home, agent_devnet, *args)
    assert done.returncode == 1
    assert done.stderr.startswith("error:")
    assert "Traceback" not in done.stderr
    if kind is not None:
        assert json.loads(done.stdout)["error"]["type"] == kind


def test_node_down_is_explained(home: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "citrate_crypto",
            "agent",
            "tool",
            "node_status",
            "--data-dir",
            str(home),
            "--rpc-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "node_unreachable" and "citrate devnet" in error["hint"]


def test_config_set_checks_before_writing(home: Path, agent_devnet: Any) -> None:
    assert agent_cli(home, agent_devnet, "config", "set", "spending_limit", "5").returncode == 0
    assert load_settings(home).spending_limit == "5"
    path = home / "agent" / "config.json"
    before = path.read_bytes()
    for key, value in [
        ("spending_limit", "lots"),
        ("max_steps", "abc"),
        ("nope", "1"),
        ("provider_order", '["openai", "openai"]'),
    ]:
        done = agent_cli(home, agent_devnet, "config", "set", key, value)
        assert done.returncode == 1 and done.stderr.startswith("error:"), (key, done.stderr)
    assert path.read_bytes() == before
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.fixture
def chat_home(home: Path, agent_devnet: Any, scripted_model: Any) -> Iterator[Path]:
    settings = AgentSettings(
        rpc_url=agent_devnet.url,
        ipfs_url=f"http://127.0.0.1:{agent_devnet.ipfs_port}",
        provider_order=["openai-compatible", "local"],
    )
    settings.providers["openai-compatible"] = ProviderSettings(
        model="scripted", base_url=scripted_model.url + "/v1", enabled=True
    )
    save_settings(settings, home)
    yield home


def test_chat_sends_after_approval(chat_home: Path, agent_devnet: Any) -> None:
    from citrate_agent.chat import run_chat

    to = "0x" + secrets.token_hex(20)
    lines = iter(
        ["/help", "What is my balance?", f"Send 0.5 SALT to {to}", "y", "/pending", "/quit"]
    )
    secrets_asked: list[str] = []
    out = Console(record=True, width=200)
    err = Console(record=True, width=200, stderr=True)

    def read_secret(prompt: str) -> str:
        secrets_asked.append(prompt)
        return PASSWORD

    run_chat(
        data_dir=chat_home,
        rpc_url=None,
        ipfs_url=None,
        address=None,
        conversation_id=None,
        out=out,
        err=err,
        read_line=lambda _: next(lines),
        read_secret=read_secret,
    )
    text = out.export_text()
    assert "/approve ID" in text  # the help
    assert "Your balance is " in text
    assert "Waiting for your approval" in text and "Done: Send 0.5 SALT" in text
    assert "nothing is waiting for approval" in text
    assert secrets_asked == ["Wallet password: "]  # asked once, to unlock for the approval
    assert balance_of(agent_devnet, to) == 5 * 10**17
    saved = list((chat_home / "agent" / "conversations").glob("*.json"))
    assert len(saved) == 1 and PASSWORD not in saved[0].read_text()
    assert PASSWORD not in (chat_home / "agent" / "audit.jsonl").read_text()
