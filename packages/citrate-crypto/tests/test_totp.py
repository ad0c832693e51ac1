"""The optional TOTP second factor: above a user-set value, and for key export."""

from __future__ import annotations

import time

import pyotp
import pytest

from citrate_crypto import Wallet
from citrate_crypto.errors import SecondFactorError
from citrate_crypto.vault import WEI_PER_SALT, format_salt, new_totp_enrollment, parse_salt

from .conftest import GOOD_PASSWORD


def _wrong_code(totp: pyotp.TOTP) -> str:
    """A code valid at none of the accepted time steps (now and one either side)."""
    now = time.time()
    valid = {totp.at(now + d * totp.interval) for d in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def _enable(wallet: Wallet, threshold: str) -> pyotp.TOTP:
    enrollment = new_totp_enrollment()
    totp = pyotp.TOTP(enrollment.secret)
    wallet.enable_totp(GOOD_PASSWORD, threshold, enrollment, totp.now())
    return totp


def test_codes_required_above_threshold(dev_wallet: Wallet) -> None:
    enrollment = new_totp_enrollment("0xabc")
    assert enrollment.uri.startswith("otpauth://totp/") and "issuer=Citrate" in enrollment.uri
    assert enrollment.secret not in repr(enrollment)
    totp = pyotp.TOTP(enrollment.secret)
    dev_wallet.enable_totp(GOOD_PASSWORD, "10", enrollment, totp.now())
    assert enrollment.secret.encode() not in dev_wallet.path.read_bytes()
    assert dev_wallet.totp_enabled
    unlocked = dev_wallet.unlock(GOOD_PASSWORD)
    unlocked.authorize_value(10 * WEI_PER_SALT)  # at the threshold: no code
    with pytest.raises(SecondFactorError, match="6-digit"):
        unlocked.authorize_value(10 * WEI_PER_SALT + 1)
    with pytest.raises(SecondFactorError, match="wrong"):
        unlocked.authorize_value(11 * WEI_PER_SALT, _wrong_code(totp))
    code = totp.now()
    unlocked.authorize_value(11 * WEI_PER_SALT, code)
    with pytest.raises(SecondFactorError, match="already used"):
        unlocked.authorize_value(11 * WEI_PER_SALT, code)


def test_enrollment_needs_a_first_code_from_the_new_secret(dev_wallet: Wallet) -> None:
    enrollment = new_totp_enrollment()
    before = dev_wallet.path.read_bytes()
    with pytest.raises(SecondFactorError):
        dev_wallet.enable_totp(
            GOOD_PASSWORD, "1", enrollment, _wrong_code(pyotp.TOTP(enrollment.secret))
        )
    assert dev_wallet.path.read_bytes() == before
    assert not dev_wallet.totp_enabled


def test_password_alone_cannot_weaken_an_existing_second_factor(dev_wallet: Wallet) -> None:
    old = _enable(dev_wallet, "1")
    replacement = new_totp_enrollment()
    new_code = pyotp.TOTP(replacement.secret).now()
    before = dev_wallet.path.read_bytes()
    with pytest.raises(SecondFactorError, match="already on"):
        dev_wallet.enable_totp(GOOD_PASSWORD, "1000000000", replacement, new_code)
    with pytest.raises(SecondFactorError):
        dev_wallet.enable_totp(
            GOOD_PASSWORD, "1000000000", replacement, new_code, current_code=_wrong_code(old)
        )
    assert dev_wallet.path.read_bytes() == before
    with pytest.raises(SecondFactorError):
        dev_wallet.unlock(GOOD_PASSWORD).authorize_value(500 * WEI_PER_SALT)
    # With a code from the old factor the change goes through.
    dev_wallet.enable_totp(GOOD_PASSWORD, "1000", replacement, new_code, current_code=old.now())
    dev_wallet.unlock(GOOD_PASSWORD).authorize_value(500 * WEI_PER_SALT)


def test_key_export_needs_a_code_when_two_factor_is_on(dev_wallet: Wallet) -> None:
    totp = _enable(dev_wallet, "1000")
    address = dev_wallet.accounts()[0].address
    with pytest.raises(SecondFactorError, match="authenticator"):
        dev_wallet.export_key(address, GOOD_PASSWORD)
    with pytest.raises(SecondFactorError):
        dev_wallet.export_keystore(address, GOOD_PASSWORD, GOOD_PASSWORD, kdf="pbkdf2")
    assert dev_wallet.export_key(address, GOOD_PASSWORD, totp.now()).startswith("0xac0974")


def test_disable_needs_a_code(dev_wallet: Wallet) -> None:
    totp = _enable(dev_wallet, "1.5")
    with pytest.raises(SecondFactorError):
        dev_wallet.disable_totp(GOOD_PASSWORD, _wrong_code(totp))
    dev_wallet.disable_totp(GOOD_PASSWORD, totp.now())
    dev_wallet.unlock(GOOD_PASSWORD).authorize_value(10**30)
    assert not dev_wallet.totp_enabled


def test_without_totp_nothing_is_asked(dev_wallet: Wallet) -> None:
    dev_wallet.unlock(GOOD_PASSWORD).authorize_value(10**30)


@pytest.mark.parametrize(
    ("text", "wei"),
    [("1", 10**18), ("1.5", 15 * 10**17), (".25", 25 * 10**16), ("0.000000000000000001", 1)],
)
def test_salt_amounts_are_exact(text: str, wei: int) -> None:
    assert parse_salt(text) == wei
    assert parse_salt(format_salt(wei)) == wei


@pytest.mark.parametrize(
    "text", ["", ".", "-1", "1e3", "1.0000000000000000001", "abc", "1,5", "²", "1.５"]
)
def test_bad_salt_amounts(text: str) -> None:
    with pytest.raises(ValueError, match="SALT amount"):
        parse_salt(text)
