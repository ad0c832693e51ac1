"""The JSON-RPC methods: Ethereum's (as geth and anvil answer them), devnet helpers with the
names tools know (evm_*, anvil_*), and Citrate's extensions (citrate_*).

Each method takes the raw ``params`` and a :class:`Context` and returns a JSON-ready value;
errors from the Rust core propagate and the server maps them once (:func:`chain_error`);
chain objects come from the Rust core as JSON text and pass through as ``orjson.Fragment``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from citrate_node import _native
from citrate_node import params as p
from citrate_node.ai import AiService, default_service
from citrate_node.errors import (
    EXECUTION_REVERTED,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    InvalidParams,
    RpcError,
)
from citrate_node.node import Node

EMPTY_TRIE_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
DEFAULT_PRIORITY_FEE = 1_000_000_000  # 1 gwei, as anvil suggests
MAX_FEE_HISTORY_BLOCKS = 1024
MAX_TIMESTAMP = 2**63 - 1
MAX_DAG_RANGE = 1000
MAX_ADDRESS_PAGE = 1000


@dataclass(slots=True)
class Context:
    node: Node
    # Set on WebSocket connections: pushes a notification to this connection.
    send: Callable[[dict[str, Any]], None] | None = None
    # The node's AI endpoints (citrate_chatCompletion, citrate_getTextEmbedding).
    ai: AiService | None = None


Method = Callable[[Any, Context], Awaitable[Any]]
METHODS: dict[str, Method] = {}


def rpc(name: str) -> Callable[[Method], Method]:
    def register(fn: Method) -> Method:
        METHODS[name] = fn
        return fn

    return register


def _fragment(text: str | None) -> Any:
    return None if text is None else orjson.Fragment(text)


def _call_request(args: p.CallArgs) -> _native.CallRequest:
    return _native.CallRequest(
        from_=args.from_,
        to=args.to,
        gas=args.gas,
        gas_price=args.gas_price,
        max_fee_per_gas=args.max_fee_per_gas,
        max_priority_fee_per_gas=args.max_priority_fee_per_gas,
        value=args.value,
        data=args.data,
        nonce=args.nonce,
        access_list=args.access_list,
    )


def chain_error(err: Exception) -> RpcError:
    """Map a Rust core error to the JSON-RPC error geth would give."""
    if isinstance(err, _native.ExecutionReverted):
        return RpcError(EXECUTION_REVERTED, str(err), p.hexb(err.data))
    if isinstance(err, _native.TransactionRejected | _native.CallError | _native.BlockNotFound):
        return RpcError(SERVER_ERROR, str(err))
    if isinstance(err, _native.CitrateValueError):
        return RpcError(INVALID_PARAMS, str(err))
    raise err


# -- web3 / net ---------------------------------------------------------------------------------


@rpc("web3_clientVersion")
async def web3_client_version(params: Any, ctx: Context) -> Any:
    p.positional(params, "web3_clientVersion", 0)
    return f"citrate/v{_native.__version__}"


@rpc("web3_sha3")
async def web3_sha3(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "web3_sha3", 1)
    return p.hexb(_native.keccak256(p.data(raw, "data")))


@rpc("net_version")
async def net_version(params: Any, ctx: Context) -> Any:
    p.positional(params, "net_version", 0)
    return str(ctx.node.chain.chain_id)


@rpc("net_listening")
async def net_listening(params: Any, ctx: Context) -> Any:
    p.positional(params, "net_listening", 0)
    return True


@rpc("net_peerCount")
async def net_peer_count(params: Any, ctx: Context) -> Any:
    p.positional(params, "net_peerCount", 0)
    return "0x0"


# -- chain info ---------------------------------------------------------------------------------


@rpc("eth_chainId")
async def eth_chain_id(params: Any, ctx: Context) -> Any:
    p.positional(params, "eth_chainId", 0)
    return p.hexq(ctx.node.chain.chain_id)


@rpc("eth_blockNumber")
async def eth_block_number(params: Any, ctx: Context) -> Any:
    p.positional(params, "eth_blockNumber", 0)
    return p.hexq(ctx.node.chain.head_number)


@rpc("eth_syncing")
async def eth_syncing(params: Any, ctx: Context) -> Any:
    p.positional(params, "eth_syncing", 0)
    return False


@rpc("eth_accounts")
async def eth_accounts(params: Any, ctx: Context) -> Any:
    # The node holds no keys: transactions are signed by the wallet and sent raw.
    p.positional(params, "eth_accounts", 0)
    return []


@rpc("eth_gasPrice")
async def eth_gas_price(params: Any, ctx: Context) -> Any:
    p.positional(params, "eth_gasPrice", 0)
    return p.hexq(ctx.node.chain.next_base_fee() + DEFAULT_PRIORITY_FEE)


@rpc("eth_maxPriorityFeePerGas")
async def eth_max_priority_fee(params: Any, ctx: Context) -> Any:
    p.positional(params, "eth_maxPriorityFeePerGas", 0)
    return p.hexq(DEFAULT_PRIORITY_FEE)


@rpc("eth_feeHistory")
async def eth_fee_history(params: Any, ctx: Context) -> Any:
    count_raw, newest_raw, pct_raw = p.positional(params, "eth_feeHistory", 2, 1)
    count = p.quantity(count_raw, "blockCount", maximum=1 << 64)
    count = min(count, MAX_FEE_HISTORY_BLOCKS)
    newest = ctx.node.resolve_state_block(p.block_ref(newest_raw, "newestBlock"))
    percentiles: list[float] = []
    if pct_raw is not None:
        if not isinstance(pct_raw, list):
            raise InvalidParams("rewardPercentiles: expected a list of numbers from 0 to 100")
        for i, v in enumerate(pct_raw):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 100:
                raise InvalidParams(f"rewardPercentiles[{i}]: expected a number from 0 to 100")
            if percentiles and v < percentiles[-1]:
                raise InvalidParams("rewardPercentiles: values must be in ascending order")
            percentiles.append(float(v))
    return orjson.Fragment(ctx.node.chain.fee_history(count, newest, percentiles))


# -- state --------------------------------------------------------------------------------------


@rpc("eth_getBalance")
async def eth_get_balance(params: Any, ctx: Context) -> Any:
    addr, block = p.positional(params, "eth_getBalance", 1, 1)
    number = ctx.node.resolve_state_block(p.block_ref(block or "latest"))
    return p.hexq(ctx.node.chain.balance(p.address(addr), number))


@rpc("eth_getTransactionCount")
async def eth_get_transaction_count(params: Any, ctx: Context) -> Any:
    addr_raw, block = p.positional(params, "eth_getTransactionCount", 1, 1)
    addr = p.address(addr_raw)
    ref = p.block_ref(block or "latest")
    if ref.tag == "pending":
        return p.hexq(ctx.node.chain.pending_nonce(addr))
    return p.hexq(ctx.node.chain.nonce(addr, ctx.node.resolve_state_block(ref)))


@rpc("eth_getCode")
async def eth_get_code(params: Any, ctx: Context) -> Any:
    addr, block = p.positional(params, "eth_getCode", 1, 1)
    number = ctx.node.resolve_state_block(p.block_ref(block or "latest"))
    return p.hexb(ctx.node.chain.code(p.address(addr), number))


@rpc("eth_getStorageAt")
async def eth_get_storage_at(params: Any, ctx: Context) -> Any:
    addr, slot_raw, block = p.positional(params, "eth_getStorageAt", 2, 1)
    number = ctx.node.resolve_state_block(p.block_ref(block or "latest"))
    return p.hexb(ctx.node.chain.storage_at(p.address(addr), p.storage_slot(slot_raw), number))


async def _call_like(params: Any, ctx: Context, method: str) -> tuple[_native.CallRequest, int]:
    tx, block, overrides = p.positional(params, method, 1, 2)
    if overrides is not None:
        raise InvalidParams(f"{method}: state overrides are not supported by this node")
    args = p.call_args(tx)
    number = ctx.node.resolve_state_block(p.block_ref(block or "latest"))
    return _call_request(args), number


@rpc("eth_call")
async def eth_call(params: Any, ctx: Context) -> Any:
    request, number = await _call_like(params, ctx, "eth_call")
    out = await asyncio.to_thread(ctx.node.chain.call, request, number)
    return p.hexb(out)


@rpc("eth_estimateGas")
async def eth_estimate_gas(params: Any, ctx: Context) -> Any:
    request, number = await _call_like(params, ctx, "eth_estimateGas")
    gas = await asyncio.to_thread(ctx.node.chain.estimate_gas, request, number)
    return p.hexq(gas)


@rpc("eth_createAccessList")
async def eth_create_access_list(params: Any, ctx: Context) -> Any:
    request, number = await _call_like(params, ctx, "eth_createAccessList")
    entries, gas = await asyncio.to_thread(ctx.node.chain.create_access_list, request, number)
    return {
        "accessList": [
            {"address": p.hexb(a), "storageKeys": [p.hexb(k) for k in keys]} for a, keys in entries
        ],
        "gasUsed": p.hexq(gas),
    }


# -- transactions -------------------------------------------------------------------------------


@rpc("eth_sendRawTransaction")
async def eth_send_raw_transaction(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "eth_sendRawTransaction", 1)
    payload = p.data(raw, "transaction")
    if not payload:
        raise InvalidParams("transaction: empty; send the signed transaction's bytes")
    return p.hexb(ctx.node.send_raw_transaction(payload))


@rpc("eth_sendTransaction")
async def eth_send_transaction(params: Any, ctx: Context) -> Any:
    raise RpcError(
        METHOD_NOT_FOUND,
        "eth_sendTransaction is not available: the node holds no keys. Sign the transaction "
        "with your wallet (citrate wallet, web3.py, ethers) and send it with "
        "eth_sendRawTransaction",
    )


@rpc("eth_getTransactionByHash")
async def eth_get_transaction_by_hash(params: Any, ctx: Context) -> Any:
    (h,) = p.positional(params, "eth_getTransactionByHash", 1)
    return _fragment(ctx.node.chain.transaction(p.hash32(h)))


@rpc("eth_getTransactionReceipt")
async def eth_get_transaction_receipt(params: Any, ctx: Context) -> Any:
    (h,) = p.positional(params, "eth_getTransactionReceipt", 1)
    return _fragment(ctx.node.chain.receipt(p.hash32(h)))


# -- blocks -------------------------------------------------------------------------------------


def _block_number(ctx: Context, raw: Any) -> int | None:
    return ctx.node.resolve_block(p.block_ref(raw))


def _pending_block(ctx: Context) -> dict[str, Any]:
    """The block the node would mine next, as anvil and geth show `pending`: the head's child
    with the next base fee and no transactions yet (its DAG placement is decided when mined)."""
    chain = ctx.node.chain
    latest: dict[str, Any] = orjson.loads(chain.block_by_number(chain.head_number, False) or "{}")
    for key in ("blueScore", "blueWork", "selectedParent", "mergeParents"):
        latest.pop(key, None)
    latest.update(
        number=p.hexq(chain.head_number + 1),
        hash=None,
        nonce=None,
        parentHash=latest["hash"],
        baseFeePerGas=p.hexq(chain.next_base_fee()),
        gasUsed="0x0",
        timestamp=p.hexq(max(ctx.node.peek_timestamp(), int(latest["timestamp"], 16))),
        transactions=[],
        logsBloom="0x" + "00" * 256,
        transactionsRoot=EMPTY_TRIE_ROOT,
        receiptsRoot=EMPTY_TRIE_ROOT,
    )
    return latest


@rpc("eth_getBlockByNumber")
async def eth_get_block_by_number(params: Any, ctx: Context) -> Any:
    block, full = p.positional(params, "eth_getBlockByNumber", 2)
    ref = p.block_ref(block)
    full_tx = p.boolean(full, "fullTransactions")
    if ref.tag == "pending":
        return _pending_block(ctx)
    number = ctx.node.resolve_block(ref)
    return None if number is None else _fragment(ctx.node.chain.block_by_number(number, full_tx))


@rpc("eth_getBlockByHash")
async def eth_get_block_by_hash(params: Any, ctx: Context) -> Any:
    h, full = p.positional(params, "eth_getBlockByHash", 2)
    return _fragment(ctx.node.chain.block_by_hash(p.hash32(h), p.boolean(full, "fullTransactions")))


def _tx_count(text: str | None) -> Any:
    if text is None:
        return None
    return p.hexq(len(orjson.loads(text)["transactions"]))


@rpc("eth_getBlockTransactionCountByNumber")
async def eth_get_block_tx_count_by_number(params: Any, ctx: Context) -> Any:
    (block,) = p.positional(params, "eth_getBlockTransactionCountByNumber", 1)
    number = _block_number(ctx, block)
    return None if number is None else _tx_count(ctx.node.chain.block_by_number(number, False))


@rpc("eth_getBlockTransactionCountByHash")
async def eth_get_block_tx_count_by_hash(params: Any, ctx: Context) -> Any:
    (h,) = p.positional(params, "eth_getBlockTransactionCountByHash", 1)
    return _tx_count(ctx.node.chain.block_by_hash(p.hash32(h), False))


@rpc("eth_getTransactionByBlockNumberAndIndex")
async def eth_get_tx_by_block_number_and_index(params: Any, ctx: Context) -> Any:
    block, index = p.positional(params, "eth_getTransactionByBlockNumberAndIndex", 2)
    number = _block_number(ctx, block)
    i = p.quantity(index, "index", maximum=p.MAX_UINT64)
    return (
        None
        if number is None
        else _fragment(ctx.node.chain.transaction_by_block_and_index(number, i))
    )


@rpc("eth_getTransactionByBlockHashAndIndex")
async def eth_get_tx_by_block_hash_and_index(params: Any, ctx: Context) -> Any:
    h, index = p.positional(params, "eth_getTransactionByBlockHashAndIndex", 2)
    number = ctx.node.chain.block_number(p.hash32(h))
    i = p.quantity(index, "index", maximum=p.MAX_UINT64)
    return (
        None
        if number is None
        else _fragment(ctx.node.chain.transaction_by_block_and_index(number, i))
    )


@rpc("eth_getBlockReceipts")
async def eth_get_block_receipts(params: Any, ctx: Context) -> Any:
    (block,) = p.positional(params, "eth_getBlockReceipts", 1)
    # geth takes a block number, tag, or hash here (a bare 32-byte hash included).
    if isinstance(block, str) and len(block) == 66:
        number = ctx.node.chain.block_number(p.hash32(block, "block"))
    else:
        number = _block_number(ctx, block)
    return None if number is None else _fragment(ctx.node.chain.block_receipts(number))


# -- logs and filters ---------------------------------------------------------------------------


@rpc("eth_getLogs")
async def eth_get_logs(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "eth_getLogs", 1)
    spec = p.log_filter(raw)
    rng = ctx.node.log_range(spec)
    if rng is None:
        return []
    return orjson.Fragment(await asyncio.to_thread(ctx.node.logs, spec, *rng))


@rpc("eth_newFilter")
async def eth_new_filter(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "eth_newFilter", 1)
    spec = p.log_filter(raw)
    if spec.block_hash is not None:
        raise InvalidParams("filter: blockHash is only for eth_getLogs, not eth_newFilter")
    return ctx.node.new_filter("logs", spec)


@rpc("eth_newBlockFilter")
async def eth_new_block_filter(params: Any, ctx: Context) -> Any:
    p.positional(params, "eth_newBlockFilter", 0)
    return ctx.node.new_filter("blocks")


@rpc("eth_newPendingTransactionFilter")
async def eth_new_pending_filter(params: Any, ctx: Context) -> Any:
    p.positional(params, "eth_newPendingTransactionFilter", 0, 1)
    return ctx.node.new_filter("pending")


def _filter_id(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.startswith("0x"):
        raise InvalidParams("filter id: expected the 0x-prefixed id eth_new*Filter returned")
    return raw.lower()


@rpc("eth_getFilterChanges")
async def eth_get_filter_changes(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "eth_getFilterChanges", 1)
    return ctx.node.filter_changes(_filter_id(raw))


@rpc("eth_getFilterLogs")
async def eth_get_filter_logs(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "eth_getFilterLogs", 1)
    return ctx.node.filter_logs(_filter_id(raw))


@rpc("eth_uninstallFilter")
async def eth_uninstall_filter(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "eth_uninstallFilter", 1)
    return ctx.node.uninstall_filter(_filter_id(raw))


@rpc("eth_subscribe")
async def eth_subscribe(params: Any, ctx: Context) -> Any:
    if ctx.send is None:
        raise RpcError(METHOD_NOT_FOUND, "notifications not supported: use the WebSocket endpoint")
    kind, raw = p.positional(params, "eth_subscribe", 1, 1)
    if kind in ("newHeads", "newPendingTransactions"):
        if raw is not None and kind == "newHeads":
            raise InvalidParams("newHeads takes no options")
        return ctx.node.subscribe(kind, ctx.send)
    if kind == "logs":
        spec = p.log_filter(raw)
        if spec.block_hash is not None:
            raise InvalidParams("logs subscription: blockHash is not allowed")
        return ctx.node.subscribe("logs", ctx.send, spec)
    raise InvalidParams(
        f"eth_subscribe: unknown subscription {kind!r}; use newHeads, logs or "
        "newPendingTransactions"
    )


@rpc("eth_unsubscribe")
async def eth_unsubscribe(params: Any, ctx: Context) -> Any:
    if ctx.send is None:
        raise RpcError(METHOD_NOT_FOUND, "notifications not supported: use the WebSocket endpoint")
    (raw,) = p.positional(params, "eth_unsubscribe", 1)
    return ctx.node.unsubscribe(_filter_id(raw))


# -- devnet helpers (anvil/hardhat names) -------------------------------------------------------


def _timestamp_arg(ctx: Context, raw: Any, name: str) -> int:
    """A block timestamp a client asks for: not before the head block's (time runs forward)."""
    ts = p.quantity(raw, name, maximum=MAX_TIMESTAMP)
    head = ctx.node.chain.block_timestamp(ctx.node.chain.head_number) or 0
    if ts < head:
        raise InvalidParams(f"{name}: {ts} is before the head block's timestamp {head}")
    return ts


