"""`citrate contracts`: build and check the system contracts' artifacts, compile, deploy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from citrate_contracts import build as build_mod
from citrate_contracts.compiler import CompilationError, Compiler, CompilerNotFound

app = typer.Typer(
    name="contracts",
    help="Citrate's system contracts: build artifacts, check them, compile Solidity, deploy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _contracts_dir(path: Path | None) -> Path:
    try:
        return build_mod.find_contracts_dir(path)
    except FileNotFoundError as e:
        raise _fail(str(e)) from None


@app.command("build")
def build_cmd(
    contracts_dir: Annotated[
        Path | None, typer.Option("--dir", help="The contracts/ folder (default: found upwards).")
    ] = None,
) -> None:
    """Compile contracts/src and write contracts/out and the package's artifacts."""
    root = _contracts_dir(contracts_dir)
    try:
        report = build_mod.build(root)
    except (CompilationError, CompilerNotFound, RuntimeError) as e:
        raise _fail(str(e)) from None
    for kind, paths in (("updated", report.changed), ("added", report.missing)):
        for p in paths:
            typer.echo(f"{kind} {p}")
    for p in report.stale:
        typer.echo(f"removed {p}")
    if report.clean:
        typer.echo("artifacts are up to date")


@app.command("check")
def check_cmd(
    contracts_dir: Annotated[
        Path | None, typer.Option("--dir", help="The contracts/ folder (default: found upwards).")
    ] = None,
) -> None:
    """Recompile and fail if the committed artifacts differ from the sources."""
    root = _contracts_dir(contracts_dir)
    try:
        report = build_mod.check(root)
    except (CompilationError, CompilerNotFound, RuntimeError) as e:
        raise _fail(str(e)) from None
    if report.clean:
        typer.echo("artifacts match the sources")
        return
    lines = [f"  differs: {p}" for p in report.changed]
    lines += [f"  missing: {p}" for p in report.missing]
    lines += [f"  stale (no source): {p}" for p in report.stale]
    raise _fail(
        "the committed contract artifacts do not match contracts/src:\n"
        + "\n".join(lines)
        + "\nhint: run `citrate contracts build` and commit the result"
    )


@app.command("compile")
def compile_cmd(
    source: Annotated[Path, typer.Argument(help="A Solidity file.", exists=False)],
) -> None:
    """Compile one Solidity file; print each contract's ABI and bytecode as JSON."""
    if not source.is_file():
        raise _fail(f"{source} is not a file")
    try:
        compiler = Compiler.find()
        result = compiler.compile_sources(
            {source.name: source.read_text(encoding="utf-8")}, roots=[source.parent]
        )
    except (CompilationError, CompilerNotFound, RuntimeError) as e:
        raise _fail(str(e)) from None
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    out = {
        c.name: {"abi": c.abi, "bytecode": c.bytecode, "deployedBytecode": c.deployed_bytecode}
        for c in result.contracts.values()
    }
    typer.echo(json.dumps({"compiler": result.compiler_version, "contracts": out}, indent=2))


@app.command("deploy")
def deploy_cmd(
    rpc_url: Annotated[str, typer.Option("--rpc-url", help="The chain's JSON-RPC URL.")],
    treasury: Annotated[str, typer.Option("--treasury", help="Address receiving platform fees.")],
    routing_pool: Annotated[
        str, typer.Option("--routing-pool", help="Address receiving ComputeMarket's 2 %.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write {name: address} JSON.")],
    key_env: Annotated[
        str,
        typer.Option(
            "--key-env",
            help="Environment variable holding the deployer's (= admin's) private key.",
        ),
    ] = "CITRATE_DEPLOYER_KEY",
) -> None:
    """Deploy the system contracts to an external EVM chain (e.g. anvil)."""
    from eth_utils.address import is_address
    from web3 import HTTPProvider, Web3

    from citrate_contracts.deploy import (
        DeploymentError,
        admin_from_env,
        deploy_system,
        write_addresses,
    )

    for label, value in (("--treasury", treasury), ("--routing-pool", routing_pool)):
        if not is_address(value):
            raise _fail(f"{label} {value!r} is not an address (0x + 40 hex digits)")
    try:
        admin = admin_from_env(key_env)
        w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
        if not w3.is_connected():
            raise _fail(f"no JSON-RPC node answers at {rpc_url}")
        plan = deploy_system(
            w3, admin, treasury=treasury, routing_pool=routing_pool, log=typer.echo
        )
    except DeploymentError as e:
        raise _fail(str(e)) from None
    write_addresses(out, plan.addresses)
    typer.echo(f"wrote {out}")
