"""What a tool is, what it gets to work with, and the registry of all tools.

A tool is a typed function with a JSON Schema for its arguments. Read-only tools have `run`,
which returns a JSON-serialisable dict. Tools that move value have `prepare` instead, which
returns a `PreparedAction` for the user to approve (see `citrate_agent.actions`). Every tool is
usable without any LLM: `call_tool` validates the arguments and runs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from citrate_agent.actions import ActionBook, PreparedAction, SpendingTracker
from citrate_agent.chain import ChainClient
from citrate_agent.config import AgentSettings
from citrate_agent.errors import ToolNotFoundError, WalletUnavailableError
from citrate_agent.schema import validate_arguments

if TYPE_CHECKING:
    from citrate_agent.audit import AuditLog
    from citrate_store import KuboClient

CATEGORIES = (
    "blockchain",
    "wallet",
    "contracts",
    "models",
    "marketplace",
    "terminal",
    "ipfs",
    "image",
)


class Signer(Protocol):
    """What actions need from a wallet (`citrate_agent.wallet.WalletSession`)."""

    address: str

    @property
    def unlocked(self) -> bool: ...

    def unlock(self, password: str) -> None: ...

    def lock(self) -> None: ...

    def authorize_value(self, value_wei: int, totp_code: str | None = None) -> None: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes: ...


Run = Callable[["ToolContext", dict[str, Any]], dict[str, Any]]
Prepare = Callable[["ToolContext", dict[str, Any]], PreparedAction]


@dataclass(frozen=True)
class Tool:
    """One tool. Exactly one of `run` (read-only) and `prepare` (moves value) is set."""

    name: str
    category: str
    description: str
    parameters: Mapping[str, Any]
    run: Run | None = None
    prepare: Prepare | None = None
    timeout: float | None = None  # seconds; None uses the settings' tool timeout

    def __post_init__(self) -> None:
        if (self.run is None) == (self.prepare is None):
            raise TypeError(f"tool `{self.name}` needs exactly one of run and prepare")
        if self.category not in CATEGORIES:
            raise TypeError(f"tool `{self.name}` has unknown category `{self.category}`")

    @property
    def moves_value(self) -> bool:
        return self.prepare is not None

    def spec(self) -> dict[str, Any]:
        """Name, description and schema: what the LLM is shown."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True)
class DeployedContract:
    """A contract whose ABI the agent knows (it deployed it, or read it from a file)."""

    address: str
    name: str
    abi: list[dict[str, Any]]


@dataclass
class ToolContext:
    """Everything tools use. Build one with `citrate_agent.session.open_context`.

    Tools reach the chain only through `chain`, the content store only through `ipfs()`, files
    only inside `workspace` (and the models directory), and sign only through `actions`.
    """

    chain: ChainClient
    settings: AgentSettings
    data_dir: Path
    wallet: Signer | None = None
    audit: AuditLog | None = None
    spending: SpendingTracker = field(default_factory=lambda: SpendingTracker(10**20))
    actions: ActionBook = field(default_factory=ActionBook)
    contracts: dict[str, DeployedContract] = field(default_factory=dict)  # by lower-case address
    extras: dict[str, Any] = field(default_factory=dict)  # per-category caches (models runtime)
    _ipfs: KuboClient | None = None
    _ipfs_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def workspace(self) -> Path:
        path = Path(self.settings.workspace or self.data_dir / "agent" / "workspace")
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path.resolve()

    @property
    def models_dir(self) -> Path:
        return Path(self.settings.models_dir or self.data_dir / "models")

    def ipfs(self) -> KuboClient:
        """A client of the content store's Kubo API (`settings.ipfs_url`)."""
        from citrate_store import KuboClient

        with self._lock:
            if self._ipfs is None or self._ipfs_url != self.settings.ipfs_url:
                if self._ipfs is not None:
                    self._ipfs.close()
                self._ipfs = KuboClient(self.settings.ipfs_url)
                self._ipfs_url = self.settings.ipfs_url
            return self._ipfs

    def require_wallet(self) -> Signer:
        if self.wallet is None:
            raise WalletUnavailableError(
                "no wallet is open for the agent",
                hint="create one with `citrate wallet create`, or pass --data-dir to use another",
            )
        return self.wallet

    def require_address(self) -> str:
        return self.require_wallet().address

    def remember_contract(self, address: str, name: str, abi: list[dict[str, Any]]) -> None:
        self.contracts[address.lower()] = DeployedContract(address, name, abi)

    def log_action(self, action: PreparedAction, event: str, **fields: Any) -> None:
        if self.audit is not None:
            self.audit.write(event, action=action.id, tool=action.tool, kind=action.kind, **fields)

    def close(self) -> None:
        self.chain.close()
        if self._ipfs is not None:
            self._ipfs.close()


class ToolRegistry:
    """Tools by name, in registration order."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool `{tool.name}` is registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        tool = self._tools.get(name)
        if tool is None:
            raise ToolNotFoundError(
                f"there is no tool `{name}`",
                hint="use one of: " + ", ".join(self._tools),
            )
        return tool

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)


def call_tool(
    registry: ToolRegistry, ctx: ToolContext, name: str, arguments: object
) -> dict[str, Any] | PreparedAction:
    """Validate `arguments` and run the tool: a result dict, or a `PreparedAction` to approve.

    Raises:
        ToolNotFoundError, ToolArgumentError: before anything runs.
        AgentError: the tool's own failures, each with a hint.
    """
    tool = registry.get(name)
    args = validate_arguments(name, tool.parameters, arguments)
    if tool.prepare is not None:
        return tool.prepare(ctx, args)
    assert tool.run is not None
    return tool.run(ctx, args)


__all__ = [
    "CATEGORIES",
    "DeployedContract",
    "Prepare",
    "Run",
    "Signer",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "call_tool",
]