@rpc("evm_mine")
async def evm_mine(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "evm_mine", 0, 1)
    timestamp = None
    blocks = 1
    if isinstance(raw, dict):
        if raw.get("timestamp") is not None:
            timestamp = _timestamp_arg(ctx, raw["timestamp"], "timestamp")
        if raw.get("blocks") is not None:
            blocks = p.quantity(raw["blocks"], "blocks", maximum=10_000)
    elif raw is not None:
        timestamp = _timestamp_arg(ctx, raw, "timestamp")
    for i in range(max(blocks, 1)):
        await ctx.node.mine(timestamp=None if timestamp is None else timestamp + i)
    return "0x0"


@rpc("evm_snapshot")
async def evm_snapshot(params: Any, ctx: Context) -> Any:
    p.positional(params, "evm_snapshot", 0)
    return p.hexq(ctx.node.snapshot())


@rpc("evm_revert")
async def evm_revert(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "evm_revert", 1)
    return await ctx.node.revert(p.quantity(raw, "snapshot id", maximum=p.MAX_UINT64))


@rpc("evm_increaseTime")
async def evm_increase_time(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "evm_increaseTime", 1)
    seconds = p.quantity(raw, "seconds", maximum=p.MAX_UINT64)
    if ctx.node.peek_timestamp() + seconds > MAX_TIMESTAMP:
        raise InvalidParams(f"seconds: {seconds} would move block time beyond 2**63 - 1")
    ctx.node.time_offset += seconds
    return ctx.node.time_offset  # anvil and Hardhat answer the total offset as a JSON number


