"""`citrate agent chat`: the terminal conversation.

The model's text streams as it arrives. When the agent prepares an action that moves value,
its summary is printed and the user answers y/N; the wallet password is asked (hidden) only
when the wallet is locked. Commands: /pending, /approve ID, /reject ID, /help, /quit.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from citrate_agent.config import agent_dir, load_settings
from citrate_agent.conversations import ConversationStore
from citrate_agent.errors import SecondFactorRequiredError
from citrate_agent.orchestrator import Orchestrator, Reply
from citrate_agent.providers.registry import ProviderRegistry
from citrate_agent.session import open_context
from citrate_crypto.errors import CitrateError
from citrate_crypto.paths import data_dir as resolve_data_dir
from citrate_crypto.paths import wallet_dir
from citrate_crypto.secret_store import SecretStore

HELP = """\
Ask in plain words ("what is my balance?", "send 1 SALT to 0x…", "list available models").
  /pending        actions waiting for your approval
  /approve ID     approve one (the wallet password is asked if the wallet is locked)
  /reject ID      drop one; nothing is sent
  /quit           leave (the conversation is saved; --conversation ID continues it)"""


def run_chat(
    *,
    data_dir: Path | None,
    rpc_url: str | None,
    ipfs_url: str | None,
    address: str | None,
    conversation_id: str | None,
    out: Console,
    err: Console,
    read_line: Callable[[str], str] = input,
    read_secret: Callable[[str], str] = getpass.getpass,
) -> None:
    """Run the chat until /quit or end of input."""
    home = resolve_data_dir(data_dir)
    ctx = open_context(data_dir=home, rpc_url=rpc_url, ipfs_url=ipfs_url, address=address)
    vault_password: list[str] = []

    def password_once() -> str:
        # Only used when there is no OS keychain and keys sit in the encrypted vault.
        if not vault_password:
            vault_password.append(read_secret("Password of the secret vault (wallet password): "))
        return vault_password[0]

    providers = ProviderRegistry(
        lambda: load_settings(home),
        lambda: SecretStore(wallet_dir(home), password=password_once),
        home,
    )
    store = ConversationStore(agent_dir(home) / "conversations")
    conversation = store.load(conversation_id) if conversation_id else None
    agent = Orchestrator(ctx, providers.resolve, conversation=conversation, store=store)
    who = ctx.wallet.address if ctx.wallet else "no wallet (read-only)"
    out.print(f"Citrate agent — node {ctx.chain.display_url}, acting as {who}", markup=False)
    out.print("Type /help for commands.", markup=False)
    try:
        while True:
            try:
                line = read_line("you> ").strip()
            except EOFError:
                break
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            try:
                _handle(line, agent, out, err, read_line, read_secret)
            except CitrateError as exc:
                err.print(f"error: {exc}", markup=False)
    finally:
        agent.close()
        ctx.close()
        out.print(f"conversation {agent.conversation.id} saved", markup=False)


def _handle(
    line: str,
    agent: Orchestrator,
    out: Console,
    err: Console,
    read_line: Callable[[str], str],
    read_secret: Callable[[str], str],
) -> None:
    if line == "/help":
        out.print(HELP, markup=False)
        return
    if line == "/pending":
        for action in agent.pending:
            out.print(f"[{action.id}] {action.summary}", markup=False)
        if not agent.pending:
            out.print("nothing is waiting for approval", markup=False)
        return
    command, _, arg = line.partition(" ")
    if command == "/approve":
        action = agent.ctx.actions.get(arg.strip())
        out.print(f"[{action.id}] {action.summary}", markup=False)
        if read_line(f"Approve {action.id}? [y/N] ").strip().lower() in ("y", "yes"):
            _approve(agent, action.id, out, read_secret)
        return
    if command == "/reject":
        out.print(agent.reject(arg.strip()).text, markup=False)
        return
    streamed: list[str] = []

    def sink(text: str) -> None:
        streamed.append(text)
        out.print(text, end="", markup=False)

    reply = agent.send(line, on_text=sink)
    if streamed:
        out.print()
    _show(reply, "".join(streamed), out, err)
    for action in reply.pending:
        answer = read_line(f"Approve {action.id}? [y/N] ").strip().lower()
        if answer in ("y", "yes"):
            _approve(agent, action.id, out, read_secret)
        else:
            out.print(agent.reject(action.id).text, markup=False)


def _show(reply: Reply, streamed: str, out: Console, err: Console) -> None:
    for note in reply.notes:
        err.print(f"note: {note}", markup=False)
    text = reply.text
    if streamed and text.startswith(streamed):
        text = text[len(streamed) :].lstrip("\n")
    if text:
        out.print(text, markup=False)


def _approve(
    agent: Orchestrator, action_id: str, out: Console, read_secret: Callable[[str], str]
) -> None:
    wallet = agent.ctx.wallet
    password = None
    if wallet is not None and not wallet.unlocked:
        password = read_secret("Wallet password: ")
    try:
        reply = agent.approve(action_id, password=password)
    except SecondFactorRequiredError as exc:
        # Above the wallet's second-factor threshold: ask for the code once (the password
        # already unlocked the wallet, and the action is still pending).
        out.print(str(exc.message), markup=False)
        code = read_secret("Authenticator code: ")
        reply = agent.approve(action_id, totp_code=code)
    out.print(reply.text, markup=False)


__all__ = ["HELP", "run_chat"]
