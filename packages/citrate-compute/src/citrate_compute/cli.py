"""`citrate compute …`: lend this machine to the compute network, and submit jobs to it.

Anything that moves value (a provider's stake, a job's escrow, paying a job, a dispute bond,
withdrawing credits) prints what it will do, with the amounts, and asks for approval; `--yes`
gives it up front. The wallet password comes from a hidden prompt or, with `--password-stdin`,
from standard input: first the approval answer (unless `--yes`), then the password, one a line.
Errors print `error: …` (with a `hint:`) on standard error and exit with code 1; no traceback,
which could show secrets held in local variables, is ever printed.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from citrate_crypto.cli_support import DataDir, LineInput, errors_to_exit

if TYPE_CHECKING:
    from citrate_compute.content import ContentClient
    from citrate_compute.market import MarketClient, WalletSigner

# `citrate` loads every command group at start (even for `citrate devnet`), so this module
# imports only Typer and Rich (and the shared CLI helpers); each command imports what it needs.

app = typer.Typer(
    name="compute",
    help="Lend GPU/CPU to the Citrate compute network for SALT, and submit jobs to it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
provider_app = typer.Typer(
    help="Run a compute provider on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(provider_app, name="provider")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_IPFS = "http://127.0.0.1:5001"

Rpc = Annotated[str, typer.Option("--rpc", help="The node's JSON-RPC URL.")]
Ipfs = Annotated[str, typer.Option("--ipfs", help="The content store's API URL (Kubo RPC).")]
From = Annotated[
    str | None,
    typer.Option(
        "--from", help="Which wallet account acts (default: the first).", show_default=False
    ),
]
Yes = Annotated[bool, typer.Option("--yes", help="Approve moving value without asking.")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read answers from standard input, one a line: each approval asked (unless --yes), "
        "then the wallet password.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
JobId = Annotated[int, typer.Argument(help="The ComputeMarket job id.", min=1)]


# ------------------------------------------------------------------------------ helpers


def _article(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _signer(data_dir: Path | None, address: str | None) -> WalletSigner:
    from citrate_compute.market import WalletSigner
    from citrate_crypto import paths

    return WalletSigner(paths.wallet_dir(data_dir), address=address)


def _unlock(signer: WalletSigner, inp: LineInput, *, idle_timeout: float | None = None) -> None:
    signer.unlock(inp.line("Wallet password"), idle_timeout=idle_timeout)


def _approve(lines: list[str], yes: bool, inp: LineInput) -> None:
    """Show what will happen; go on only with --yes or an explicit yes."""
    for line in lines:
        err.print(line)
    if yes:
        return
    answer = inp.line("Approve? [y/N]", hide=False).strip().lower()
    if answer not in ("y", "yes"):
        err.print("[bold red]error:[/] not approved; nothing was sent")
        raise typer.Exit(1)


def _market(rpc: str, signer: WalletSigner | None = None) -> MarketClient:
    from citrate_compute.market import MarketClient

    return MarketClient(rpc, signer=signer)


def _content(ipfs: str) -> ContentClient:
    from citrate_compute.content import ContentClient

    return ContentClient(ipfs)


def _salt(wei: int) -> str:
    from citrate_compute.market import format_salt

    return f"{format_salt(wei)} SALT"


def _print_json(doc: Any) -> None:
    out.print_json(json.dumps(doc, default=str))


def _parse_price(value: str) -> int:
    from citrate_compute.market import parse_salt

    return parse_salt(value)


# ------------------------------------------------------------------------------ devices


@app.command("devices")
@errors_to_exit
def devices(
    backend: Annotated[
        str, typer.Option("--backend", help="auto (NVML, else CPU), nvml or cpu.")
    ] = "auto",
    as_json: AsJson = False,
) -> None:
    """List the devices this machine can lend, with a telemetry reading."""
    from citrate_compute.devices import detect_devices

    found = detect_devices(backend)  # type: ignore[arg-type]
    try:
        rows = []
        for device in found.devices():
            try:
                reading = found.telemetry(device.id)
                telemetry: dict[str, Any] = dict(reading.__dict__)
            except Exception as exc:
                from citrate_compute.errors import ComputeError

                if not isinstance(exc, ComputeError):
                    raise
                telemetry = {"error": exc.message}
            rows.append({**device.__dict__, "telemetry": telemetry})
        description = found.describe()
    finally:
        found.close()
    if as_json:
        _print_json({"backend": description, "devices": rows})
        return
    table = Table("id", "kind", "name", "memory", "temperature", "utilization")
    for row in rows:
        t = row["telemetry"]
        temp = t.get("temperature_c")
        util = t.get("utilization")
        table.add_row(
            row["id"],
            row["kind"],
            escape(row["name"]),
            f"{row['total_memory'] / 1024**3:.1f} GiB",
            "-" if temp is None else f"{temp:.0f} °C",
            "-" if util is None else f"{util * 100:.0f} %",
        )
    out.print(table)
    reason = description.get("fallback_reason")
    if reason:
        err.print(f"no GPU: {escape(str(reason))}")


# ------------------------------------------------------------------------------ provider


def _types(values: list[str]) -> frozenset[Any]:
    from citrate_compute.errors import ComputeValueError
    from citrate_compute.jobs import JobType

    found = set()
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            try:
                found.add(JobType.parse(part))
            except ValueError as exc:
                raise ComputeValueError(str(exc)) from None
    return frozenset(found)


def _provider_config(
    *,
    allocation: int,
    stake: str,
    job_types: list[str],
    models: list[str],
    any_model: bool,
    prices: list[str],
    max_jobs: int,
    handlers: list[str],
    verify_share: float,
    data_dir: Path | None,
    poll: float,
) -> Any:
    from citrate_compute.errors import ComputeValueError
    from citrate_compute.jobs import JobType
    from citrate_compute.provider import BUILTIN_MODELS, ProviderConfig
    from citrate_crypto import paths

    kinds = _types(job_types) or frozenset({JobType.INFERENCE, JobType.EMBEDDING})
    config = ProviderConfig(
        allocation_percent=allocation,
        stake=_parse_price(stake),
        job_types=kinds,
        any_model=any_model,
        max_concurrent_jobs=max_jobs,
        verification_share=verify_share,
        state_dir=paths.data_dir(data_dir) / "compute",
        poll_interval=poll,
    )
    if models:
        for spec in models:
            name, _, chain_id = spec.partition("=")
            config.serve(name.strip(), chain_id.strip() or None)
    else:
        for name, kind in BUILTIN_MODELS.items():
            if kind in kinds:
                config.serve(name)
    for spec in prices:
        kind_text, sep, amount = spec.partition("=")
        if sep:
            try:
                kind = JobType.parse(kind_text)
            except ValueError as exc:
                raise ComputeValueError(str(exc)) from None
            config.costs[kind] = _parse_price(amount)
        else:
            wei = _parse_price(spec)
            for kind in JobType:
                config.costs[kind] = wei
    for spec in handlers:
        kind_text, sep, handler = spec.partition("=")
        if not sep or ":" not in handler:
            raise ComputeValueError(
                f"`{spec}` is not TYPE=module:function", hint="e.g. inference=my_pkg.jobs:run"
            )
        try:
            config.handlers[JobType.parse(kind_text)] = handler.strip()
        except ValueError as exc:
            raise ComputeValueError(str(exc)) from None
    config.validate()
    return config


@provider_app.command("start")
@errors_to_exit
def provider_start(
    allocation: Annotated[
        int,
        typer.Option(
            "--allocation", help="Percent of each device to lend (1-100).", min=1, max=100
        ),
    ] = 50,
    stake: Annotated[
        str, typer.Option("--stake", help="SALT to stake when registering (minimum 1000).")
    ] = "1000",
    job_types: Annotated[
        list[str] | None,
        typer.Option(
            "--type", help="Job types to serve (repeat or comma-separate).", show_default=False
        ),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="A local model to serve: NAME (its on-chain id is keccak256(NAME)), or NAME=ID "
            "with ID a ModelRegistry id (0x...) or the name requesters use. Default: the "
            "built-in gemma-3-270m and all-minilm-l6-v2.",
            show_default=False,
        ),
    ] = None,
    any_model: Annotated[
        bool, typer.Option("--any-model", help="Register as serving every model.")
    ] = False,
    prices: Annotated[
        list[str] | None,
        typer.Option(
            "--price",
            help="Lowest price per job, SALT: one amount for every type, or TYPE=AMOUNT.",
            show_default=False,
        ),
    ] = None,
    max_jobs: Annotated[
        int, typer.Option("--max-jobs", help="Jobs at once (active + open bids).", min=1, max=64)
    ] = 2,
    executor_kind: Annotated[
        str,
        typer.Option("--executor", help="local, or ray (a local Ray instance or --ray-address)."),
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Join this Ray cluster (ray executor).")
    ] = None,
    handlers: Annotated[
        list[str] | None,
        typer.Option(
            "--handler",
            help="Operator handler TYPE=module:function (runs instead of the built-in one).",
            show_default=False,
        ),
    ] = None,
    handler_path: Annotated[
        list[Path] | None,
        typer.Option("--handler-path", help="Directory the operator handlers are imported from."),
    ] = None,
    verify_share: Annotated[
        float,
        typer.Option(
            "--verify-share", help="Share of tier-1 jobs to re-execute (0-1).", min=0, max=1
        ),
    ] = 0.0,
    devices_backend: Annotated[
        str, typer.Option("--devices", help="auto (NVML, else CPU), nvml or cpu.")
    ] = "auto",
    poll: Annotated[float, typer.Option("--poll", help="Seconds between steps.", min=0.1)] = 2.0,
    rpc: Rpc = DEFAULT_RPC,
    ipfs: Ipfs = DEFAULT_IPFS,
    address: From = None,
    yes: Yes = False,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Serve jobs until Ctrl-C: register (with the stake), bid, run, commit, reveal, get paid."""
    import logging
    import signal
    import threading

    config = _provider_config(
        allocation=allocation,
        stake=stake,
        job_types=job_types or [],
        models=models or [],
        any_model=any_model,
        prices=prices or [],
        max_jobs=max_jobs,
        handlers=handlers or [],
        verify_share=verify_share,
        data_dir=data_dir,
        poll=poll,
    )
    inp = LineInput(password_stdin)
    signer = _signer(data_dir, address)
    market = _market(rpc, signer)
    content = _content(ipfs)
    try:
        info = market.provider(signer.address)
        if not info.registered:
            _approve(
                [
                    f"Register [bold]{signer.address}[/] as a compute provider on "
                    f"{escape(market.rpc.display_url)}:",
                    f"  stake: [bold]{_salt(config.stake)}[/] (locked while it has jobs or bids; "
                    "5 % slashed per missed deadline, 10 % per result proven wrong)",
                    f"  serves: {', '.join(sorted(t.name.lower() for t in config.job_types))}; "
                    f"models: {', '.join(sorted(config.models.values())) or 'any'}",
                ],
                yes,
                inp,
            )
        if config.verification_share > 0:
            # Disputes move value on their own: say so and ask, on every start.
            _approve(
                [
                    f"Verify other providers' results as {signer.address}: re-execute "
                    f"{config.verification_share:.0%} of tier-1 jobs (all tier-2 jobs) and, on a "
                    "mismatch, open a dispute with a [bold]10 SALT[/] bond each (lost if the "
                    "arbiter rules the result correct; needs the VERIFIER_ROLE).",
                ],
                yes,
                inp,
            )
        # The agent is a service that signs for as long as it runs (a quiet day must not stop
        # it): the wallet stays open until it stops, and the keys held in this process are kept
        # from other processes of the same user (no ptrace attach, no core dump).
        _not_dumpable()
        _unlock(signer, inp, idle_timeout=math.inf)
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
        )
        resources, executor = _build_runtime(
            config, executor_kind, ray_address, handler_path or [], devices_backend
        )
        from citrate_compute.provider import ProviderAgent

        agent = ProviderAgent(market, content, resources, executor, config)
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            err.print(
                f"providing as {signer.address} ({allocation} % allocation, executor "
                f"{executor.name}); Ctrl-C stops"
            )
            agent.run_forever(stop)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            agent.close()
            executor.shutdown()
            close = getattr(resources, "close", None)
            if close is not None:
                close()
    finally:
        signer.lock()
        market.close()
        content.close()
    err.print("stopped")