@rpc("evm_setNextBlockTimestamp")
async def evm_set_next_block_timestamp(params: Any, ctx: Context) -> Any:
    (raw,) = p.positional(params, "evm_setNextBlockTimestamp", 1)
    ctx.node.next_timestamp = _timestamp_arg(ctx, raw, "timestamp")
    return None


async def _set_balance(params: Any, ctx: Context) -> Any:
    addr, wei = p.positional(params, "anvil_setBalance", 2)
    await ctx.node.set_state("balance", p.address(addr), p.quantity(wei, "balance"))
    return None


async def _set_code(params: Any, ctx: Context) -> Any:
    addr, code = p.positional(params, "anvil_setCode", 2)
    await ctx.node.set_state("code", p.address(addr), p.data(code, "code"))
    return None


async def _set_nonce(params: Any, ctx: Context) -> Any:
    addr, nonce = p.positional(params, "anvil_setNonce", 2)
    nonce_value = p.quantity(nonce, "nonce", maximum=p.MAX_UINT64)
    await ctx.node.set_state("nonce", p.address(addr), nonce_value)
    return None


async def _set_storage_at(params: Any, ctx: Context) -> Any:
    addr, slot, value = p.positional(params, "anvil_setStorageAt", 3)
    await ctx.node.set_state(
        "storage", p.address(addr), p.hash32(value, "value"), slot=p.storage_slot(slot)
    )
    return True


