"""Model tools: the on-chain ModelRegistry, local GGUF models, deployment and inference.

Registered models live in the ModelRegistry system contract (name, version, framework, content
CID of the weights, size, inference price, metadata); their weights live in the content store.
Inference runs on this machine with llama.cpp (`citrate_agent.inference`): local models
directly, registered models from their weights fetched by CID and verified. A priced model is
paid for on chain first (`purchase_inference`, a value-moving action); free ones just run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from citrate_agent import inference
from citrate_agent._contracts import (
    SystemContract,
    SystemContractsUnavailableError,
    listing_json,
    system_contract,
)
from citrate_agent.actions import PreparedAction, TxPlan
from citrate_agent.actions import prepare as prepare_action
from citrate_agent.errors import (
    AgentError,
    ChainUnavailableError,
    NotInstalledError,
    ToolArgumentError,
    TransactionRevertedError,
)
from citrate_agent.schema import AMOUNT, object_schema
from citrate_agent.tools.base import Tool, ToolContext
from citrate_agent.units import parse_amount, salt

REGISTRY = "ModelRegistry"
MARKETPLACE = "ModelMarketplace"
#: The contracts' page size (`MAX_PAGE_SIZE`).
PAGE_SIZE = 100
#: Most registered models `list_models` and name lookups read.
MAX_SCAN = 2000

_BYTES32_CHARS = 66


class PaymentRequiredError(AgentError):
    """The model charges per inference: the run must go through `purchase_inference`."""

    kind = "payment_required"


# ------------------------------------------------------------------------------ contracts


def registry(ctx: ToolContext) -> SystemContract:
    """The ModelRegistry system contract (see `citrate_agent._contracts`)."""
    return system_contract(ctx, REGISTRY)


def marketplace(ctx: ToolContext) -> SystemContract:
    """The ModelMarketplace system contract."""
    return system_contract(ctx, MARKETPLACE)


# ------------------------------------------------------------------------------ records


def model_json(model: Mapping[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A registry `Model` struct as the tools show it."""
    meta = model.get("metadata", {})
    out: dict[str, Any] = {
        "id": model["modelId"],
        "name": model["name"],
        "version": model["version"],
        "framework": model["framework"],
        "owner": model["owner"],
        "active": bool(model["active"]),
        "cid": model["cid"],
        "size_bytes": int(model["sizeBytes"]),
        "inference_price_wei": str(model["inferencePrice"]),
        "inference_price_salt": salt(int(model["inferencePrice"])),
        "total_inferences": str(model["totalInferences"]),
        "description": meta.get("description", ""),
        "tags": list(meta.get("tags", [])),
        "source": "chain",
    }
    if full:
        out.update(
            {
                "license": meta.get("license", ""),
                "parameters": str(meta.get("parameters", 0)),
                "input_shape": list(meta.get("inputShape", [])),
                "output_shape": list(meta.get("outputShape", [])),
                "revenue_wei": str(model["revenue"]),
                "revenue_salt": salt(int(model["revenue"])),
                "created_at": int(model["createdAt"]),
                "updated_at": int(model["updatedAt"]),
            }
        )
    return out


