"""Errors of the compute package. Every one says what happened and, in `hint`, what to do.

Messages never contain secrets (keys, passwords, credentials in URLs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citrate_crypto.errors import CitrateError

__all__ = [
    "AdmissionError",
    "ChainError",
    "ChainUnavailable",
    "ComputeError",
    "ComputeValueError",
    "ContentError",
    "ContentMismatch",
    "ContentNotFound",
    "ContentTooLarge",
    "DeviceError",
    "DuplicateJob",
    "ExecutorClosed",
    "HandlerNotAllowed",
    "IsolationUnavailable",
    "JobTooLarge",
    "LedgerInconsistent",
    "MalformedInput",
    "NoCapableDevice",
    "NvmlError",
    "NvmlUnavailable",
    "ProviderError",
    "ResultNotReady",
    "RpcError",
    "RuntimeUnavailable",
    "SandboxError",
    "SignerUnavailable",
    "TransactionReverted",
    "UnknownDevice",
    "UnknownJob",
    "UnknownModel",
    "UnsupportedJobType",
]


class ComputeError(CitrateError):
    """Base class of the compute package's errors."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only `hint` would be lost by the default pickling (Ray ships errors by pickle).
        return (_rebuild, (type(self), self.message, self.hint), dict(self.__dict__))


def _rebuild(cls: type[ComputeError], message: str, hint: str | None) -> ComputeError:
    error = cls.__new__(cls)
    ComputeError.__init__(error, message, hint=hint)
    return error


class ComputeValueError(ComputeError, ValueError):
    """An argument or a document was rejected."""


class RuntimeUnavailable(ComputeError):
    """A local runtime (llama.cpp, MiniLM/PyTorch, Ray) is not installed or cannot load."""


class UnknownModel(ComputeValueError):
    """No model with that name or id is available here."""


class MalformedInput(ComputeValueError):
    """A job's input document is not what its job type takes."""


# --- Devices ------------------------------------------------------------------------------------


class DeviceError(ComputeError):
    """A device backend cannot list devices or read their telemetry."""


class NvmlUnavailable(DeviceError):
    """NVML (the NVIDIA driver's management library) is missing or does not initialise."""


class NvmlError(DeviceError):
    """An NVML call failed after initialisation (driver reset, GPU fell off the bus, ...)."""


class UnknownDevice(ComputeValueError):
    """No device with that id is managed here."""


# --- Admission and the ledger -------------------------------------------------------------------


class AdmissionError(ComputeValueError):
    """A job was refused at admission; nothing was reserved for it."""


class JobTooLarge(AdmissionError):
    """The job's declared memory is larger than any device's allotted share."""


class NoCapableDevice(AdmissionError):
    """No device here serves the job's type."""


class DuplicateJob(AdmissionError):
    """A job with this id is already queued or running."""


class UnknownJob(ComputeValueError):
    """No queued or running job has this id."""


class LedgerInconsistent(ComputeError):
    """The memory ledger disagrees with the running jobs (a bug: please report it)."""


# --- Sandbox and executors ----------------------------------------------------------------------


class SandboxError(ComputeError):
    """The sandbox cannot be set up (unsafe directory, missing interpreter, ...)."""


class IsolationUnavailable(SandboxError):
    """The isolation mode that was asked for cannot be enforced on this machine."""


class HandlerNotAllowed(ComputeValueError):
    """A task names a handler that the provider's configuration does not allow."""


class UnsupportedJobType(ComputeValueError):
    """This provider has no handler for the job's type."""


class ExecutorClosed(ComputeError):
    """A task was submitted to an executor that has been shut down."""


# ------------------------------------------------------------------ content, chain, agents


class ContentError(ComputeError):
    """The content store could not store or return a document."""


class ContentNotFound(ContentError, LookupError):
    """No document with this hash is in the content store."""


class ContentMismatch(ContentError):
    """The bytes the store returned do not hash to the CID asked for."""


class ContentTooLarge(ComputeValueError):
    """A document is larger than the cap for its kind."""


class ChainError(ComputeError):
    """The node could not be reached, or answered with an error."""


class ChainUnavailable(ChainError):
    """No node answered at the RPC URL (or it did not speak JSON-RPC)."""


class RpcError(ChainError):
    """The node answered a JSON-RPC error."""

    def __init__(
        self, method: str, code: int, message: str, data: Any = None, *, hint: str | None = None
    ) -> None:
        super().__init__(f"`{method}` failed: {message} (code {code})", hint=hint)
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class TransactionReverted(ChainError):
    """The contract refused a call (`sent` False: only simulated, nothing was sent)."""

    def __init__(
        self,
        message: str,
        *,
        name: str = "unknown",
        args: Mapping[str, Any] | None = None,
        sent: bool = False,
        tx_hash: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.name = name
        self.revert_args = dict(args or {})
        self.sent = sent
        self.tx_hash = tx_hash


class SignerUnavailable(ComputeError):
    """No account can sign: no wallet, a locked wallet, or a read-only client."""


class ProviderError(ComputeError):
    """The provider agent cannot start or go on (configuration, registration)."""


class ResultNotReady(ComputeError):
    """The job has no revealed result (yet, or ever)."""
