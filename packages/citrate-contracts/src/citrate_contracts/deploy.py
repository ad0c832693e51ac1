"""Deploy the system contracts to an external EVM chain (anvil, a testnet) and record where.

``citrate contracts deploy --rpc-url URL --key-env VAR`` runs `citrate_contracts.system`'s
plan from the admin key, waits for every receipt, checks each contract has code, and writes
``{name: address}`` JSON (the shape of the devnet's ``citrate_getSystemContracts``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxParams

from citrate_contracts.system import SystemPlan, SystemRoles, plan_system

__all__ = ["DeploymentError", "deploy_system", "write_addresses"]


class DeploymentError(RuntimeError):
    """A deployment transaction failed; the message names it and how far the plan got."""


def _fees(w3: Web3) -> tuple[int, int]:
    block = w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas", 0) or 0)
    tip = 10**9
    return base * 2 + tip, tip


def deploy_system(
    w3: Web3,
    admin: LocalAccount,
    *,
    treasury: str,
    routing_pool: str,
    log: Callable[[str], None] = lambda _: None,
    receipt_timeout: float = 120.0,
) -> SystemPlan:
    """Run the system plan from ``admin`` (deployer and admin of every contract).

    The addresses are ``CREATE(admin, nonce)`` from the admin's current nonce; a fresh admin
    gives the same addresses as the devnet's genesis.
    """
    roles = SystemRoles(admin=admin.address, treasury=treasury, routing_pool=routing_pool)
    nonce = w3.eth.get_transaction_count(admin.address, "pending")
    plan = plan_system(roles, first_nonce=nonce)
    chain_id = w3.eth.chain_id
    max_fee, tip = _fees(w3)
    for i, call in enumerate(plan.calls):
        tx: dict[str, Any] = {
            "chainId": chain_id,
            "nonce": nonce + i,
            "from": admin.address,
            "data": call.data,
            "value": call.value,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "type": 2,
        }
        if call.to is not None:
            tx["to"] = call.to
        try:
            tx["gas"] = w3.eth.estimate_gas(cast(TxParams, tx)) * 12 // 10
        except Exception as e:
            raise DeploymentError(
                f"step {i + 1}/{len(plan.calls)} ({call.description}) would fail: {e}"
            ) from None
        signed = admin.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=receipt_timeout)
        if receipt["status"] != 1:
            raise DeploymentError(
                f"step {i + 1}/{len(plan.calls)} ({call.description}) reverted in "
                f"transaction {tx_hash.hex()}"
            )
        if call.creates is not None:
            got = receipt["contractAddress"]
            if got != plan.addresses[call.creates]:
                raise DeploymentError(
                    f"{call.creates} was created at {got}, not the planned "
                    f"{plan.addresses[call.creates]} (did another transaction use the nonce?)"
                )
            log(f"{call.creates}: {got}")
    for name, address in plan.addresses.items():
        if not w3.eth.get_code(Web3.to_checksum_address(address)):
            raise DeploymentError(f"{name} at {address} has no code after deployment")
    return plan


def write_addresses(path: Path, addresses: dict[str, str]) -> None:
    """Write ``{name: address}`` JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(addresses, f, indent=2)
            f.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def admin_from_env(var: str) -> LocalAccount:
    """The admin key from environment variable ``var`` (hex private key); never logged."""
    value = os.environ.get(var, "").strip()
    if not value:
        raise DeploymentError(
            f"environment variable {var} is not set\n"
            "hint: export it with the deployer's private key (0x + 64 hex digits)"
        )
    try:
        account: LocalAccount = Account.from_key(value)
    except Exception:
        raise DeploymentError(
            f"{var} does not hold a valid private key (expected 0x + 64 hex digits)"
        ) from None
    return account
