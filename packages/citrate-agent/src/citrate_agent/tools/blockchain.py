"""Read-only chain tools: the node, blocks (with their GhostDAG placement), the DAG,
transactions and accounts.

Everything here is read from the node over JSON-RPC at the moment of the call; nothing is
cached or invented. Citrate's own methods (`citrate_*`) add the DAG view; against a plain
Ethereum node the Ethereum fields still work and the Citrate-only fields are null.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from eth_utils.address import to_checksum_address

from citrate_agent._contracts import system_names_by_address
from citrate_agent.errors import AgentError, RpcError, WalletUnavailableError
from citrate_agent.schema import ADDRESS, BLOCK, BLOCK_TAGS, BYTES32, object_schema
from citrate_agent.tools.base import Tool, ToolContext
from citrate_agent.units import salt

#: Names of the networks the agent knows by chain id.
NETWORK_NAMES = {
    1337: "Citrate devnet",
    1: "Ethereum mainnet",
    11155111: "Ethereum Sepolia testnet",
    31337: "local development node (anvil / Hardhat)",
}
#: JSON-RPC "method not found": the node does not implement an (optional) method.
METHOD_NOT_FOUND = -32601
MAX_RECENT_BLOCKS = 100
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


# ------------------------------------------------------------------------------ helpers


def checksum(address: str | None) -> str | None:
    """`address` in EIP-55 form (None stays None)."""
    return None if address is None else to_checksum_address(address)


def quantity(value: Any) -> int | None:
    """A JSON-RPC hex quantity (or an int) as an int; None stays None."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(str(value), 16)


def wei_fields(prefix: str, wei: int | None) -> dict[str, str | None]:
    """`{prefix}_wei` (decimal string) and `{prefix}_salt` for an amount of wei."""
    if wei is None:
        return {f"{prefix}_wei": None, f"{prefix}_salt": None}
    return {f"{prefix}_wei": str(wei), f"{prefix}_salt": salt(wei)}


def target_address(ctx: ToolContext, args: dict[str, Any]) -> str:
    """The `address` argument in EIP-55 form, else the wallet's own address.

    Raises:
        WalletUnavailableError: no address was given and no wallet is open.
    """
    given = args.get("address")
    if given:
        return to_checksum_address(given)
    if ctx.wallet is None:
        raise WalletUnavailableError(
            "no `address` was given and no wallet is open to default to",
            hint="pass the `address` to look at, or create a wallet with `citrate wallet create`",
        )
    return to_checksum_address(ctx.wallet.address)


def optional(ctx: ToolContext, method: str, params: list[Any] | None = None) -> Any:
    """`method`'s result, or None when the node does not implement it (not a Citrate node)."""
    try:
        return ctx.chain.request(method, params)
    except RpcError as exc:
        if exc.code == METHOD_NOT_FOUND:
            return None
        raise


def citrate_only(ctx: ToolContext, method: str, params: list[Any] | None = None) -> Any:
    """`method`'s result; a node without it raises an error that says it is not Citrate."""
    try:
        return ctx.chain.request(method, params)
    except RpcError as exc:
        if exc.code == METHOD_NOT_FOUND:
            raise AgentError(
                f"the node at `{ctx.chain.display_url}` does not provide `{method}`, so it is "
                "not a Citrate node",
                hint="point the agent at a Citrate node (`citrate devnet` starts one), or use the "
                "Ethereum tools (block_info, transaction_info, account_info)",
            ) from None
        raise


#: `{lower-case address: name}` of the node's system contracts (empty if not Citrate).
system_contracts = system_names_by_address


