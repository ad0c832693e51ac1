"""A client of the ComputeMarket contract over JSON-RPC: views, signed transactions, events.

It talks to any Ethereum JSON-RPC node (the devnet, anvil, a remote node) with `requests`, like
a wallet does, and never imports the node. The ABI is the one `citrate_contracts` ships; calls
and events are encoded and decoded with eth-abi.

Every transaction is simulated first (`eth_estimateGas`): a call the contract would refuse is
reported with the contract's own reason (`citrate_contracts.errors.decode_revert`, with SALT
amounts spelled out for the common ones) and nothing is sent, so the account's nonce does not
move. A transaction that is sent is signed by a `Signer` (`WalletSigner`: the keys stay in the
Citrate wallet, which signs the EIP-1559 hash), and the client waits for its receipt and decodes
the contract's events from it.

RPC URLs in messages are shown as `scheme://host:port` only: hosted endpoints carry API keys
in the path or the user part.
"""

from __future__ import annotations

import enum
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from citrate_compute.errors import (
    ChainError,
    ChainUnavailable,
    ComputeValueError,
    RpcError,
    SignerUnavailable,
    TransactionReverted,
)
from citrate_compute.jobs import JobType

if TYPE_CHECKING:
    from citrate_crypto import UnlockedWallet, Wallet

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
WEI_PER_SALT = 10**18
#: ComputeMarket.MIN_PROVIDER_STAKE and DISPUTE_BOND (constants of the contract).
MIN_PROVIDER_STAKE = 1_000 * WEI_PER_SALT
DISPUTE_BOND = 10 * WEI_PER_SALT
VERIFIER_ROLE = keccak(text="VERIFIER_ROLE")
ARBITER_ROLE = keccak(text="ARBITER_ROLE")
DEFAULT_ADMIN_ROLE = bytes(32)
#: Most ids a paged view returns (ComputeMarket.MAX_PAGE_SIZE).
PAGE_SIZE = 100


# ------------------------------------------------------------------------------ errors


# ------------------------------------------------------------------------------ helpers