for _prefix in ("anvil_", "hardhat_"):
    METHODS[_prefix + "setBalance"] = _set_balance
    METHODS[_prefix + "setCode"] = _set_code
    METHODS[_prefix + "setNonce"] = _set_nonce
    METHODS[_prefix + "setStorageAt"] = _set_storage_at


# -- Citrate extensions -------------------------------------------------------------------------


def _status_json(status: _native.TxStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status["status"]}
    if "blockHash" in status:
        out["blockHash"] = p.hexb(status["blockHash"])
    if "blockNumber" in status:
        out["blockNumber"] = p.hexq(status["blockNumber"])
    if "blueScore" in status:
        out["blueScore"] = p.hexq(status["blueScore"])
    if "reason" in status:
        out["reason"] = status["reason"]
    return out


@rpc("citrate_getTransactionStatus")
async def citrate_get_transaction_status(params: Any, ctx: Context) -> Any:
    (h,) = p.positional(params, "citrate_getTransactionStatus", 1)
    tx_hash = p.hash32(h)
    return {"hash": p.hexb(tx_hash), **_status_json(ctx.node.chain.transaction_status(tx_hash))}


@rpc("citrate_getMempoolSnapshot")
async def citrate_get_mempool_snapshot(params: Any, ctx: Context) -> Any:
    p.positional(params, "citrate_getMempoolSnapshot", 0)
    pool = orjson.loads(ctx.node.chain.pool_snapshot())
    return {
        "pending": pool["pending"],
        "queued": pool["queued"],
        "pendingCount": len(pool["pending"]),
        "queuedCount": len(pool["queued"]),
        "baseFee": p.hexq(ctx.node.chain.next_base_fee()),
    }


