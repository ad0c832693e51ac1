"""The contract tools against a real `citrate devnet`: deploy (Solidity source or bytecode),
call and write, system contracts by name, ABI files, and every refusal. State changes are
checked with independent `eth_call`s straight to the node."""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from citrate_agent.actions import PreparedAction, execute
from citrate_agent.chain import ChainClient
from citrate_agent.config import AgentSettings
from citrate_agent.errors import (
    AgentError,
    ChainUnavailableError,
    ToolArgumentError,
    TransactionRevertedError,
)
from citrate_agent.session import open_context
from citrate_agent.tools import ToolContext, call_tool
from citrate_agent.tools.contracts import CONTRACTS_FILE, compile_solidity
from citrate_contracts.artifacts import load_artifact
from citrate_crypto import KdfParams

ALICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV_PASSWORD = "Correct-Horse-Battery-9"  # the root conftest's wallet password
FAST_KDF = KdfParams.owasp_minimum()

SOURCE = """\
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

contract Storage {
    error TooLarge(uint256 value, uint256 limit);
    event Stored(address indexed by, uint256 value, string note);

    struct Pair { uint256 a; address b; }

    uint256 public value;
    uint256 public immutable limit;
    string public label;
    address public owner;

    constructor(uint256 initial, uint256 limit_, string memory label_) payable {
        value = initial;
        limit = limit_;
        label = label_;
        owner = msg.sender;
    }

    function store(uint256 newValue, string calldata note) external {
        if (newValue > limit) revert TooLarge(newValue, limit);
        value = newValue;
        emit Stored(msg.sender, newValue, note);
    }

    function increment() external returns (uint256) {
        value += 1;
        return value;
    }

    function pair(Pair calldata p) external pure returns (uint256 a, address b) {
        return (p.a, p.b);
    }

    function add(uint256 x) external view returns (uint256) { return value + x; }
    function add(uint256 x, uint256 y) external pure returns (uint256) { return x + y; }
}

contract Helper {
    function one() external pure returns (uint8) { return 1; }
}
"""

BROKEN = """\
pragma solidity ^0.8.24;
contract Broken {
    function f() external pure returns (uint256) {
        return undefinedThing + 1;
    }
}
"""


def fresh_address() -> str:
    return to_checksum_address("0x" + secrets.token_hex(20))


def nonce(devnet: Any, address: str = ALICE) -> int:
    return int(devnet.rpc("eth_getTransactionCount", address, "pending"), 16)


