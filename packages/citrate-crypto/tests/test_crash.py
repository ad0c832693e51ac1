"""A crash while the vault is being written never leaves a half-written vault."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from citrate_crypto import Wallet

from .conftest import DEV_PHRASE, FAST_KDF, GOOD_PASSWORD

CHILD = textwrap.dedent(
    """
    import os, pathlib, sys
    from pathlib import Path
    from citrate_crypto import KdfParams, Wallet

    mode = sys.argv[2]
    if mode == "die-before-rename":
        def crash(src, dst):
            os._exit(9)  # the temp file is written and fsync'd; the rename never happens
        pathlib.Path.replace = crash
    wallet = Wallet(Path(sys.argv[1]), kdf=KdfParams.owasp_minimum())
    print("ready", flush=True)
    while True:
        wallet.add_account(PASSWORD)
        if mode == "die-before-rename":
            break
    """
).replace("PASSWORD", repr(GOOD_PASSWORD))


def _child(directory: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), mode],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_death_before_rename_keeps_the_old_vault(tmp_path: Path) -> None:
    wallet = Wallet(tmp_path / "w", kdf=FAST_KDF)
    wallet.recover(DEV_PHRASE, GOOD_PASSWORD)
    before = wallet.path.read_bytes()
    with _child(wallet.directory, "die-before-rename") as proc:
        assert proc.wait(120) == 9
    assert wallet.path.read_bytes() == before
    assert len(wallet.unlock(GOOD_PASSWORD).accounts()) == 1
    # The orphaned temp file holds only ciphertext and is private; later writes still work.
    for tmp in wallet.directory.glob(".vault.json.*.tmp"):
        assert (tmp.stat().st_mode & 0o077) == 0
    wallet.add_account(GOOD_PASSWORD)
    assert len(wallet.accounts()) == 2


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts(tmp_path: Path) -> None:
    wallet = Wallet(tmp_path / "w", kdf=FAST_KDF)
    wallet.recover(DEV_PHRASE, GOOD_PASSWORD)
    counts = []
    for delay in (0.05, 0.13, 0.21, 0.34, 0.55, 0.89):
        with _child(wallet.directory, "loop") as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        # Whatever moment the kill hit, the vault opens and its header matches its contents.
        unlocked = wallet.unlock(GOOD_PASSWORD)
        accounts = unlocked.accounts()
        for info in accounts:
            assert unlocked.account(info.address).address == info.address
        counts.append(len(accounts))
    assert counts == sorted(counts)
    assert counts[-1] > 1
