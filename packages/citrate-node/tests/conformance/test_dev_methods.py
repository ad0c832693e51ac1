"""Development methods shared with anvil: evm_mine, evm_snapshot/evm_revert, evm_increaseTime,
anvil_setBalance (the devnet's funding call)."""

from __future__ import annotations

from eth_account import Account

from .nodes import Node


def test_evm_mine(node: Node) -> None:
    head = node.block_number()
    assert node.call("evm_mine", []) == "0x0"
    assert node.call("evm_mine") == "0x0"
    assert node.block_number() == head + 2
    block = node.call("eth_getBlockByNumber", ["latest", False])
    assert block["transactions"] == []
    assert block["gasUsed"] == "0x0"


def test_set_balance(node: Node) -> None:
    address = Account.create().address
    assert node.call("anvil_setBalance", [address, hex(10**20)]) is None
    assert node.balance(address) == 10**20
    assert node.call("anvil_setBalance", [address, "0x0"]) is None
    assert node.balance(address) == 0


def test_set_balance_then_spend(node: Node) -> None:
    account = Account.create()
    node.call("anvil_setBalance", [account.address, hex(10**18)])
    receipt = node.transact(account, to=node.accounts[0].address, value=1000)
    assert receipt["status"] == "0x1"
    fee = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert node.balance(account.address) == 10**18 - 1000 - fee


def test_snapshot_and_revert(node: Node) -> None:
    sender, recipient = node.accounts[4], Account.create().address
    head = node.block_number()
    sender_balance = node.balance(sender.address)
    sender_nonce = node.nonce(sender.address)
    snapshot = node.call("evm_snapshot")
    assert isinstance(snapshot, str) and snapshot.startswith("0x")

    node.transact(sender, to=recipient, value=5)
    node.call("anvil_setBalance", [recipient, hex(77)])
    node.mine()
    assert node.block_number() > head
    assert node.balance(recipient) == 77

    assert node.call("evm_revert", [snapshot]) is True
    assert node.block_number() == head
    assert node.balance(recipient) == 0
    assert node.balance(sender.address) == sender_balance
    assert node.nonce(sender.address) == sender_nonce
    assert node.call("evm_revert", [snapshot]) is False  # a snapshot is used up by reverting
    assert node.call("evm_revert", ["0x7fffffff"]) is False
    # The chain goes on from the snapshot: the same nonce is usable again.
    receipt = node.transact(sender, to=recipient, value=6)
    assert int(receipt["blockNumber"], 16) == head + 1
    assert node.balance(recipient) == 6


def test_revert_undoes_state_edits_at_the_snapshot_block(node: Node) -> None:
    """Foundry/Hardhat fixtures: snapshot, edit state without mining, revert: edits are gone."""
    address = Account.create().address
    slot_owner = node.accounts[5].address
    head = node.block_number()
    snapshot = node.call("evm_snapshot")
    node.call("anvil_setBalance", [address, hex(0x1234)])
    node.call("anvil_setNonce", [address, "0x7"])
    node.call("anvil_setCode", [address, "0x6001600055"])
    node.call("anvil_setStorageAt", [slot_owner, "0x1", "0x" + "ab" * 32])
    assert node.balance(address) == 0x1234
    assert node.call("evm_revert", [snapshot]) is True
    assert node.block_number() == head
    assert node.balance(address) == 0
    assert node.nonce(address) == 0
    assert node.call("eth_getCode", [address, "latest"]) == "0x"
    assert node.call("eth_getStorageAt", [slot_owner, "0x1", "latest"]) == "0x" + "00" * 32


def test_nested_snapshots(node: Node) -> None:
    head = node.block_number()
    outer = node.call("evm_snapshot")
    node.mine()
    inner = node.call("evm_snapshot")
    assert inner != outer
    node.mine()
    assert node.call("evm_revert", [inner]) is True
    assert node.block_number() == head + 1
    assert node.call("evm_revert", [outer]) is True
    assert node.block_number() == head


def test_increase_time(node: Node) -> None:
    node.mine()
    before = int(node.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    offset = node.call("evm_increaseTime", [3600])
    # The total offset, in seconds (anvil's can be a second short: it counts from its clock).
    assert isinstance(offset, int) and offset >= 3599
    assert node.call("evm_increaseTime", ["0xe10"]) == offset + 3600  # hex accepted too
    node.mine()
    after = int(node.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    assert after - before >= 7200
    assert after - before < 7200 + 60
