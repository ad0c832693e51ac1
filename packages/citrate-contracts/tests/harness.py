"""A chain with the system contracts deployed, as the contract tests see it.

`ChainUnderTest` wraps one running node (anvil or `citrate devnet`) whose system contracts are
at known addresses: on the devnet they are predeployed at genesis (``citrate_getSystemContracts``);
on anvil the suite deploys them with `citrate_contracts.deploy.deploy_system` from the same
admin key, so the addresses are the same on both.

The checks the system contracts' tests share (``withdraw_exactly``, ``assert_needs_role``,
``assert_backed``) are methods of it too; the re-entering contract account is in `attackers`,
and model registration in `models`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from citrate_contracts.artifacts import load_artifact
from citrate_contracts.compiler import CompilationResult, compile_source
from citrate_contracts.errors import DecodedRevert, ErrorCatalog, decode_revert

DEV_PHRASE = "test test test test test test test test test test test junk"
#: The devnet's system accounts: m/44'/60'/0'/0/20 (admin and deployer), 21 (treasury),
#: 22 (routing pool). Kept equal to citrate_node.config.
ADMIN_INDEX, TREASURY_INDEX, ROUTING_POOL_INDEX = 20, 21, 22
TIP = 10**9
ETHER = 10**18
ZERO_ADDRESS = "0x" + "00" * 20
#: OpenZeppelin AccessControl's DEFAULT_ADMIN_ROLE.
ADMIN_ROLE = b"\x00" * 32

Account.enable_unaudited_hdwallet_features()


def dev_account(index: int) -> LocalAccount:
    account: LocalAccount = Account.from_mnemonic(
        DEV_PHRASE, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


class Reverted(AssertionError):
    """A transaction or call reverted; ``error`` is the decoded revert."""

    def __init__(self, error: DecodedRevert) -> None:
        super().__init__(error.message)
        self.error = error


@cache
def compile_cached(source: str) -> CompilationResult:
    return compile_source(source, filename="Test.sol")


@dataclass
class ChainUnderTest:
    kind: str
    w3: Web3
    addresses: dict[str, str]
    admin: LocalAccount = field(default_factory=lambda: dev_account(ADMIN_INDEX))
    treasury: LocalAccount = field(default_factory=lambda: dev_account(TREASURY_INDEX))
    routing_pool: LocalAccount = field(default_factory=lambda: dev_account(ROUTING_POOL_INDEX))
    users: list[LocalAccount] = field(default_factory=lambda: [dev_account(i) for i in range(10)])
    catalog: ErrorCatalog = field(default_factory=ErrorCatalog.system)

    # --- contracts -----------------------------------------------------------------------

    def contract(self, name: str, *, decode_tuples: bool = False) -> Contract:
        """The system contract ``name`` at its deployed address; with ``decode_tuples``, its
        calls return structs as named tuples (``m.owner`` rather than ``m[1]``)."""
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(self.addresses[name]),
            abi=load_artifact(name).abi,
            decode_tuples=decode_tuples,
        )

    def at(self, address: str, abi: list[dict[str, Any]]) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def deploy_source(
        self,
        source: str,
        contract_name: str,
        sender: LocalAccount,
        *ctor_args: Any,
        value: int = 0,
    ) -> Contract:
        """Compile ``source`` (e.g. an attacker contract) and deploy ``contract_name``."""
        compiled = compile_cached(source).get(contract_name)
        factory = self.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
        self.catalog.add(contract_name, compiled.abi, compiled.userdoc)
        data = factory.constructor(*ctor_args).data_in_transaction
        receipt = self._transact(sender, None, data, value, contract=contract_name)
        return self.at(str(receipt["contractAddress"]), compiled.abi)

    def deploy_revert(self, name: str, sender: LocalAccount, *ctor_args: Any) -> DecodedRevert:
        """The decoded revert of deploying the shipped contract ``name`` with ``ctor_args``;
        fails the test if it would deploy."""
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        call = {"from": sender.address, "data": factory.constructor(*ctor_args).data_in_transaction}
        revert = self._revert_from(self._rpc("eth_call", [call, "latest"]), None, name)
        if revert is None:
            raise AssertionError(f"deploying {name}{tuple(ctor_args)} did not revert")
        return revert

    # --- transactions ----------------------------------------------------------------------

    def _rpc(self, method: str, params: list[Any]) -> Mapping[str, Any]:
        return self.w3.provider.make_request(method, params)  # type: ignore[arg-type]

    def _name_at(self, address: str | None) -> str | None:
        if address is None:
            return None
        for name, known in self.addresses.items():
            if known.lower() == address.lower():
                return name
        return None

    def _revert_from(
        self, reply: Mapping[str, Any], to: str | None = None, contract: str | None = None
    ) -> DecodedRevert | None:
        """The decoded revert in ``reply``, if any; ``contract`` (default: the system contract
        at ``to``) is the one whose error definitions win a selector clash."""
        error = reply.get("error")
        if not error:
            return None
        data = error.get("data")
        if isinstance(data, Mapping):  # some nodes nest it
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return decode_revert(data, self.catalog, contract=contract or self._name_at(to))
        return DecodedRevert("rpc-error", {"error": error}, str(error.get("message")), b"")

    def _transact(
        self,
        sender: LocalAccount,
        to: str | None,
        data: bytes | str,
        value: int = 0,
        *,
        contract: str | None = None,
    ) -> TxReceipt:
        call: dict[str, Any] = {
            "from": sender.address,
            "data": data if isinstance(data, str) else "0x" + data.hex(),
            "value": hex(value),
        }
        if to is not None:
            call["to"] = to
        reply = self._rpc("eth_estimateGas", [call])
        revert = self._revert_from(reply, to, contract)
        if revert is not None:
            raise Reverted(revert)
        gas = int(reply["result"], 16) * 12 // 10 + 10_000
        base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        tx = {
            "chainId": self.w3.eth.chain_id,
            "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
            "gas": gas,
            "maxFeePerGas": base * 2 + TIP,
            "maxPriorityFeePerGas": TIP,
            "value": value,
            "data": call["data"],
            "type": 2,
        }
        if to is not None:
            tx["to"] = to
        signed = sender.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)
        if receipt["status"] != 1:
            raise Reverted(
                DecodedRevert("failed", {}, f"transaction {tx_hash.hex()} failed on chain", b"")
            )
        return receipt

    def send(self, fn: ContractFunction, sender: LocalAccount, value: int = 0) -> TxReceipt:
        """Sign and send ``fn`` from ``sender``; raise `Reverted` (decoded) if it would revert."""
        return self._transact(sender, fn.address, fn._encode_transaction_data(), value)

    def transfer(self, sender: LocalAccount, to: str, value: int) -> TxReceipt:
        return self._transact(sender, to, b"", value)

    def revert_of(
        self, fn: ContractFunction, sender: LocalAccount | str, value: int = 0
    ) -> DecodedRevert:
        """The decoded revert of calling ``fn``; fails the test if it does not revert."""
        frm = sender if isinstance(sender, str) else sender.address
        call = {
            "from": frm,
            "to": fn.address,
            "data": fn._encode_transaction_data(),
            "value": hex(value),
        }
        revert = self._revert_from(self._rpc("eth_call", [call, "latest"]), fn.address)
        if revert is None:
            raise AssertionError(f"{fn.fn_name} from {frm} did not revert")
        return revert

    # --- reading ---------------------------------------------------------------------------

    def events(
        self, receipt: TxReceipt, contract: str | Contract, event: str
    ) -> list[dict[str, Any]]:
        """The decoded arguments of every ``event`` the contract emitted in ``receipt``."""
        c = self.contract(contract) if isinstance(contract, str) else contract
        logs = c.events[event]().process_receipt(receipt, errors=DISCARD)
        return [dict(log["args"]) for log in logs]

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))

    @staticmethod
    def gas_cost(receipt: TxReceipt) -> int:
        return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block."""
        self._rpc("evm_increaseTime", [seconds])
        self._rpc("evm_mine", [])

    def snapshot(self) -> str:
        return str(self._rpc("evm_snapshot", [])["result"])

    def revert_to(self, snapshot_id: str) -> None:
        reply = self._rpc("evm_revert", [snapshot_id])
        if reply.get("result") is not True:
            raise RuntimeError(f"evm_revert({snapshot_id}) failed: {reply}")

    # --- checks shared by the system contracts' tests ----------------------------------------

    def withdraw_exactly(
        self, contract: Contract, payee: str, amount: int, *, by: LocalAccount
    ) -> None:
        """Pull ``payee``'s credit out of ``contract`` (``withdraw(payee)``, sent by ``by``) and
        check it was exactly ``amount``: the payee's balance grows by it (less gas when the
        payee sends), ``PaymentWithdrawn`` says so and nothing stays owed. With ``amount == 0``
        check that the withdrawal reverts with ``NothingToWithdraw(payee)`` instead."""
        fn = contract.functions.withdraw(payee)
        if amount == 0:
            err = self.revert_of(fn, by)
            assert (err.name, err.args) == ("NothingToWithdraw", {"payee": payee})
            return
        assert contract.functions.creditOf(payee).call() == amount
        before = self.balance(payee)
        receipt = self.send(fn, by)
        gas = self.gas_cost(receipt) if by.address == payee else 0
        assert self.balance(payee) - before == amount - gas
        assert self.events(receipt, contract, "PaymentWithdrawn") == [
            {"payee": payee, "amount": amount}
        ]
        assert contract.functions.creditOf(payee).call() == 0

    def assert_needs_role(self, fn: ContractFunction, role: bytes, *callers: LocalAccount) -> None:
        """Each of ``callers`` is refused ``fn`` for lack of ``role`` (OpenZeppelin
        AccessControl's ``AccessControlUnauthorizedAccount``, naming the caller and the role)."""
        assert callers, "name at least one caller"
        for who in callers:
            err = self.revert_of(fn, who)
            assert (err.name, err.args) == (
                "AccessControlUnauthorizedAccount",
                {"account": who.address, "neededRole": role},
            ), err.message

    def assert_backed(self, contract: Contract, *totals: str) -> None:
        """``contract`` holds exactly the sum of its ``totals`` views (``"totalCredits"``, ...):
        everything it owes is there, and every wei it holds is owed to someone."""
        owed = {total: int(getattr(contract.functions, total)().call()) for total in totals}
        balance = self.balance(contract.address)
        assert balance == sum(owed.values()), f"balance {balance} != {owed}"


# --- helpers ----------------------------------------------------------------------------


def calldata(fn: ContractFunction) -> bytes:
    """The ABI-encoded call of ``fn`` (selector and arguments), e.g. for an attacker to replay."""
    return bytes.fromhex(fn._encode_transaction_data().removeprefix("0x"))


def struct(fn: ContractFunction) -> dict[str, Any]:
    """Call ``fn``, a view returning one struct, and key its fields by their ABI names."""
    components = fn.abi["outputs"][0]["components"]
    return {c["name"]: v for c, v in zip(components, fn.call(), strict=True)}
