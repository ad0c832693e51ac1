"""Contracts: deployment, code and storage, eth_call, gas estimation, access lists, reverts."""

from __future__ import annotations

import pytest
import rlp
from eth_utils import keccak, to_checksum_address
from web3.exceptions import ContractLogicError

from . import contracts as C
from .conftest import Deployed
from .differences import Err, expected
from .nodes import Node

ZERO_WORD = "0x" + "00" * 32


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _calldata(signature: str, *words: int) -> str:
    return "0x" + (C.selector(signature) + b"".join(w.to_bytes(32, "big") for w in words)).hex()


def test_deploy_receipt_and_code(node: Node, deployed: Deployed) -> None:
    receipt = deployed.receipts["store"]
    sender = bytes.fromhex(receipt["from"][2:])
    tx = node.call("eth_getTransactionByHash", [receipt["transactionHash"]])
    nonce = int(tx["nonce"], 16)
    # CREATE address: keccak(rlp([sender, nonce]))[12:]
    want = "0x" + keccak(rlp.encode([sender, nonce]))[12:].hex()
    assert receipt["contractAddress"] == want
    assert receipt["to"] is None
    assert tx["to"] is None
    assert tx["input"] == "0x" + C.STORE_DEPLOY.hex()
    number = int(receipt["blockNumber"], 16)
    assert node.call("eth_getCode", [deployed.store, "latest"]) == "0x" + C.STORE_RUNTIME.hex()
    assert node.call("eth_getCode", [deployed.store, hex(number)]) == "0x" + C.STORE_RUNTIME.hex()
    assert node.call("eth_getCode", [deployed.store, hex(number - 1)]) == "0x"
    assert node.call("eth_getCode", [deployed.emitter, "latest"]) == "0x" + C.EMITTER_RUNTIME.hex()
    reverter_code = node.call("eth_getCode", [deployed.reverter, "latest"])
    assert reverter_code == "0x" + C.REVERTER_RUNTIME.hex()


def test_storage_and_call(node: Node, deployed: Deployed) -> None:
    deploy_block = int(deployed.receipts["store"]["blockNumber"], 16)
    get = {"to": deployed.store, "data": _calldata("get()")}
    assert node.call("eth_getStorageAt", [deployed.store, "0x0", hex(deploy_block)]) == _word(42)
    assert node.call("eth_call", [get, hex(deploy_block)]) == _word(42)
    assert node.call("eth_getStorageAt", [deployed.store, "0x1", "latest"]) == ZERO_WORD
    assert node.call("eth_getStorageAt", [deployed.emitter, "0x0", "latest"]) == ZERO_WORD

    value = int.from_bytes(keccak(node.kind.encode()), "big")
    receipt = node.transact(
        node.accounts[0], to=deployed.store, data=_calldata("set(uint256)", value), gas=100_000
    )
    assert receipt["status"] == "0x1"
    assert receipt["logs"] == []
    number = int(receipt["blockNumber"], 16)
    assert node.call("eth_getStorageAt", [deployed.store, "0x0", "latest"]) == _word(value)
    assert node.call("eth_call", [get, "latest"]) == _word(value)
    assert node.call("eth_call", [get]) == _word(value)  # block defaults to latest
    assert node.call("eth_call", [get, hex(number - 1)]) != _word(value)  # history is kept
    # Storage slots in any spelling of the same quantity.
    assert node.call("eth_getStorageAt", [deployed.store, ZERO_WORD, "latest"]) == _word(value)

    # The counter: two increments, seen in storage and through eth_call.
    for _ in range(2):
        node.transact(
            node.accounts[0], to=deployed.store, data=_calldata("increment()"), gas=100_000
        )
    assert node.call("eth_call", [get, "latest"]) == _word(value + 2)


def test_web3_contract(node: Node, deployed: Deployed) -> None:
    store = node.w3.eth.contract(address=deployed.store, abi=C.STORE_ABI)
    before = store.functions.get().call()
    sender = node.accounts[0]
    tx = store.functions.set(before + 5).build_transaction(
        {
            "from": sender.address,
            "nonce": node.w3.eth.get_transaction_count(sender.address, "pending"),
            "gas": 100_000,
            "maxFeePerGas": 20 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "chainId": node.w3.eth.chain_id,
        }
    )
    tx_hash = node.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    node.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=15, poll_latency=0.01)
    assert store.functions.get().call() == before + 5
    deploy_block = int(deployed.receipts["store"]["blockNumber"], 16)
    assert store.functions.get().call(block_identifier=deploy_block) == C.STORE_INITIAL


