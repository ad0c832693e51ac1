"""The agent's view of the user's wallet: which address acts, and signing when unlocked.

The keys stay in the wallet (`citrate_crypto`): the agent asks it to sign the hash of an
EIP-1559 transaction it built. The wallet's own rules apply unchanged: the password opens it
(wrong passwords count toward its lockout), it locks itself when idle, and moves above the
user's second-factor threshold need an authenticator code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account.typed_transactions.typed_transaction import TypedTransaction

from citrate_agent.errors import WalletUnavailableError
from citrate_agent.schema import address_problem
from citrate_crypto import UnlockedWallet, Wallet
from citrate_crypto.errors import CitrateError


class WalletSession:
    """The wallet at `directory`, acting as `address` (default: its first account).

    Args:
        directory: the wallet directory (`citrate_crypto.paths.wallet_dir`).
        address: which account acts; must be one of the wallet's.
        wallet: an already-built `Wallet` (tests pass one with cheap KDF parameters).
    """

    def __init__(
        self, directory: Path, *, address: str | None = None, wallet: Wallet | None = None
    ) -> None:
        self.wallet = wallet or Wallet(directory)
        self._unlocked: UnlockedWallet | None = None
        if not self.wallet.exists():
            raise WalletUnavailableError(
                f"no wallet at `{self.wallet.directory}`",
                hint="create one with `citrate wallet create` (or `citrate wallet recover`), "
                "or pass --data-dir to use another",
            )
        accounts = [a.address for a in self.wallet.accounts()]
        if address is None:
            self.address = accounts[0]
        else:
            match = [a for a in accounts if a.lower() == address.lower()]
            if not match:
                raise WalletUnavailableError(
                    f"`{address}` is not an account of this wallet",
                    hint="pick one that `citrate wallet list` shows",
                )
            self.address = match[0]

    @classmethod
    def watch_only(cls, address: str) -> WatchOnly:
        """A session that can read balances for `address` but never sign."""
        return WatchOnly(address)

    @property
    def unlocked(self) -> bool:
        return self._unlocked is not None and not self._unlocked.locked

    def unlock(self, password: str) -> None:
        """Open the wallet; the wallet's attempt limits apply to wrong passwords."""
        self._unlocked = self.wallet.unlock(password)

    def lock(self) -> None:
        if self._unlocked is not None:
            self._unlocked.lock()
            self._unlocked = None

    def authorize_value(self, value_wei: int, totp_code: str | None = None) -> None:
        """The wallet's second-factor rule for moving `value_wei`."""
        self._require().authorize_value(value_wei, totp_code)

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Sign an EIP-1559 transaction dict (eth-account's field names); return the raw bytes."""
        unlocked = self._require()
        unsigned = TypedTransaction.from_dict(tx)
        try:
            signature = unlocked.sign_hash(self.address, unsigned.hash())
        except CitrateError as exc:
            raise WalletUnavailableError(str(exc)) from None
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:64], "big")
        return TypedTransaction.from_dict({**tx, "v": signature[64], "r": r, "s": s}).encode()

    def _require(self) -> UnlockedWallet:
        if self._unlocked is None or self._unlocked.locked:
            self._unlocked = None
            raise WalletUnavailableError(
                "the wallet is locked",
                hint="approve the action again and enter your wallet password to unlock it",
            )
        return self._unlocked


class WatchOnly:
    """An address without keys: reads work, signing explains why it cannot."""

    def __init__(self, address: str) -> None:
        problem = address_problem(address)
        if problem:
            raise WalletUnavailableError(problem)
        self.address = address
        self.unlocked = False

    def unlock(self, password: str) -> None:
        raise WalletUnavailableError(
            f"`{self.address}` is watched without keys",
            hint="create or recover a wallet with `citrate wallet` to sign",
        )

    def lock(self) -> None:
        pass

    def authorize_value(self, value_wei: int, totp_code: str | None = None) -> None:
        self.unlock("")

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        self.unlock("")
        raise AssertionError("unreachable")


__all__ = ["WalletSession", "WatchOnly"]
