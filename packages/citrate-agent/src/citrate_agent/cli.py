"""`citrate agent …`: run tools directly, chat, test every tool, manage providers and settings.

`citrate agent tool NAME --args JSON` prints the tool's JSON result. A tool that moves value
prints its summary (on standard error) and asks for approval; `--yes` gives that approval up
front, and the wallet password comes from a hidden prompt or, with `--password-stdin`, from the
first line of standard input. Errors print the JSON error object on standard output, `error: …`
on standard error, and exit with code 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from citrate_agent.errors import AgentError
from citrate_agent.providers.cli import app as providers_app
from citrate_crypto.cli_support import DataDir

# `citrate` loads every command group at start (even for `citrate devnet`), so this module
# imports only Typer and Rich; each command imports what it needs (web3, the LLM SDKs, ...).

app = typer.Typer(
    name="agent",
    help="Citrate's AI agent: chat, run its tools, test them, manage LLM providers.",
    no_args_is_help=True,
    # Tracebacks with local variables could print keys or passwords: never show them.
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="The agent's settings (never its keys).", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RpcUrl = Annotated[
    str | None,
    typer.Option(
        "--rpc-url", help="The node's JSON-RPC URL (default: the settings').", show_default=False
    ),
]
IpfsUrl = Annotated[
    str | None,
    typer.Option(
        "--ipfs-url",
        help="The content store's API URL (default: the settings').",
        show_default=False,
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        "--from", help="Which wallet account acts (default: the first).", show_default=False
    ),
]


def _fail(exc: BaseException) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    return typer.Exit(1)


def _read_password(from_stdin: bool, what: str = "Wallet password") -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise AgentError(f"standard input ended before the {what.lower()}")
        return line.rstrip("\r\n")
    return str(typer.prompt(what, hide_input=True, err=True))


@app.command("tools")
def list_tools(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List every tool with its category and whether it needs approval."""
    from citrate_agent.tools import default_registry

    registry = default_registry()
    if as_json:
        doc = [
            {
                **t.spec(),
                "category": t.category,
                "needs_approval": t.moves_value,
            }
            for t in registry
        ]
        out.print_json(json.dumps(doc))
        return
    for tool in registry:
        flag = "  (needs approval)" if tool.moves_value else ""
        out.print(f"{tool.category:<12} {tool.name}{flag}")


@app.command("tool")
def run_tool(
    name: Annotated[
        str, typer.Argument(help="The tool's name (`citrate agent tools` lists them).")
    ],
    args: Annotated[str, typer.Option("--args", help="The arguments as a JSON object.")] = "{}",
    yes: Annotated[
        bool, typer.Option("--yes", help="Approve a value-moving action without asking.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the wallet password (then an authenticator code if asked) from stdin.",
        ),
    ] = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    ipfs_url: IpfsUrl = None,
    address: Address = None,
) -> None:
    """Run one tool and print its JSON result (no language model involved)."""
    from citrate_agent.actions import PreparedAction
    from citrate_agent.session import open_context
    from citrate_agent.tools import call_tool, default_registry

    try:
        arguments = json.loads(args)
    except json.JSONDecodeError as exc:
        out.print_json(
            json.dumps(
                AgentError(
                    f"--args is not valid JSON ({exc.msg})", hint="pass one JSON object"
                ).to_json()
            )
        )
        raise _fail(exc) from None
    ctx = None
    try:
        ctx = open_context(data_dir=data_dir, rpc_url=rpc_url, ipfs_url=ipfs_url, address=address)
        outcome = call_tool(default_registry(), ctx, name, arguments)
        if isinstance(outcome, PreparedAction):
            result = _approve_interactively(ctx, outcome, yes, password_stdin)
        else:
            result = outcome
        out.print_json(json.dumps(result, default=str))
    except AgentError as exc:
        out.print_json(json.dumps(exc.to_json()))
        raise _fail(exc) from None
    except Exception as exc:  # wallet errors (wrong password, lockout) carry their own text
        from citrate_crypto.errors import CitrateError

        if not isinstance(exc, CitrateError):
            raise
        out.print_json(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
        raise _fail(exc) from None
    finally:
        if ctx is not None:
            ctx.close()


def _approve_interactively(
    ctx: Any, action: Any, yes: bool, password_stdin: bool
) -> dict[str, Any]:
    """Show the summary, get approval, then the password (and an authenticator code when
    the wallet asks for one: prompted, or the next line of standard input; never an option,
    which would leave it in the shell history and the process list)."""
    from citrate_agent.actions import execute, reject
    from citrate_agent.errors import ApprovalError, SecondFactorRequiredError

    err.print(action.summary, markup=False)
    if not yes and not typer.confirm("Approve?", default=False, err=True):
        reject(ctx, action.id)
        raise ApprovalError("you did not approve the action; nothing was sent")
    password = None
    if ctx.wallet is not None and not ctx.wallet.unlocked:
        password = _read_password(password_stdin)
    try:
        return execute(ctx, action.id, password=password)
    except SecondFactorRequiredError as exc:
        err.print(exc.message, markup=False)
        code = _read_password(password_stdin, "Authenticator code")
        return execute(ctx, action.id, totp_code=code)


@app.command("selftest")
def selftest(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep the throwaway devnet's data here.")
    ] = None,
) -> None:
    """Start a throwaway devnet, run every tool against it, and report pass/fail per tool."""
    from citrate_agent.selftest import run_selftest

    def progress(entry: dict[str, Any]) -> None:
        mark = "PASS" if entry["ok"] else "FAIL"
        line = f"{mark}  {entry['tool']:<20} {entry['seconds']:>7.2f}s  {entry['detail']}"
        out.print(line, markup=False)

    report = run_selftest(keep=keep, log=None if as_json else progress)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        out.print(f"{report['passed']}/{report['total']} tools passed", markup=False)
    if report["passed"] != report["total"]:
        raise typer.Exit(1)


