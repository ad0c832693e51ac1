"""The wrong-password limiter: growing lockout, persistence, and two processes at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from citrate_crypto import Wallet
from citrate_crypto.errors import LockedOutError, WrongPasswordError
from citrate_crypto.limiter import AttemptLimiter, LimiterPolicy

from .conftest import DEV_PHRASE, FAST_KDF, GOOD_PASSWORD, OTHER_PASSWORD


def _fail(limiter: AttemptLimiter) -> None:
    with pytest.raises(WrongPasswordError):
        limiter.attempt(lambda: None)


def test_five_failures_lock_with_growing_delay(tmp_path: Path) -> None:
    now = [1_000.0]
    limiter = AttemptLimiter(tmp_path / "attempts.json", clock=lambda: now[0])
    for _ in range(4):
        _fail(limiter)
    assert limiter.status() == (4, 0.0)
    _fail(limiter)  # the fifth locks
    with pytest.raises(LockedOutError) as info:
        limiter.attempt(lambda: "never called")
    assert info.value.retry_after == pytest.approx(30)
    now[0] += 31
    _fail(limiter)  # sixth failure: 60 s
    assert limiter.status()[1] == pytest.approx(60)
    now[0] += 61
    _fail(limiter)
    assert limiter.status()[1] == pytest.approx(120)
    now[0] += 121
    assert limiter.attempt(lambda: "ok") == "ok"
    assert limiter.status() == (0, 0.0)


def test_lockout_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "attempts.json"
    first = AttemptLimiter(path)
    for _ in range(5):
        _fail(first)
    again = AttemptLimiter(path)  # a new process would build a new object from the file
    with pytest.raises(LockedOutError, match="locked for another"):
        again.attempt(lambda: "right password")


def test_delay_is_capped(tmp_path: Path) -> None:
    now = [0.0]
    policy = LimiterPolicy(free_attempts=1, base_delay=10, max_delay=50)
    limiter = AttemptLimiter(tmp_path / "a.json", policy, clock=lambda: now[0])
    for _ in range(10):
        _fail(limiter)
        now[0] += 1000
    _fail(limiter)
    assert limiter.status()[1] == 50


def test_huge_counter_does_not_overflow(tmp_path: Path) -> None:
    path = tmp_path / "attempts.json"
    path.write_text(json.dumps({"failures": 10**6, "locked_until": 0}))
    path.chmod(0o600)
    limiter = AttemptLimiter(path)
    _fail(limiter)
    assert limiter.status()[1] == pytest.approx(LimiterPolicy().max_delay, abs=5)


def test_damaged_counter_is_not_a_reset(tmp_path: Path) -> None:
    path = tmp_path / "attempts.json"
    limiter = AttemptLimiter(path)
    _fail(limiter)
    path.write_text("{garbage")
    path.chmod(0o600)
    assert limiter.status()[0] == 5
    _fail(limiter)
    with pytest.raises(LockedOutError):
        limiter.attempt(lambda: "x")


def test_wallet_export_locks_after_five_wrong_passwords(tmp_path: Path) -> None:
    wallet = Wallet(tmp_path / "w", kdf=FAST_KDF)
    wallet.recover(DEV_PHRASE, GOOD_PASSWORD)
    address = wallet.accounts()[0].address
    for _ in range(5):
        with pytest.raises(WrongPasswordError):
            wallet.export_key(address, OTHER_PASSWORD)
    with pytest.raises(LockedOutError):
        wallet.export_key(address, GOOD_PASSWORD)
    with pytest.raises(LockedOutError):
        wallet.unlock(GOOD_PASSWORD)
    state = json.loads((tmp_path / "w" / "attempts.json").read_text())
    assert state["failures"] == 5


GUESSER = textwrap.dedent(
    """
    import contextlib, sys
    from pathlib import Path
    from citrate_crypto import KdfParams, Wallet
    from citrate_crypto.errors import LockedOutError, WrongPasswordError

    wallet = Wallet(Path(sys.argv[1]), kdf=KdfParams.owasp_minimum())
    sys.stdin.readline()  # both processes start guessing together
    for _ in range(3):
        with contextlib.suppress(WrongPasswordError, LockedOutError):
            wallet.unlock(sys.argv[2])
    """
)


def test_limiter_counts_two_processes_together(tmp_path: Path) -> None:
    wallet = Wallet(tmp_path / "w", kdf=FAST_KDF)
    wallet.recover(DEV_PHRASE, GOOD_PASSWORD)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GUESSER, str(wallet.directory), OTHER_PASSWORD],
            stdin=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
    for proc in procs:
        assert proc.wait(120) == 0
    failures, remaining = wallet.attempts()
    assert failures == 5  # 6 guesses: the sixth met the lockout and was refused unchecked
    assert remaining > 0
    with pytest.raises(LockedOutError):
        wallet.unlock(GOOD_PASSWORD)