def eth_call(devnet: Any, to: str, signature: str, types: list[str], args: list[Any]) -> bytes:
    """An `eth_call` built and sent without the agent's code."""
    data = keccak(text=signature)[:4] + encode(types, args)
    reply = devnet.rpc_raw("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    assert "result" in reply, reply
    return bytes.fromhex(reply["result"][2:])


def read_uint(devnet: Any, to: str, signature: str) -> int:
    (value,) = decode(["uint256"], eth_call(devnet, to, signature, [], []))
    return int(value)


@pytest.fixture(scope="module")
def compiled() -> Any:
    """The test source compiled once (the tool's cache: its deployments reuse it)."""
    return compile_solidity(SOURCE)


@pytest.fixture(scope="module")
def storage(
    agent_devnet: Any, dev_wallet_dir: Path, tmp_path_factory: pytest.TempPathFactory, compiled: Any
) -> Iterator[dict[str, Any]]:
    """A `Storage(7, 1000, "shared")` deployed once by deploy_contract for this module's tests
    (from its own session, so the tests' sessions know it only by what they are given)."""
    from citrate_agent.tools import default_registry

    home = tmp_path_factory.mktemp("contracts-home")
    ctx = open_context(
        data_dir=home,
        rpc_url=agent_devnet.url,
        wallet_dir=dev_wallet_dir,
        kdf=FAST_KDF,
        workspace=home / "workspace",
    )
    ctx.require_wallet().unlock(DEV_PASSWORD)
    action = call_tool(
        default_registry(),
        ctx,
        "deploy_contract",
        {"source": SOURCE, "contract": "Storage", "constructor_args": [7, 1000, "shared"]},
    )
    assert isinstance(action, PreparedAction)
    result = execute(ctx, action.id)
    ctx.close()
    yield {"address": result["address"], "abi": compiled.get("Storage").abi}


# ---------------------------------------------------------------------- deploy, call, write


def test_deploy_from_source_then_call_and_write(
    run_tool: Callable[..., Any],
    approve: Callable[..., Any],
    agent_ctx: ToolContext,
    agent_devnet: Any,
    compiled: Any,
) -> None:
    # Two deployable contracts: the tool asks which one, naming both, and sends nothing.
    before = nonce(agent_devnet)
    with pytest.raises(ToolArgumentError) as exc:
        run_tool("deploy_contract", source=SOURCE, constructor_args=[1, 2, "x"])
    assert "several deployable contracts (Helper, Storage)" in str(exc.value)

    action = run_tool(
        "deploy_contract",
        source=SOURCE,
        contract="Storage",
        constructor_args=[7, "1000", "first"],
        value="0.5",
    )
    assert isinstance(action, PreparedAction) and action.kind == "deploy_contract"
    assert nonce(agent_devnet) == before  # prepared, not sent
    details = action.details
    assert details["constructor_args"] == ["7", "1000", "first"]
    assert details["value_salt"] == "0.5"
    assert any(f.startswith("store(uint256 newValue, string note)") for f in details["functions"])

    result = approve(action)
    address = result["address"]
    assert address == details["predicted_address"] == to_checksum_address(address)
    receipt = agent_devnet.rpc("eth_getTransactionReceipt", result["tx_hash"])
    assert receipt["status"] == "0x1"
    assert to_checksum_address(receipt["contractAddress"]) == address
    assert int(receipt["blockNumber"], 16) == result["block"]
    assert int(receipt["gasUsed"], 16) == result["gas_used"] > 0
    code = agent_devnet.rpc("eth_getCode", address, "latest")
    assert result["deployed_code_bytes"] == (len(code) - 2) // 2 > 0
    assert int(agent_devnet.rpc("eth_getBalance", address, "latest"), 16) == 5 * 10**17

    # Reads, by address: the ABI is remembered from the deployment.
    def call(function: str, *args: Any, **kw: Any) -> dict[str, Any]:
        out = run_tool("call_contract", address=address, function=function, args=list(args), **kw)
        assert isinstance(out, dict)
        return out

    value = call("value")
    assert value["result"] == "7" and value["simulated"] is False
    assert value["abi_source"] == "deployed"
    assert call("label")["result"] == "first"
    assert call("owner")["result"] == ALICE
    assert call("add(uint256)", 5)["result"] == "12"
    assert call("add(uint256,uint256)", "0x10", 1)["result"] == "17"
    named = call("pair", {"a": 3, "b": ALICE.lower()})
    assert named["result"] == {"a": "3", "b": ALICE}
    assert named["outputs"] == [
        {"name": "a", "type": "uint256", "value": "3"},
        {"name": "b", "type": "address", "value": ALICE},
    ]
    with pytest.raises(ToolArgumentError, match="overloaded"):
        call("add", 1)

    # A state-changing function through call_contract is only simulated, and says so.
    simulated = call("increment")
    assert simulated["simulated"] is True and simulated["result"] == "8"
    assert "nothing changed on chain" in simulated["note"]
    assert read_uint(agent_devnet, address, "value()") == 7

    # A write: approved, mined, event decoded, state changed (seen by an independent call).
    action = run_tool("write_contract", address=address, function="store", args=[42, "the answer"])
    assert action.kind == "write_contract"
    assert action.details["args"] == ["42", "the answer"]
    assert read_uint(agent_devnet, address, "value()") == 7  # not sent before approval
    written = approve(action)
    assert written["status"] == "success"
    assert agent_devnet.rpc("eth_getTransactionReceipt", written["tx_hash"])["status"] == "0x1"
    assert written["events"] == [
        {
            "address": address,
            "event": "Stored",
            "signature": "Stored(address,uint256,string)",
            "args": {"by": ALICE, "value": "42", "note": "the answer"},
        }
    ]
    assert read_uint(agent_devnet, address, "value()") == 42
    # Reads at a past block see the state of that block.
    assert call("value", block=result["block"])["result"] == "7"
    assert call("value", block=str(written["block"]))["result"] == "42"

    # The returned value of a write is predicted at prepare time.
    action = run_tool("write_contract", contract="Storage", function="increment")
    assert action.details["address"] == address  # by name: the latest deployed Storage
    assert action.details["expected_result"] == "43"
    approve(action)
    assert read_uint(agent_devnet, address, "value()") == 43

    # A later session on the same data directory still knows the contract.
    path = agent_ctx.data_dir / "agent" / CONTRACTS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())["contracts"]
    assert [c["name"] for c in saved if c["address"] == address] == ["Storage"]
    later = open_context(data_dir=agent_ctx.data_dir, rpc_url=agent_devnet.url)
    try:
        from citrate_agent.tools import default_registry

        out = call_tool(
            default_registry(), later, "call_contract", {"address": address, "function": "value"}
        )
        assert isinstance(out, dict) and out["result"] == "43" and out["abi_source"] == "deployed"
    finally:
        later.close()