def _not_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): no core dumps, and same-user processes (a job in the `none`
    sandbox mode, say) cannot ptrace this one to read the unlocked keys. Linux only."""
    import ctypes
    import ctypes.util
    import logging

    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    pr_set_dumpable = 4
    if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        logging.getLogger("citrate_compute.cli").warning(
            "could not mark the provider non-dumpable (errno %d)", ctypes.get_errno()
        )


def _build_runtime(
    config: Any, kind: str, ray_address: str | None, handler_paths: list[Path], backend: str
) -> tuple[Any, Any]:
    from citrate_compute.devices import detect_devices
    from citrate_compute.errors import ComputeValueError
    from citrate_compute.executors import LocalExecutor, RayExecutor
    from citrate_compute.resources import GPUResourceManager
    from citrate_compute.sandbox import SandboxConfig

    sandbox = SandboxConfig(
        extra_sys_path=tuple(p.absolute() for p in handler_paths),
        allowed_handlers=frozenset(config.handlers.values()),
        hide_paths=(Path(config.state_dir).parent.absolute(),) if config.state_dir else (),
    )
    if kind == "local":
        executor: Any = LocalExecutor(config.max_concurrent_jobs, config=sandbox)
    elif kind == "ray":
        executor = RayExecutor(ray_address, config=sandbox)
    else:
        raise ComputeValueError(f"unknown executor `{kind}`", hint="use local or ray")
    mask = 0
    for job_type in config.job_types:
        mask |= job_type.bit
    try:
        resources = GPUResourceManager(
            detect_devices(backend),  # type: ignore[arg-type]
            allocations=config.allocation_percent,
            max_jobs=config.max_concurrent_jobs,
            job_types=mask,
            throttle=executor,
        )
    except BaseException:
        executor.shutdown()
        raise
    resources.start_monitor()
    return resources, executor


@provider_app.command("status")
@errors_to_exit
def provider_status(
    rpc: Rpc = DEFAULT_RPC,
    address: From = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """The provider's on-chain record and what the local agent recorded (jobs, skips, earnings)."""
    from citrate_compute.provider import ProviderState
    from citrate_crypto import paths

    if address is None:
        address = _signer(data_dir, None).address
    with _market(rpc) as market:
        info = market.provider(address)
        credit = market.credit_of(address)
    state_path = paths.data_dir(data_dir) / "compute" / f"provider-{address.lower()}.json"
    state = ProviderState(state_path if state_path.exists() else None)
    counts: dict[str, int] = {}
    for record in state.jobs.values():
        counts[record.status] = counts.get(record.status, 0) + 1
    doc = {
        "provider": info.to_json(),
        "credit": str(credit),
        "earned_total": str(state.earned_total),
        "withdrawn_total": str(state.withdrawn_total),
        "jobs": counts,
        "failures": {
            str(k): v.reason for k, v in state.jobs.items() if v.status == "failed" and v.reason
        },
        "skips": {str(k): v.reason for k, v in state.skips.items()},
        "state_file": str(state_path) if state_path.exists() else None,
        "live": state.live,
    }
    if as_json:
        _print_json(doc)
        return
    status = (
        "active"
        if info.active
        else ("registered, stake below minimum" if info.registered else "not registered")
    )
    out.print(f"provider {address}: {status}")
    out.print(f"  stake {_salt(info.stake)}, reputation {info.reputation / 100:.2f} %")
    out.print(
        f"  jobs on chain: {info.active_jobs} active, {info.open_bids} open bids, "
        f"{info.jobs_completed} completed, {info.jobs_timed_out} timed out, "
        f"{info.jobs_failed} failed"
    )
    out.print(f"  earned {_salt(state.earned_total)}; credit to withdraw {_salt(credit)}")
    for k, v in sorted(counts.items()):
        out.print(f"  local {k}: {v}")
    _print_live(state.live)
    for jid, reason in doc["failures"].items():  # type: ignore[union-attr]
        out.print(f"  job {jid} failed: {escape(str(reason))}")
    for jid, reason in list(doc["skips"].items())[-10:]:  # type: ignore[union-attr]
        out.print(f"  job {jid} skipped: {escape(str(reason))}")


