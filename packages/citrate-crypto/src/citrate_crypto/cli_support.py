"""What every `citrate` command group shares: errors as `error: …`, and answers read from
prompts or, for scripts, one per line from standard input.

The `citrate` command belongs to this package; other packages (the agent, later the app and
compute) add groups to it and use these so every command fails and prompts the same way.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from citrate_crypto.errors import CitrateError

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, highlight=False)

#: The `--data-dir` option every command group takes.
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Citrate data directory (default: $CITRATE_HOME, else the user data dir).",
        show_default=False,
    ),
]


def errors_to_exit(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into `error: …` on standard error and exit code 1 (no traceback,
    which could show secrets held in local variables)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CitrateError as exc:
            stderr.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
        except (EOFError, KeyboardInterrupt, typer.Abort):
            stderr.print(
                "[bold red]error:[/] input ended before every answer was given; nothing changed"
            )
            raise typer.Exit(1) from None

    return wrapper


class LineInput:
    """Answers from hidden prompts, or (`from_stdin`) one per line from standard input."""

    def __init__(self, from_stdin: bool) -> None:
        self.from_stdin = from_stdin
        self._lines: Iterator[str] | None = None

    def line(self, prompt: str, *, hide: bool = True) -> str:
        if self.from_stdin:
            if self._lines is None:
                self._lines = iter(sys.stdin.readline, "")
            try:
                return next(self._lines).rstrip("\r\n")
            except StopIteration:
                raise EOFError(prompt) from None
        return str(typer.prompt(prompt, hide_input=hide))


__all__ = ["DataDir", "LineInput", "errors_to_exit", "stderr"]
