"""`citrate wallet …`: the wallet's command line.

Secrets are read from a hidden prompt, or, with `--password-stdin`, one per line from standard
input in the order the prompts would ask for them (each command's help lists the order).
Errors go to standard error as `error: …` with a non-zero exit code; no traceback, and never a
secret, is printed.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from citrate_crypto import paths
from citrate_crypto._files import write_new_private
from citrate_crypto.cli_support import DataDir, LineInput, errors_to_exit
from citrate_crypto.errors import (
    CitrateError,
    PasswordMismatchError,
    PasswordPolicyError,
)
from citrate_crypto.hd import HDWallet, validate_mnemonic
from citrate_crypto.legacy import migrate
from citrate_crypto.password import check_password, require_new_password
from citrate_crypto.secret_store import SecretStore
from citrate_crypto.vault import Wallet, new_totp_enrollment

# A keystore v3 file is about 500 bytes; refuse to read a huge (or endless) file.
MAX_KEYSTORE_BYTES = 64 * 1024

app = typer.Typer(
    name="wallet",
    help="Create, recover and use a Citrate wallet (BIP39/BIP44, standard-wallet compatible).",
    no_args_is_help=True,
    # Tracebacks with local variables would print passwords and phrases: never show them.
    pretty_exceptions_enable=False,
)
totp_app = typer.Typer(
    help="Second factor (TOTP) for operations above a value.", no_args_is_help=True
)
secret_app = typer.Typer(
    help="API keys and other secrets (OS keychain, else the encrypted vault).", no_args_is_help=True
)
app.add_typer(totp_app, name="totp")
app.add_typer(secret_app, name="secret")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read secrets from standard input, one per line, not prompts."
    ),
]


_errors_to_exit = errors_to_exit


class _Input(LineInput):
    """Secrets and answers from prompts or from stdin lines."""

    def new_password(self, what: str = "wallet password") -> str:
        """A new password: checked against the policy, confirmed when typed at a prompt."""
        if self.from_stdin:
            password = self.line(f"New {what}")
            require_new_password(password)
            return password
        problem: CitrateError = PasswordMismatchError()
        for _ in range(3):
            password = self.line(f"New {what}")
            report = check_password(password)
            if not report.ok:
                problem = PasswordPolicyError(report.problems)
                err.print(str(problem))
                continue
            out.print(f"Strength: [bold]{report.strength}[/] ({report.score}/4)")
            if self.line(f"Confirm {what}") != password:
                problem = PasswordMismatchError()
                err.print(str(problem))
                continue
            return password
        raise problem  # three tries are enough; nothing was changed


def _wallet(data_dir: Path | None) -> Wallet:
    return Wallet(paths.wallet_dir(data_dir))


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _read_phrase(inp: _Input, prompt: str = "Mnemonic phrase") -> str:
    return validate_mnemonic(inp.line(prompt))


@app.command()
@_errors_to_exit
def create(
    data_dir: DataDir = None,
    words: Annotated[int, typer.Option(help="Mnemonic length: 12 or 24 words.")] = 12,
    bip39_passphrase: Annotated[
        bool, typer.Option("--bip39-passphrase", help="Also ask for a BIP39 passphrase.")
    ] = False,
    skip_verify: Annotated[
        bool, typer.Option("--skip-verify", help="Do the backup check later (verify-backup).")
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a wallet: a new mnemonic, shown once, sealed under your password.

    Standard input order with --password-stdin: password, [BIP39 passphrase].
    """
    if words not in (12, 24):
        raise typer.BadParameter(f"`{words}`: choose 12 or 24 words", param_hint="--words")
    inp = _Input(password_stdin)
    wallet = _wallet(data_dir)
    wallet.refuse_existing()  # before asking anything; checked again under the lock
    password = inp.new_password()
    passphrase = inp.line("BIP39 passphrase (optional)") if bip39_passphrase else ""
    new = wallet.create(password, words=words, passphrase=passphrase)
    out.print(
        Panel(
            _numbered(new.mnemonic),
            title=f"Your {words}-word recovery phrase — shown this once",
            subtitle="write it down on paper, in order; anyone with it controls your funds",
            border_style="yellow",
            expand=False,
        )
    )
    out.print(f"First address: [bold]{new.address}[/]")
    out.print(f"Wallet saved at {wallet.path}")
    if skip_verify or inp.from_stdin or not sys.stdin.isatty():
        out.print(
            "The backup is not verified yet: run [bold]citrate wallet verify-backup[/] "
            "once the phrase is written down."
        )
        return
    typer.prompt("Press Enter when the phrase is written down", default="", show_default=False)
    out.clear()
    _backup_check(wallet, inp, password)