@rpc("citrate_getDagStats")
async def citrate_get_dag_stats(params: Any, ctx: Context) -> Any:
    p.positional(params, "citrate_getDagStats", 0)
    stats = ctx.node.chain.dag_stats()
    return {
        "totalBlocks": stats["blocks"],
        "blueBlocks": stats["blue_count"],
        "redBlocks": stats["red_count"],
        "tipsCount": len(stats["tips"]),
        "currentTips": [p.hexb(t) for t in stats["tips"]],
        "maxBlueScore": stats["max_blue_score"],
        "height": ctx.node.chain.head_number,
        "ghostdagParams": {"k": stats["k"], "maxParents": stats["max_parents"]},
    }


@rpc("citrate_getSystemContracts")
async def citrate_get_system_contracts(params: Any, ctx: Context) -> Any:
    """``{name: address}`` of the system contracts predeployed at genesis."""
    p.positional(params, "citrate_getSystemContracts", 0)
    return dict(ctx.node.system_contracts)


@rpc("citrate_getBlockDag")
async def citrate_get_block_dag(params: Any, ctx: Context) -> Any:
    lo_raw, hi_raw = p.positional(params, "citrate_getBlockDag", 0, 2)
    head = ctx.node.chain.head_number
    hi = head if hi_raw is None else ctx.node.resolve_block(p.block_ref(hi_raw, "to"))
    hi = head if hi is None else hi
    lo = max(0, hi - 99) if lo_raw is None else ctx.node.resolve_block(p.block_ref(lo_raw, "from"))
    if lo is None or lo > hi:
        return []
    if hi - lo + 1 > MAX_DAG_RANGE:
        raise InvalidParams(f"citrate_getBlockDag: at most {MAX_DAG_RANGE} blocks per request")
    return [
        {
            "hash": p.hexb(b["hash"]),
            "number": p.hexq(b["number"]),
            "parents": [p.hexb(x) for x in b["parents"]],
            "selectedParent": None
            if b["selected_parent"] is None
            else p.hexb(b["selected_parent"]),
            "blueScore": p.hexq(b["blue_score"]),
            "blueWork": p.hexq(b["blue_work"]),
            "color": "blue" if b["is_blue"] else "red",
            "timestamp": p.hexq(b["timestamp"]),
            "transactionCount": b["tx_count"],
        }
        for b in ctx.node.chain.block_dag(lo, hi)
    ]


