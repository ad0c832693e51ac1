"""Contract tools: deploy Solidity (or bytecode), call functions, send transactions to them.

A contract is addressed by `address` or by `contract` name (a system contract such as
`ModelRegistry`, or one this agent deployed). Its ABI comes, in order, from the `abi` / `abi_file`
arguments, the contracts the agent deployed or remembered (kept per data directory in
`agent/contracts.json`, so a later session can still call them), and the system contracts'
shipped artifacts. Deploying and writing move value: they return an action for the user to
approve and never sign anything themselves.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from citrate_agent import abi as abi_mod
from citrate_agent._contracts import system_abi, system_addresses, system_names_by_address
from citrate_agent.actions import PreparedAction, TxPlan
from citrate_agent.actions import prepare as prepare_action
from citrate_agent.config import agent_dir
from citrate_agent.errors import (
    AgentError,
    NotInstalledError,
    ToolArgumentError,
    TransactionRevertedError,
)
from citrate_agent.schema import ADDRESS, AMOUNT, BLOCK, BLOCK_TAGS, HEX, object_schema
from citrate_agent.tools.base import Tool, ToolContext
from citrate_agent.units import parse_amount, salt
from citrate_contracts.compiler import (
    CompilationError,
    CompilationResult,
    CompiledContract,
    CompilerNotFound,
    compile_source,
)
from citrate_crypto._files import atomic_write

#: Where deployed contracts are remembered, inside `DATA_DIR/agent/`.
CONTRACTS_FILE = "contracts.json"
#: The source name Solidity text is compiled under (compiler messages name it).
SOURCE_NAME = "Contract.sol"
#: ABI files larger than this are refused (a Foundry artifact is well under a megabyte).
MAX_ABI_FILE_BYTES = 16 * 1024 * 1024

_FILE_LOCK = threading.Lock()
_LOADED = "contracts.loaded"
_CHAIN_ID = "contracts.chain_id"


@dataclass(frozen=True)
class Target:
    """A contract to call: where it is, what to call it, its ABI, where the ABI came from."""

    address: str
    name: str
    abi: list[dict[str, Any]]
    abi_source: str  # "argument", "abi_file", "deployed", "system"

    @property
    def abis(self) -> tuple[tuple[str, list[dict[str, Any]]], ...]:
        """For `TxPlan.abis` / `ChainClient.call`: decodes this contract's revert reasons."""
        return ((self.name, self.abi),)


# ------------------------------------------------------------------------------ known contracts


def _chain_id(ctx: ToolContext) -> int:
    cached = ctx.extras.get(_CHAIN_ID)
    if not isinstance(cached, int):
        cached = ctx.chain.chain_id()
        ctx.extras[_CHAIN_ID] = cached
    return cached


def _store_path(ctx: ToolContext) -> Path:
    return agent_dir(ctx.data_dir) / CONTRACTS_FILE