def iso_time(timestamp: int | None) -> str | None:
    """A unix timestamp as ISO 8601 UTC ("2026-01-01T00:00:00Z"); None stays None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _block_ref(value: str | int) -> tuple[str, Any]:
    """(`eth_getBlockByHash` | `eth_getBlockByNumber`, the reference) for a `BLOCK` argument."""
    if isinstance(value, int):
        return "eth_getBlockByNumber", hex(value)
    text = value.strip().lower()
    if text in BLOCK_TAGS:
        return "eth_getBlockByNumber", text
    if _HASH.match(text):
        return "eth_getBlockByHash", text
    if text.isdigit():
        return "eth_getBlockByNumber", hex(int(text))
    return "eth_getBlockByNumber", hex(int(text, 16))  # a 0x number (the schema checked it)


def transaction_summary(tx: dict[str, Any]) -> dict[str, Any]:
    """The fields of a transaction object a user reads, in the tools' result conventions."""
    data = str(tx.get("input") or tx.get("data") or "0x")
    size = (len(data) - 2) // 2
    return {
        "hash": tx.get("hash"),
        "type": quantity(tx.get("type")),
        "from": checksum(tx.get("from")),
        "to": checksum(tx.get("to")),
        **wei_fields("value", quantity(tx.get("value")) or 0),
        "nonce": quantity(tx.get("nonce")),
        "gas_limit": quantity(tx.get("gas")),
        "max_fee_per_gas_wei": _str(quantity(tx.get("maxFeePerGas"))),
        "max_priority_fee_per_gas_wei": _str(quantity(tx.get("maxPriorityFeePerGas"))),
        "gas_price_wei": _str(quantity(tx.get("gasPrice"))),
        "input_size_bytes": size,
        # The first four bytes name the called function; a contract creation has no `to`.
        "method_id": data[:10] if size >= 4 and tx.get("to") else None,
        "block_number": quantity(tx.get("blockNumber")),
        "block_hash": tx.get("blockHash"),
        "transaction_index": quantity(tx.get("transactionIndex")),
    }


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------- node_status