def redact_url(url: str) -> str:
    """`scheme://host:port` of `url`: no user, password, path or query (API keys live there)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the configured URL"
    if not parts.scheme or not parts.hostname:
        return "the configured URL"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def format_salt(wei: int) -> str:
    """`wei` as SALT with thousands separators and no trailing zeros: `1,000`, `0.5`."""
    whole, frac = divmod(int(wei), WEI_PER_SALT)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:018d}".rstrip("0")
    return text


def parse_salt(amount: str) -> int:
    """A decimal SALT amount (`1.5`, `1,000`) as wei, exactly (never through a float).

    Raises:
        ComputeValueError: not a non-negative decimal with at most 18 fractional digits.
    """
    text = amount.strip().replace(",", "").replace("_", "")
    if re.fullmatch(r"\d+(\.\d{0,18})?|\.\d{1,18}", text) is None:
        raise ComputeValueError(
            f"`{amount}` is not a SALT amount",
            hint="write a non-negative decimal with at most 18 digits after the point, e.g. 1.5",
        )
    whole, _, frac = text.partition(".")
    return int(whole or "0") * WEI_PER_SALT + int((frac or "0").ljust(18, "0"))


def model_id(model: str | bytes) -> bytes:
    """The on-chain `bytes32` id of a model.

    A ModelRegistry model is named by its registry id (`0x` + 64 hex digits; the registry's
    `computeModelId(owner, name, version)`), used as is. Any other name (`gemma-3-270m`, a
    local model a provider serves) maps to `keccak256(utf8(name))`, so requesters and providers
    that name the same model agree on its id without a registry entry.
    """
    if isinstance(model, bytes | bytearray):
        if len(model) != 32:
            raise ComputeValueError(f"a model id is 32 bytes, not {len(model)}")
        return bytes(model)
    text = model.strip()
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text[2:])
    if not text:
        raise ComputeValueError("a model name must not be empty", hint="e.g. gemma-3-270m")
    return keccak(text=text)


def commitment_of(job_id: int, output_hash: bytes, nonce: bytes, provider: str) -> bytes:
    """keccak256(abi.encode(jobId, outputHash, nonce, provider)), as ComputeMarket computes it."""
    return keccak(
        abi_encode(
            ["uint256", "bytes32", "bytes32", "address"],
            [job_id, _b32(output_hash), _b32(nonce), to_checksum_address(provider)],
        )
    )


def _b32(value: bytes | str) -> bytes:
    from citrate_compute.content import as_digest

    return as_digest(value)


def _hex_int(value: Any) -> int | None:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# ------------------------------------------------------------------------------ JSON-RPC


class Rpc:
    """JSON-RPC over HTTP with a timeout per request; errors name the node only by host:port."""

    def __init__(self, url: str = DEFAULT_RPC_URL, *, timeout: float = 15.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ComputeValueError(
                f"`{redact_url(url)}` is not an http(s) URL", hint=f"pass e.g. {DEFAULT_RPC_URL}"
            )
        self.url = url
        self.display_url = redact_url(url)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or .netrc credentials for the node
        self._lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            with self._lock:
                response = self._session.post(self.url, json=body, timeout=self.timeout)
                try:
                    raw = response.content
                finally:
                    response.close()
        except requests.Timeout:
            raise ChainUnavailable(
                f"the node at `{self.display_url}` did not answer `{method}` within "
                f"{self.timeout:g} s",
                hint="check that the node is running and not overloaded",
            ) from None
        except requests.RequestException as exc:
            raise ChainUnavailable(
                f"the node at `{self.display_url}` is not reachable ({type(exc).__name__})",
                hint="start one with `citrate devnet`, or pass the node's URL with --rpc",
            ) from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise ChainUnavailable(
                f"`{self.display_url}` answered `{method}` without JSON",
                hint="check that the URL is a node's JSON-RPC endpoint",
            ) from None
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            raise ChainUnavailable(
                f"`{self.display_url}` answered `{method}` with something that is not JSON-RPC",
                hint="check that the URL is a node's JSON-RPC endpoint",
            )
        error = reply.get("error")
        if error is not None:
            if isinstance(error, dict):
                code = error.get("code", 0)
                raise RpcError(
                    method,
                    code if isinstance(code, int) and not isinstance(code, bool) else 0,
                    str(error.get("message", ""))[:500],
                    error.get("data"),
                )
            raise RpcError(method, 0, str(error)[:500])
        return reply["result"]

    def quantity(self, method: str, params: Sequence[Any] = ()) -> int:
        result = self.request(method, params)
        value = _hex_int(result)
        if value is None:
            raise RpcError(method, -32603, f"the node answered `{str(result)[:80]}`, not a number")
        return value

    def data(self, method: str, params: Sequence[Any] = ()) -> bytes:
        result = self.request(method, params)
        if isinstance(result, str) and result.startswith("0x") and len(result) % 2 == 0:
            try:
                return bytes.fromhex(result[2:])
            except ValueError:
                pass
        raise RpcError(method, -32603, f"the node answered `{str(result)[:80]}`, not hex data")


# ------------------------------------------------------------------------------ ABI


def _type_str(param: Mapping[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        inner = ",".join(_type_str(c) for c in param.get("components", []))
        return f"({inner}){t[len('tuple') :]}"
    return t


def _to_python(value: Any, param: Mapping[str, Any]) -> Any:
    """An eth-abi value as Python: structs as dicts (by component name), checksummed addresses."""
    t = str(param["type"])
    if t.endswith("]"):
        inner = {**param, "type": t[: t.rindex("[")]}
        return [_to_python(v, inner) for v in value]
    if t == "tuple":
        return {
            str(c["name"]): _to_python(v, c)
            for v, c in zip(value, param.get("components", []), strict=True)
        }
    if t == "address":
        return to_checksum_address(value)
    return value


@dataclass(frozen=True)
class Event:
    """A decoded contract event (`args` by parameter name)."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int


