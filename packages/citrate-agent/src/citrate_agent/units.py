"""SALT amounts: 18 decimals, parsed exactly (never through floats)."""

from __future__ import annotations

import re

from citrate_agent.errors import AgentError
from citrate_crypto.errors import CitrateValueError
from citrate_crypto.vault import format_salt, parse_salt

WEI_PER_SALT = 10**18
_AMOUNT = re.compile(r"^\s*([0-9]*\.?[0-9]*)\s*(salt|wei|gwei)?\s*$", re.IGNORECASE)


def parse_amount(text: str | int | float) -> int:
    """Parse "1.5", "1.5 SALT", "2 gwei" or "100 wei" into wei.

    A bare number is SALT. Integers (JSON numbers) are SALT too, so a model that writes `1`
    means one SALT, as users do.

    Raises:
        AgentError: the text is not a non-negative amount, or has more decimals than the unit.
    """
    if isinstance(text, bool):
        raise _bad(str(text))
    if isinstance(text, float):
        # A JSON number such as 1.0 is fine; 0.1 is not exact in binary: ask for a string.
        if not text.is_integer():
            raise _bad(repr(text))
        text = int(text)
    if isinstance(text, int):
        if text < 0:
            raise _bad(str(text))
        return text * WEI_PER_SALT
    match = _AMOUNT.match(text)
    if not match or not match.group(1) or match.group(1) == ".":
        raise _bad(text)
    number, unit = match.group(1), (match.group(2) or "salt").lower()
    if unit == "salt":
        try:
            return parse_salt(number)
        except CitrateValueError:
            raise _bad(text) from None
    whole, _, frac = number.partition(".")
    scale = 10**9 if unit == "gwei" else 1
    digits = 9 if unit == "gwei" else 0
    if len(frac.rstrip("0")) > digits:
        raise _bad(text)
    return int(whole or "0") * scale + (int(frac.ljust(digits, "0")[:digits]) if digits else 0)


def salt(wei: int) -> str:
    """Wei as a SALT decimal string without trailing zeros ("1.5")."""
    return format_salt(wei)


def _bad(text: str) -> AgentError:
    return AgentError(
        f"`{text}` is not an amount",
        hint='write SALT as a decimal such as "1.5" or "1.5 SALT" (at most 18 decimals), '
        'or a whole number of "wei"',
    )


__all__ = ["WEI_PER_SALT", "parse_amount", "salt"]