def test_estimate_gas(node: Node, deployed: Deployed) -> None:
    sender = node.accounts[0].address
    transfer = {"from": sender, "to": "0x000000000000000000000000000000000000dEaD", "value": "0x1"}
    assert node.call("eth_estimateGas", [transfer]) == "0x5208"
    assert node.call("eth_estimateGas", [transfer, "latest"]) == "0x5208"
    setter = {"from": sender, "to": deployed.store, "data": _calldata("set(uint256)", 99)}
    estimate = int(node.call("eth_estimateGas", [setter]), 16)
    assert 21_000 < estimate < 100_000
    receipt = node.transact(node.accounts[0], to=deployed.store, data=setter["data"], gas=estimate)
    assert receipt["status"] == "0x1"
    assert int(receipt["gasUsed"], 16) <= estimate
    deploy = {"from": sender, "data": "0x" + C.STORE_DEPLOY.hex()}
    deploy_estimate = int(node.call("eth_estimateGas", [deploy]), 16)
    assert deploy_estimate >= int(deployed.receipts["store"]["gasUsed"], 16)


def test_create_access_list(node: Node, deployed: Deployed) -> None:
    request = {"from": node.accounts[0].address, "to": deployed.store, "data": _calldata("get()")}
    result = node.call("eth_createAccessList", [request, "latest"])
    assert set(result) == {"accessList", "gasUsed"}
    assert result["accessList"] == [
        {"address": deployed.store.lower(), "storageKeys": [ZERO_WORD]},
    ]
    assert int(result["gasUsed"], 16) > 21_000
    transfer = {"from": node.accounts[0].address, "to": node.accounts[1].address, "value": "0x1"}
    assert node.call("eth_createAccessList", [transfer]) == {
        "accessList": [],
        "gasUsed": "0x5208",
    }


REVERTS = {
    "fail()": (C.ERROR_NOPE, Err((3,), r"^execution reverted: nope$")),
    "failEmpty()": (b"", Err((3,), r"^execution reverted$")),
    "failCustom()": (C.CUSTOM_ERROR, None),  # message: a deliberate difference
}


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
@pytest.mark.parametrize("function", list(REVERTS))
def test_revert_error(node: Node, deployed: Deployed, method: str, function: str) -> None:
    data, want = REVERTS[function]
    if want is None:
        want = expected(node.kind, "custom_error_message")
    request = {"from": node.accounts[0].address, "to": deployed.reverter}
    request["data"] = _calldata(function)
    params = [request, "latest"] if method == "eth_call" else [request]
    error = node.error(method, params)
    want.check(error)
    assert error["data"] == "0x" + data.hex()


def test_revert_web3(node: Node, deployed: Deployed) -> None:
    reverter = node.w3.eth.contract(address=deployed.reverter, abi=C.REVERTER_ABI)
    with pytest.raises(ContractLogicError) as info:
        reverter.functions.fail().call()
    assert info.value.message == "execution reverted: nope"
    assert info.value.data == "0x" + C.ERROR_NOPE.hex()
    with pytest.raises(ContractLogicError) as info:
        reverter.functions.failCustom().call()
    assert info.value.data == "0x" + C.CUSTOM_ERROR.hex()


def test_reverted_transaction_is_mined(node: Node, deployed: Deployed) -> None:
    sender = node.accounts[0]
    balance = node.balance(sender.address)
    receipt = node.transact(sender, to=deployed.reverter, data=_calldata("fail()"), gas=100_000)
    assert receipt["status"] == "0x0"
    assert receipt["logs"] == []
    gas_used = int(receipt["gasUsed"], 16)
    assert 21_000 < gas_used < 100_000
    # The sender pays for the gas used, nothing else.
    fee = gas_used * int(receipt["effectiveGasPrice"], 16)
    assert node.balance(sender.address) == balance - fee


def test_call_insufficient_funds(node: Node) -> None:
    request = {
        "from": "0x000000000000000000000000000000000000bEEF",
        "to": "0x000000000000000000000000000000000000dEaD",
        "value": "0x1",
    }
    expected(node.kind, "call_insufficient_funds").check(
        node.error("eth_call", [request, "latest"])
    )


def test_call_defaults(node: Node, deployed: Deployed) -> None:
    """No `from`, no gas, no fees: a call from the zero address with the block's gas."""
    get = {"to": deployed.store, "data": _calldata("get()")}
    assert len(node.call("eth_call", [get, "latest"])) == 66
    assert node.call("eth_call", [{"to": to_checksum_address("0x" + "00" * 19 + "01")}]) == "0x"