@rpc("citrate_getTransactionsByAddress")
async def citrate_get_transactions_by_address(params: Any, ctx: Context) -> Any:
    addr, limit_raw, cursor_raw = p.positional(params, "citrate_getTransactionsByAddress", 1, 2)
    limit = 100 if limit_raw is None else p.quantity(limit_raw, "limit", maximum=MAX_ADDRESS_PAGE)
    cursor = None if cursor_raw is None else p.quantity(cursor_raw, "cursor", maximum=p.MAX_UINT64)
    text, next_cursor = ctx.node.chain.transactions_by_address(p.address(addr), limit, cursor)
    return {
        "transactions": orjson.Fragment(text),
        "nextCursor": None if next_cursor is None else p.hexq(next_cursor),
    }


# -- AI (the local inference runtime of citrate-compute; see citrate_node.ai) -------------------


@rpc("citrate_chatCompletion")
async def citrate_chat_completion(params: Any, ctx: Context) -> Any:
    """What ``POST /v1/chat/completions`` answers (no streaming); ``model`` may be left out."""
    (request,) = p.positional(params, "citrate_chatCompletion", 1)
    return await (ctx.ai or default_service()).rpc_chat_completion(request)


@rpc("citrate_getTextEmbedding")
async def citrate_get_text_embedding(params: Any, ctx: Context) -> Any:
    """The embedding of a text (a list of floats), or of each text of a list."""
    text, model = p.positional(params, "citrate_getTextEmbedding", 1, 1)
    return await (ctx.ai or default_service()).rpc_text_embedding(text, model)


__all__ = ["METHODS", "Context", "chain_error"]