def node_status(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Whether the node answers, which chain it serves, and where its head is.

    Raises:
        ChainUnavailableError: the node is not reachable at the configured RPC URL.
    """
    chain_id = ctx.chain.chain_id()  # the first call: raises if the node is down
    head = ctx.chain.request("eth_getBlockByNumber", ["latest", False])
    syncing = optional(ctx, "eth_syncing")
    peers = optional(ctx, "net_peerCount")
    mempool = optional(ctx, "citrate_getMempoolSnapshot")
    return {
        "up": True,
        "rpc_url": ctx.chain.display_url,
        "chain_id": chain_id,
        "network": NETWORK_NAMES.get(chain_id, f"unknown network (chain id {chain_id})"),
        "client_version": optional(ctx, "web3_clientVersion"),
        "block_number": quantity(head.get("number")),
        "block_hash": head.get("hash"),
        "block_time": iso_time(quantity(head.get("timestamp"))),
        "blue_score": quantity(head.get("blueScore")),
        # eth_syncing is `false` or an object describing the sync in progress.
        "syncing": bool(syncing) if syncing is not None else None,
        "peer_count": quantity(peers),
        **wei_fields("base_fee_per_gas", quantity(head.get("baseFeePerGas"))),
        "mempool_pending": None if mempool is None else int(mempool["pendingCount"]),
        "mempool_queued": None if mempool is None else int(mempool["queuedCount"]),
    }


# ----------------------------------------------------------------------------- block_info


def block_info(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """One block: its Ethereum header fields and its place in the GhostDAG.

    Raises:
        AgentError: no such block on this chain.
    """
    wanted = args.get("block", "latest")
    full = bool(args.get("full_transactions", False))
    method, ref = _block_ref(wanted)
    block = ctx.chain.request(method, [ref, full])
    if block is None:
        head = ctx.chain.block_number()
        raise AgentError(
            f"there is no block `{wanted}` on this chain",
            hint=f"the head is block {head}: ask for a number from 0 to {head}, a hash of an "
            "existing block, or `latest`",
        )
    txs = block.get("transactions") or []
    blue_work = quantity(block.get("blueWork"))
    return {
        "number": quantity(block.get("number")),
        "hash": block.get("hash"),  # null for the `pending` block, which is not mined yet
        "parent_hash": block.get("parentHash"),
        "timestamp": quantity(block.get("timestamp")),
        "time": iso_time(quantity(block.get("timestamp"))),
        "miner": checksum(block.get("miner")),
        "gas_used": quantity(block.get("gasUsed")),
        "gas_limit": quantity(block.get("gasLimit")),
        **wei_fields("base_fee_per_gas", quantity(block.get("baseFeePerGas"))),
        "size_bytes": quantity(block.get("size")),
        "state_root": block.get("stateRoot"),
        "transaction_count": len(txs),
        "transactions": [transaction_summary(tx) for tx in txs] if full else list(txs),
        # GhostDAG placement: `parent_hash` is the previous block of the total order, while the
        # DAG parents are the selected parent plus the merged ones.
        "dag": {
            "blue_score": quantity(block.get("blueScore")),
            "blue_work": None if blue_work is None else str(blue_work),
            "selected_parent": block.get("selectedParent"),
            "merge_parents": list(block.get("mergeParents") or []),
        },
    }


# ----------------------------------------------------------------------------- dag_status


def dag_status(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """The GhostDAG's shape: block counts, tips, blue score, k, and the most recent blocks.

    Raises:
        AgentError: the node is not a Citrate node (no DAG methods).
    """
    recent = int(args.get("recent_blocks", 10))
    stats = citrate_only(ctx, "citrate_getDagStats")
    height = int(stats["height"])
    blocks: list[dict[str, Any]] = []
    if recent > 0:
        lo = max(0, height - recent + 1)
        dag = citrate_only(ctx, "citrate_getBlockDag", [hex(lo), hex(height)])
        for b in reversed(dag):  # newest first
            blocks.append(
                {
                    "number": quantity(b["number"]),
                    "hash": b["hash"],
                    "parents": list(b["parents"]),
                    "selected_parent": b["selectedParent"],
                    "blue_score": quantity(b["blueScore"]),
                    "blue_work": str(quantity(b["blueWork"])),
                    "color": b["color"],
                    "transaction_count": int(b["transactionCount"]),
                    "time": iso_time(quantity(b["timestamp"])),
                }
            )
    params = stats.get("ghostdagParams") or {}
    return {
        "total_blocks": int(stats["totalBlocks"]),
        "blue_blocks": int(stats["blueBlocks"]),
        "red_blocks": int(stats["redBlocks"]),
        "head_number": height,
        "max_blue_score": int(stats["maxBlueScore"]),
        "tips_count": int(stats["tipsCount"]),
        "tips": list(stats["currentTips"]),
        "ghostdag_k": params.get("k"),
        "max_parents": params.get("maxParents"),
        "recent_blocks": blocks,
    }


# ----------------------------------------------------------------------- transaction_info


def transaction_info(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """A transaction, its receipt and its Citrate status (pending, mined, skipped…).

    Raises:
        AgentError: the node knows no transaction with this hash.
    """
    tx_hash = str(args["hash"]).lower()
    tx = ctx.chain.request("eth_getTransactionByHash", [tx_hash])
    status = optional(ctx, "citrate_getTransactionStatus", [tx_hash])
    citrate_status = None if status is None else str(status["status"])
    if tx is None and citrate_status in (None, "unknown"):
        raise AgentError(
            f"the node knows no transaction `{tx_hash}`",
            hint="check the hash (copy it again from where it was shown); a transaction that "
            "was never sent, or was dropped from the mempool, has no record",
        )
    receipt = ctx.chain.receipt(tx_hash)
    out: dict[str, Any] = {"hash": tx_hash}
    if receipt is not None:
        out["status"] = "success" if receipt.get("status") == "0x1" else "reverted"
    else:
        # Not mined: the node's status says whether it waits (pending / queued behind a nonce
        # gap) or was skipped by the block producer (with the reason).
        out["status"] = citrate_status or "pending"
    out["citrate_status"] = citrate_status
    if status is not None and status.get("reason"):
        out["skipped_reason"] = status["reason"]
    out["blue_score"] = None if status is None else quantity(status.get("blueScore"))
    out["transaction"] = None if tx is None else transaction_summary(tx)
    if receipt is not None:
        used = quantity(receipt.get("gasUsed")) or 0
        price = quantity(receipt.get("effectiveGasPrice")) or 0
        out["receipt"] = {
            "success": receipt.get("status") == "0x1",
            "block_number": quantity(receipt.get("blockNumber")),
            "block_hash": receipt.get("blockHash"),
            "gas_used": used,
            "cumulative_gas_used": quantity(receipt.get("cumulativeGasUsed")),
            "effective_gas_price_wei": str(price),
            **wei_fields("fee", used * price),
            "contract_address": checksum(receipt.get("contractAddress")),
            "logs_count": len(receipt.get("logs") or []),
        }
    else:
        out["receipt"] = None
    return out


# --------------------------------------------------------------------------- account_info


def account_info(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """An account's balance, nonce and code, and which contract it is if the agent knows it.

    Raises:
        WalletUnavailableError: no address was given and no wallet is open.
    """
    address = target_address(ctx, args)
    head = ctx.chain.block_number()
    at = hex(head)  # every read at the same block, so the answer is one consistent state
    balance = ctx.chain.balance(address, at)
    nonce = ctx.chain.nonce(address, at)
    code = ctx.chain.code(address, at)
    system = system_contracts(ctx).get(address.lower())
    known = ctx.contracts.get(address.lower())
    return {
        "address": address,
        "block_number": head,
        **wei_fields("balance", balance),
        "nonce": nonce,
        "pending_nonce": ctx.chain.nonce(address, "pending"),
        "is_contract": bool(code),
        "code_size_bytes": len(code),
        "system_contract": system,
        "known_contract": known.name if known is not None else None,
        "is_wallet_account": ctx.wallet is not None
        and ctx.wallet.address.lower() == address.lower(),
    }


# ---------------------------------------------------------------------------------- tools

TOOLS: list[Tool] = [
    Tool(
        name="node_status",
        category="blockchain",
        description="Check the Citrate node: whether it answers, chain id and network name, "
        "client version, head block and blue score, syncing, peers, base fee and mempool size. "
        "Use it first when chain tools fail or to see where the chain is.",
        parameters=object_schema({}),
        run=node_status,
    ),
    Tool(
        name="block_info",
        category="blockchain",
        description="Get one block by number, hash or tag: Ethereum header fields (hash, time, "
        "miner, gas, base fee, transactions) plus its GhostDAG placement (blue score, blue work, "
        "selected parent, merge parents).",
        parameters=object_schema(
            {
                "block": {
                    **BLOCK,
                    "description": "Block number, 0x block hash, or a tag: latest, earliest, "
                    "pending, safe, finalized. Default: latest.",
                },
                "full_transactions": {
                    "type": "boolean",
                    "description": "true: summarise each transaction (from, to, value, gas); "
                    "false (default): only their hashes.",
                },
            }
        ),
        run=block_info,
    ),
    Tool(
        name="dag_status",
        category="blockchain",
        description="Show the BlockDAG: total, blue and red block counts, current tips, max blue "
        "score, the GhostDAG k parameter, and the most recent blocks with their parents and "
        "colour. Use it for questions about the DAG rather than one block.",
        parameters=object_schema(
            {
                "recent_blocks": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_RECENT_BLOCKS,
                    "description": "How many of the newest blocks to list with their DAG "
                    f"parents (0 to {MAX_RECENT_BLOCKS}). Default: 10.",
                }
            }
        ),
        run=dag_status,
    ),
    Tool(
        name="transaction_info",
        category="blockchain",
        description="Look up a transaction by hash: status (success, reverted, pending, queued, "
        "skipped), sender, recipient, value, the receipt (gas used, fee paid, created contract, "
        "log count) and its block and blue score.",
        parameters=object_schema(
            {"hash": {**BYTES32, "description": "The transaction hash (0x + 64 hex digits)."}},
            required=("hash",),
        ),
        run=transaction_info,
    ),
    Tool(
        name="account_info",
        category="blockchain",
        description="Inspect an account: SALT balance, nonce, whether it is a contract (code "
        "size) and which system or known contract it is. Defaults to the wallet's own address.",
        parameters=object_schema(
            {
                "address": {
                    **ADDRESS,
                    "description": "The account to inspect (0x address, EIP-55 checksummed if "
                    "mixed case). Default: the wallet's own address.",
                }
            }
        ),
        run=account_info,
    ),
]

__all__ = [
    "NETWORK_NAMES",
    "TOOLS",
    "account_info",
    "block_info",
    "checksum",
    "dag_status",
    "iso_time",
    "node_status",
    "quantity",
    "target_address",
    "transaction_info",
    "transaction_summary",
    "wei_fields",
]
