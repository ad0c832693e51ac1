"""The password policy for vaults and exported keystores.

Rules: at least 12 characters, an upper-case letter, a lower-case letter, a digit and a symbol;
not a common password (zxcvbn's list of 30,000, also after stripping the digits and symbols
people tack on, so `Password123!` is caught); and a zxcvbn strength score of at least 3 of 4.
Every unmet rule is reported at once.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from citrate_crypto.errors import PasswordMismatchError, PasswordPolicyError

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_SCORE = 3
# zxcvbn refuses more than 72 characters (its matcher is super-linear); the prefix decides.
_ZXCVBN_PREFIX = 72
_AFFIXES = "0123456789!@#$%^&*()_+-=[]{}|;':\",./<>?`~ "


@dataclass(frozen=True)
class PasswordReport:
    """The outcome of checking a password against the policy."""

    score: int
    problems: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every rule is met."""
        return not self.problems

    @property
    def strength(self) -> str:
        """A word for the zxcvbn score, for a strength meter."""
        return ("very weak", "weak", "fair", "strong", "very strong")[self.score]


def check_password(password: str, user_inputs: list[str] | None = None) -> PasswordReport:
    """Check `password` against every rule; `user_inputs` are words to penalise (labels, etc.)."""
    problems: list[str] = []
    password = unicodedata.normalize("NFC", password)
    if len(password) < MIN_LENGTH:
        problems.append(f"use at least {MIN_LENGTH} characters (this has {len(password)})")
    if len(password) > MAX_LENGTH:
        problems.append(f"use at most {MAX_LENGTH} characters")
    if not any(c.isupper() for c in password):
        problems.append("add an upper-case letter")
    if not any(c.islower() for c in password):
        problems.append("add a lower-case letter")
    if not any(c.isdigit() for c in password):
        problems.append("add a digit")
    if not any(not c.isalnum() and not c.isspace() for c in password):
        problems.append("add a symbol such as ! # % & * - _ ?")
    if _is_common(password):
        problems.append("this is one of the most common passwords; choose something else")
    if password:
        result = zxcvbn(password[:_ZXCVBN_PREFIX], user_inputs=user_inputs or [])
        score, feedback = int(result["score"]), result["feedback"]
    else:  # zxcvbn fails on the empty string
        score, feedback = 0, {"warning": "", "suggestions": []}
    if score < MIN_SCORE:
        warning = feedback.get("warning") or "it would be guessed quickly"
        problems.append(
            f"make it harder to guess: strength {score}/4, need {MIN_SCORE} ({warning})"
        )
    return PasswordReport(score=score, problems=problems, suggestions=list(feedback["suggestions"]))


def require_new_password(password: str, confirmation: str | None = None) -> None:
    """Raise unless `password` meets the policy and equals `confirmation` (when given).

    Raises:
        PasswordPolicyError: listing every unmet rule.
        PasswordMismatchError: the confirmation differs.
    """
    report = check_password(password)
    if not report.ok:
        raise PasswordPolicyError(report.problems)
    if confirmation is not None and confirmation != password:
        raise PasswordMismatchError()


@cache
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def _is_common(password: str) -> bool:
    lowered = password.lower()
    stripped = lowered.strip(_AFFIXES)
    common = _common()
    return lowered in common or (len(stripped) >= 4 and stripped in common)