def _read_store(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = raw["contracts"]
        if not isinstance(entries, list):
            raise TypeError("`contracts` is not a list")
        return [e for e in entries if isinstance(e, dict)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AgentError(
            f"the list of known contracts `{path}` cannot be read ({type(exc).__name__})",
            hint="pass the contract's `abi` or `abi_file` for now; move the file away to start a "
            "new list",
        ) from None


def load_known_contracts(ctx: ToolContext) -> None:
    """Add the contracts remembered on this chain (earlier sessions) to `ctx.contracts`, once."""
    if ctx.extras.get(_LOADED):
        return
    chain_id = _chain_id(ctx)
    with _FILE_LOCK:
        entries = _read_store(_store_path(ctx))
    for entry in entries:
        try:
            if int(entry["chain_id"]) != chain_id:
                continue
            address = to_checksum_address(str(entry["address"]))
            abi = abi_mod.load_abi(entry["abi"], CONTRACTS_FILE)
            name = str(entry["name"])
        except (KeyError, ValueError, TypeError, AgentError):
            continue  # one damaged entry must not hide the others
        # Contracts remembered in this session win over older records of the same address.
        if address.lower() not in ctx.contracts:
            ctx.remember_contract(address, name, abi)
    ctx.extras[_LOADED] = True


def save_known_contract(
    ctx: ToolContext, address: str, name: str, abi: list[dict[str, Any]], tx_hash: str | None
) -> None:
    """Remember a contract for this session and, in `agent/contracts.json`, for later ones."""
    ctx.remember_contract(address, name, abi)
    chain_id = _chain_id(ctx)
    path = _store_path(ctx)
    with _FILE_LOCK:
        entries = _read_store(path)
        entries = [
            e
            for e in entries
            if not (
                str(e.get("address", "")).lower() == address.lower()
                and e.get("chain_id") == chain_id
            )
        ]
        entries.append(
            {
                "chain_id": chain_id,
                "address": address,
                "name": name,
                "abi": abi,
                "tx_hash": tx_hash,
                "saved_at": int(time.time()),
            }
        )
        body = json.dumps({"version": 1, "contracts": entries}, indent=1) + "\n"
        atomic_write(path, body.encode("utf-8"))


# ------------------------------------------------------------------------------ arguments


def _read_abi_file(ctx: ToolContext, raw: str, tool: str) -> list[dict[str, Any]]:
    workspace = ctx.workspace
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = workspace / path
    resolved = path.resolve()
    if not resolved.is_relative_to(workspace):
        raise ToolArgumentError(
            tool,
            [
                f"abi_file: `{raw}` is outside the workspace `{workspace}`; only files inside it "
                "are read"
            ],
            hint=f"copy the ABI file into `{workspace}` and give its path relative to it",
        )
    if not resolved.is_file():
        raise ToolArgumentError(
            tool,
            [f"abi_file: there is no file `{raw}` in the workspace `{workspace}`"],
            hint="give the path of a JSON ABI or compiler artifact relative to the workspace",
        )
    if resolved.stat().st_size > MAX_ABI_FILE_BYTES:
        raise ToolArgumentError(
            tool, [f"abi_file: `{raw}` is larger than {MAX_ABI_FILE_BYTES // 2**20} MiB"]
        )
    try:
        text = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolArgumentError(
            tool, [f"abi_file: `{raw}` cannot be read ({type(exc).__name__})"]
        ) from None
    return abi_mod.load_abi(text, f"abi_file `{raw}`", tool=tool)


def _explicit_abi(
    ctx: ToolContext, args: dict[str, Any], tool: str
) -> tuple[list[dict[str, Any]], str] | None:
    if "abi" in args and "abi_file" in args:
        raise ToolArgumentError(tool, ["give either `abi` or `abi_file`, not both"])
    if "abi" in args:
        return abi_mod.load_abi(args["abi"], "abi", tool=tool), "argument"
    if "abi_file" in args:
        return _read_abi_file(ctx, str(args["abi_file"]), tool), "abi_file"
    return None


def resolve_target(ctx: ToolContext, args: dict[str, Any], tool: str) -> Target:
    """The contract `args` address (by `address` or `contract` name) with its ABI."""
    address_arg, name_arg = args.get("address"), args.get("contract")
    if (address_arg is None) == (name_arg is None):
        raise ToolArgumentError(
            tool,
            [
                "give exactly one of `address` (the contract's address) and `contract` (a system "
                "contract's or a deployed contract's name)"
            ],
        )
    explicit = _explicit_abi(ctx, args, tool)
    system = system_addresses(ctx) if explicit is None or name_arg is not None else {}
    name: str | None = None
    if name_arg is not None:
        address, name = _address_of(ctx, str(name_arg), system, tool)
    else:
        address = to_checksum_address(str(address_arg))
    if explicit is not None:
        known = ctx.contracts.get(address.lower())
        label = name or (known.name if known else f"the contract at {address}")
        return Target(address, label, explicit[0], explicit[1])
    load_known_contracts(ctx)
    known = ctx.contracts.get(address.lower())
    if known is not None:
        return Target(address, known.name, known.abi, "deployed")
    for sys_name, sys_address in system.items():
        if sys_address.lower() == address.lower():
            return Target(address, sys_name, system_abi(sys_name), "system")
    raise AgentError(
        f"no ABI is known for the contract at `{address}`",
        hint="pass its `abi` (a JSON array) or `abi_file` (a JSON ABI or compiler artifact in "
        "the workspace); contracts deployed with deploy_contract are known by address",
    )


def _address_of(ctx: ToolContext, name: str, system: dict[str, str], tool: str) -> tuple[str, str]:
    if name in system:
        return system[name], name
    load_known_contracts(ctx)
    # The most recently deployed contract of that name: what "my Storage contract" means.
    for exact in (True, False):
        for known in reversed(list(ctx.contracts.values())):
            if known.name == name if exact else known.name.lower() == name.lower():
                return to_checksum_address(known.address), known.name
    lowered = {n.lower(): n for n in system}
    if name.lower() in lowered:
        real = lowered[name.lower()]
        return system[real], real
    deployed = sorted({k.name for k in ctx.contracts.values()})
    listing = ", ".join(sorted(system)) or "none on this node"
    raise ToolArgumentError(
        tool,
        [
            f"contract: no contract named `{name}`; system contracts: {listing}"
            + (f"; deployed by the agent: {', '.join(deployed)}" if deployed else "")
        ],
        hint="use one of these names, or give the contract's `address`",
    )


def _block_param(value: Any) -> Any:
    """A `block` argument (already format-checked) as JSON-RPC wants it."""
    if value is None:
        return "latest"
    if isinstance(value, int):
        return hex(value)
    text = str(value).strip().lower()
    if text in BLOCK_TAGS:
        return text
    if text.isdigit():
        return hex(int(text))
    if len(text) == 66:
        return {"blockHash": text}
    return hex(int(text, 16))


def _value(args: dict[str, Any]) -> int:
    return parse_amount(args["value"]) if args.get("value") is not None else 0


def _require_code(ctx: ToolContext, target: Target, block: Any = "latest") -> None:
    code = ctx.chain.request("eth_getCode", [target.address, block])
    if not code or code == "0x":
        raise AgentError(
            f"there is no contract at `{target.address}`"
            + ("" if block == "latest" else f" at block {block}"),
            hint="check the address (deployments show it in their result), and that the agent "
            "is connected to the chain the contract is on",
        )


def _simulate(
    ctx: ToolContext,
    target: Target,
    item: abi_mod.AbiItem,
    tx: dict[str, Any],
    block: Any,
    hint: str,
) -> list[dict[str, Any]]:
    """eth_call `tx` and decode what `item` returns; a revert names the function and contract."""
    try:
        raw = ctx.chain.call(tx, block, abis=target.abis, contract=target.name)
    except TransactionRevertedError as exc:
        raise TransactionRevertedError(
            f"`{abi_mod.signature(item)}` on {target.name}", exc.reason, data=exc.data, hint=hint
        ) from None
    return abi_mod.decode_outputs(item, raw)


def _shown(params: Sequence[abi_mod.AbiItem], values: Sequence[Any]) -> list[Any]:
    """Coerced argument values as JSON, to show the user what will be sent."""
    return [abi_mod.to_json(p, v) for p, v in zip(params, values, strict=True)]


def _call_text(name: str, params: Sequence[abi_mod.AbiItem], shown: Sequence[Any]) -> str:
    """`name(param=value, …)`: the call the approval summary shows, from the encoded values."""
    parts = [
        f"{p.get('name') or f'arg{i}'}={json.dumps(v)}"
        for i, (p, v) in enumerate(zip(params, shown, strict=True))
    ]
    return f"{name}({', '.join(parts)})"


# ------------------------------------------------------------------------------ call_contract


def call_contract(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Call a contract function with eth_call and decode what it returns."""
    tool = "call_contract"
    target = resolve_target(ctx, args, tool)
    item = abi_mod.find_function(target.abi, str(args["function"]), contract=target.name, tool=tool)
    data, values = abi_mod.encode_call(item, args.get("args"), tool=tool)
    block = _block_param(args.get("block"))
    sender = args.get("from") or (ctx.wallet.address if ctx.wallet is not None else None)
    tx: dict[str, Any] = {"to": target.address, "data": "0x" + data.hex()}
    if sender:
        tx["from"] = to_checksum_address(sender)
    _require_code(ctx, target, block)
    sig = abi_mod.signature(item)
    outputs = _simulate(
        ctx,
        target,
        item,
        tx,
        block,
        "nothing was sent; the reason above says what the contract refused",
    )
    read_only = abi_mod.is_read_only(item)
    result: dict[str, Any] = {
        "contract": target.name,
        "address": target.address,
        "function": sig,
        "args": _shown(item.get("inputs", []), values),
        "outputs": outputs,
        "result": abi_mod.outputs_result(outputs) if outputs else None,
        "block": args.get("block", "latest"),
        "abi_source": target.abi_source,
        "simulated": not read_only,
    }
    if not read_only:
        result["note"] = (
            f"`{sig}` is {abi_mod.mutability(item)}: this call only simulated it and nothing "
            "changed on chain; use write_contract to send it as a transaction"
        )
    return result


# ------------------------------------------------------------------------------ write_contract


def _decode_logs(
    ctx: ToolContext, target: Target, logs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    by_address = system_names_by_address(ctx)
    out = []
    for log in logs:
        address = to_checksum_address(str(log.get("address")))
        topics = [str(t) for t in log.get("topics", [])]
        data = str(log.get("data", "0x"))
        abi: list[dict[str, Any]] = []
        if address.lower() == target.address.lower():
            abi = target.abi
        elif address.lower() in ctx.contracts:
            abi = ctx.contracts[address.lower()].abi
        elif address.lower() in by_address:
            abi = system_abi(by_address[address.lower()])
        decoded = abi_mod.decode_event(abi, topics, data)
        if decoded is not None:
            out.append({"address": address, **decoded})
        else:
            out.append({"address": address, "topics": topics, "data": data})
    return out


def write_contract(ctx: ToolContext, args: dict[str, Any]) -> PreparedAction:
    """Prepare a transaction calling a contract function, for the user to approve."""
    tool = "write_contract"
    target = resolve_target(ctx, args, tool)
    item = abi_mod.find_function(target.abi, str(args["function"]), contract=target.name, tool=tool)
    sig = abi_mod.signature(item)
    if abi_mod.is_read_only(item):
        raise ToolArgumentError(
            tool,
            [
                f"function: `{sig}` is {abi_mod.mutability(item)}, so a transaction would change "
                "nothing and only cost network fees"
            ],
            hint="read it with call_contract instead",
        )
    value = _value(args)
    if value and abi_mod.mutability(item) != "payable":
        raise ToolArgumentError(
            tool,
            [f"value: `{sig}` is not payable, so it cannot receive {salt(value)} SALT"],
            hint="leave out `value`, or call a payable function",
        )
    data, values = abi_mod.encode_call(item, args.get("args"), tool=tool)
    sender = ctx.require_address()
    _require_code(ctx, target)
    call = {"from": sender, "to": target.address, "data": "0x" + data.hex(), "value": hex(value)}
    outputs = _simulate(
        ctx, target, item, call, "latest", "nothing was sent; fix the cause above and ask again"
    )
    shown_args = _shown(item.get("inputs", []), values)
    details: dict[str, Any] = {
        "contract": target.name,
        "address": target.address,
        "function": sig,
        "args": shown_args,
        "value_wei": str(value),
        "value_salt": salt(value),
        "expected_result": abi_mod.outputs_result(outputs) if outputs else None,
    }

    def finish(ctx: ToolContext, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        receipt = receipts[0]
        return {
            "contract": target.name,
            "address": target.address,
            "function": sig,
            "tx_hash": receipt.get("transactionHash"),
            "status": "success" if receipt.get("status") == "0x1" else "reverted",
            "block": int(str(receipt.get("blockNumber", "0x0")), 16),
            "gas_used": int(str(receipt.get("gasUsed", "0x0")), 16),
            "value_salt": salt(value),
            "events": _decode_logs(ctx, target, list(receipt.get("logs", []))),
        }

    return prepare_action(
        ctx,
        tool=tool,
        kind="write_contract",
        title=f"Call {target.name}.{sig}" + (f" sending {salt(value)} SALT" if value else ""),
        details=details,
        txs=[
            TxPlan(
                to=target.address,
                data=data,
                value=value,
                description=f"{target.name}.{sig}",
                abis=target.abis,
                contract=target.name,
                call=_call_text(str(item["name"]), item.get("inputs", []), shown_args),
            )
        ],
        finish=finish,
    )


# ------------------------------------------------------------------------------ deploy_contract


@lru_cache(maxsize=8)
def compile_solidity(source: str) -> CompilationResult:
    """Compile Solidity text as `deploy_contract` does (cached: the agent often prepares, is
    refused, and prepares the same source again)."""
    return compile_source(source, filename=SOURCE_NAME)


def _compiled(source: str, wanted: str | None, tool: str) -> tuple[CompiledContract, list[str]]:
    try:
        result = compile_solidity(source)
    except CompilationError as exc:
        problems = [
            (f"source line {e.line}, column {e.column}: " if e.line is not None else "source: ")
            + f"{e.type}: {e.message}"
            for e in exc.errors
        ]
        raise ToolArgumentError(
            tool,
            problems,
            hint="the Solidity does not compile and nothing was sent; fix the listed lines",
        ) from None
    except CompilerNotFound as exc:
        message, _, hint = str(exc).partition("\nhint: ")
        raise NotInstalledError(message, hint=hint or None) from None
    except RuntimeError as exc:
        raise AgentError(
            f"the Solidity compiler failed: {exc}",
            hint="try again; if it keeps failing, compile elsewhere and deploy `bytecode` + `abi`",
        ) from None
    ours = [c for c in result.contracts.values() if c.source_name == SOURCE_NAME]
    deployable = [c for c in ours if c.is_deployable]
    names = ", ".join(c.name for c in deployable) or "none"
    if wanted is not None:
        try:
            chosen = result.get(wanted)
        except KeyError:
            raise ToolArgumentError(
                tool,
                [f"contract: the source has no contract `{wanted}`; deployable ones: {names}"],
            ) from None
        if not chosen.is_deployable:
            raise ToolArgumentError(
                tool,
                [
                    f"contract: `{wanted}` is an interface or abstract contract and cannot be "
                    f"deployed; deployable ones: {names}"
                ],
            )
    elif len(deployable) == 1:
        chosen = deployable[0]
    elif not deployable:
        raise ToolArgumentError(
            tool,
            ["source: it has no deployable contract (only interfaces or abstract contracts)"],
        )
    else:
        raise ToolArgumentError(
            tool,
            [f"contract: the source has several deployable contracts ({names}); say which one"],
            hint="pass `contract` with one of these names",
        )
    if chosen.link_references:
        raise ToolArgumentError(
            tool,
            [f"source: `{chosen.name}` calls external libraries that must be linked first"],
            hint="make the library functions internal, or deploy linked `bytecode` + `abi`",
        )
    warnings = [str(w) for w in result.warnings][:10]
    return chosen, warnings


def deploy_contract(ctx: ToolContext, args: dict[str, Any]) -> PreparedAction:
    """Prepare the deployment of a contract (Solidity source or bytecode) for approval."""
    tool = "deploy_contract"
    if ("source" in args) == ("bytecode" in args):
        raise ToolArgumentError(
            tool, ["give exactly one of `source` (Solidity) and `bytecode` (with `abi`)"]
        )
    warnings: list[str] = []
    if "source" in args:
        if "abi" in args or "abi_file" in args:
            raise ToolArgumentError(
                tool, ["`abi`/`abi_file` go with `bytecode`; compiled source brings its own ABI"]
            )
        compiled, warnings = _compiled(str(args["source"]), args.get("contract"), tool)
        name, abi = compiled.name, list(compiled.abi)
        creation = bytes.fromhex(compiled.bytecode[2:])
    else:
        explicit = _explicit_abi(ctx, args, tool)
        if explicit is None:
            raise ToolArgumentError(
                tool,
                ["bytecode needs its `abi` (or `abi_file`); use [] for a contract without one"],
            )
        abi = explicit[0]
        name = str(args.get("contract") or "Contract")
        creation = bytes.fromhex(str(args["bytecode"])[2:])
        if not creation:
            raise ToolArgumentError(tool, ["bytecode: it is empty"])
    ctor = abi_mod.constructor(abi)
    params = ctor.get("inputs", []) if ctor is not None else []
    values = abi_mod.coerce_args(
        params, args.get("constructor_args"), what=f"the constructor of {name}", tool=tool
    )
    encoded = abi_mod.encode_args(params, values) if params else b""
    value = _value(args)
    if value and (ctor is None or abi_mod.mutability(ctor) != "payable"):
        raise ToolArgumentError(
            tool,
            [
                f"value: the constructor of {name} is not payable, so it cannot receive "
                f"{salt(value)} SALT"
            ],
            hint="leave out `value`",
        )
    shown_args = _shown(params, values)
    sender = ctx.require_address()
    predicted = abi_mod.contract_address(sender, ctx.chain.nonce(sender, "pending"))
    details: dict[str, Any] = {
        "contract": name,
        "predicted_address": predicted,
        "constructor_args": shown_args,
        "value_wei": str(value),
        "value_salt": salt(value),
        "creation_code_bytes": len(creation) + len(encoded),
        "functions": [abi_mod.describe_function(f) for f in abi_mod.functions(abi)],
    }
    if warnings:
        details["compiler_warnings"] = warnings

    def finish(ctx: ToolContext, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        receipt = receipts[0]
        tx_hash = str(receipt.get("transactionHash"))
        created = receipt.get("contractAddress")
        address = to_checksum_address(str(created)) if created else predicted
        code = ctx.chain.code(address)
        result: dict[str, Any] = {
            "contract": name,
            "address": address,
            "tx_hash": tx_hash,
            "block": int(str(receipt.get("blockNumber", "0x0")), 16),
            "gas_used": int(str(receipt.get("gasUsed", "0x0")), 16),
            "deployed_code_bytes": len(code),
            "value_salt": salt(value),
        }
        try:
            save_known_contract(ctx, address, name, abi, tx_hash)
        except (AgentError, OSError) as exc:
            # The contract is deployed whatever happens to the list; say it was not saved.
            ctx.remember_contract(address, name, abi)
            result["warning"] = (
                f"the ABI is known for this session only: saving it failed ({exc}); keep the "
                "ABI to call this contract later"
            )
        return result

    return prepare_action(
        ctx,
        tool=tool,
        kind="deploy_contract",
        title=f"Deploy {name}" + (f" with {salt(value)} SALT" if value else ""),
        details=details,
        txs=[
            TxPlan(
                to=None,
                data=creation + encoded,
                value=value,
                description=f"deploy {name}",
                abis=((name, abi),),
                contract=name,
                call=_call_text("constructor", params, shown_args) if params else "",
            )
        ],
        finish=finish,
    )


# ------------------------------------------------------------------------------ schemas

_ABI: dict[str, Any] = {
    "anyOf": [{"type": "array", "items": {"type": "object"}}, {"type": "string"}],
    "description": "The contract's ABI: a JSON array (or its JSON text). Only needed for a "
    "contract the agent did not deploy and that is not a system contract.",
}
_ABI_FILE: dict[str, Any] = {
    "type": "string",
    "description": "Path (relative to the workspace) of a JSON ABI or a solc/Foundry/Hardhat "
    "artifact with an `abi` key. Instead of `abi`.",
}
_ARGS_DESCRIPTION = (
    "Arguments in parameter order (or an object keyed by parameter name). Addresses as 0x "
    "strings, integers as JSON numbers or decimal/0x strings (uint amounts may be written "
    '"1.5 SALT" or "2 gwei"), bytes as 0x hex, tuples as arrays or objects by field name.'
)
_TARGET: dict[str, Any] = {
    "address": {**ADDRESS, "description": "The contract's address. Give this or `contract`."},
    "contract": {
        "type": "string",
        "pattern": r"^[A-Za-z_$][A-Za-z0-9_$]{0,63}$",
        "description": "A contract by name instead of address: a system contract "
        "(ModelRegistry, ModelMarketplace, InferenceRouter, Counter, ...) or one the agent "
        "deployed (the latest of that name).",
    },
    "function": {
        "type": "string",
        "description": 'The function name, or its full signature like "transfer(address,uint256)" '
        "when the name is overloaded.",
    },
    "args": {"anyOf": [{"type": "array"}, {"type": "object"}], "description": _ARGS_DESCRIPTION},
    "abi": _ABI,
    "abi_file": _ABI_FILE,
}

CALL_PARAMETERS = object_schema(
    {
        **_TARGET,
        "block": {
            **BLOCK,
            "description": "Block to read at (number, hash or tag); default latest.",
        },
        "from": {
            **ADDRESS,
            "description": "The caller (msg.sender) for the call; default the wallet's address.",
        },
    },
    required=("function",),
)

WRITE_PARAMETERS = object_schema(
    {
        **_TARGET,
        "value": {
            **AMOUNT,
            "description": 'SALT to send with the call ("1.5", "2 gwei"); payable functions '
            "only; default 0.",
        },
    },
    required=("function",),
)

DEPLOY_PARAMETERS = object_schema(
    {
        "source": {
            "type": "string",
            "description": "Solidity source text to compile and deploy (pragma ^0.8). Give this "
            "or `bytecode`.",
        },
        "contract": {
            "type": "string",
            "pattern": r"^[A-Za-z_$][A-Za-z0-9_$]{0,63}$",
            "description": "Which contract of the source to deploy (needed when it has several); "
            "with `bytecode`, the name to remember it by.",
        },
        "bytecode": {**HEX, "description": "Creation bytecode (0x hex), with `abi` or `abi_file`."},
        "abi": _ABI,
        "abi_file": _ABI_FILE,
        "constructor_args": {
            "anyOf": [{"type": "array"}, {"type": "object"}],
            "description": "Constructor arguments. " + _ARGS_DESCRIPTION,
        },
        "value": {
            **AMOUNT,
            "description": "SALT to send to a payable constructor; default 0.",
        },
    }
)

TOOLS: list[Tool] = [
    Tool(
        name="deploy_contract",
        category="contracts",
        description="Deploy a smart contract from Solidity source (compiled here) or from "
        "bytecode + ABI, with constructor arguments. Needs the user's approval; returns the new "
        "contract's address, transaction hash and gas used, and remembers its ABI for "
        "call_contract/write_contract.",
        parameters=DEPLOY_PARAMETERS,
        prepare=deploy_contract,
        timeout=180.0,
    ),
    Tool(
        name="call_contract",
        category="contracts",
        description="Read a contract: run a function with eth_call (no transaction, free) and "
        "return its decoded outputs. Use for view/pure functions, or to simulate any function. "
        "Address the contract by `address` or by name (system contracts, deployed ones).",
        parameters=CALL_PARAMETERS,
        run=call_contract,
    ),
    Tool(
        name="write_contract",
        category="contracts",
        description="Send a transaction calling a contract function that changes state "
        "(optionally with SALT for payable ones). Simulated first (reverts are explained); "
        "needs the user's approval; returns the transaction hash, status, gas and decoded events.",
        parameters=WRITE_PARAMETERS,
        prepare=write_contract,
    ),
]

__all__ = [
    "CONTRACTS_FILE",
    "TOOLS",
    "Target",
    "call_contract",
    "compile_solidity",
    "deploy_contract",
    "load_known_contracts",
    "resolve_target",
    "save_known_contract",
    "write_contract",
]
