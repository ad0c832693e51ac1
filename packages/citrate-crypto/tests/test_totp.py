"""The optional TOTP second factor for operations above a user-set value."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from citrate_crypto import Wallet
from citrate_crypto.errors import SecondFactorError
from citrate_crypto.vault import WEI_PER_SALT, format_salt, parse_salt

from .conftest import GOOD_PASSWORD


def _secret(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


def test_codes_required_above_threshold(dev_wallet: Wallet) -> None:
    uri = dev_wallet.enable_totp(GOOD_PASSWORD, "10")
    assert uri.startswith("otpauth://totp/") and "issuer=Citrate" in uri
    assert _secret(uri).encode() not in dev_wallet.path.read_bytes()
    totp = pyotp.TOTP(_secret(uri))
    unlocked = dev_wallet.unlock(GOOD_PASSWORD)
    unlocked.authorize_value(10 * WEI_PER_SALT)  # at the threshold: no code
    with pytest.raises(SecondFactorError, match="6-digit"):
        unlocked.authorize_value(10 * WEI_PER_SALT + 1)
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    with pytest.raises(SecondFactorError, match="wrong"):
        unlocked.authorize_value(11 * WEI_PER_SALT, wrong)
    code = totp.now()
    unlocked.authorize_value(11 * WEI_PER_SALT, code)
    with pytest.raises(SecondFactorError, match="already used"):
        unlocked.authorize_value(11 * WEI_PER_SALT, code)


def test_disable_needs_a_code(dev_wallet: Wallet) -> None:
    totp = pyotp.TOTP(_secret(dev_wallet.enable_totp(GOOD_PASSWORD, "1.5")))
    with pytest.raises(SecondFactorError):
        dev_wallet.disable_totp(GOOD_PASSWORD, "000000" if totp.now() != "000000" else "111111")
    dev_wallet.disable_totp(GOOD_PASSWORD, totp.now())
    dev_wallet.unlock(GOOD_PASSWORD).authorize_value(10**30)


def test_without_totp_nothing_is_asked(dev_wallet: Wallet) -> None:
    dev_wallet.unlock(GOOD_PASSWORD).authorize_value(10**30)


@pytest.mark.parametrize(
    ("text", "wei"),
    [("1", 10**18), ("1.5", 15 * 10**17), (".25", 25 * 10**16), ("0.000000000000000001", 1)],
)
def test_salt_amounts_are_exact(text: str, wei: int) -> None:
    assert parse_salt(text) == wei
    assert parse_salt(format_salt(wei)) == wei


@pytest.mark.parametrize("text", ["", ".", "-1", "1e3", "1.0000000000000000001", "abc", "1,5"])
def test_bad_salt_amounts(text: str) -> None:
    with pytest.raises(ValueError, match="SALT amount"):
        parse_salt(text)
