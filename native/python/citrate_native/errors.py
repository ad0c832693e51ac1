"""Exceptions raised by ``citrate_native``.

Python owns this tree; the Rust extension raises these classes (``import_exception!``).
Every library error is also a builtin: ``CitrateValueError`` derives from ``ValueError``.
Messages never contain a secret, except the single unknown word of a mnemonic.
"""

from __future__ import annotations

__all__ = [
    "BlockNotFound",
    "CallError",
    "ChainError",
    "CitrateError",
    "CitrateValueError",
    "DerivationError",
    "DuplicateJob",
    "DuplicateNode",
    "ExecutionReverted",
    "GenesisError",
    "GhostDagError",
    "InvalidAddressError",
    "InvalidKeyError",
    "InvalidSchedulerArgument",
    "JobTooLarge",
    "KeystoreError",
    "KeystoreFormatError",
    "KeystoreMacError",
    "KeystoreVersionError",
    "LedgerInconsistent",
    "MnemonicChecksumError",
    "MnemonicError",
    "MnemonicUnknownWordError",
    "MnemonicWordCountError",
    "NoCapableNode",
    "SchedulerError",
    "StoreError",
    "TransactionRejected",
    "UnknownJob",
    "UnknownNode",
]


class CitrateError(Exception):
    """Base class of every Citrate error."""


class CitrateValueError(CitrateError, ValueError):
    """A value (phrase, path, key, address, keystore, ...) was rejected."""


class MnemonicError(CitrateValueError):
    """A BIP39 mnemonic or its entropy is invalid."""


class MnemonicWordCountError(MnemonicError):
    """The mnemonic does not have 12, 15, 18, 21 or 24 words.

    Attributes:
        count: The number of words found (or requested).
    """

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count

    def __reduce__(self) -> tuple[type[MnemonicWordCountError], tuple[str, int]]:
        return (type(self), (str(self), self.count))


class MnemonicUnknownWordError(MnemonicError):
    """A word is not in the BIP39 English wordlist.

    Attributes:
        position: 1-based position of the word in the phrase.
        word: The offending word (the only part of a phrase ever shown).
        suggestions: Up to three close valid words, best first.
    """

    def __init__(self, message: str, position: int, word: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.position = position
        self.word = word
        self.suggestions = list(suggestions)

    def __reduce__(
        self,
    ) -> tuple[type[MnemonicUnknownWordError], tuple[str, int, str, list[str]]]:
        return (type(self), (str(self), self.position, self.word, self.suggestions))


class MnemonicChecksumError(MnemonicError):
    """Every word is valid but the BIP39 checksum does not match."""


class DerivationError(CitrateValueError):
    """Invalid seed, derivation path, index or address count."""


class InvalidKeyError(CitrateValueError):
    """A private key is not a valid secp256k1 secret."""


class InvalidAddressError(CitrateValueError):
    """An address is malformed or fails its EIP-55 checksum."""


class KeystoreError(CitrateValueError):
    """A keystore cannot be used (also: unacceptable KDF parameters, address mismatch)."""


class KeystoreVersionError(KeystoreError):
    """The keystore is not version 3."""


class KeystoreMacError(KeystoreError):
    """Wrong password, or the keystore is corrupted (MAC mismatch)."""


class KeystoreFormatError(KeystoreError):
    """The keystore is malformed: bad JSON, a missing or invalid field, unsupported kdf/cipher."""


# --- Node core (citrate_chain) -------------------------------------------------------------------


class GhostDagError(CitrateValueError):
    """A block cannot be added to a GhostDAG: duplicate hash, no parents, unknown parent, too many
    parents, or a hash that is not 32 bytes."""


class ChainError(CitrateError):
    """Base class of the node core's errors."""


class TransactionRejected(ChainError, ValueError):
    """The transaction pool refused a raw transaction.

    The message uses geth's wording ("nonce too low: next nonce 5, tx nonce 3", "invalid sender",
    "replacement transaction underpriced", ...) so that Ethereum clients recognise it.
    """


class ExecutionReverted(ChainError):
    """`eth_call`/`eth_estimateGas` reverted.

    Attributes:
        data: The revert data (ABI-encoded ``Error(string)``, a custom error, or empty).
    The message is ``"execution reverted"`` or ``"execution reverted: <reason>"``.
    """

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = bytes(data)

    def __reduce__(self) -> tuple[type[ExecutionReverted], tuple[str, bytes]]:
        return (type(self), (str(self), self.data))


class CallError(ChainError):
    """`eth_call`/`eth_estimateGas` failed without a revert (out of gas, insufficient funds,
    invalid opcode, gas required exceeds allowance, ...). The message is geth's wording."""


class GenesisError(ChainError):
    """A call of ``build_genesis`` reverted, halted (out of gas, code over EIP-170's limit, ...)
    or was not a valid transaction (insufficient funds for its value, ...); nothing was built.

    Attributes:
        index: The index of the failed call in the ``calls`` given.
        data: The revert data (ABI-encoded ``Error(string)``, a custom error, or empty); empty
            unless the call reverted.
    The message names the call (its index, sender, target or the address it would deploy at)
    and, for a revert, the reason and the data as hex.
    """

    def __init__(self, message: str, index: int, data: bytes = b"") -> None:
        super().__init__(message)
        self.index = index
        self.data = bytes(data)

    def __reduce__(self) -> tuple[type[GenesisError], tuple[str, int, bytes]]:
        return (type(self), (str(self), self.index, self.data))


class BlockNotFound(ChainError, LookupError):
    """A state query named a block the node does not have ("header not found")."""


class StoreError(ChainError):
    """The on-disk chain store failed or does not match the requested chain (chain id, genesis),
    or is already open in another process."""


# --- Compute scheduler (citrate_compute) -------------------------------------------------------


class SchedulerError(CitrateValueError):
    """Base class of the compute scheduler's errors (``citrate_native.Scheduler`` and the
    pure-Python reference ``citrate_compute.scheduler_ref.ReferenceScheduler`` raise the same
    classes with the same messages). A refused call changes nothing."""


class InvalidSchedulerArgument(SchedulerError):
    """An argument out of its range (the message names it, its value and the range), an empty
    id, or a ``submit_many`` item that is not a 6-item job tuple."""


class DuplicateNode(SchedulerError):
    """``add_node`` with an id that is already added."""


class UnknownNode(SchedulerError, LookupError):
    """A node id that was never added."""


class DuplicateJob(SchedulerError):
    """A job id that is already queued or running, or listed twice in one batch."""


class UnknownJob(SchedulerError, LookupError):
    """A job id that is neither queued nor running (also: ``finish`` of a queued job)."""


class JobTooLarge(SchedulerError):
    """A job's memory exceeds the share of every node that serves its type."""


class NoCapableNode(SchedulerError):
    """No node serves the job's type."""


class LedgerInconsistent(SchedulerError):
    """A node's reserved memory differs from the sum of its running jobs' memory (a bug)."""