class ContractAbi:
    """Encode calls and decode results and events of one contract's ABI."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self.abi = list(abi)
        self.functions: dict[str, Mapping[str, Any]] = {}
        self.events: dict[bytes, Mapping[str, Any]] = {}
        self.event_topics: dict[str, bytes] = {}
        for item in self.abi:
            if item.get("type") == "function":
                self.functions[str(item["name"])] = item
            elif item.get("type") == "event":
                types = ",".join(_type_str(p) for p in item.get("inputs", []))
                topic = keccak(text=f"{item['name']}({types})")
                self.events[topic] = item
                self.event_topics[str(item["name"])] = topic

    def encode_call(self, name: str, args: Sequence[Any]) -> bytes:
        fn = self.functions[name]
        types = [_type_str(p) for p in fn.get("inputs", [])]
        selector = keccak(text=f"{name}({','.join(types)})")[:4]
        return selector + abi_encode(types, list(args))

    def decode_result(self, name: str, data: bytes) -> Any:
        """The outputs of `name`: one value, or a tuple when it returns several."""
        outputs = self.functions[name].get("outputs", [])
        values = abi_decode([_type_str(p) for p in outputs], data)
        converted = [_to_python(v, p) for v, p in zip(values, outputs, strict=True)]
        return converted[0] if len(converted) == 1 else tuple(converted)

    def decode_log(self, log: Mapping[str, Any]) -> Event | None:
        """The event a log carries, or None for a log of another ABI."""
        topics = [bytes.fromhex(str(t)[2:]) for t in log.get("topics", [])]
        if not topics or topics[0] not in self.events:
            return None
        item = self.events[topics[0]]
        inputs = item.get("inputs", [])
        plain = [p for p in inputs if not p.get("indexed")]
        data = bytes.fromhex(str(log.get("data", "0x"))[2:])
        plain_values = abi_decode([_type_str(p) for p in plain], data)
        args: dict[str, Any] = {}
        it_plain = iter(zip(plain_values, plain, strict=True))
        it_topics = iter(topics[1:])
        for p in inputs:
            if p.get("indexed"):
                # Indexed value types are their 32-byte ABI encoding.
                (value,) = abi_decode([_type_str(p)], next(it_topics))
                args[str(p["name"])] = _to_python(value, p)
            else:
                value, param = next(it_plain)
                args[str(p["name"])] = _to_python(value, param)
        return Event(
            name=str(item["name"]),
            args=args,
            block_number=_hex_int(log.get("blockNumber")) or 0,
            tx_hash=str(log.get("transactionHash", "")),
            log_index=_hex_int(log.get("logIndex")) or 0,
        )


# ------------------------------------------------------------------------------ records


class JobState(enum.IntEnum):
    """ComputeMarket's job states (the contract's `JobState`)."""

    NONE = 0
    OPEN = 1
    ASSIGNED = 2
    COMMITTED = 3
    REVEALED = 4
    DISPUTED = 5
    COMPLETED = 6
    EXPIRED = 7
    CANCELLED = 8
    TIMED_OUT = 9
    FAILED = 10

    @property
    def terminal(self) -> bool:
        return self >= JobState.COMPLETED


@dataclass(frozen=True)
class Job:
    """A ComputeMarket job (`getJob`), with its id."""

    job_id: int
    requester: str
    state: JobState
    job_type: JobType
    verification_tier: int
    timeout_slash_bps: int
    wrong_result_slash_bps: int
    provider: str
    exec_window: int
    reveal_window: int
    challenge_window: int
    disputer: str
    arbitration_window: int
    posted_at: int
    bid_deadline: int
    exec_deadline: int
    reveal_deadline: int
    challenge_deadline: int
    arbitration_deadline: int
    model_id: bytes
    input_hash: bytes
    max_price: int
    price: int
    commitment: bytes
    output_hash: bytes

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, JobState | JobType):
                value = value.name.lower()
            elif isinstance(value, bytes):
                value = "0x" + value.hex()
            elif f.name in ("max_price", "price"):
                value = str(value)
            doc[f.name] = value
        return doc


@dataclass(frozen=True)
class Bid:
    """A bid on a job (`getBids`); `score` is the one computed when it was placed."""

    provider: str
    estimated_latency_ms: int
    score: int
    price: int


@dataclass(frozen=True)
class ProviderInfo:
    """A provider's on-chain record (`getProvider`), all zero for an unknown address."""

    address: str
    stake: int
    registered: bool
    any_model: bool
    job_types: int
    reputation: int
    active_jobs: int
    open_bids: int
    max_concurrent_jobs: int
    jobs_completed: int
    jobs_timed_out: int
    jobs_failed: int
    registered_at: int

    @property
    def active(self) -> bool:
        """Registered with at least the minimum stake (may take jobs)."""
        return self.registered and self.stake >= MIN_PROVIDER_STAKE

    def to_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["stake"] = str(self.stake)
        doc["job_types"] = [t.name.lower() for t in JobType if self.job_types & t.bit]
        return doc


@dataclass(frozen=True)
class JobSpec:
    """What a requester posts (ComputeMarket's `JobSpec`)."""

    job_type: JobType
    model_id: bytes
    input_hash: bytes
    max_price: int
    bid_window: int = 60
    exec_window: int = 600
    verification_tier: int = 0

    def as_tuple(self) -> tuple[int, bytes, bytes, int, int, int, int]:
        return (
            int(self.job_type),
            self.model_id,
            self.input_hash,
            self.max_price,
            self.bid_window,
            self.exec_window,
            self.verification_tier,
        )


@dataclass(frozen=True)
class ServiceConfig:
    """What a provider serves (ComputeMarket's `ProviderConfig`)."""

    job_types: frozenset[JobType]
    max_concurrent_jobs: int
    models: tuple[bytes, ...] = ()
    any_model: bool = False

    @property
    def mask(self) -> int:
        mask = 0
        for t in self.job_types:
            mask |= t.bit
        return mask

    def as_tuple(self) -> tuple[int, bool, int, list[bytes]]:
        return (self.mask, self.any_model, self.max_concurrent_jobs, list(self.models))


@dataclass(frozen=True)
class Receipt:
    """A mined transaction: its hash, block, gas and the ComputeMarket events it emitted."""

    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    events: list[Event] = field(default_factory=list)

    @property
    def fee(self) -> int:
        """Wei paid for gas."""
        return self.gas_used * self.effective_gas_price

    def event(self, name: str) -> Event:
        """The first event named `name` (KeyError if none)."""
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(f"the transaction emitted no {name} event")


# ------------------------------------------------------------------------------ signing


@runtime_checkable
class Signer(Protocol):
    """Signs transactions for one account."""

    @property
    def address(self) -> str: ...

    def authorize_value(self, value_wei: int) -> None:
        """Raise unless the account may move `value_wei` now (e.g. a second-factor rule)."""
        ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Sign an EIP-1559 transaction dict (eth-account's field names); the raw bytes."""
        ...


class WalletSigner:
    """An account of the Citrate wallet at `directory` (default: its first account).

    The keys stay in the wallet: it signs the transaction hash built here. Its own rules apply
    unchanged (wrong passwords count toward its lockout, it locks itself when idle, values above
    its second-factor threshold need `totp_code`).

    Args:
        directory: the wallet directory (`citrate_crypto.paths.wallet_dir`).
        address: which account signs; one of the wallet's.
        wallet: an already-built `Wallet` (tests pass one with cheap KDF parameters).
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        address: str | None = None,
        wallet: Wallet | None = None,
    ) -> None:
        from citrate_crypto import Wallet

        if wallet is None:
            if directory is None:
                raise ComputeValueError("pass the wallet directory or a Wallet")
            wallet = Wallet(directory)
        self.wallet = wallet
        self.totp_code: str | None = None
        self._unlocked: UnlockedWallet | None = None
        if not wallet.exists():
            raise SignerUnavailable(
                f"no wallet at `{wallet.directory}`",
                hint="create one with `citrate wallet create` (or `recover`), or pass --data-dir",
            )
        accounts = [a.address for a in wallet.accounts()]
        if address is None:
            self._address = accounts[0]
        else:
            match = [a for a in accounts if a.lower() == address.lower()]
            if not match:
                raise SignerUnavailable(
                    f"`{address}` is not an account of this wallet",
                    hint="pick one that `citrate wallet list` shows",
                )
            self._address = match[0]

    @property
    def address(self) -> str:
        return self._address

    @property
    def unlocked(self) -> bool:
        return self._unlocked is not None and not self._unlocked.locked

    def unlock(self, password: str, *, idle_timeout: float | None = None) -> None:
        """Open the wallet (its attempt limits apply); it locks after `idle_timeout` idle s."""
        self._unlocked = self.wallet.unlock(password, idle_timeout=idle_timeout)

    def lock(self) -> None:
        if self._unlocked is not None:
            self._unlocked.lock()
            self._unlocked = None

    def authorize_value(self, value_wei: int) -> None:
        from citrate_crypto.errors import CitrateError

        try:
            self._require().authorize_value(value_wei, self.totp_code)
        except CitrateError as exc:
            raise SignerUnavailable(str(exc)) from None

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        from eth_account.typed_transactions.typed_transaction import TypedTransaction

        from citrate_crypto.errors import CitrateError

        unlocked = self._require()
        unsigned = TypedTransaction.from_dict(tx)
        try:
            signature = unlocked.sign_hash(self._address, unsigned.hash())
        except CitrateError as exc:
            raise SignerUnavailable(str(exc)) from None
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:64], "big")
        signed = TypedTransaction.from_dict({**tx, "v": signature[64], "r": r, "s": s})
        return bytes(signed.encode())

    def _require(self) -> UnlockedWallet:
        if self._unlocked is None or self._unlocked.locked:
            self._unlocked = None
            raise SignerUnavailable(
                "the wallet is locked", hint="unlock it with your wallet password first"
            )
        return self._unlocked


# ------------------------------------------------------------------------------ the client

# Reverts worth a sentence in SALT instead of the contract's wei.
_FRIENDLY: dict[str, tuple[str, str]] = {
    "InsufficientStake": (
        "a provider stake must be at least {required} SALT (this one is {sent} SALT)",
        "stake at least {required} SALT (--stake)",
    ),
    "InsufficientEscrow": (
        "the payment {sent} SALT does not cover the job's max price {required} SALT",
        "send at least the max price",
    ),
    "WrongDisputeBond": (
        "a dispute needs a bond of exactly {required} SALT (sent {sent} SALT)",
        "send exactly the bond",
    ),
    "ProviderNotActive": (
        "the provider's stake {stake} SALT is below the minimum {minimum} SALT",
        "add stake first",
    ),
    "StakeBelowMinimum": (
        "the stake left, {remaining} SALT, would be below the minimum {minimum} SALT",
        "withdraw everything or less",
    ),
}
_SALT_ARGS = {"required", "sent", "stake", "minimum", "remaining"}


def _revert_error(
    data: bytes | str,
    *,
    sent: bool = False,
    tx_hash: str | None = None,
    what: str = "",
    view: bool = False,
) -> TransactionReverted:
    from citrate_contracts.errors import decode_revert

    decoded = decode_revert(data, contract="ComputeMarket")
    if decoded.name in _FRIENDLY:
        shown = {
            k: format_salt(v) if k in _SALT_ARGS and isinstance(v, int) else v
            for k, v in decoded.args.items()
        }
        message, hint = _FRIENDLY[decoded.name]
        text, hint_text = message.format(**shown), hint.format(**shown)
    else:
        text, hint_text = decoded.message, None
    prefix = f"{what}: " if what else ""
    suffix = "" if sent or view else "; nothing was sent"
    return TransactionReverted(
        f"{prefix}{text}{suffix}",
        name=decoded.name,
        args=decoded.args,
        sent=sent,
        tx_hash=tx_hash,
        hint=hint_text,
    )


def _revert_data(exc: RpcError) -> str | None:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return data
    return None


class MarketClient:
    """ComputeMarket at `address` (default: the node's system contract) on the node at `rpc_url`.

    Args:
        rpc_url: the node's JSON-RPC URL.
        signer: signs this client's transactions (views need none).
        address: the contract; by default asked from `citrate_getSystemContracts`.
        timeout: seconds per RPC request.
        receipt_timeout: seconds to wait for a sent transaction to be mined.
    """

    def __init__(
        self,
        rpc_url: str = DEFAULT_RPC_URL,
        *,
        signer: Signer | None = None,
        address: str | None = None,
        timeout: float = 15.0,
        receipt_timeout: float = 120.0,
    ) -> None:
        from citrate_contracts.artifacts import load_artifact

        self.rpc = Rpc(rpc_url, timeout=timeout)
        self.signer = signer
        self.receipt_timeout = receipt_timeout
        self.abi = ContractAbi(load_artifact("ComputeMarket").abi)
        self._address = to_checksum_address(address) if address else None
        self._chain_id: int | None = None
        self._send_lock = threading.Lock()

    def close(self) -> None:
        self.rpc.close()

    def __enter__(self) -> MarketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------- basics

    @property
    def address(self) -> str:
        """The ComputeMarket contract's address."""
        if self._address is None:
            try:
                found = self.rpc.request("citrate_getSystemContracts")
            except RpcError:
                found = None
            market = found.get("ComputeMarket") if isinstance(found, dict) else None
            if not market:
                raise ChainError(
                    f"the node at `{self.rpc.display_url}` has no ComputeMarket system contract",
                    hint="use a Citrate node (`citrate devnet`), or pass the contract address",
                )
            self._address = to_checksum_address(str(market))
        return self._address

    @property
    def account(self) -> str:
        """The signer's address."""
        return self._require_signer().address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc.quantity("eth_chainId")
        return self._chain_id

    def block_number(self) -> int:
        return self.rpc.quantity("eth_blockNumber")

    def chain_time(self) -> int:
        """The timestamp the next block will carry (what the contract compares deadlines to)."""
        block = self.rpc.request("eth_getBlockByNumber", ["pending", False])
        if not isinstance(block, dict):
            block = self.rpc.request("eth_getBlockByNumber", ["latest", False])
        value = _hex_int(block.get("timestamp")) if isinstance(block, dict) else None
        if value is None:
            raise RpcError("eth_getBlockByNumber", -32603, "the block has no timestamp")
        return value

    def balance(self, address: str) -> int:
        return self.rpc.quantity("eth_getBalance", [to_checksum_address(address), "latest"])

    def nonce(self, address: str, block: str = "pending") -> int:
        return self.rpc.quantity("eth_getTransactionCount", [to_checksum_address(address), block])

    # -------------------------------------------------------------------- views

    def call(self, name: str, *args: Any, block: str = "latest") -> Any:
        """Call the view `name` and decode its result."""
        tx = {"to": self.address, "data": "0x" + self.abi.encode_call(name, args).hex()}
        try:
            raw = self.rpc.data("eth_call", [tx, block])
        except RpcError as exc:
            data = _revert_data(exc)
            if data is not None:
                raise _revert_error(data, what=name, view=True) from None
            raise
        return self.abi.decode_result(name, raw)

    def job(self, job_id: int) -> Job:
        raw = self.call("getJob", job_id)
        doc = {_snake(k): v for k, v in raw.items()}
        doc["state"] = JobState(doc["state"])
        doc["job_type"] = JobType(doc["job_type"])
        return Job(job_id=job_id, **doc)

    def bids(self, job_id: int) -> list[Bid]:
        return [Bid(**{_snake(k): v for k, v in b.items()}) for b in self.call("getBids", job_id)]

    def provider(self, address: str) -> ProviderInfo:
        raw = self.call("getProvider", to_checksum_address(address))
        return ProviderInfo(
            address=to_checksum_address(address), **{_snake(k): v for k, v in raw.items()}
        )

    def provider_models(self, address: str) -> list[bytes]:
        return list(self.call("getProviderModels", to_checksum_address(address)))

    def provider_count(self) -> int:
        return int(self.call("providerCount"))

    def job_count(self) -> int:
        return int(self.call("jobCount"))

    def open_jobs(self, offset: int = 0, limit: int = PAGE_SIZE) -> tuple[list[int], int]:
        """One page of open job ids, and how many there are."""
        ids, total = self.call("getOpenJobs", offset, limit)
        return list(ids), int(total)

    def iter_open_jobs(self) -> Iterator[int]:
        """Every open job id, page by page (ids may move between pages as jobs leave)."""
        yield from self._pages(lambda o: self.open_jobs(o, PAGE_SIZE))

    def provider_jobs(
        self, address: str, offset: int = 0, limit: int = PAGE_SIZE
    ) -> tuple[list[int], int]:
        ids, total = self.call("getProviderJobs", to_checksum_address(address), offset, limit)
        return list(ids), int(total)

    def requester_jobs(
        self, address: str, offset: int = 0, limit: int = PAGE_SIZE
    ) -> tuple[list[int], int]:
        ids, total = self.call("getRequesterJobs", to_checksum_address(address), offset, limit)
        return list(ids), int(total)

    def _pages(self, page: Any) -> Iterator[int]:
        offset = 0
        seen: set[int] = set()
        while True:
            ids, total = page(offset)
            for i in ids:
                if i not in seen:
                    seen.add(i)
                    yield int(i)
            offset += len(ids)
            if not ids or offset >= total:
                return

    def split_price(self, price: int) -> tuple[int, int, int]:
        """(provider, treasury, routing pool) shares of a completed job's `price`."""
        provider, treasury, pool = self.call("splitPrice", price)
        return int(provider), int(treasury), int(pool)

    def compute_commitment(
        self, job_id: int, output_hash: bytes, nonce: bytes, provider: str
    ) -> bytes:
        """The contract's own commitment (`commitment_of` computes the same locally)."""
        return bytes(
            self.call(
                "computeCommitment",
                job_id,
                _b32(output_hash),
                _b32(nonce),
                to_checksum_address(provider),
            )
        )

    def credit_of(self, payee: str) -> int:
        """Wei the contract owes `payee` (PullPayments; `withdraw` sends it)."""
        return int(self.call("creditOf", to_checksum_address(payee)))

    withdrawable = credit_of

    def can_serve(self, provider: str, job_type: JobType, model: bytes) -> bool:
        return bool(self.call("canServe", to_checksum_address(provider), int(job_type), model))

    def score_bid(self, job_id: int, provider: str, price: int, latency_ms: int) -> int:
        return int(self.call("scoreBid", job_id, to_checksum_address(provider), price, latency_ms))

    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self.call("hasRole", role, to_checksum_address(account)))

    def treasury(self) -> str:
        return str(self.call("treasury"))

    def routing_pool(self) -> str:
        return str(self.call("routingPool"))

    # -------------------------------------------------------------------- events

    def events(
        self,
        names: Sequence[str] = (),
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        job_id: int | None = None,
        account: str | None = None,
    ) -> list[Event]:
        """ComputeMarket events named `names` (all if empty), oldest first.

        `job_id` filters on the first indexed argument (every job event's), `account` on the
        second (the provider, requester or disputer of the job events that index one).
        """
        topic0: Any = [self.abi.event_topics[n] for n in names] or None
        if isinstance(topic0, list):
            topic0 = ["0x" + t.hex() for t in topic0]
        topics: list[Any] = [topic0]
        if job_id is not None or account is not None:
            topics.append(None if job_id is None else "0x" + job_id.to_bytes(32, "big").hex())
        if account is not None:
            topics.append("0x" + bytes(12).hex() + to_checksum_address(account)[2:].lower())
        while topics and topics[-1] is None:
            topics.pop()
        query = {
            "address": self.address,
            "fromBlock": hex(from_block),
            "toBlock": to_block if isinstance(to_block, str) else hex(to_block),
            "topics": topics,
        }
        logs = self.rpc.request("eth_getLogs", [query])
        found = [self.abi.decode_log(log) for log in logs or []]
        return [e for e in found if e is not None]

    # -------------------------------------------------------------------- writes

    def register_provider(self, service: ServiceConfig, stake: int) -> Receipt:
        """Register the signer as a provider with `stake` wei.

        Raises:
            ComputeValueError: `stake` is below the minimum (checked before anything is sent).
        """
        if stake < MIN_PROVIDER_STAKE:
            raise ComputeValueError(
                f"a provider stake must be at least {format_salt(MIN_PROVIDER_STAKE)} SALT "
                f"(this one is {format_salt(stake)} SALT); nothing was sent",
                hint=f"pass --stake {format_salt(MIN_PROVIDER_STAKE).replace(',', '')} or more",
            )
        return self.transact("registerProvider", service.as_tuple(), value=stake)

    def update_provider(self, service: ServiceConfig) -> Receipt:
        return self.transact("updateProvider", service.as_tuple())

    def add_stake(self, amount: int) -> Receipt:
        return self.transact("addStake", value=amount)

    def withdraw_stake(self, amount: int) -> Receipt:
        return self.transact("withdrawStake", amount)

    def post_job(self, spec: JobSpec) -> tuple[int, Receipt]:
        """Post a job escrowing its max price; (job id, receipt)."""
        receipt = self.transact("postJob", spec.as_tuple(), value=spec.max_price)
        return int(receipt.event("JobPosted").args["jobId"]), receipt

    def bid(self, job_id: int, price: int, latency_ms: int) -> Receipt:
        return self.transact("bid", job_id, price, latency_ms)

    def assign_best_bid(self, job_id: int) -> Receipt:
        return self.transact("assignBestBid", job_id)

    def cancel_job(self, job_id: int) -> Receipt:
        return self.transact("cancelJob", job_id)

    def commit_result(self, job_id: int, commitment: bytes) -> Receipt:
        return self.transact("commitResult", job_id, commitment)

    def reveal_result(self, job_id: int, output_hash: bytes, nonce: bytes) -> Receipt:
        return self.transact("revealResult", job_id, _b32(output_hash), _b32(nonce))

    def complete_job(self, job_id: int) -> Receipt:
        return self.transact("completeJob", job_id)

    def timeout_job(self, job_id: int) -> Receipt:
        return self.transact("timeoutJob", job_id)

    def dispute_result(self, job_id: int) -> Receipt:
        return self.transact("disputeResult", job_id, value=DISPUTE_BOND)

    def resolve_dispute(self, job_id: int, result_correct: bool) -> Receipt:
        return self.transact("resolveDispute", job_id, result_correct)

    def expire_dispute(self, job_id: int) -> Receipt:
        return self.transact("expireDispute", job_id)

    def withdraw(self, payee: str | None = None) -> Receipt:
        """Send everything the contract owes `payee` (default: the signer) to it."""
        return self.transact("withdraw", to_checksum_address(payee or self.account))

    def grant_role(self, role: bytes, account: str) -> Receipt:
        return self.transact("grantRole", role, to_checksum_address(account))

    def set_windows(self, reveal: int, challenge: int, arbitration: int) -> Receipt:
        return self.transact("setWindows", reveal, challenge, arbitration)

    def simulate(self, name: str, *args: Any, value: int = 0) -> int:
        """Run `name` without sending it; the gas it needs.

        Raises:
            TransactionReverted: the contract would refuse it (with its reason).
        """
        signer = self._require_signer()
        tx = self._call_tx(signer.address, name, args, value)
        try:
            return self.rpc.quantity("eth_estimateGas", [tx])
        except RpcError as exc:
            data = _revert_data(exc)
            if data is not None:
                raise _revert_error(data, sent=False, what=name) from None
            if "insufficient funds" in exc.rpc_message.lower():
                raise ChainError(
                    f"{name}: the account `{signer.address}` cannot pay "
                    f"{format_salt(value)} SALT plus gas; nothing was sent",
                    hint="fund the account, or use a smaller amount",
                ) from None
            raise

    def transact(self, name: str, *args: Any, value: int = 0) -> Receipt:
        """Simulate, sign, send `name(args)` with `value` wei, and wait for its receipt.

        Raises:
            TransactionReverted: refused in simulation (`sent` False, nothing was sent) or
                mined with status 0 (`sent` True).
            SignerUnavailable: no signer, or the wallet is locked.
            ChainError: the node is unreachable or refused the transaction.
        """
        signer = self._require_signer()
        with self._send_lock:
            gas_estimate = self.simulate(name, *args, value=value)
            # Some headroom: state can move between the estimate and the block.
            gas = gas_estimate + gas_estimate // 5 + 10_000
            signer.authorize_value(value)
            max_fee, tip = self._fees()
            tx = {
                "type": 2,
                "chainId": self.chain_id,
                "nonce": self.nonce(signer.address, "pending"),
                "to": self.address,
                "value": value,
                "data": self.abi.encode_call(name, args),
                "gas": gas,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
            }
            raw = signer.sign_transaction(tx)
            try:
                tx_hash = str(self.rpc.request("eth_sendRawTransaction", ["0x" + raw.hex()]))
            except RpcError as exc:
                raise ChainError(
                    f"{name}: the node refused the transaction: {exc.rpc_message}",
                    hint="nothing was mined; check the account's balance and try again",
                ) from None
        receipt = self._wait_receipt(tx_hash, name)
        status = _hex_int(receipt.get("status"))
        if status != 1:
            raise self._mined_revert(name, args, value, tx_hash, receipt)
        events = [self.abi.decode_log(log) for log in receipt.get("logs", [])]
        return Receipt(
            tx_hash=tx_hash,
            block_number=_hex_int(receipt.get("blockNumber")) or 0,
            gas_used=_hex_int(receipt.get("gasUsed")) or 0,
            effective_gas_price=_hex_int(receipt.get("effectiveGasPrice")) or 0,
            events=[e for e in events if e is not None],
        )

    def _call_tx(self, sender: str, name: str, args: Sequence[Any], value: int) -> dict[str, Any]:
        return {
            "from": sender,
            "to": self.address,
            "data": "0x" + self.abi.encode_call(name, args).hex(),
            "value": hex(value),
        }

    def _mined_revert(
        self, name: str, args: Sequence[Any], value: int, tx_hash: str, receipt: Mapping[str, Any]
    ) -> TransactionReverted:
        # Replay it as a call at the block it was mined in, for the reason.
        block = _hex_int(receipt.get("blockNumber")) or 0
        tx = self._call_tx(self.account, name, args, value)
        try:
            self.rpc.request("eth_call", [tx, hex(max(block - 1, 0))])
        except RpcError as exc:
            data = _revert_data(exc)
            if data is not None:
                return _revert_error(data, sent=True, tx_hash=tx_hash, what=name)
        return TransactionReverted(
            f"{name}: transaction `{tx_hash}` was mined but reverted",
            sent=True,
            tx_hash=tx_hash,
            hint="the chain moved between the simulation and the block; check the job and retry",
        )

    def _fees(self) -> tuple[int, int]:
        block = self.rpc.request("eth_getBlockByNumber", ["latest", False])
        base = _hex_int(block.get("baseFeePerGas") or "0x0") if isinstance(block, dict) else 0
        try:
            tip = self.rpc.quantity("eth_maxPriorityFeePerGas")
        except RpcError:
            tip = 10**9
        # Twice the base fee, as wallets do, so the transaction survives a few rising blocks.
        return 2 * (base or 0) + tip, tip

    def _wait_receipt(self, tx_hash: str, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.02
        while True:
            receipt = self.rpc.request("eth_getTransactionReceipt", [tx_hash])
            if isinstance(receipt, dict):
                return receipt
            if time.monotonic() >= deadline:
                raise ChainError(
                    f"{name}: transaction `{tx_hash}` was sent but not mined within "
                    f"{self.receipt_timeout:g} s",
                    hint="it may still be mined: check it before sending again",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise SignerUnavailable(
                "this client has no account to sign with",
                hint="open it with a wallet (--data-dir, --from) to send transactions",
            )
        return self.signer


__all__ = [
    "ARBITER_ROLE",
    "DEFAULT_RPC_URL",
    "DISPUTE_BOND",
    "MIN_PROVIDER_STAKE",
    "VERIFIER_ROLE",
    "WEI_PER_SALT",
    "Bid",
    "ChainError",
    "ChainUnavailable",
    "ContractAbi",
    "Event",
    "Job",
    "JobSpec",
    "JobState",
    "MarketClient",
    "ProviderInfo",
    "Receipt",
    "RpcError",
    "ServiceConfig",
    "Signer",
    "SignerUnavailable",
    "TransactionReverted",
    "WalletSigner",
    "commitment_of",
    "format_salt",
    "model_id",
    "parse_salt",
    "redact_url",
]
