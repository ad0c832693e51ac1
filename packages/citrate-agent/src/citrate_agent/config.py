"""The agent's settings: where the node and store are, limits, providers (never their keys).

Kept in `DATA_DIR/agent/config.json` (0600, written atomically). API keys live in the wallet's
secret store (`citrate wallet secret set openai`), so this file holds nothing secret.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from citrate_agent.chain import DEFAULT_RPC_URL
from citrate_agent.errors import AgentError
from citrate_agent.units import parse_amount, salt
from citrate_crypto._files import atomic_write, ensure_private_dir
from citrate_crypto.paths import data_dir as _data_dir

CONFIG_FILE = "config.json"
PROVIDER_NAMES = ("openai", "anthropic", "openai-compatible", "local")
SKILL_LEVELS = ("beginner", "intermediate", "advanced")
#: Programs `execute_command` may run by default. Interpreters, package managers and build
#: tools (python, node, npm, make, cargo, git with its hooks) are left out on purpose: each can
#: run arbitrary code that ignores the workspace rules. Users add them knowingly.
DEFAULT_COMMANDS = (
    "ls",
    "cat",
    "head",
    "tail",
    "wc",
    "grep",
    "echo",
    "pwd",
    "date",
    "mkdir",
    "touch",
    "cp",
    "mv",
    "diff",
    "sha256sum",
    "stat",
)


@dataclass
class ProviderSettings:
    """One LLM provider. `model` is the model name the provider serves."""

    model: str
    base_url: str | None = None
    enabled: bool = True


def _default_providers() -> dict[str, ProviderSettings]:
    return {
        "openai": ProviderSettings(model="gpt-4o-mini"),
        "anthropic": ProviderSettings(model="claude-haiku-4-5"),
        "openai-compatible": ProviderSettings(model="", base_url=None, enabled=False),
        "local": ProviderSettings(model="gemma3-270m"),
    }


@dataclass
class AgentSettings:
    """Everything the agent reads at start and on every message.

    Amounts are SALT decimal strings, as users write them.
    """

    rpc_url: str = DEFAULT_RPC_URL
    ipfs_url: str = "http://127.0.0.1:5001"
    workspace: str | None = None  # default: DATA_DIR/agent/workspace
    models_dir: str | None = None  # default: DATA_DIR/models
    spending_limit: str = "100"  # SALT per session, value plus gas
    approval_ttl_seconds: float = 600.0
    tool_timeout_seconds: float = 60.0
    max_steps: int = 8
    skill_level: str = "beginner"
    provider_order: list[str] = field(default_factory=lambda: list(PROVIDER_NAMES))
    providers: dict[str, ProviderSettings] = field(default_factory=_default_providers)
    commands: list[str] = field(default_factory=lambda: list(DEFAULT_COMMANDS))
    command_timeout_seconds: float = 20.0
    command_output_limit: int = 64 * 1024

    @property
    def spending_limit_wei(self) -> int:
        return parse_amount(self.spending_limit)

    def check(self) -> None:
        """Raise `AgentError` naming the first setting that makes no sense."""
        if self.skill_level not in SKILL_LEVELS:
            raise AgentError(
                f"`{self.skill_level}` is not a skill level",
                hint=f"use one of {', '.join(SKILL_LEVELS)}",
            )
        unknown = [p for p in self.provider_order if p not in PROVIDER_NAMES]
        if unknown or len(set(self.provider_order)) != len(self.provider_order):
            raise AgentError(
                f"the provider order `{','.join(self.provider_order)}` is not valid",
                hint=f"list each of {', '.join(PROVIDER_NAMES)} at most once",
            )
        self.spending_limit_wei  # noqa: B018 - parses or raises
        if self.max_steps < 1 or self.max_steps > 50:
            raise AgentError(f"`max_steps` {self.max_steps} is outside 1..50")
        if not 0 < self.command_timeout_seconds < self.tool_timeout_seconds:
            raise AgentError(
                f"`command_timeout_seconds` {self.command_timeout_seconds:g} must be above 0 and "
                f"below `tool_timeout_seconds` {self.tool_timeout_seconds:g}",
                hint="lower the command timeout or raise the tool timeout",
            )
        if self.command_output_limit < 0:
            raise AgentError("`command_output_limit` must be 0 or more bytes")
        bad = [c for c in self.commands if not c or "/" in c or c.startswith(".")]
        if bad:
            raise AgentError(
                f"`commands` must be bare program names, not {', '.join(map(repr, bad))}",
                hint="list names such as `ls`; they are looked up in the system's PATH only",
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AgentSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise AgentError(
                f"unknown setting(s) {', '.join(f'`{u}`' for u in unknown)} in the agent config",
                hint="remove them (`citrate agent config show` prints the valid ones)",
            )
        values = dict(doc)
        providers = _default_providers()
        for name, raw in dict(values.pop("providers", {})).items():
            if name not in PROVIDER_NAMES:
                raise AgentError(f"unknown provider `{name}` in the agent config")
            providers[name] = ProviderSettings(**raw)
        settings = cls(**values, providers=providers)
        settings.check()
        return settings


def agent_dir(data_dir: str | Path | None = None) -> Path:
    """`DATA_DIR/agent`: config, conversations, audit log, workspace."""
    return _data_dir(data_dir) / "agent"


def load_settings(data_dir: str | Path | None = None) -> AgentSettings:
    """The saved settings, or the defaults when none are saved."""
    path = agent_dir(data_dir) / CONFIG_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return AgentSettings()
    except (OSError, ValueError) as exc:
        raise AgentError(
            f"the agent config `{path}` cannot be read ({type(exc).__name__})",
            hint="fix or delete it; the defaults are used when it is absent",
        ) from None
    return AgentSettings.from_json(doc)


def save_settings(settings: AgentSettings, data_dir: str | Path | None = None) -> Path:
    """Check and write the settings (0600, atomically); return the path."""
    settings.check()
    directory = agent_dir(data_dir)
    ensure_private_dir(directory)
    path = directory / CONFIG_FILE
    atomic_write(path, json.dumps(settings.to_json(), indent=2).encode())
    return path


__all__ = [
    "DEFAULT_COMMANDS",
    "PROVIDER_NAMES",
    "SKILL_LEVELS",
    "AgentSettings",
    "ProviderSettings",
    "agent_dir",
    "load_settings",
    "salt",
    "save_settings",
]