def _print_live(live: dict[str, Any]) -> None:
    """The devices, ledger and holds the running agent recorded at its last step."""
    import time

    if not live:
        return
    age = time.time() - float(live.get("updated_at", 0))
    out.print(f"  at the agent's last step ({age:.0f} s ago):")
    sandbox = live.get("executor", {}).get("sandbox", {})
    if sandbox:
        isolation = sandbox.get("isolation", {})
        out.print(f"    isolation: {escape(str(isolation.get('label', 'unknown')))}")
        for gap in isolation.get("gaps", []):
            out.print(f"      not enforced: {escape(str(gap))}")
    resources = live.get("resources", {})
    if "error" in resources:
        out.print(f"    devices: {escape(str(resources['error']))}")
    for dev in resources.get("devices", []):
        gib = 1024**3
        out.print(
            f"    {dev['id']} ({dev['kind']}): {dev['allocation_percent']} % lent, share "
            f"{dev['share'] / gib:.1f} GiB, reserved {dev['reserved'] / gib:.1f} GiB, free "
            f"{dev['free'] / gib:.1f} GiB, {len(dev['running'])} running"
        )
        if dev.get("held"):
            out.print(f"      holding new jobs: {escape(str(dev.get('hold_reason')))}")
        if dev.get("paused_jobs"):
            out.print(f"      paused jobs: {', '.join(map(str, dev['paused_jobs']))}")


