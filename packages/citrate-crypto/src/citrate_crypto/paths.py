"""Where Citrate keeps its files: `--data-dir`, else `$CITRATE_HOME`, else the user data dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_HOME = "CITRATE_HOME"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the Citrate data directory (not created here)."""
    if override is not None and str(override) != "":
        return Path(override).expanduser().absolute()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().absolute()
    return Path(platformdirs.user_data_dir("citrate", appauthor=False))


def wallet_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The wallet's directory inside the data directory."""
    return data_dir(override) / "wallet"
