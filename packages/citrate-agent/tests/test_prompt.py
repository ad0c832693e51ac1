"""The system prompt: Citrate's facts, every tool, the user's level and the live context."""

from __future__ import annotations

from pathlib import Path

import pytest

from citrate_agent.chain import ChainClient
from citrate_agent.config import SKILL_LEVELS, AgentSettings
from citrate_agent.prompt import LEVELS, LiveContext, system_prompt
from citrate_agent.tools import ToolContext, default_registry


@pytest.mark.parametrize("level", SKILL_LEVELS)
def test_prompt_names_citrate_the_tools_and_the_level(level: str, tmp_path: Path) -> None:
    ctx = ToolContext(
        chain=ChainClient("http://127.0.0.1:9"),
        settings=AgentSettings(skill_level=level),
        data_dir=tmp_path,
    )
    live = LiveContext(
        network="Citrate devnet (local)",
        chain_id=1337,
        block_height=42,
        blue_score=41,
        node_status="connected",
        wallet_address="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        wallet_balance="9999.5",
        models=["gemma3-270m (local)"],
    )
    text = system_prompt(ctx, default_registry(), live)
    assert "k = 18" in text and "SALT, 18 decimals" in text
    assert LEVELS[level].strip() in text
    assert all(other.strip() not in text for name, other in LEVELS.items() if name != level)
    for tool in default_registry():
        assert f"- {tool.name}" in text
    assert "- send_transaction (needs approval):" in text
    assert "- balance:" in text
    assert "Block height: 42, blue score: 41" in text
    assert "Balance: 9999.5 SALT" in text and "gemma3-270m (local)" in text