# ------------------------------------------------------------------------------ requester


@app.command("submit")
@errors_to_exit
def submit(
    job_type: Annotated[str, typer.Option("--type", help="inference, embedding, ...")],
    model: Annotated[str, typer.Option("--model", help="Model name, or 0x registry id.")],
    max_price: Annotated[str, typer.Option("--max-price", help="Most SALT to pay (escrowed).")],
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="The input document (JSON file).", show_default=False),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="Text (builds the input document).", show_default=False),
    ] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 64,
    bid_window: Annotated[int, typer.Option("--bid-window", help="Seconds open for bids.")] = 60,
    exec_window: Annotated[
        int, typer.Option("--exec-window", help="Seconds the provider has after assignment.")
    ] = 600,
    tier: Annotated[
        int, typer.Option("--tier", help="Verification: 0 commitment, 1 spot check, 2 re-execute.")
    ] = 1,
    rpc: Rpc = DEFAULT_RPC,
    ipfs: Ipfs = DEFAULT_IPFS,
    address: From = None,
    yes: Yes = False,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Upload the input and post a job, escrowing its max price."""
    from citrate_compute.content import MAX_INPUT_BYTES, parse_document
    from citrate_compute.errors import ComputeValueError
    from citrate_compute.requester import RequesterClient

    document = None
    if input_file is not None:
        try:
            size = input_file.stat().st_size
            if size > MAX_INPUT_BYTES:
                raise ComputeValueError(
                    f"`{input_file}` is {size} bytes, more than the {MAX_INPUT_BYTES}-byte limit"
                )
            data = input_file.read_bytes()
        except OSError as exc:
            raise ComputeValueError(f"cannot read `{input_file}`: {exc.strerror}") from None
        document = parse_document(data, f"`{input_file}`")
    from citrate_compute.jobs import JobType
    from citrate_compute.requester import check_spec

    try:
        JobType.parse(job_type)
    except ValueError as exc:
        raise ComputeValueError(str(exc)) from None
    price = _parse_price(max_price)
    check_spec(price, bid_window, exec_window, tier)  # before the wallet is touched
    inp = LineInput(password_stdin)
    signer = _signer(data_dir, address)
    with _market(rpc, signer) as market, _content(ipfs) as content:
        client = RequesterClient(market, content)
        spec, data = client.prepare(
            job_type,
            model,
            document=document,
            prompt=prompt,
            max_price=_parse_price(max_price),
            bid_window=bid_window,
            exec_window=exec_window,
            tier=tier,
            max_tokens=max_tokens,
        )
        _approve(
            [
                f"Post {_article(spec.job_type.name.lower())} job for model `{escape(model)}` from "
                f"[bold]{signer.address}[/]:",
                f"  escrow: [bold]{_salt(spec.max_price)}[/] (the winning bid's price is paid on "
                "completion, 95 % provider / 3 % treasury / 2 % routing; the rest comes back)",
                f"  input: {len(data)} bytes, bids for {bid_window} s, {exec_window} s to run",
            ],
            yes,
            inp,
        )
        _unlock(signer, inp)
        try:
            sub = client.submit(
                spec.job_type,
                model,
                document=document,
                prompt=prompt,
                max_price=spec.max_price,
                bid_window=bid_window,
                exec_window=exec_window,
                tier=tier,
                max_tokens=max_tokens,
            )
        finally:
            signer.lock()
    if as_json:
        _print_json(
            {
                "job_id": sub.job_id,
                "input_cid": sub.input_cid,
                "input_hash": sub.input_hash,
                "tx_hash": sub.receipt.tx_hash,
            }
        )
    else:
        out.print(f"job {sub.job_id} posted (input {sub.input_cid}, tx {sub.receipt.tx_hash})")


@app.command("status")
@errors_to_exit
def status(
    job_id: JobId, rpc: Rpc = DEFAULT_RPC, ipfs: Ipfs = DEFAULT_IPFS, as_json: AsJson = False
) -> None:
    """A job's state, provider, price, deadlines, bids, and its verified output once revealed."""
    from citrate_compute.requester import RequesterClient

    with _market(rpc) as market, _content(ipfs) as content:
        view = RequesterClient(market, content).status(job_id)
    if as_json:
        _print_json(view.to_json())
        return
    job = view.job
    out.print(f"job {job.job_id}: [bold]{job.state.name.lower()}[/] ({job.job_type.name.lower()})")
    out.print(f"  requester {job.requester}; max price {_salt(job.max_price)}")
    if job.provider != "0x" + "00" * 20:
        out.print(f"  provider {job.provider} at {_salt(job.price)}")

    def when(ts: int) -> str:
        if not ts:
            return "-"
        delta = ts - view.now
        return f"{ts} ({'in' if delta >= 0 else 'passed'} {abs(delta)} s)"

    out.print(f"  bid deadline {when(job.bid_deadline)}")
    if job.exec_deadline:
        out.print(f"  commit by {when(job.exec_deadline)}, reveal by {when(job.reveal_deadline)}")
    if job.challenge_deadline:
        out.print(f"  challenge window until {when(job.challenge_deadline)}")
    for b in view.bids:
        out.print(
            f"  bid {b.provider}: {_salt(b.price)}, {b.estimated_latency_ms} ms, score {b.score}"
        )
    if view.output is not None:
        out.print(
            f"  output ({len(view.output)} bytes, verified against 0x{job.output_hash.hex()})"
        )
        out.print(escape(view.output.decode("utf-8", "replace")[:2000]))
    elif view.output_error:
        out.print(f"  output: {escape(view.output_error)}")


