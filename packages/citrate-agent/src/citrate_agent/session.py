"""Build a `ToolContext` from the data directory, the settings and the wallet."""

from __future__ import annotations

import secrets
from pathlib import Path

from citrate_agent.actions import ActionBook, SpendingTracker
from citrate_agent.audit import AUDIT_FILE, AuditLog
from citrate_agent.chain import ChainClient
from citrate_agent.config import AgentSettings, agent_dir, load_settings
from citrate_agent.errors import WalletUnavailableError
from citrate_agent.tools.base import Signer, ToolContext
from citrate_agent.wallet import WalletSession
from citrate_crypto import KdfParams, Wallet
from citrate_crypto.paths import data_dir as resolve_data_dir
from citrate_crypto.paths import wallet_dir as resolve_wallet_dir


def open_context(
    *,
    data_dir: str | Path | None = None,
    settings: AgentSettings | None = None,
    rpc_url: str | None = None,
    ipfs_url: str | None = None,
    wallet_dir: Path | None = None,
    address: str | None = None,
    workspace: Path | None = None,
    kdf: KdfParams | None = None,
    require_wallet: bool = False,
    session_id: str | None = None,
) -> ToolContext:
    """A context for one agent session.

    Args:
        data_dir: Citrate's data directory (`--data-dir`, else `$CITRATE_HOME`, else the user
            data directory). The agent keeps its files in `agent/` inside it.
        settings: defaults to the saved settings (`agent/config.json`).
        rpc_url, ipfs_url, workspace: override the settings for this session.
        wallet_dir: the wallet (default: `wallet/` in the data directory).
        address: which wallet account acts (default: the first).
        kdf: Argon2id parameters for the wallet (tests use cheap ones).
        require_wallet: raise if no wallet exists; otherwise read-only tools still work.
        session_id: names the session in the audit log (default: random).
    """
    home = resolve_data_dir(data_dir)
    settings = settings or load_settings(home)
    if rpc_url:
        settings.rpc_url = rpc_url
    if ipfs_url:
        settings.ipfs_url = ipfs_url
    if workspace is not None:
        settings.workspace = str(workspace)
    settings.check()
    wallet: Signer | None
    try:
        directory = wallet_dir or resolve_wallet_dir(home)
        wallet = WalletSession(
            directory, address=address, wallet=Wallet(directory, kdf=kdf) if kdf else None
        )
    except WalletUnavailableError:
        if require_wallet:
            raise
        wallet = None
    session = session_id or secrets.token_hex(6)
    return ToolContext(
        chain=ChainClient(settings.rpc_url),
        settings=settings,
        data_dir=home,
        wallet=wallet,
        audit=AuditLog(agent_dir(home) / AUDIT_FILE, session),
        spending=SpendingTracker(settings.spending_limit_wei),
        actions=ActionBook(settings.approval_ttl_seconds),
    )


__all__ = ["open_context"]
