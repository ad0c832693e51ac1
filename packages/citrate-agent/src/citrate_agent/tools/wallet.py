"""Wallet tools: the balance, sending SALT (after the user approves), and the history.

`send_transaction` never signs: it prepares an action (simulated, costed, checked against the
balance and the session's spending limit) that `citrate_agent.actions.execute` carries out only
after the user approves it.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from citrate_agent import actions
from citrate_agent.actions import PreparedAction, TxPlan
from citrate_agent.errors import InsufficientFundsError, ToolArgumentError
from citrate_agent.schema import ADDRESS, AMOUNT, HEX, object_schema
from citrate_agent.tools.base import Tool, ToolContext
from citrate_agent.tools.blockchain import (
    checksum,
    citrate_only,
    iso_time,
    quantity,
    system_contracts,
    target_address,
    wei_fields,
)
from citrate_agent.units import parse_amount, salt

ZERO_ADDRESS = "0x" + "00" * 20
MAX_HISTORY = 100
DEFAULT_HISTORY = 20
_CURSOR = r"^0x[0-9a-fA-F]{1,16}$"


# -------------------------------------------------------------------------------- balance


def balance(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """The SALT balance in the latest state, and the next nonce (counting pending sends).

    Raises:
        WalletUnavailableError: no address was given and no wallet is open.
    """
    address = target_address(ctx, args)
    head = ctx.chain.block_number()
    # Read at the head's number rather than `latest`, so the balance and the block it belongs
    # to are reported together even if a block lands between the two calls.
    wei = ctx.chain.balance(address, hex(head))
    return {
        "address": address,
        "block_number": head,
        **wei_fields("balance", wei),
        "pending_nonce": ctx.chain.nonce(address, "pending"),
    }


# ------------------------------------------------------------------------ send_transaction


def send_transaction(ctx: ToolContext, args: dict[str, Any]) -> PreparedAction:
    """Prepare a SALT transfer (optionally with call data) for the user to approve.

    Raises:
        ToolArgumentError: the recipient is the zero address or the wallet itself, or a plain
            transfer of nothing.
        InsufficientFundsError: the balance cannot cover the amount plus the network fee.
        SpendingLimitError: the transfer would pass the session's spending limit.
        TransactionRevertedError: the recipient (a contract) would reject it.
        WalletUnavailableError: there is no wallet to send from.
    """
    sender = ctx.require_address()
    to = to_checksum_address(args["to"])
    value = parse_amount(args["amount"])
    data = bytes.fromhex(str(args.get("data") or "0x")[2:])
    problems = []
    if to.lower() == ZERO_ADDRESS:
        problems.append(
            "to: the zero address has no owner, so anything sent there is lost for good"
        )
    if to.lower() == sender.lower():
        problems.append(
            f"to: `{to}` is the wallet's own address; sending to yourself moves nothing and "
            "only pays the network fee"
        )
    if value == 0 and not data:
        problems.append("amount: a transfer of 0 SALT without data does nothing")
    if problems:
        raise ToolArgumentError(
            "send_transaction",
            problems,
            hint="nothing was sent; ask the user for the intended recipient and amount",
        )

    # Estimating the gas of a transfer larger than the balance fails inside the node with a
    # bare RPC error; say plainly what is wrong before simulating.
    held = ctx.chain.balance(sender)
    if value > held:
        raise InsufficientFundsError(
            f"{sender} holds {salt(held)} SALT, less than the {salt(value)} SALT to send",
            hint="send less, or fund the account first",
        )

    code = ctx.chain.code(to)
    known = ctx.contracts.get(to.lower())
    contract_name = system_contracts(ctx).get(to.lower()) if code else None
    if known is not None:
        contract_name = known.name
    plan = TxPlan(
        to=to,
        value=value,
        data=data,
        description=f"send {salt(value)} SALT" + (" with call data" if data else ""),
        abis=((known.name, known.abi),) if known is not None else (),
        contract=contract_name,
    )

    def finish(ctx: ToolContext, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        receipt = receipts[0]
        block = quantity(receipt["blockNumber"])
        used = quantity(receipt.get("gasUsed")) or 0
        price = quantity(receipt.get("effectiveGasPrice")) or 0
        # The balance right after this transaction's block: exactly the effect of this send
        # (and of anything else in that block).
        after = ctx.chain.balance(sender, hex(block) if block is not None else "latest")
        return {
            "status": "success",
            "tx_hash": receipt["transactionHash"],
            "block_number": block,
            "block_hash": receipt.get("blockHash"),
            "from": sender,
            "to": to,
            **wei_fields("amount", value),
            "gas_used": used,
            "effective_gas_price_wei": str(price),
            **wei_fields("fee", used * price),
            **wei_fields("new_balance", after),
        }

    details: dict[str, Any] = {
        "from": sender,
        "to": to,
        **wei_fields("amount", value),
        "data_size_bytes": len(data),
        "recipient_is_contract": bool(code),
        "recipient_contract": contract_name,
        **wei_fields("balance_before", held),
    }
    return actions.prepare(
        ctx,
        tool="send_transaction",
        kind="send",
        title=f"Send {salt(value)} SALT to {to}",
        details=details,
        txs=[plan],
        finish=finish,
    )


# --------------------------------------------------------------------- transaction_history


def transaction_history(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """The address's transactions, newest first, a page at a time.

    Raises:
        WalletUnavailableError: no address was given and no wallet is open.
        AgentError: the node is not a Citrate node (it keeps no index by address).
    """
    address = target_address(ctx, args)
    limit = int(args.get("limit", DEFAULT_HISTORY))
    params: list[Any] = [address, hex(limit)]
    if args.get("cursor"):
        params.append(str(args["cursor"]))
    page = citrate_only(ctx, "citrate_getTransactionsByAddress", params)
    mine = address.lower()
    items = []
    for tx in page["transactions"]:
        sender = str(tx.get("from") or "").lower()
        recipient = str(tx.get("to") or "").lower()
        if sender == mine and recipient == mine:
            direction = "self"
        elif sender == mine:
            direction = "out"
        else:
            direction = "in"
        receipt = ctx.chain.receipt(tx["hash"])
        item: dict[str, Any] = {
            "hash": tx["hash"],
            "direction": direction,
            "from": checksum(tx.get("from")),
            "to": checksum(tx.get("to")),
            **wei_fields("value", quantity(tx.get("value")) or 0),
            "nonce": quantity(tx.get("nonce")),
            "block_number": quantity(tx.get("blockNumber")),
            "time": iso_time(quantity(tx.get("blockTimestamp"))),
            "input_size_bytes": (len(str(tx.get("input") or "0x")) - 2) // 2,
        }
        if receipt is None:
            item.update(status="pending", fee_wei=None, fee_salt=None, contract_address=None)
        else:
            used = quantity(receipt.get("gasUsed")) or 0
            price = quantity(receipt.get("effectiveGasPrice")) or 0
            item["status"] = "success" if receipt.get("status") == "0x1" else "reverted"
            item.update(wei_fields("fee", used * price))  # paid by the sender
            item["contract_address"] = checksum(receipt.get("contractAddress"))
        items.append(item)
    return {
        "address": address,
        "count": len(items),
        "transactions": items,
        # Pass this back as `cursor` for the next (older) page; null when this is the last.
        "next_cursor": page.get("nextCursor"),
    }


# ---------------------------------------------------------------------------------- tools

TOOLS: list[Tool] = [
    Tool(
        name="balance",
        category="wallet",
        description="Get the SALT balance of an address in the latest state (wei and SALT) and "
        "its next nonce. Defaults to the wallet's own address.",
        parameters=object_schema(
            {
                "address": {
                    **ADDRESS,
                    "description": "The account (0x address, EIP-55 checksummed if mixed "
                    "case). Default: the wallet's own address.",
                }
            }
        ),
        run=balance,
    ),
    Tool(
        name="send_transaction",
        category="wallet",
        description="Send SALT from the wallet to an address. It is simulated and costed, then "
        "waits for the user's approval; after approval it returns the transaction hash, block, "
        "gas used, fee paid and the new balance.",
        parameters=object_schema(
            {
                "to": {
                    **ADDRESS,
                    "description": "The recipient (0x address, EIP-55 checksummed if mixed "
                    "case). Not the zero address and not the wallet itself.",
                },
                "amount": {
                    **AMOUNT,
                    "description": 'How much to send: SALT as "1.5" or "1.5 SALT", or "2 gwei" '
                    'or "100 wei".',
                },
                "data": {
                    **HEX,
                    "description": "Optional call data (0x hex) to send with the value. "
                    "Default: none.",
                },
            },
            required=("to", "amount"),
        ),
        prepare=send_transaction,
    ),
    Tool(
        name="transaction_history",
        category="wallet",
        description="List an address's transactions, newest first: hash, direction (in, out, "
        "self), from, to, value, block, status and fee. Defaults to the wallet's own address; "
        "pass next_cursor back as cursor for older ones.",
        parameters=object_schema(
            {
                "address": {
                    **ADDRESS,
                    "description": "The account (0x address). Default: the wallet's own address.",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_HISTORY,
                    "description": f"How many transactions to list (1 to {MAX_HISTORY}). "
                    f"Default: {DEFAULT_HISTORY}.",
                },
                "cursor": {
                    "type": "string",
                    "pattern": _CURSOR,
                    "description": "The `next_cursor` of the previous page, to continue with "
                    "older transactions. Default: start at the newest.",
                },
            }
        ),
        run=transaction_history,
    ),
]

__all__ = [
    "TOOLS",
    "ZERO_ADDRESS",
    "balance",
    "send_transaction",
    "transaction_history",
]