@app.command("result")
@errors_to_exit
def result(
    job_id: JobId,
    output: Annotated[
        Path | None,
        typer.Option("--out", help="Write the output document here.", show_default=False),
    ] = None,
    rpc: Rpc = DEFAULT_RPC,
    ipfs: Ipfs = DEFAULT_IPFS,
) -> None:
    """Fetch a job's revealed output, verified against its on-chain hash, and print it."""
    from citrate_compute.requester import RequesterClient

    with _market(rpc) as market, _content(ipfs) as content:
        data = RequesterClient(market, content).result(job_id)
    if output is None:
        sys.stdout.buffer.write(data + (b"" if data.endswith(b"\n") else b"\n"))
        sys.stdout.flush()
        return
    import os

    from citrate_compute.errors import ComputeValueError

    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ComputeValueError(f"`{output}` already exists", hint="choose a new file") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    err.print(f"wrote {len(data)} bytes to {output}")


def _job_action(
    job_id: int,
    *,
    rpc: str,
    address: str | None,
    data_dir: Path | None,
    password_stdin: bool,
    yes: bool,
    summary: Callable[[MarketClient], list[str] | None],
    act: Callable[[MarketClient], Any],
    done: str,
) -> None:
    inp = LineInput(password_stdin)
    signer = _signer(data_dir, address)
    with _market(rpc, signer) as market:
        lines = summary(market)
        if lines is not None:
            _approve(lines, yes, inp)
        _unlock(signer, inp)
        try:
            receipt = act(market)
        finally:
            signer.lock()
    out.print(f"{done} (tx {receipt.tx_hash})")


