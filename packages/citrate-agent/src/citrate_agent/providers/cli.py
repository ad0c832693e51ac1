"""`citrate agent providers …`: see and set up the LLM providers.

Keys are read from a hidden prompt, or with `--key-stdin` from the first line of standard input
(then the secret-vault password, when the OS keychain is unavailable, from the next lines). Keys
go to the wallet's secret store (OS keychain, else the encrypted vault) and are never printed.
Errors go to standard error as `error: …` with exit code 1.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from citrate_agent.config import PROVIDER_NAMES, load_settings, save_settings
from citrate_agent.errors import AgentError
from citrate_agent.providers.registry import SECRET_NAMES, ProviderRegistry
from citrate_agent.providers.validation import KeyStatus, validate_and_record
from citrate_crypto import paths
from citrate_crypto.cli_support import DataDir, LineInput, errors_to_exit
from citrate_crypto.password import require_new_password
from citrate_crypto.secret_store import SecretStore

app = typer.Typer(
    name="providers",
    help="LLM providers: keys, order, models, base URLs, validation.",
    invoke_without_command=True,
    # Tracebacks with local variables would print keys: never show them.
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")

Timeout = Annotated[float, typer.Option("--timeout", help="Seconds for the validation request.")]


_errors_to_exit = errors_to_exit
_Input = LineInput


def _store(data_dir: Path | None, inp: _Input) -> SecretStore:
    holder: list[SecretStore] = []

    def password() -> str:
        if holder and holder[0].needs_new_password:
            value = inp.line("New secret-vault password (your wallet password is a fine choice)")
            require_new_password(value)
            if not inp.from_stdin and inp.line("Confirm the password") != value:
                raise AgentError("the passwords differ; nothing was stored")
            return value
        return inp.line("Secret-vault password")

    store = SecretStore(paths.wallet_dir(data_dir), password=functools.cache(password))
    holder.append(store)
    return store


def _registry(data_dir: Path | None, inp: _Input) -> ProviderRegistry:
    return ProviderRegistry(
        lambda: load_settings(data_dir), lambda: _store(data_dir, inp), data_dir
    )


def _check_name(name: str, allowed: tuple[str, ...] = PROVIDER_NAMES) -> None:
    if name not in allowed:
        raise AgentError(
            f"`{name}` is not a provider here", hint=f"use one of {', '.join(allowed)}"
        )


def _print_status(status: KeyStatus) -> None:
    colour = "green" if status.ok else "red"
    out.print(
        f"{status.provider}: [{colour}]{status.state}[/] — {escape(status.detail)} "
        f"({status.checked_at})"
    )


@app.callback()
def main(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """Without a command: the provider table (same as `list`)."""
    if ctx.invoked_subcommand is None:
        list_providers(data_dir=data_dir, as_json=False)


@app.command("list")
@_errors_to_exit
def list_providers(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each provider: order, enabled, configured, model, base URL, key present, last check."""
    infos = _registry(data_dir, _Input(False)).describe()
    if as_json:
        out.print_json(json.dumps([i.to_json() for i in infos]))
        return
    table = Table("#", "provider", "enabled", "configured", "model", "base URL", "key", "check")
    for i in sorted(infos, key=lambda i: (i.position is None, i.position or 0)):
        check = f"{i.status.state} {i.status.checked_at}" if i.status else "-"
        key = "stored" if i.key_present else ("missing" if i.key_required else "-")
        table.add_row(
            str(i.position or "-"),
            i.name + (f"\n[dim]{escape(i.note)}[/]" if i.note else ""),
            "yes" if i.enabled else "no",
            "yes" if i.configured else "no",
            i.model or "-",
            i.base_url or "-",
            key,
            check,
        )
    out.print(table)