@app.command("chat")
def chat(
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Continue a saved conversation.")
    ] = None,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    ipfs_url: IpfsUrl = None,
    address: Address = None,
) -> None:
    """Chat with the agent in the terminal (/help lists the commands)."""
    from citrate_agent.chat import run_chat

    try:
        run_chat(
            data_dir=data_dir,
            rpc_url=rpc_url,
            ipfs_url=ipfs_url,
            address=address,
            conversation_id=conversation,
            out=out,
            err=err,
        )
    except AgentError as exc:
        raise _fail(exc) from None


@app.command("history")
def history(data_dir: DataDir = None) -> None:
    """List saved conversations, newest first."""
    from citrate_agent.config import agent_dir
    from citrate_agent.conversations import ConversationStore

    store = ConversationStore(agent_dir(data_dir) / "conversations")
    for item in store.list():
        out.print(f"{item['id']}  {item['updated_at']}  {item['title']}", markup=False)


@app.command("audit")
def audit(
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
) -> None:
    """Print the last entries of the audit log (every tool run and action) as JSON lines."""
    from citrate_agent.audit import AUDIT_FILE, AuditLog
    from citrate_agent.config import agent_dir

    for record in AuditLog(agent_dir(data_dir) / AUDIT_FILE, "").read()[-limit:]:
        out.print(json.dumps(record, sort_keys=True), markup=False)


@config_app.command("show")
def config_show(data_dir: DataDir = None) -> None:
    """Print the settings as JSON."""
    from citrate_agent.config import load_settings

    try:
        out.print_json(json.dumps(load_settings(data_dir).to_json()))
    except AgentError as exc:
        raise _fail(exc) from None


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="A setting's name (see `config show`).")],
    value: Annotated[str, typer.Argument(help="The new value (JSON for lists and numbers).")],
    data_dir: DataDir = None,
) -> None:
    """Change one setting; the file is checked before it is written."""
    from citrate_agent.config import AgentSettings, load_settings, save_settings

    try:
        settings = load_settings(data_dir)
        doc = settings.to_json()
        if key not in doc or key == "providers":
            raise AgentError(
                f"`{key}` is not a setting you can set here",
                hint="`citrate agent config show` lists them; providers have "
                "`citrate agent providers set`",
            )
        current = doc[key]
        parsed: Any
        if isinstance(current, str) or current is None:
            parsed = value
        else:
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                raise AgentError(
                    f"`{value}` is not valid for `{key}`",
                    hint=f"give JSON like {json.dumps(current)}",
                ) from None
            if not isinstance(parsed, type(current)) and not (
                isinstance(current, float) and isinstance(parsed, int)
            ):
                raise AgentError(
                    f"`{key}` takes a {type(current).__name__}, not {json.dumps(parsed)}"
                )
        doc[key] = parsed
        path = save_settings(AgentSettings.from_json(doc), data_dir)
        err.print(f"saved {key} in {path}", markup=False)
    except AgentError as exc:
        raise _fail(exc) from None


app.add_typer(providers_app, name="providers")

__all__ = ["app"]