@app.command("complete")
@errors_to_exit
def complete(
    job_id: JobId,
    rpc: Rpc = DEFAULT_RPC,
    address: From = None,
    yes: Yes = False,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Accept a revealed result and pay the provider (95/3/2 split; unused escrow back)."""

    def summary(market: MarketClient) -> list[str]:
        job = market.job(job_id)
        provider, treasury, pool = market.split_price(job.price)
        return [
            f"Complete job {job_id} ({job.state.name.lower()}): pay [bold]{_salt(job.price)}[/]",
            f"  provider {job.provider}: {_salt(provider)}; treasury {_salt(treasury)}; "
            f"routing pool {_salt(pool)}",
            f"  refund to you: {_salt(job.max_price - job.price)} (withdraw with "
            "`citrate compute withdraw`)",
        ]

    _job_action(
        job_id,
        rpc=rpc,
        address=address,
        data_dir=data_dir,
        password_stdin=password_stdin,
        yes=yes,
        summary=summary,
        act=lambda m: m.complete_job(job_id),
        done=f"job {job_id} completed",
    )


@app.command("assign")
@errors_to_exit
def assign(
    job_id: JobId,
    rpc: Rpc = DEFAULT_RPC,
    address: From = None,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Assign a job to its best bid now (the requester may before the bid deadline)."""
    _job_action(
        job_id,
        rpc=rpc,
        address=address,
        data_dir=data_dir,
        password_stdin=password_stdin,
        yes=True,
        summary=lambda m: None,
        act=lambda m: m.assign_best_bid(job_id),
        done=f"job {job_id} assigned",
    )


@app.command("cancel")
@errors_to_exit
def cancel(
    job_id: JobId,
    rpc: Rpc = DEFAULT_RPC,
    address: From = None,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Cancel an unassigned job; the escrow is credited back."""
    _job_action(
        job_id,
        rpc=rpc,
        address=address,
        data_dir=data_dir,
        password_stdin=password_stdin,
        yes=True,
        summary=lambda m: None,
        act=lambda m: m.cancel_job(job_id),
        done=f"job {job_id} cancelled; withdraw the refund with `citrate compute withdraw`",
    )


@app.command("timeout")
@errors_to_exit
def timeout(
    job_id: JobId,
    rpc: Rpc = DEFAULT_RPC,
    address: From = None,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Time out a job whose provider missed its deadline: escrow and slash come back."""
    _job_action(
        job_id,
        rpc=rpc,
        address=address,
        data_dir=data_dir,
        password_stdin=password_stdin,
        yes=True,
        summary=lambda m: None,
        act=lambda m: m.timeout_job(job_id),
        done=f"job {job_id} timed out; withdraw the refund with `citrate compute withdraw`",
    )


@app.command("dispute")
@errors_to_exit
def dispute(
    job_id: JobId,
    rpc: Rpc = DEFAULT_RPC,
    address: From = None,
    yes: Yes = False,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Dispute a revealed result with the 10 SALT bond (the arbiter rules)."""
    from citrate_compute.market import DISPUTE_BOND

    _job_action(
        job_id,
        rpc=rpc,
        address=address,
        data_dir=data_dir,
        password_stdin=password_stdin,
        yes=yes,
        summary=lambda m: [
            f"Dispute job {job_id}: bond [bold]{_salt(DISPUTE_BOND)}[/] (returned with the "
            "provider's slash if the arbiter finds the result wrong; lost to the provider if not)"
        ],
        act=lambda m: m.dispute_result(job_id),
        done=f"job {job_id} disputed",
    )


@app.command("withdraw")
@errors_to_exit
def withdraw(
    rpc: Rpc = DEFAULT_RPC,
    address: From = None,
    yes: Yes = False,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Withdraw what ComputeMarket owes this account (refunds, earnings, bonds)."""
    inp = LineInput(password_stdin)
    signer = _signer(data_dir, address)
    with _market(rpc, signer) as market:
        credit = market.credit_of(signer.address)
        if credit == 0:
            out.print(f"nothing is owed to {signer.address}")
            return
        _approve([f"Withdraw [bold]{_salt(credit)}[/] to {signer.address}"], yes, inp)
        _unlock(signer, inp)
        try:
            receipt = market.withdraw(signer.address)
        finally:
            signer.lock()
    out.print(f"withdrew {_salt(credit)} (tx {receipt.tx_hash})")
