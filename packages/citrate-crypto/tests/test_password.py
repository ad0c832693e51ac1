"""The password policy: every unmet rule listed, a real estimator, a blocklist."""

from __future__ import annotations

import pytest

from citrate_crypto import check_password
from citrate_crypto.errors import PasswordMismatchError, PasswordPolicyError
from citrate_crypto.password import require_new_password


def test_good_password_passes() -> None:
    report = check_password("Correct-Horse-Battery-9")
    assert report.ok and report.score >= 3 and report.strength in ("strong", "very strong")


def test_every_unmet_rule_is_listed() -> None:
    with pytest.raises(PasswordPolicyError) as info:
        require_new_password("abc")
    problems = " | ".join(info.value.problems)
    for needle in ("12 characters", "upper-case", "digit", "symbol", "strength"):
        assert needle in problems
    assert "lower-case" not in problems
    assert "hint" in str(info.value)


@pytest.mark.parametrize(
    "password", ["Password123!", "Qwerty123456!", "!!Iloveyou2024", "Dragon#12345"]
)
def test_common_passwords_with_decoration_are_blocked(password: str) -> None:
    report = check_password(password)
    assert not report.ok
    assert any("common" in p or "strength" in p for p in report.problems)


def test_keyboard_walk_is_weak() -> None:
    report = check_password("Qwertyuiop12!")
    assert not report.ok
    assert any("strength 1/4" in p for p in report.problems)


def test_confirmation_must_match() -> None:
    with pytest.raises(PasswordMismatchError):
        require_new_password("Correct-Horse-Battery-9", "Correct-Horse-Battery-8")


def test_very_long_passwords_are_checked_quickly_and_capped() -> None:
    assert check_password("Xy9!" + "q7#Lm2$vR" * 100).ok
    assert not check_password("Xy9!" * 300).ok