@app.command("set-key")
@_errors_to_exit
def set_key(
    name: Annotated[str, typer.Argument(help="openai, anthropic or openai-compatible")],
    data_dir: DataDir = None,
    key_stdin: Annotated[
        bool, typer.Option("--key-stdin", help="Read the key (then any vault password) from stdin.")
    ] = False,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Check the key with a real request.")
    ] = True,
    timeout: Timeout = 10.0,
) -> None:
    """Store a provider's API key (and check it). Stdin order: the key, [vault password]."""
    _check_name(name, tuple(SECRET_NAMES))
    inp = _Input(key_stdin)
    key = inp.line(f"API key for {name}").strip()
    if not key:
        raise AgentError("the key is empty; nothing was stored", hint="paste the whole key")
    store = _store(data_dir, inp)
    store.set(SECRET_NAMES[name], key)
    out.print(f"Stored the `{name}` key in the {store.backend_name}; used from the next message.")
    if validate:
        ps = load_settings(data_dir).providers[name]
        if name == "openai-compatible" and not ps.base_url:
            out.print("Not validated: set a base URL first (`set openai-compatible --base-url`).")
            return
        _print_status(validate_and_record(name, key, ps.base_url, timeout, data_dir))


@app.command("validate")
@_errors_to_exit
def validate(
    name: Annotated[
        str | None, typer.Argument(help="One provider; default: all with a key.")
    ] = None,
    data_dir: DataDir = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the vault password from stdin.")
    ] = False,
    timeout: Timeout = 10.0,
) -> None:
    """Check stored keys with a real request; record and print each status (exit 1 if any fail)."""
    settings = load_settings(data_dir)
    inp = _Input(password_stdin)
    store = _store(data_dir, inp)
    stored = set(store.names())
    if name is not None:
        _check_name(name, tuple(SECRET_NAMES))
        targets = [name]
    else:
        targets = [
            n
            for n in SECRET_NAMES
            if SECRET_NAMES[n] in stored
            or (n == "openai-compatible" and settings.providers[n].base_url)
        ]
        if not targets:
            raise AgentError(
                "no provider has a key to check", hint="`citrate agent providers set-key openai`"
            )
    failed = False
    for target in targets:
        ps = settings.providers[target]
        key = store.get(SECRET_NAMES[target]) if SECRET_NAMES[target] in stored else None
        if target != "openai-compatible" and not key:
            raise AgentError(
                f"no key is stored for `{target}`",
                hint=f"`citrate agent providers set-key {target}`",
            )
        status = validate_and_record(target, key, ps.base_url, timeout, data_dir)
        _print_status(status)
        failed = failed or not status.ok
    if failed:
        raise typer.Exit(1)


@app.command("order")
@_errors_to_exit
def order(
    providers: Annotated[str, typer.Argument(help="e.g. anthropic,openai,local")],
    data_dir: DataDir = None,
) -> None:
    """Set the order providers are tried in (those left out are not used)."""
    settings = load_settings(data_dir)
    settings.provider_order = [p.strip() for p in providers.split(",") if p.strip()]
    save_settings(settings, data_dir)
    out.print(f"Provider order: {', '.join(settings.provider_order)}")


@app.command("set")
@_errors_to_exit
def set_provider(
    name: Annotated[str, typer.Argument(help=", ".join(PROVIDER_NAMES))],
    model: Annotated[str | None, typer.Option("--model", help="Model name.")] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help='Base URL ("" for the default). OpenAI-style: …/v1.'),
    ] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Use this provider or not.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Change a provider's model, base URL, or whether it is used."""
    _check_name(name)
    settings = load_settings(data_dir)
    ps = settings.providers[name]
    if model is not None:
        ps.model = model.strip()
    if base_url is not None:
        url = base_url.strip().rstrip("/")
        if url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise AgentError(
                    f"`{url}` is not an http(s) URL", hint="e.g. http://127.0.0.1:11434/v1"
                )
        if name == "local" and url:
            raise AgentError("the local provider has no base URL")
        ps.base_url = url or None
    if enable is not None:
        ps.enabled = enable
    save_settings(settings, data_dir)
    out.print(
        f"{name}: model {ps.model or '-'}, base URL {ps.base_url or 'default'}, "
        f"{'enabled' if ps.enabled else 'disabled'}"
    )


__all__ = ["app"]
