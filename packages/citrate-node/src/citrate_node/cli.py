"""`citrate devnet`: run a local Citrate node (GhostDAG on revm) with Ethereum JSON-RPC."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from citrate_crypto import paths
from citrate_node import _native
from citrate_node.config import (
    DEFAULT_IPFS_PORT,
    DEFAULT_PORT,
    DEV_ACCOUNTS,
    DEV_PHRASE,
    LOOPBACK_HOSTS,
    DevnetConfig,
    dev_addresses,
    producer_coinbases,
    system_plan,
)
from citrate_node.server import ListenError, serve
from citrate_store import StoreLocked

app = typer.Typer(
    name="devnet",
    help="Run a local Citrate devnet node (GhostDAG block DAG on revm, Ethereum JSON-RPC).",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.callback()
def devnet(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the chain is stored (default: <citrate data dir>/devnet; "
            "$CITRATE_HOME sets the data dir).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (loopback unless you mean otherwise).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="HTTP and WebSocket port (0 picks a free one).")
    ] = DEFAULT_PORT,
    ipfs_port: Annotated[
        int,
        typer.Option(
            "--ipfs-port",
            min=0,
            max=65535,
            help="Port of the content store's Kubo-compatible API (0 picks a free one).",
        ),
    ] = DEFAULT_IPFS_PORT,
    no_ipfs: Annotated[
        bool, typer.Option("--no-ipfs", help="Do not run the content store's API.")
    ] = False,
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="EIP-155 chain id.")] = 1337,
    block_time: Annotated[
        float,
        typer.Option(
            "--block-time",
            min=0.0,
            help="Seconds between blocks; 0 mines as soon as a transaction arrives.",
        ),
    ] = 2.0,
    producers: Annotated[
        int,
        typer.Option(
            min=1,
            max=10,
            help="Virtual producers building parallel blocks each round (the DAG's width).",
        ),
    ] = 1,
    k: Annotated[int, typer.Option("--k", min=1, max=255, help="GhostDAG k.")] = 18,
    gas_limit: Annotated[
        int, typer.Option("--gas-limit", min=21_000, help="Block gas limit.")
    ] = 30_000_000,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Also accept requests whose Host header is this name ('*' = any); repeatable.",
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin", help="Allow browser requests from this origin ('*' = any); repeatable."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run a devnet node until Ctrl-C. Chain and state persist in the data dir."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = DevnetConfig(
        data_dir=(data_dir.expanduser().absolute() if data_dir else paths.data_dir() / "devnet"),
        host=host,
        port=port,
        ipfs_port=None if no_ipfs else ipfs_port,
        chain_id=chain_id,
        block_time=block_time,
        producers=producers,
        k=k,
        block_gas_limit=gas_limit,
        allowed_hosts=tuple(allowed_host or ()),
        cors_origins=tuple(cors_origin or ()),
    )
    if not _is_loopback(host):
        typer.echo(
            f"warning: listening on {host}: anyone who can reach this address can use the node",
            err=True,
        )

    def ready(bound_host: str, bound_port: int, bound_ipfs: int | None) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        addresses = dev_addresses(DEV_ACCOUNTS)
        lines = [
            f"Citrate devnet v{_native.__version__}  chain id {chain_id}  GhostDAG k={k}  "
            f"producers {producers}  block time {block_time:g}s",
            f"Data dir: {config.data_dir}",
            f"Funded accounts ({config.balance // 10**18:,} SALT each), keys from the public "
            f'development phrase "{DEV_PHRASE}" (never use it for real funds):',
            *(f"  ({i}) {a}" for i, a in enumerate(addresses)),
            "Producer fees are paid to: "
            + ", ".join("0x" + c.hex() for c in producer_coinbases(producers)),
            "System contracts (admin, deployer: development account 20; treasury: 21; "
            "routing pool: 22):",
            *(f"  {name:<20} {address}" for name, address in system_plan().addresses.items()),
            (
                f"Content store (IPFS API): http://{shown}:{bound_ipfs}/api/v0"
                if bound_ipfs is not None
                else "Content store: off (--no-ipfs)"
            ),
            f"Listening on http://{shown}:{bound_port} and ws://{shown}:{bound_port}",
        ]
        typer.echo("\n".join(lines))
        sys.stdout.flush()

    try:
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise _fail(
            f"cannot create the data directory {config.data_dir}: {err.strerror or err}"
        ) from None
    try:
        asyncio.run(_run(config, ready))
    except (_native.StoreError, StoreLocked) as err:
        raise _fail(str(err)) from None
    except ListenError as err:
        raise _fail(str(err)) from None


async def _run(config: DevnetConfig, ready: Callable[[str, int, int | None], None]) -> None:
    task = asyncio.get_running_loop().create_task(serve(config, ready))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