def all_models(ctx: ToolContext, limit: int = MAX_SCAN) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` registered models (raw structs) in registration order, and the total."""
    reg = registry(ctx)
    total = int(reg.call(ctx, "totalModels"))
    models: list[dict[str, Any]] = []
    offset = 0
    while offset < min(total, limit):
        page = reg.call(ctx, "getModels", offset, min(PAGE_SIZE, limit - offset))
        if not page:
            break
        models.extend(page)
        offset += len(page)
    return models, total


def is_model_id(ref: str) -> bool:
    text = ref.strip()
    if len(text) != _BYTES32_CHARS or not text.startswith("0x"):
        return False
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        return False
    return True


def get_chain_model(ctx: ToolContext, ref: str) -> dict[str, Any]:
    """The registry record (raw struct) of a model given by id, `name` or `name@version`.

    A name that several models share must be disambiguated: the error lists their ids.

    Raises:
        AgentError: no such model, or an ambiguous name.
        ChainUnavailableError: the node cannot be reached.
    """
    text = ref.strip()
    reg = registry(ctx)
    if is_model_id(text):
        try:
            model: dict[str, Any] = reg.call(ctx, "getModel", text)
        except TransactionRevertedError as exc:
            if "UnknownModel" in exc.reason:
                raise AgentError(
                    f"no model with id `{text}` is registered on the ModelRegistry",
                    hint="check the id; `list_models` lists the registered models",
                ) from None
            raise
        return model
    name, _, version = text.partition("@")
    models, _ = all_models(ctx)
    found = [
        m
        for m in models
        if m["name"].lower() == name.lower() and (not version or m["version"] == version)
    ]
    if not found:
        raise AgentError(
            f"no model named `{text}` is registered on the ModelRegistry or found locally",
            hint="`list_models` lists the registered and local models; give a name, "
            "`name@version` or the model id",
        )
    if len(found) > 1:
        listed = ", ".join(f"{m['name']}@{m['version']} {m['modelId']}" for m in found[:10])
        raise AgentError(
            f"{len(found)} registered models are named `{text}`: {listed}",
            hint="give the model id, or `name@version`",
        )
    return found[0]


# ------------------------------------------------------------------------------ list / info


def list_models(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Every registered model plus the local models; the chain part may be unavailable."""
    limit = int(args.get("limit", 500))
    only_active = bool(args.get("only_active", False))
    local = [m.to_json() for m in inference.local_models(ctx)]
    result: dict[str, Any] = {"chain_models": [], "local_models": local}
    if not inference.default_model_installed():
        result["local_note"] = (
            f"the default local model `{inference.DEFAULT_MODEL_NAME}` is not installed "
            "(`pip install 'citrate-agent[local]'`)"
        )
    try:
        raw, total = all_models(ctx, limit)
    except (ChainUnavailableError, SystemContractsUnavailableError) as exc:
        result["chain_error"] = exc.message
        result["chain_error_hint"] = exc.hint
        result["note"] = "the chain is unreachable, so only local models are listed"
        return result
    chain = [model_json(m) for m in raw]
    if only_active:
        chain = [m for m in chain if m["active"]]
    result["chain_models"] = chain
    result["total_registered"] = total
    result["truncated"] = total > len(raw)
    return result


def get_model_info(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Everything about one model: the local file, or the registry record with access/listing."""
    ref = str(args["model"]).strip()
    if not is_model_id(ref):
        local = inference.find_local_model(ctx, ref)
        if local is not None:
            out = local.to_json()
            out["runtime_installed"] = inference.runtime_installed()
            out["price_wei"] = "0"
            return out
    raw = get_chain_model(ctx, ref)
    out = model_json(raw, full=True)
    model_id = raw["modelId"]
    reg = registry(ctx)
    wallet = ctx.wallet.address if ctx.wallet is not None else None
    out["wallet"] = wallet
    out["has_access"] = bool(reg.call(ctx, "hasAccess", model_id, wallet)) if wallet else None
    out["weights_cached"] = inference.cache_path(ctx, raw["cid"]).is_file()
    market = marketplace(ctx)
    if market.call(ctx, "isListed", model_id):
        out["listing"] = listing_json(market.call(ctx, "getListing", model_id))
    else:
        out["listing"] = None
    return out


# ------------------------------------------------------------------------------ deploy


def _inside(path: Path, bases: Sequence[Path]) -> bool:
    return any(path.is_relative_to(base) for base in bases)


def weights_file(ctx: ToolContext, tool: str, text: str) -> Path:
    """A weights file given as a path, which must be inside the workspace or models directory."""
    workspace = ctx.workspace
    models_dir = ctx.models_dir.resolve()
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = workspace / candidate
    resolved = candidate.resolve()  # symlinks resolved: a link cannot lead outside
    if not _inside(resolved, [workspace, models_dir]):
        raise ToolArgumentError(
            tool,
            [
                f"path: `{text}` is outside the workspace (`{workspace}`) and the models "
                f"directory (`{models_dir}`)"
            ],
            hint="copy the weights into the workspace or the models directory first",
        )
    if not resolved.is_file():
        raise ToolArgumentError(tool, [f"path: `{text}` is not a file"])
    if resolved.stat().st_size == 0:
        raise ToolArgumentError(tool, [f"path: `{text}` is empty"])
    return resolved


def deploy_model(ctx: ToolContext, args: dict[str, Any]) -> PreparedAction:
    """Prepare registering a weights file: CID computed now, upload and pin on approval."""
    path = weights_file(ctx, "deploy_model", str(args["path"]))
    name = str(args["name"]).strip()
    version = str(args.get("version", "1.0.0")).strip()
    framework = str(args.get("framework", "gguf")).strip()
    if framework.lower() == "gguf":
        inference.check_gguf(path, f"`{args['path']}`")
    price = parse_amount(args.get("inference_price", "0"))
    size = path.stat().st_size
    cid = inference.file_cid(path)
    reg = registry(ctx)
    owner = ctx.require_address()
    fee = int(reg.call(ctx, "registrationFee"))
    model_id = str(reg.call(ctx, "computeModelId", owner, name, version))
    model_input = {
        "name": name,
        "framework": framework,
        "version": version,
        "cid": cid,
        "sizeBytes": size,
        "inferencePrice": price,
        "metadata": {
            "description": str(args.get("description", "")),
            "inputShape": [],
            "outputShape": [],
            "parameters": int(args.get("parameters", 0)),
            "license": str(args.get("license", "")),
            "tags": [str(t) for t in args.get("tags", [])],
        },
    }
    tx = TxPlan(
        to=reg.address,
        data=reg.encode("registerModel", model_input),
        value=fee,
        description=f"register model `{name}` version `{version}` on the ModelRegistry",
        abis=reg.abis,
        contract=REGISTRY,
    )
    details = {
        "model_id": model_id,
        "name": name,
        "version": version,
        "framework": framework,
        "path": str(path),
        "cid": cid,
        "size_bytes": size,
        "inference_price_wei": str(price),
        "inference_price_salt": salt(price),
        "registration_fee_wei": str(fee),
        "registration_fee_salt": salt(fee),
        "registry": reg.address,
        "upload": "on approval the weights are uploaded to the content store and pinned, "
        "and their CID checked, before the transaction is sent",
    }

    def before_send(ctx: ToolContext) -> None:
        upload_weights(ctx, path, cid)

    def finish(ctx: ToolContext, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        receipt = receipts[0]
        events = reg.events(receipt, "ModelRegistered")
        registered: dict[str, Any] = events[0] if events else {"modelId": model_id, "feePaid": fee}
        return {
            "model_id": registered["modelId"],
            "name": name,
            "version": version,
            "cid": cid,
            "size_bytes": size,
            "pinned": True,
            "tx_hash": receipt["transactionHash"],
            "block_number": int(receipt["blockNumber"], 16),
            "fee_paid_wei": str(registered["feePaid"]),
            "fee_paid_salt": salt(int(registered["feePaid"])),
            "inference_price_salt": salt(price),
            "registry": reg.address,
        }

    return prepare_action(
        ctx,
        tool="deploy_model",
        kind="deploy_model",
        title=f"Register model `{name}` {version} ({size} bytes, CID {cid}) for {salt(fee)} SALT",
        details=details,
        txs=[tx],
        finish=finish,
        before_send=before_send,
    )


def upload_weights(ctx: ToolContext, path: Path, cid: str) -> None:
    """Add `path` to the content store, pinned, and check it got the CID shown at prepare.

    Raises:
        AgentError: the store is unreachable or refused it, or the file changed since.
    """
    from citrate_store import normalize_cid
    from citrate_store.errors import ContentStoreError

    try:
        stored = ctx.ipfs().add(path, pin=True)
        ctx.ipfs().pin_add(stored)
    except ContentStoreError as exc:
        raise AgentError(
            f"the weights could not be uploaded to the content store: {exc}",
            hint="start the content store (`citrate devnet` serves it) or set `ipfs_url`; "
            "nothing was sent",
        ) from None
    if normalize_cid(stored) != normalize_cid(cid):
        raise AgentError(
            f"`{path.name}` changed since the action was prepared: it now has the CID "
            f"`{stored}`, not `{cid}`",
            hint="nothing was sent; ask again to register the file as it is now",
        )


# ------------------------------------------------------------------------------ inference


def _generation_json(gen: inference.Generation) -> dict[str, Any]:
    return {"output": gen.text, "tokens": gen.tokens, "seconds": gen.seconds}


def _run_local(model: inference.LocalModel, args: dict[str, Any]) -> dict[str, Any]:
    gen = inference.generate(
        model.path,
        str(args["prompt"]),
        int(args.get("max_tokens", 128)),
        float(args.get("temperature", 0.0)),
    )
    return {
        "model": model.name,
        "source": "local",
        "path": str(model.path),
        "ran_on": "this machine (llama.cpp)",
        **_generation_json(gen),
    }


def _check_runnable(raw: Mapping[str, Any]) -> None:
    if not raw["active"]:
        raise AgentError(
            f"model `{raw['name']}` ({raw['modelId']}) is deactivated",
            hint="its owner must activate it (`activateModel`) before it can be used",
        )


def run_inference(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Run a free model: local ones directly, registered ones from their verified weights."""
    ref = str(args["model"]).strip()
    if not is_model_id(ref):
        local = inference.find_local_model(ctx, ref)
        if local is not None:
            return _run_local(local, args)
    try:
        raw = get_chain_model(ctx, ref)
    except (ChainUnavailableError, SystemContractsUnavailableError) as exc:
        try:
            default = inference.find_local_model(ctx, inference.DEFAULT_MODEL_NAME)
        except NotInstalledError as missing:
            raise NotInstalledError(
                f"the chain is unreachable ({exc.message}) and the local default model, the "
                "fallback, is not installed",
                hint=missing.hint,
            ) from None
        assert default is not None  # find_local_model raises when it is not installed
        out = _run_local(default, args)
        out["fallback"] = True
        out["requested_model"] = ref
        out["note"] = (
            f"the chain is unreachable ({exc.message}), so `{ref}` could not be looked up; "
            f"this answer comes from the local default model `{default.name}` instead"
        )
        return out
    _check_runnable(raw)
    price = int(raw["inferencePrice"])
    if price > 0:
        raise PaymentRequiredError(
            f"model `{raw['name']}` charges {salt(price)} SALT per inference",
            hint="use `purchase_inference` with the same arguments: it pays on chain after "
            "your approval and then runs the model",
        )
    path = inference.fetch_weights(ctx, raw["cid"], name=raw["name"])
    gen = inference.generate(
        path,
        str(args["prompt"]),
        int(args.get("max_tokens", 128)),
        float(args.get("temperature", 0.0)),
    )
    return {
        "model": raw["name"],
        "model_id": raw["modelId"],
        "version": raw["version"],
        "source": "chain",
        "cid": raw["cid"],
        "price_wei": "0",
        "ran_on": "this machine (llama.cpp), weights fetched from the content store by CID "
        "and verified",
        **_generation_json(gen),
    }


def purchase_inference(ctx: ToolContext, args: dict[str, Any]) -> PreparedAction:
    """Prepare paying a priced model's `requestInference`; the model runs after payment."""
    ref = str(args["model"]).strip()
    if not is_model_id(ref) and inference.find_local_model(ctx, ref) is not None:
        raise AgentError(
            f"`{ref}` is a local model; local models are free",
            hint="use `run_inference` to run it",
        )
    raw = get_chain_model(ctx, ref)
    _check_runnable(raw)
    price = int(raw["inferencePrice"])
    if price == 0:
        raise AgentError(
            f"model `{raw['name']}` is free: there is nothing to pay",
            hint="use `run_inference` to run it",
        )
    # Refuse before anyone pays for a run this machine cannot do.
    inference.require_runtime()
    reg = registry(ctx)
    model_id = raw["modelId"]
    prompt = str(args["prompt"])
    max_tokens = int(args.get("max_tokens", 128))
    temperature = float(args.get("temperature", 0.0))
    fetched: dict[str, Path] = {}
    tx = TxPlan(
        to=reg.address,
        data=reg.encode("requestInference", model_id),
        value=price,
        description=f"pay {salt(price)} SALT for one inference of `{raw['name']}`",
        abis=reg.abis,
        contract=REGISTRY,
    )

    def before_send(ctx: ToolContext) -> None:
        # Fetch and verify the weights before paying, so a missing or damaged file costs
        # nothing.
        fetched["path"] = inference.fetch_weights(ctx, raw["cid"], name=raw["name"])
        inference.load(fetched["path"])

    def finish(ctx: ToolContext, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        receipt = receipts[0]
        events = reg.events(receipt, "InferenceRequested")
        number = str(events[0]["inferenceNumber"]) if events else None
        try:
            gen = inference.generate(fetched["path"], prompt, max_tokens, temperature)
        except AgentError as exc:
            raise AgentError(
                f"the inference was paid (`{receipt['transactionHash']}`) but the local run "
                f"failed: {exc.message}",
                hint=exc.hint,
            ) from None
        return {
            "model": raw["name"],
            "model_id": model_id,
            "source": "chain",
            "cid": raw["cid"],
            "tx_hash": receipt["transactionHash"],
            "paid_wei": str(price),
            "paid_salt": salt(price),
            "inference_number": number,
            "ran_on": "this machine (llama.cpp), weights fetched from the content store by CID "
            "and verified",
            **_generation_json(gen),
        }

    return prepare_action(
        ctx,
        tool="purchase_inference",
        kind="purchase",
        title=f"Pay {salt(price)} SALT for one inference of `{raw['name']}` {raw['version']}",
        details={
            "model": raw["name"],
            "model_id": model_id,
            "version": raw["version"],
            "price_wei": str(price),
            "price_salt": salt(price),
            "owner": raw["owner"],
            "prompt": prompt,
            "max_tokens": max_tokens,
            "note": "the payment goes to the model's owner; after it, the weights are run on "
            "this machine",
        },
        txs=[tx],
        finish=finish,
        before_send=before_send,
    )


# ------------------------------------------------------------------------------ schemas

_MODEL_REF = {
    "type": "string",
    "minLength": 1,
    "maxLength": 300,
    "description": "A model: its 0x id (bytes32), its registered name (or `name@version`), "
    f"or a local model's name (`{inference.DEFAULT_MODEL_NAME}` is the default).",
}
_PROMPT = {"type": "string", "minLength": 1, "maxLength": 20000, "description": "The prompt."}
_MAX_TOKENS = {
    "type": "integer",
    "minimum": 1,
    "maximum": inference.MAX_TOKENS,
    "description": "Most tokens to generate (default 128).",
}
_TEMPERATURE = {
    "type": "number",
    "minimum": 0,
    "maximum": 2,
    "description": "Sampling temperature (default 0: deterministic).",
}
_INFERENCE_PARAMS = object_schema(
    {
        "model": _MODEL_REF,
        "prompt": _PROMPT,
        "max_tokens": _MAX_TOKENS,
        "temperature": _TEMPERATURE,
    },
    required=("model", "prompt"),
)

TOOLS: list[Tool] = [
    Tool(
        name="list_models",
        category="models",
        description="List every model registered on the ModelRegistry (id, name, version, "
        "owner, CID, price, usage) and the local GGUF models this machine can run. Works "
        "offline: local models are still listed when the chain is unreachable.",
        parameters=object_schema(
            {
                "only_active": {
                    "type": "boolean",
                    "description": "Leave out deactivated registered models (default false).",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SCAN,
                    "description": "Most registered models to list (default 500).",
                },
            }
        ),
        run=list_models,
    ),
    Tool(
        name="get_model_info",
        category="models",
        description="Show everything about one model: for a registered model its full record, "
        "whether the wallet may use it, its inference price and its marketplace listing; for "
        "a local model its file.",
        parameters=object_schema({"model": _MODEL_REF}, required=("model",)),
        run=get_model_info,
    ),
    Tool(
        name="deploy_model",
        category="models",
        description="Register a weights file (in the workspace or models directory) on the "
        "ModelRegistry for the registration fee; on approval the file is uploaded to the "
        "content store and pinned. Returns the model id, CID and transaction.",
        parameters=object_schema(
            {
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The weights file, relative to the workspace or absolute "
                    "inside the workspace or the models directory.",
                },
                "name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "description": "The model's name.",
                },
                "version": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "description": "The version (default 1.0.0); name and version are unique "
                    "per owner.",
                },
                "framework": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "The weights' format (default gguf, which is checked).",
                },
                "inference_price": {
                    **AMOUNT,
                    "description": "SALT charged per inference (default 0: free for anyone).",
                },
                "description": {
                    "type": "string",
                    "maxLength": 2048,
                    "description": "What the model does.",
                },
                "license": {"type": "string", "maxLength": 64, "description": "Its licence."},
                "tags": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 32},
                    "maxItems": 16,
                    "description": "Search tags.",
                },
                "parameters": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 10**15,
                    "description": "Parameter count (optional).",
                },
            },
            required=("path", "name"),
        ),
        prepare=deploy_model,
        timeout=600.0,
    ),
    Tool(
        name="run_inference",
        category="models",
        description="Generate text with a local model or a free registered model (weights "
        "fetched by CID and verified), on this machine. Priced models need "
        "`purchase_inference`. If the chain is unreachable it falls back to the local default "
        "model and says so.",
        parameters=_INFERENCE_PARAMS,
        run=run_inference,
        timeout=600.0,
    ),
    Tool(
        name="purchase_inference",
        category="models",
        description="Pay a priced registered model's inference price on chain (after approval) "
        "and then run it on this machine; returns the payment and the generated text.",
        parameters=_INFERENCE_PARAMS,
        prepare=purchase_inference,
        timeout=600.0,
    ),
]

__all__ = [
    "MARKETPLACE",
    "PAGE_SIZE",
    "REGISTRY",
    "TOOLS",
    "PaymentRequiredError",
    "all_models",
    "deploy_model",
    "get_chain_model",
    "get_model_info",
    "is_model_id",
    "list_models",
    "marketplace",
    "model_json",
    "purchase_inference",
    "registry",
    "run_inference",
    "upload_weights",
    "weights_file",
]