def _numbered(phrase: str) -> str:
    """The words numbered in rows of four, as they are written down and asked back."""
    cells = [f"{i:>2}. {w:<9}" for i, w in enumerate(phrase.split(), 1)]
    return "\n".join("  ".join(cells[i : i + 4]).rstrip() for i in range(0, len(cells), 4))


def _backup_check(wallet: Wallet, inp: _Input, password: str) -> None:
    positions = wallet.backup_challenge()
    out.print(
        "Backup check: enter the words at positions "
        + ", ".join(str(p) for p in positions)
        + " (one per line)."
    )
    answers = {p: inp.line(f"Word #{p}", hide=False) for p in positions}
    wallet.verify_backup(password, answers)
    out.print("[green]Backup verified.[/]")


@app.command()
@_errors_to_exit
def recover(
    data_dir: DataDir = None,
    accounts: Annotated[int, typer.Option(help="How many accounts to restore.")] = 1,
    bip39_passphrase: Annotated[
        bool, typer.Option("--bip39-passphrase", help="The phrase has a BIP39 passphrase.")
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Restore a wallet from its 12/24-word phrase (same accounts as any standard wallet).

    Standard input order with --password-stdin: phrase, [BIP39 passphrase], password.
    """
    inp = _Input(password_stdin)
    wallet = _wallet(data_dir)
    wallet.refuse_existing()  # before asking anything; checked again under the lock
    phrase = _read_phrase(inp)
    passphrase = inp.line("BIP39 passphrase") if bip39_passphrase else ""
    password = inp.new_password()
    addresses = wallet.recover(phrase, password, passphrase=passphrase, accounts=accounts)
    for address in addresses:
        out.print(address)
    out.print(f"Restored {len(addresses)} account(s) into {wallet.path}")


@app.command("list")
@_errors_to_exit
def list_(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Ask for the password and prove the list was not altered on disk."
        ),
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """List the wallet's accounts. Without --verify no password is needed, and the list is
    read as stored: check it with --verify before giving an address to someone who pays you."""
    wallet = _wallet(data_dir)
    if verify:
        accounts = wallet.verified_accounts(_Input(password_stdin).line("Password"))
    else:
        accounts = wallet.accounts()
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "accounts": [a.to_json() for a in accounts],
                    "backup_verified": wallet.backup_verified,
                }
            )
        )
        return
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    # Addresses and paths are copied by hand: never cut them short; labels may wrap.
    table.add_column("address", no_wrap=True, min_width=42)
    table.add_column("path", no_wrap=True, min_width=16)
    table.add_column("kind", no_wrap=True)
    table.add_column("label", overflow="fold", min_width=10)
    for a in accounts:
        table.add_row(a.address, a.path or "", a.kind, a.label)
    out.print(table)
    if not wallet.backup_verified:
        out.print("[yellow]Backup not verified:[/] run citrate wallet verify-backup")


@app.command("add-account")
@_errors_to_exit
def add_account(
    data_dir: DataDir = None,
    label: Annotated[str | None, typer.Option(help="A name for the account.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Derive the next account of the wallet's phrase."""
    info = _wallet(data_dir).add_account(_Input(password_stdin).line("Password"), label)
    out.print(f"{info.address}  {info.path}")


@app.command("verify-backup")
@_errors_to_exit
def verify_backup(data_dir: DataDir = None, password_stdin: PasswordStdin = False) -> None:
    """Prove the phrase is written down: give 3 randomly chosen words.

    Standard input order with --password-stdin: password, then the three words asked for.
    """
    inp = _Input(password_stdin)
    wallet = _wallet(data_dir)
    password = inp.line("Password")
    wallet.check_password(password)
    _backup_check(wallet, inp, password)


@app.command("export-key")
@_errors_to_exit
def export_key(
    address: Annotated[str, typer.Argument(help="The account to export.")],
    data_dir: DataDir = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Print an account's private key (asks for the password every time; rate limited).

    Standard input order with --password-stdin: password, [authenticator code if 2FA is on].
    """
    inp = _Input(password_stdin)
    wallet = _wallet(data_dir)
    password = inp.line("Password")
    code = inp.line("Authenticator code", hide=False) if wallet.totp_enabled else None
    key = wallet.export_key(address, password, code)
    err.print(
        "[yellow]Anyone who sees this key controls the account. "
        "Do not paste it into websites or chats.[/]"
    )
    print(key)


@app.command("import-keystore")
@_errors_to_exit
def import_keystore(
    file: Annotated[Path, typer.Argument(help="A keystore v3 JSON file (geth, MetaMask, …).")],
    data_dir: DataDir = None,
    label: Annotated[str | None, typer.Option(help="A name for the account.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Import a key from an Ethereum keystore v3 file (scrypt or pbkdf2).

    Standard input order with --password-stdin: keystore password, wallet password.
    """
    try:
        with file.open("rb") as fh:
            raw = fh.read(MAX_KEYSTORE_BYTES + 1)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read `{file}`: {exc.strerror}", param_hint="FILE"
        ) from None
    if len(raw) > MAX_KEYSTORE_BYTES:
        raise typer.BadParameter(
            f"`{file}` is larger than {MAX_KEYSTORE_BYTES} bytes; a keystore is about 500",
            param_hint="FILE",
        )
    text = raw.decode("utf-8", errors="replace")
    inp = _Input(password_stdin)
    keystore_password = inp.line("Keystore password")
    info = _wallet(data_dir).import_keystore(
        text, keystore_password, inp.line("Wallet password"), label
    )
    out.print(f"Imported {info.address}")


@app.command("export-keystore")
@_errors_to_exit
def export_keystore(
    address: Annotated[str, typer.Argument(help="The account to export.")],
    data_dir: DataDir = None,
    output: Annotated[
        Path | None, typer.Option("--out", help="Write here (0600) instead of standard output.")
    ] = None,
    kdf: Annotated[str, typer.Option(help="scrypt (default) or pbkdf2.")] = "scrypt",
    password_stdin: PasswordStdin = False,
) -> None:
    """Export an account as an Ethereum keystore v3 file.

    Standard input order with --password-stdin: wallet password, [authenticator code if 2FA is
    on], new keystore password.
    """
    if kdf not in ("scrypt", "pbkdf2"):
        raise typer.BadParameter(f"`{kdf}`: choose scrypt or pbkdf2", param_hint="--kdf")
    if output is not None and output.exists():
        raise typer.BadParameter(f"`{output}` exists; choose a new file", param_hint="--out")
    inp = _Input(password_stdin)
    wallet = _wallet(data_dir)
    password = inp.line("Wallet password")
    wallet.check_password(password)
    code = inp.line("Authenticator code", hide=False) if wallet.totp_enabled else None
    keystore_password = inp.new_password("keystore password")
    text = wallet.export_keystore(
        address,
        password,
        keystore_password,
        kdf=kdf,  # type: ignore[arg-type]
        totp_code=code,
    )
    if output is None:
        print(text)
        return
    write_new_private(output, text.encode())
    out.print(f"Wrote {output}")


@app.command("migrate-legacy")
@_errors_to_exit
def migrate_legacy(
    scheme: Annotated[
        str, typer.Option(help="keccak (before sprint 10) or slip10 (later ed25519 wallets).")
    ] = "keccak",
    password_stdin: PasswordStdin = False,
) -> None:
    """Find the address an old Citrate phrase used and the standard account to move funds to.

    Standard input order with --password-stdin: phrase.
    """
    if scheme not in ("keccak", "slip10"):
        raise typer.BadParameter(f"`{scheme}`: choose keccak or slip10", param_hint="--scheme")
    result = migrate(_Input(password_stdin).line("Old mnemonic phrase"), scheme=scheme)  # type: ignore[arg-type]
    out.print(f"Legacy address ({result.scheme}): [bold]{result.legacy_address}[/]")
    out.print(f"Move funds to (BIP44 {result.target_path}): [bold]{result.target_address}[/]")
    out.print(
        "Restore the same phrase with `citrate wallet recover` (or MetaMask) to use the new "
        "account; the transfer is made with the node."
    )


@app.command()
@_errors_to_exit
def derive(
    count: Annotated[int, typer.Option(help="How many addresses.", min=1, max=1_000_000)] = 1,
    start: Annotated[int, typer.Option(help="First address index.", min=0)] = 0,
    account: Annotated[int, typer.Option(help="BIP44 account.", min=0)] = 0,
) -> None:
    """Print addresses of a phrase, one per line. Reads the phrase from standard input,
    and an optional BIP39 passphrase from a second line. Nothing is stored."""
    if sys.stdin.isatty():  # typed by hand: do not echo the phrase
        lines = [typer.prompt("Mnemonic phrase", hide_input=True)]
        lines.append(typer.prompt("BIP39 passphrase (Enter for none)", default="", hide_input=True))
    else:
        lines = sys.stdin.read().splitlines()
    if not lines or not lines[0].strip():
        raise typer.BadParameter("give the phrase on standard input", param_hint="stdin")
    passphrase = lines[1] if len(lines) > 1 else ""
    wallet = HDWallet.from_mnemonic(lines[0], passphrase)
    sys.stdout.write("\n".join(wallet.addresses(count, start, account)) + "\n")


@totp_app.command("enable")
@_errors_to_exit
def totp_enable(
    threshold: Annotated[str, typer.Option(help="Ask for a code above this many SALT.")],
    data_dir: DataDir = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Require an authenticator code above a value and for key export.

    Prints an otpauth:// URI for your authenticator app, then asks for its first code. To
    change an existing second factor, a code from the old one is asked for too. Standard input
    order with --password-stdin: password, [current code if 2FA is on], first new code.
    """
    inp = _Input(password_stdin)
    wallet = _wallet(data_dir)
    password = inp.line("Password")
    wallet.check_password(password)
    current = inp.line("Current authenticator code", hide=False) if wallet.totp_enabled else None
    enrollment = new_totp_enrollment(wallet.accounts()[0].address)
    out.print("Add this to your authenticator app (it holds the secret; keep it private):")
    print(enrollment.uri, flush=True)
    code = inp.line("First code from the app", hide=False)
    wallet.enable_totp(password, threshold, enrollment, code, current_code=current)
    out.print(f"Two-factor is on above {threshold} SALT and for key export.")


@totp_app.command("disable")
@_errors_to_exit
def totp_disable(data_dir: DataDir = None, password_stdin: PasswordStdin = False) -> None:
    """Turn the second factor off (needs a current code)."""
    inp = _Input(password_stdin)
    password = inp.line("Password")
    _wallet(data_dir).disable_totp(password, inp.line("Authenticator code", hide=False))
    out.print("Second factor disabled.")


def _store(data_dir: Path | None, inp: _Input) -> SecretStore:
    holder: list[SecretStore] = []

    def password() -> str:
        # The first write to the fallback vault sets its password: ask twice, as for a wallet.
        if holder and holder[0].needs_new_password:
            return inp.new_password("secret-vault password (your wallet password is a fine choice)")
        return inp.line("Secret-vault password")

    store = SecretStore(paths.wallet_dir(data_dir), password=functools.cache(password))
    holder.append(store)
    return store


@secret_app.command("set")
@_errors_to_exit
def secret_set(
    name: Annotated[str, typer.Argument(help="e.g. openai, anthropic")],
    data_dir: DataDir = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Store a secret. Standard input order: the secret, [vault password]."""
    inp = _Input(password_stdin)
    value = inp.line(f"Value of {name}")
    store = _store(data_dir, inp)
    store.set(name, value)
    out.print(f"Stored `{name}` in the {store.backend_name}.")


@secret_app.command("list")
@_errors_to_exit
def secret_list(data_dir: DataDir = None) -> None:
    """List stored secret names (never their values)."""
    store = _store(data_dir, _Input(False))
    for name in store.names():
        out.print(name)
    err.print(f"backend: {store.backend_name}")


@secret_app.command("delete")
@_errors_to_exit
def secret_delete(
    name: str, data_dir: DataDir = None, password_stdin: PasswordStdin = False
) -> None:
    """Remove a stored secret."""
    removed = _store(data_dir, _Input(password_stdin)).delete(name)
    out.print(f"Removed `{name}`." if removed else f"`{name}` was not stored.")


@app.command()
@_errors_to_exit
def status(data_dir: DataDir = None) -> None:
    """Show the wallet's file, backup state and any password lockout."""
    wallet = _wallet(data_dir)
    accounts = wallet.accounts()
    failures, remaining = wallet.attempts()
    out.print(f"vault: {wallet.path}")
    out.print(f"accounts: {len(accounts)}")
    out.print(f"backup verified: {'yes' if wallet.backup_verified else 'no'}")
    out.print(f"wrong passwords in a row: {failures}")
    if remaining:
        out.print(f"[red]locked for another {remaining:.0f} s[/]")
