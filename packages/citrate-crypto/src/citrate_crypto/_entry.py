"""The `citrate` command: one entry point, one subcommand group per installed Citrate package.

Packages contribute their group through the `citrate.commands` entry-point group, so installing
`citrate-node` later adds `citrate devnet` without this package knowing about it.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from citrate_crypto import __version__


def build() -> typer.Typer:
    """Assemble the root command from every installed package's group."""
    root = typer.Typer(
        name="citrate",
        help="Citrate: an AI-native, EVM-compatible BlockDAG platform.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    def _print_version(value: bool) -> None:
        if value:
            typer.echo(f"citrate {__version__}")
            raise typer.Exit()

    @root.callback()
    def _root(
        version: bool = typer.Option(
            False,
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ) -> None:
        """Citrate: an AI-native, EVM-compatible BlockDAG platform."""

    for ep in sorted(entry_points(group="citrate.commands"), key=lambda e: e.name):
        root.add_typer(ep.load(), name=ep.name)
    return root


def main() -> None:
    """Run the `citrate` command."""
    build()()
