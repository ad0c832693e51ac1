"""A password-attempt limiter that survives restarts and holds across processes.

State lives in a 0600 JSON file beside the vault; every attempt takes an exclusive `flock` for
the whole check-verify-record sequence, so two processes guessing at once are serialised and
counted together. After `free_attempts` consecutive failures each further failure locks password
operations for `base_delay * 2**(failures - free_attempts)` seconds, up to `max_delay`.

An attacker who can write the wallet directory can delete this file, but such an attacker can
also copy the vault and guess offline; the limiter protects the running application's password
prompts (and the Argon2id cost protects the file).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from citrate_crypto._files import atomic_write, exclusive_lock, read_private
from citrate_crypto.errors import LockedOutError, WrongPasswordError

T = TypeVar("T")


@dataclass(frozen=True)
class LimiterPolicy:
    """How many failures are free and how the delay grows after them."""

    free_attempts: int = 5
    base_delay: float = 30.0
    max_delay: float = 24 * 3600.0


class AttemptLimiter:
    """Guards password checks with a persistent failure counter."""

    def __init__(
        self,
        state_path: Path,
        policy: LimiterPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = state_path
        self._lock_path = state_path.with_name(state_path.name + ".lock")
        self._policy = policy or LimiterPolicy()
        self._clock = clock

    def attempt(self, check: Callable[[], T | None]) -> T:
        """Run `check`, which returns a result or None for a wrong password.

        Raises:
            LockedOutError: a lockout is in force; `check` was not run.
            WrongPasswordError: `check` returned None; the failure was recorded.
        """
        with exclusive_lock(self._lock_path):
            failures, locked_until = self._read()
            now = self._clock()
            if locked_until > now:
                raise LockedOutError(locked_until - now, failures)
            result = check()
            if result is not None:
                if failures:
                    self._write(0, 0.0)
                return result
            failures += 1
            free = self._policy.free_attempts
            if failures >= free:
                # The exponent is capped so a huge (tampered) count cannot overflow the float.
                doublings = min(failures - free, 64)
                delay = min(self._policy.base_delay * 2**doublings, self._policy.max_delay)
                locked_until = now + delay
            self._write(failures, locked_until)
            raise WrongPasswordError(max(free - failures, 0))

    def status(self) -> tuple[int, float]:
        """Return (consecutive failures, seconds until unlocked; 0 when not locked)."""
        failures, locked_until = self._read()
        return failures, max(0.0, locked_until - self._clock())

    def _read(self) -> tuple[int, float]:
        try:
            doc = json.loads(read_private(self._path))
            return int(doc["failures"]), float(doc["locked_until"])
        except FileNotFoundError:
            return 0, 0.0
        except (ValueError, KeyError, TypeError):
            # A damaged counter must not become a way to reset it: count it as used up, so the
            # next wrong password locks at once while the right one still opens.
            return self._policy.free_attempts, 0.0

    def _write(self, failures: int, locked_until: float) -> None:
        payload = json.dumps({"failures": failures, "locked_until": locked_until})
        atomic_write(self._path, payload.encode())