def test_deploy_from_bytecode_and_abi(
    run_tool: Callable[..., Any], approve: Callable[..., Any], agent_devnet: Any
) -> None:
    counter = load_artifact("Counter")
    with pytest.raises(ToolArgumentError, match="takes 0 argument"):
        run_tool(
            "deploy_contract", bytecode=counter.bytecode, abi=counter.abi, constructor_args=[1]
        )
    with pytest.raises(ToolArgumentError, match="needs its `abi`"):
        run_tool("deploy_contract", bytecode=counter.bytecode)
    with pytest.raises(ToolArgumentError, match="not payable"):
        run_tool("deploy_contract", bytecode=counter.bytecode, abi=counter.abi, value="1")

    action = run_tool(
        "deploy_contract",
        bytecode=counter.bytecode,
        abi=json.dumps(counter.abi),
        contract="MyCounter",
    )
    result = approve(action)
    address = result["address"]
    assert result["contract"] == "MyCounter"
    assert counter.matches_runtime_code(
        bytes.fromhex(agent_devnet.rpc("eth_getCode", address, "latest")[2:])
    )
    approve(run_tool("write_contract", address=address, function="setNumber", args=["99"]))
    assert read_uint(agent_devnet, address, "number()") == 99
    out = run_tool("call_contract", contract="MyCounter", function="number")
    assert out["result"] == "99" and out["address"] == address


# ------------------------------------------------------------------------------ system contracts


def test_system_contracts_by_name(
    run_tool: Callable[..., Any], approve: Callable[..., Any], agent_devnet: Any
) -> None:
    system = agent_devnet.rpc("citrate_getSystemContracts")
    registry = to_checksum_address(system["ModelRegistry"])
    fee = run_tool("call_contract", contract="ModelRegistry", function="registrationFee")
    assert fee["address"] == registry and fee["abi_source"] == "system"
    assert fee["result"] == str(read_uint(agent_devnet, registry, "registrationFee()"))
    # By address, the system contract's ABI is found too.
    treasury = run_tool("call_contract", address=registry, function="treasury")
    (want,) = decode(["address"], eth_call(agent_devnet, registry, "treasury()", [], []))
    assert treasury["result"] == to_checksum_address(want)

    counter = to_checksum_address(system["Counter"])
    before = read_uint(agent_devnet, counter, "number()")
    written = approve(run_tool("write_contract", contract="Counter", function="increment"))
    assert written["address"] == counter and written["status"] == "success"
    assert read_uint(agent_devnet, counter, "number()") == before + 1

    with pytest.raises(ToolArgumentError) as exc:
        run_tool("call_contract", contract="NoSuchThing", function="x")
    assert "ModelRegistry" in str(exc.value) and "Counter" in str(exc.value)


def test_abi_file_in_the_workspace(
    run_tool: Callable[..., Any],
    agent_ctx: ToolContext,
    storage: dict[str, Any],
    tmp_path: Path,
) -> None:
    artifact = agent_ctx.workspace / "out" / "Storage.json"
    artifact.parent.mkdir()
    artifact.write_text(json.dumps({"abi": storage["abi"], "bytecode": {"object": "0x"}}))
    out = run_tool(
        "call_contract", address=storage["address"], function="label", abi_file="out/Storage.json"
    )
    assert out["result"] == "shared" and out["abi_source"] == "abi_file"
    plain = agent_ctx.workspace / "storage.abi.json"
    plain.write_text(json.dumps(storage["abi"]))
    out = run_tool(
        "call_contract", address=storage["address"], function="limit", abi_file=str(plain)
    )
    assert out["result"] == "1000"

    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(storage["abi"]))
    (agent_ctx.workspace / "link.json").symlink_to(outside)
    for path in (str(outside), "../outside.json", "link.json"):
        with pytest.raises(ToolArgumentError, match="outside the workspace"):
            run_tool("call_contract", address=storage["address"], function="label", abi_file=path)
    with pytest.raises(ToolArgumentError, match="no file"):
        run_tool(
            "call_contract", address=storage["address"], function="label", abi_file="nope.json"
        )
    (agent_ctx.workspace / "bad.json").write_text("{nope")
    with pytest.raises(ToolArgumentError, match="not valid JSON"):
        run_tool("call_contract", address=storage["address"], function="label", abi_file="bad.json")


# ------------------------------------------------------------------------------ refusals


def test_reverting_write_gives_the_custom_error_and_sends_nothing(
    run_tool: Callable[..., Any], agent_devnet: Any, storage: dict[str, Any]
) -> None:
    before = nonce(agent_devnet)
    with pytest.raises(TransactionRevertedError) as exc:
        run_tool(
            "write_contract",
            address=storage["address"],
            function="store",
            args=[5000, "too much"],
            abi=storage["abi"],
        )
    assert "TooLarge" in exc.value.reason
    assert "5000" in exc.value.reason and "1000" in exc.value.reason
    assert "nothing was sent" in (exc.value.hint or "")
    assert nonce(agent_devnet) == before
    # The same through call_contract: the revert, decoded, as an error.
    with pytest.raises(TransactionRevertedError, match="TooLarge"):
        run_tool(
            "call_contract",
            address=storage["address"],
            function="store",
            args={"newValue": 5000, "note": ""},
            abi=storage["abi"],
        )
    assert read_uint(agent_devnet, storage["address"], "value()") == 7


def test_solidity_that_does_not_compile(run_tool: Callable[..., Any], agent_devnet: Any) -> None:
    before = nonce(agent_devnet)
    with pytest.raises(ToolArgumentError) as exc:
        run_tool("deploy_contract", source=BROKEN)
    assert any(
        p.startswith("source line 4, column 16:") and "Undeclared identifier" in p
        for p in exc.value.problems
    ), exc.value.problems
    assert nonce(agent_devnet) == before
    with pytest.raises(ToolArgumentError, match="no deployable contract"):
        run_tool(
            "deploy_contract",
            source="pragma solidity ^0.8.24; interface I { function f() external; }",
        )


def test_unknown_function_lists_the_functions(run_tool: Callable[..., Any]) -> None:
    with pytest.raises(ToolArgumentError) as exc:
        run_tool("call_contract", contract="Counter", function="decrement")
    text = str(exc.value)
    assert "Counter has no function `decrement`" in text
    assert "increment() [nonpayable]" in text
    assert "number() returns (uint256) [view]" in text
    assert "setNumber(uint256 newNumber) [nonpayable]" in text


def test_wrong_arguments_are_refused_before_anything_is_sent(
    run_tool: Callable[..., Any], agent_devnet: Any, storage: dict[str, Any]
) -> None:
    before = nonce(agent_devnet)
    with pytest.raises(ToolArgumentError) as exc:
        run_tool("write_contract", contract="Counter", function="setNumber", args=["lots"])
    assert "args[0] (newNumber): uint256 needs an integer" in str(exc.value)
    with pytest.raises(ToolArgumentError, match="takes 1 argument"):
        run_tool("write_contract", contract="Counter", function="setNumber", args=[])
    with pytest.raises(ToolArgumentError, match="outside uint256"):
        run_tool("write_contract", contract="Counter", function="setNumber", args=[-1])
    with pytest.raises(ToolArgumentError, match="checksum"):
        run_tool(
            "call_contract",
            contract="ModelRegistry",
            function="creditOf",
            args=[ALICE.replace("F", "f", 1)],
        )
    with pytest.raises(ToolArgumentError, match="checksum"):
        run_tool("call_contract", address=ALICE.replace("F", "f", 1), function="x")
    # A view through write_contract, value to a non-payable function, both or neither target.
    with pytest.raises(ToolArgumentError, match="read it with call_contract"):
        run_tool("write_contract", contract="Counter", function="number")
    with pytest.raises(ToolArgumentError, match="not payable"):
        run_tool("write_contract", contract="Counter", function="increment", value="1")
    with pytest.raises(ToolArgumentError, match="exactly one of `address`"):
        run_tool("call_contract", function="number")
    with pytest.raises(ToolArgumentError, match="exactly one of `address`"):
        run_tool("call_contract", contract="Counter", address=ALICE, function="number")
    with pytest.raises(ToolArgumentError, match="accepted arguments"):
        run_tool("call_contract", contract="Counter", function="number", gas=5)
    assert nonce(agent_devnet) == before


def test_unknown_contracts(run_tool: Callable[..., Any], storage: dict[str, Any]) -> None:
    stranger = fresh_address()
    with pytest.raises(AgentError, match="no ABI is known") as exc:
        run_tool("call_contract", address=stranger, function="value")
    assert "abi_file" in (exc.value.hint or "")
    # An ABI for an address without code: said plainly instead of a decoding failure.
    with pytest.raises(AgentError, match="there is no contract at"):
        run_tool("call_contract", address=stranger, function="value", abi=storage["abi"])
    with pytest.raises(AgentError, match="there is no contract at"):
        run_tool("write_contract", address=stranger, function="increment", abi=storage["abi"])


def test_node_down(registry: Any, tmp_path: Path, closed_url: str) -> None:
    ctx = ToolContext(
        chain=ChainClient(closed_url, timeout=2),
        settings=AgentSettings(),
        data_dir=tmp_path,
    )
    with pytest.raises(ChainUnavailableError):
        call_tool(registry, ctx, "call_contract", {"contract": "Counter", "function": "number"})
    with pytest.raises(ChainUnavailableError):
        call_tool(
            registry,
            ctx,
            "call_contract",
            {"address": ALICE, "function": "number", "abi": load_artifact("Counter").abi},
        )
