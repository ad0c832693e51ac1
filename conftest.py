"""Hermetic defaults for every test in the workspace.

Tests blank every secret and endpoint from the environment, never touch the user's data
directory, and never reach an OS keychain unless a test starts its own (see the keychain test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


@pytest.fixture(autouse=True)
def _hermetic_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    for name in list(os.environ):
        if name.endswith(_SECRET_SUFFIXES) or name.startswith(
            ("CITRATE_", "OPENAI_", "ANTHROPIC_")
        ):
            monkeypatch.delenv(name, raising=False)
    # rustup finds its toolchains through HOME; keep them for tests that build Rust.
    real_home = Path.home()
    for var, sub in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")):
        if var not in os.environ and (real_home / sub).is_dir():
            monkeypatch.setenv(var, str(real_home / sub))
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield
