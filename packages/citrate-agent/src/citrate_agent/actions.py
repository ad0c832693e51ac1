"""Value-moving actions: prepared and simulated first, executed only after the user approves.

A tool that moves value (send, deploy, write, deploy a model, purchase, stake) never signs
anything itself. Its `prepare` builds the transactions, simulates them on the node
(`eth_estimateGas`, with the decoded revert reason if they would fail), checks the balance and
the session's spending limit, and returns a `PreparedAction` with a human-readable summary and
its cost. Nothing is sent and no state changes until `execute` runs with the user's approval;
`execute` simulates again (the chain may have moved), unlocks the wallet if needed (the
wallet's password and second-factor rules apply), signs, sends, and waits for the receipts.
"""

from __future__ import annotations

import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from citrate_agent.errors import (
    ApprovalError,
    ChainUnavailableError,
    InsufficientFundsError,
    SecondFactorRequiredError,
    SpendingLimitError,
    ToolTimeoutError,
    TransactionRevertedError,
    WalletUnavailableError,
)
from citrate_agent.reverts import describe_revert
from citrate_agent.units import salt
from citrate_crypto.errors import SecondFactorError, WalletError

if TYPE_CHECKING:
    from citrate_agent.tools.base import ToolContext

#: Gas estimates get this much headroom (in 1/100), as wallets add, so a transaction whose
#: path varies slightly with the block it lands in still fits.
GAS_MARGIN_PERCENT = 20


@dataclass(frozen=True)
class TxPlan:
    """One transaction of an action. `abis` decode its reverts; `contract` names the callee."""

    to: str | None
    data: bytes = b""
    value: int = 0
    description: str = ""
    abis: tuple[tuple[str, Sequence[Any]], ...] = ()
    contract: str | None = None
    gas: int = 0  # filled in by `simulate`
    call: str = ""  # the decoded call with its arguments, as the user should read it

    def call_object(self, sender: str) -> dict[str, Any]:
        call: dict[str, Any] = {"from": sender, "value": hex(self.value), "data": _hex(self.data)}
        if self.to is not None:
            call["to"] = self.to
        return call


@dataclass
class PreparedAction:
    """An action waiting for approval. `details` is JSON for the model and the UI."""

    tool: str
    kind: str
    title: str
    details: dict[str, Any]
    txs: list[TxPlan]
    sender: str
    chain_id: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    finish: Callable[[ToolContext, list[dict[str, Any]]], dict[str, Any]]
    before_send: Callable[[ToolContext], None] | None = None
    id: str = field(default_factory=lambda: "act-" + secrets.token_hex(4))
    created_at: float = field(default_factory=time.time)
    status: str = "pending"  # pending, executed, rejected, failed, expired
    result: dict[str, Any] | None = None

    @property
    def value_wei(self) -> int:
        return sum(tx.value for tx in self.txs)

    @property
    def max_gas_cost_wei(self) -> int:
        return sum(tx.gas for tx in self.txs) * self.max_fee_per_gas

    @property
    def max_total_wei(self) -> int:
        return self.value_wei + self.max_gas_cost_wei

    @property
    def summary(self) -> str:
        """The text a user reads before approving, built from the transactions to be signed.

        The amounts come first; every string that came from a model or from the chain (names,
        titles) was flattened to one line when the action was prepared, so it cannot fake
        lines of its own. Call data is shown decoded, or flagged when it cannot be.
        """
        lines = [
            self.title,
            f"  value: {salt(self.value_wei)} SALT",
            f"  network fee: at most {salt(self.max_gas_cost_wei)} SALT "
            f"({sum(tx.gas for tx in self.txs)} gas)",
            f"  total at most: {salt(self.max_total_wei)} SALT",
            f"  from: {self.sender} (chain {self.chain_id})",
        ]
        for tx in self.txs:
            target = tx.to or "a new contract"
            lines.append(f"  - {tx.description or 'transaction'} → {target}")
            if tx.call:
                lines.append(f"    call: {tx.call}")
            elif tx.data and tx.to is not None:
                lines.append(
                    f"    call data: 0x{tx.data[:4].hex()}… ({len(tx.data)} bytes, not decoded: "
                    "approve only if you know what this call does)"
                )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.id,
            "status": self.status,
            "tool": self.tool,
            "kind": self.kind,
            "title": self.title,
            "summary": self.summary,
            "from": self.sender,
            "value_salt": salt(self.value_wei),
            "max_network_fee_salt": salt(self.max_gas_cost_wei),
            "max_total_salt": salt(self.max_total_wei),
            "details": self.details,
        }


class SpendingTracker:
    """The per-session limit on value plus network fees that approvals may spend."""

    def __init__(self, limit_wei: int) -> None:
        self.limit_wei = limit_wei
        self.spent_wei = 0
        self._lock = threading.Lock()

    @property
    def remaining_wei(self) -> int:
        return max(0, self.limit_wei - self.spent_wei)

    def check(self, amount_wei: int) -> None:
        if amount_wei > self.remaining_wei:
            raise SpendingLimitError(
                f"this needs up to {salt(amount_wei)} SALT but the session's spending limit "
                f"leaves {salt(self.remaining_wei)} SALT (limit {salt(self.limit_wei)} SALT)",
                hint="send less, or raise the limit with `citrate agent config set "
                "spending_limit <SALT>` and start a new session",
            )

    def record(self, amount_wei: int) -> None:
        with self._lock:
            self.spent_wei += amount_wei

    def reserve(self, amount_wei: int) -> int:
        """Hold `amount_wei` of the limit for an execution (checked and held atomically)."""
        with self._lock:
            self.check(amount_wei)
            self.spent_wei += amount_wei
            return amount_wei

    def settle(self, reserved_wei: int, spent_wei: int, *, known: bool = True) -> None:
        """Replace a reservation by what was spent; keep all of it if the outcome is unknown."""
        if known:
            with self._lock:
                self.spent_wei += spent_wei - reserved_wei


class ActionBook:
    """Pending actions of a session, by id."""

    def __init__(self, ttl_seconds: float = 600.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._actions: dict[str, PreparedAction] = {}
        self._lock = threading.Lock()

    def add(self, action: PreparedAction) -> PreparedAction:
        with self._lock:
            self._actions[action.id] = action
        return action

    def pending(self) -> list[PreparedAction]:
        self._expire()
        return [a for a in self._actions.values() if a.status == "pending"]

    def get(self, action_id: str) -> PreparedAction:
        self._expire()
        action = self._actions.get(action_id)
        if action is None:
            raise ApprovalError(
                f"there is no action `{action_id}` in this session",
                hint="ask the agent again; it prepares a new action to approve",
            )
        return action

    def take(self, action_id: str) -> PreparedAction:
        """The pending action `action_id`, marked as no longer pending (one approval, once)."""
        action = self.get(action_id)
        with self._lock:
            if action.status != "pending":
                raise ApprovalError(
                    f"action `{action_id}` is {action.status}, not waiting for approval",
                    hint="ask the agent again; it prepares a new action to approve",
                )
            action.status = "executing"
            return action

    def _expire(self) -> None:
        now = time.time()
        with self._lock:
            for action in self._actions.values():
                if action.status == "pending" and now - action.created_at > self.ttl_seconds:
                    action.status = "expired"


def prepare(
    ctx: ToolContext,
    *,
    tool: str,
    kind: str,
    title: str,
    details: dict[str, Any],
    txs: Iterable[TxPlan],
    finish: Callable[[ToolContext, list[dict[str, Any]]], dict[str, Any]],
    before_send: Callable[[ToolContext], None] | None = None,
) -> PreparedAction:
    """Build, simulate and cost an action; register it with the session for approval.

    Raises:
        TransactionRevertedError: a transaction would revert (the reason is decoded).
        InsufficientFundsError: the balance cannot cover value plus the maximum network fee.
        SpendingLimitError: the action would pass the session's spending limit.
        WalletUnavailableError: there is no wallet to act from.
    """
    sender = ctx.require_address()
    plans = [
        replace(tx, description=one_line(tx.description), call=one_line(tx.call, 600)) for tx in txs
    ]
    title = one_line(title)
    # Nodes refuse to estimate gas for a value above the balance ("insufficient funds"), so
    # say it in the user's terms before simulating.
    _check_value_covered(ctx, sender, sum(tx.value for tx in plans))
    max_fee, tip = ctx.chain.fees()
    action = PreparedAction(
        tool=tool,
        kind=kind,
        title=title,
        details=details,
        txs=simulate(ctx, sender, plans),
        sender=sender,
        chain_id=ctx.chain.chain_id(),
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=tip,
        finish=finish,
        before_send=before_send,
    )
    check_affordable(ctx, action)
    at = getattr(_CALL, "deadline", None)
    if at is not None and time.monotonic() > at:
        raise ToolTimeoutError(
            f"`{tool}` finished preparing after its time limit, so its action was discarded",
            hint="ask again; nothing was prepared or sent",
        )
    ctx.actions.add(action)
    ctx.log_action(action, "prepared", title=action.title, max_total_wei=str(action.max_total_wei))
    return action


_CALL = threading.local()


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Within this block (one tool call on one thread), `prepare` registers nothing after `at`
    (a `time.monotonic()` value): a tool the orchestrator already reported as timed out must
    not leave an action behind for the user to approve by surprise."""
    _CALL.deadline = at
    try:
        yield
    finally:
        _CALL.deadline = None


def one_line(text: str, limit: int = 200) -> str:
    """`text` as one line of printable characters, at most `limit` long.

    Titles and descriptions carry names from the model and from the chain (contract and
    model names); flattened, they cannot fake extra lines in the summary a user approves.
    """
    flat = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _check_value_covered(ctx: ToolContext, sender: str, value: int) -> None:
    balance = ctx.chain.balance(sender)
    if value > balance:
        raise InsufficientFundsError(
            f"{sender} holds {salt(balance)} SALT, less than the {salt(value)} SALT this sends",
            hint="send less, or fund the account first",
        )


def simulate(ctx: ToolContext, sender: str, txs: list[TxPlan]) -> list[TxPlan]:
    """Estimate each transaction's gas (a revert raises with its reason); add the margin."""
    out = []
    for tx in txs:
        try:
            gas = ctx.chain.estimate_gas(tx.call_object(sender), abis=tx.abis, contract=tx.contract)
        except TransactionRevertedError as exc:
            raise TransactionRevertedError(
                tx.description or "the transaction",
                exc.reason,
                data=exc.data,
                hint="nothing was sent; fix the cause above and ask again",
            ) from None
        out.append(_with_gas(tx, gas * (100 + GAS_MARGIN_PERCENT) // 100))
    return out


def check_affordable(ctx: ToolContext, action: PreparedAction) -> None:
    balance = ctx.chain.balance(action.sender)
    if action.max_total_wei > balance:
        raise InsufficientFundsError(
            f"{action.sender} holds {salt(balance)} SALT, but this needs up to "
            f"{salt(action.max_total_wei)} SALT ({salt(action.value_wei)} value + at most "
            f"{salt(action.max_gas_cost_wei)} network fee)",
            hint="send less, or fund the account first",
        )
    ctx.spending.check(action.max_total_wei)


def execute(
    ctx: ToolContext,
    action_id: str,
    *,
    password: str | None = None,
    totp_code: str | None = None,
) -> dict[str, Any]:
    """Carry out an approved action; return its result (also kept on the action).

    The action is taken out of the pending set first, so one approval executes it at most once.
    What is signed never exceeds what the summary showed: if the simulation now needs more
    gas, or the base fee rose past the approved fee cap, nothing is sent and the action comes
    back for a new approval with the new costs. The session's spending limit is reserved for
    the whole approved cost before anything is sent, and released only for what is known not
    to have been spent.
    """
    action = ctx.actions.take(action_id)
    progress = _Progress()
    try:
        result = _execute(ctx, action, password, totp_code, progress)
    except (WalletUnavailableError, WalletError, CostsRoseError) as exc:
        # A locked wallet, a wrong password, a missing second-factor code or higher costs:
        # if nothing was signed and sent, the user can approve again.
        action.status = "failed" if progress.sent else "pending"
        ctx.log_action(action, "approval_refused", error=str(exc), sent=progress.sent)
        if isinstance(exc, SecondFactorError):
            raise SecondFactorRequiredError(
                str(exc), hint="approve again with the 6-digit code from your authenticator app"
            ) from None
        if isinstance(exc, WalletError):
            raise WalletUnavailableError(
                str(exc), hint="approve again with the right password"
            ) from None
        raise
    except ChainUnavailableError as exc:
        # Before the first send nothing happened: the user can approve again once the node
        # is back. After it, the outcome is unknown: never offer to send twice.
        action.status = "failed" if progress.sent else "pending"
        ctx.log_action(action, "node_unreachable", error=str(exc), sent=progress.sent)
        raise
    except Exception as exc:
        action.status = "failed"
        ctx.log_action(action, "failed", error=str(exc), sent=progress.sent)
        raise
    finally:
        ctx.spending.settle(progress.reserved, progress.spent, known=progress.known)
    action.status = "executed"
    action.result = result
    ctx.log_action(action, "executed", result=result)
    return result


def reject(ctx: ToolContext, action_id: str) -> PreparedAction:
    """Drop a pending action without sending anything."""
    action = ctx.actions.take(action_id)
    action.status = "rejected"
    ctx.log_action(action, "rejected")
    return action


class CostsRoseError(ApprovalError):
    """The action would now cost more than the approved summary; it awaits a new approval."""


@dataclass
class _Progress:
    sent: bool = False  # a signed transaction may have reached the node
    reserved: int = 0  # wei of the spending limit held for this execution
    spent: int = 0  # wei known to be spent (value and fees of mined transactions)
    known: bool = True  # False once a send's outcome is unknown: keep the whole reservation


def _execute(
    ctx: ToolContext,
    action: PreparedAction,
    password: str | None,
    totp_code: str | None,
    progress: _Progress,
) -> dict[str, Any]:
    wallet = ctx.require_wallet()
    _recheck_costs(ctx, action)
    check_affordable(ctx, action)
    if not wallet.unlocked:
        if password is None:
            raise WalletUnavailableError(
                "the wallet is locked",
                hint="approve again with your wallet password to unlock it",
            )
        wallet.unlock(password)
    wallet.authorize_value(action.value_wei, totp_code)
    progress.reserved = ctx.spending.reserve(action.max_total_wei)
    if action.before_send is not None:
        action.before_send(ctx)
    receipts: list[dict[str, Any]] = []
    for tx in action.txs:
        nonce = ctx.chain.nonce(action.sender, "pending")
        signed = wallet.sign_transaction(
            {
                "type": 2,
                "chainId": action.chain_id,
                "nonce": nonce,
                "to": tx.to or b"",
                "value": tx.value,
                "data": tx.data,
                "gas": tx.gas,
                "maxFeePerGas": action.max_fee_per_gas,
                "maxPriorityFeePerGas": action.max_priority_fee_per_gas,
                "accessList": [],
            }
        )
        # From here on the transaction may be out, even if a call below raises.
        progress.sent, progress.known = True, False
        tx_hash = ctx.chain.send_raw(signed)
        ctx.log_action(action, "sent", tx_hash=tx_hash)
        receipt = ctx.chain.wait_receipt(tx_hash)
        used = int(receipt.get("gasUsed", "0x0"), 16) * int(
            receipt.get("effectiveGasPrice", "0x0"), 16
        )
        ok = receipt.get("status") == "0x1"
        progress.spent += used + (tx.value if ok else 0)
        progress.known = True
        receipts.append(receipt)
        if not ok:
            reason = _replay_reason(ctx, action.sender, tx, receipt)
            raise TransactionRevertedError(
                f"{tx.description or 'the transaction'} (`{tx_hash}`)",
                reason,
                hint="it was mined and reverted, so only the network fee was spent",
            )
    return action.finish(ctx, receipts)


def _recheck_costs(ctx: ToolContext, action: PreparedAction) -> None:
    """Simulate again; sign the approved caps, or ask again if they no longer suffice."""
    fresh = simulate(ctx, action.sender, [_with_gas(tx, 0) for tx in action.txs])
    max_fee, tip = ctx.chain.fees()
    base = max(0, (max_fee - tip) // 2)
    gas_ok = all(new.gas <= old.gas for new, old in zip(fresh, action.txs, strict=True))
    fee_ok = base + min(tip, action.max_priority_fee_per_gas) <= action.max_fee_per_gas
    if gas_ok and fee_ok:
        return  # sign exactly the gas and fee caps the user saw
    approved = action.max_total_wei
    action.txs = [
        _with_gas(new, max(new.gas, old.gas)) for new, old in zip(fresh, action.txs, strict=True)
    ]
    action.max_fee_per_gas = max(max_fee, action.max_fee_per_gas)
    action.max_priority_fee_per_gas = tip
    raise CostsRoseError(
        f"this would now cost up to {salt(action.max_total_wei)} SALT, more than the "
        f"{salt(approved)} SALT you approved (the network fee rose); nothing was sent",
        hint="review the new summary and approve again, or reject it",
    )


def _replay_reason(ctx: ToolContext, sender: str, tx: TxPlan, receipt: dict[str, Any]) -> str:
    """Why a mined transaction reverted: replay it as a call at its block."""
    block = receipt.get("blockNumber", "latest")
    try:
        ctx.chain.call(tx.call_object(sender), block, abis=tx.abis, contract=tx.contract)
    except TransactionRevertedError as exc:
        return exc.reason
    except Exception:
        return describe_revert(None, "reverted (the reason could not be recovered)")
    return "reverted (the replay at that block succeeds, so the cause was ordering)"


def _with_gas(tx: TxPlan, gas: int) -> TxPlan:
    return replace(tx, gas=gas)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


__all__ = [
    "GAS_MARGIN_PERCENT",
    "ActionBook",
    "CostsRoseError",
    "PreparedAction",
    "SpendingTracker",
    "TxPlan",
    "deadline",
    "execute",
    "one_line",
    "prepare",
    "reject",
]
