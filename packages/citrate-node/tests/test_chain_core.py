"""The node core (`citrate_native.Chain`) through the binding, with real signed transactions."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citrate_native import CallRequest, Chain, GhostDag, keccak256, to_checksum_address
from citrate_native.errors import (
    BlockNotFound,
    CitrateValueError,
    ExecutionReverted,
    StoreError,
    TransactionRejected,
)

CHAIN_ID = 1337
GWEI = 10**9
ETH = 10**18
KEYS = [Account.from_key(bytes([0x11] + [0] * 30 + [i])) for i in range(1, 9)]
WORKER = Path(__file__).with_name("chain_crash_worker.py")


def addr(account: Any) -> bytes:
    return bytes.fromhex(account.address[2:])


def sign(account: Any, **fields: Any) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": 0,
        "gas": 21_000,
        "maxFeePerGas": 2 * GWEI,
        "maxPriorityFeePerGas": GWEI,
        "value": 0,
    }
    tx.update(fields)
    if tx.get("type") in (0, 1):
        tx.pop("maxFeePerGas", None)
        tx.pop("maxPriorityFeePerGas", None)
        tx.setdefault("gasPrice", 2 * GWEI)
        if tx["type"] == 0:
            del tx["type"]
    if tx.get("chainId") is None:
        del tx["chainId"]
    if "to" in tx and isinstance(tx["to"], bytes):
        tx["to"] = to_checksum_address("0x" + tx["to"].hex())
    return bytes(Account.sign_transaction(tx, account.key).raw_transaction)


def transfer(account: Any, nonce: int, to: bytes, value: int, **fields: Any) -> bytes:
    return sign(account, nonce=nonce, to=to, value=value, **fields)


def counter_runtime() -> bytes:
    """Empty calldata: return sload(0); `01`: sstore(0, +1) and LOG1(0xaa..); else Error("nope")."""
    code = bytearray([0x36, 0x60, 0x00, 0x57])
    code += bytes([0x60, 0x00, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xF3])
    code[2] = len(code)
    code.append(0x5B)
    code += bytes([0x60, 0x00, 0x35, 0x60, 0xF8, 0x1C, 0x60, 0x01, 0x14, 0x60, 0x00, 0x57])
    patch = len(code) - 2
    code += b"\x7f" + bytes.fromhex("08c379a0") + bytes(28)
    code += bytes([0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x04, 0x52, 0x60, 0x04, 0x60, 0x24, 0x52])
    code += b"\x7f" + b"nope" + bytes(28)
    code += bytes([0x60, 0x44, 0x52, 0x60, 0x64, 0x60, 0x00, 0xFD])
    code[patch] = len(code)
    code.append(0x5B)
    code += bytes([0x60, 0x01, 0x60, 0x00, 0x54, 0x01, 0x60, 0x00, 0x55])
    code += b"\x7f" + b"\xaa" * 32
    code += bytes([0x60, 0x00, 0x60, 0x00, 0xA1, 0x00])
    return bytes(code)


def counter_init() -> bytes:
    runtime = counter_runtime()
    init = bytearray([0x60, 0x2A, 0x60, 0x00, 0x55])
    prelude = len(init) + 12
    init += bytes([0x60, len(runtime), 0x60, prelude, 0x60, 0x00, 0x39])
    init += bytes([0x60, len(runtime), 0x60, 0x00, 0xF3])
    return bytes(init + runtime)


def open_chain(path: Path, **kwargs: Any) -> Chain:
    alloc = kwargs.pop("genesis_alloc", [(addr(k), 100 * ETH) for k in KEYS[:4]])
    return Chain(path, genesis_alloc=alloc, genesis_timestamp=1_700_000_000, **kwargs)


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return open_chain(tmp_path / "chain")


def state_of(chain: Chain) -> tuple[Any, ...]:
    head = chain.head_number
    return (
        head,
        chain.pool_len(),
        tuple(chain.balance(addr(k), head) for k in KEYS[:4]),
        tuple(chain.nonce(addr(k), head) for k in KEYS[:4]),
        chain.pool_snapshot(),
    )


# --- execution -----------------------------------------------------------------------------


def test_transfer_fee_accounting(chain: Chain) -> None:
    a, b = KEYS[0], KEYS[5]
    coinbase = b"\xcb" * 20
    base_fee = chain.next_base_fee()
    assert base_fee == 875_000_000
    tx_hash = chain.send_raw_transaction(transfer(a, 0, addr(b), ETH))
    assert chain.transaction_status(tx_hash) == {"status": "pending"}
    pooled = json.loads(chain.transaction(tx_hash) or "null")
    assert pooled["blockHash"] is None and pooled["from"] == a.address.lower()
    result = chain.mine(1, [coinbase])
    (block,) = result["blocks"]
    assert block["number"] == 1 and block["tx_hashes"] == [tx_hash]
    effective = base_fee + GWEI
    assert chain.balance(addr(b), 1) == ETH
    assert chain.balance(addr(a), 1) == 99 * ETH - 21_000 * effective
    assert chain.balance(coinbase, 1) == 21_000 * GWEI  # the tip only: the base fee is burned
    assert chain.balance(addr(a), 0) == 100 * ETH  # history
    receipt = json.loads(chain.receipt(tx_hash) or "null")
    assert receipt["status"] == "0x1"
    assert receipt["gasUsed"] == hex(21_000)
    assert receipt["effectiveGasPrice"] == hex(effective)
    assert receipt["blockHash"] == "0x" + block["hash"].hex()
    mined = json.loads(chain.transaction(tx_hash) or "null")
    assert mined["gasPrice"] == hex(effective)
    assert mined["blockNumber"] == "0x1" and mined["transactionIndex"] == "0x0"
    view = json.loads(chain.block_by_number(1, True) or "null")
    assert view["parentHash"] == "0x" + chain.genesis_hash.hex()
    assert view["baseFeePerGas"] == hex(base_fee)
    assert view["transactions"][0]["hash"] == "0x" + tx_hash.hex()
    assert view["blueScore"] == "0x1"
    status = chain.transaction_status(tx_hash)
    assert status["status"] == "mined" and status["blockNumber"] == 1


def test_contract_deploy_call_revert(chain: Chain) -> None:
    a = KEYS[0]
    deploy = sign(a, nonce=0, data=counter_init(), gas=200_000)
    tx_hash = chain.send_raw_transaction(deploy)
    chain.mine()
    receipt = json.loads(chain.receipt(tx_hash) or "null")
    assert receipt["status"] == "0x1"
    contract = bytes.fromhex(receipt["contractAddress"][2:])
    assert chain.code(contract, 1) == counter_runtime()
    assert int.from_bytes(chain.call(CallRequest(to=contract), 1), "big") == 42
    with pytest.raises(ExecutionReverted) as info:
        chain.call(CallRequest(to=contract, data=b"\x02"), 1)
    assert str(info.value) == "execution reverted: nope"
    assert info.value.data[:4] == bytes.fromhex("08c379a0")
    with pytest.raises(ExecutionReverted):
        chain.estimate_gas(CallRequest(from_=addr(a), to=contract, data=b"\x02"), 1)
    gas = chain.estimate_gas(CallRequest(from_=addr(a), to=contract, data=b"\x01"), 1)
    inc = chain.send_raw_transaction(sign(a, nonce=1, to=contract, data=b"\x01", gas=gas))
    chain.mine()
    assert json.loads(chain.receipt(inc) or "null")["status"] == "0x1"
    assert chain.storage_at(contract, bytes(32), 2) == (43).to_bytes(32, "big")
    assert chain.storage_at(contract, bytes(32), 1) == (42).to_bytes(32, "big")
    logs = json.loads(chain.logs(0, 2, [contract], [[b"\xaa" * 32]]))
    assert len(logs) == 1 and logs[0]["logIndex"] == "0x0" and logs[0]["removed"] is False
    assert json.loads(chain.logs(0, 2, [contract], [[b"\xbb" * 32]])) == []
    access_list, _ = chain.create_access_list(
        CallRequest(from_=addr(a), to=contract, data=b"\x01"), 2
    )
    assert access_list == [(contract, [bytes(32)])]
    # A reverting transaction is mined with status 0 and pays for its gas.
    before = chain.balance(addr(a), 2)
    bad = chain.send_raw_transaction(sign(a, nonce=2, to=contract, data=b"\x02", gas=60_000))
    chain.mine()
    assert json.loads(chain.receipt(bad) or "null")["status"] == "0x0"
    assert chain.balance(addr(a), 3) < before


def test_call_defaults_and_errors(chain: Chain) -> None:
    # No from, no gas, no price: a plain value-less call to an empty account works.
    assert chain.call(CallRequest(to=b"\x01" * 20), 0) == b""
    assert chain.estimate_gas(CallRequest(to=b"\x01" * 20), 0) == 21_000
    with pytest.raises(BlockNotFound, match="header not found"):
        chain.call(CallRequest(to=b"\x01" * 20), 5)
    with pytest.raises(BlockNotFound):
        chain.balance(addr(KEYS[0]), 1)
    with pytest.raises(CitrateValueError):
        chain.balance(b"\x01" * 19, 0)
    with pytest.raises(CitrateValueError):
        CallRequest(to=b"\x01" * 21)
    with pytest.raises(CitrateValueError):
        CallRequest(value=-1)
    with pytest.raises(CitrateValueError):
        CallRequest(value=2**256)
    big = 2**200
    chain.set_balance(b"\x07" * 20, big)
    assert chain.balance(b"\x07" * 20, 0) == big


# --- the pool ------------------------------------------------------------------------------


REJECTIONS: list[tuple[str, Any]] = [
    (
        "only replay-protected (EIP-155) transactions allowed over RPC",
        lambda: sign(KEYS[0], type=0, chainId=None, to=b"\x01" * 20),
    ),
    ("invalid chain id", lambda: sign(KEYS[0], chainId=5, to=b"\x01" * 20)),
    (
        "intrinsic gas too low: gas 20000, minimum needed 21000",
        lambda: sign(KEYS[0], gas=20_000, to=b"\x01" * 20),
    ),
    ("exceeds block gas limit", lambda: sign(KEYS[0], gas=30_000_001, to=b"\x01" * 20)),
    (
        "max fee per gas less than block base fee: address {a0}, maxFeePerGas: 500000000, "
        "baseFee: 875000000",
        lambda: sign(KEYS[0], maxFeePerGas=GWEI // 2, maxPriorityFeePerGas=1, to=b"\x01" * 20),
    ),
    (
        "max priority fee per gas higher than max fee per gas",
        lambda: sign(KEYS[0], maxFeePerGas=GWEI, maxPriorityFeePerGas=2 * GWEI, to=b"\x01" * 20),
    ),
    (
        "insufficient funds for gas * price + value: address {a5} have 0 want 42000000000000",
        lambda: sign(KEYS[5], to=b"\x01" * 20),
    ),
    (
        "insufficient funds for gas * price + value: address {a0} have 100000000000000000000 "
        "want 100000042000000000000",
        lambda: sign(KEYS[0], to=b"\x01" * 20, value=100 * ETH),
    ),
    ("nonce too high: next nonce 0, tx nonce 65", lambda: sign(KEYS[0], nonce=65, to=b"\x01" * 20)),
    ("transaction type not supported", lambda: b"\x03" + bytes.fromhex("c0")),
    ("transaction type not supported", lambda: b"\x04" + bytes.fromhex("c0")),
    ("typed transaction too short", lambda: b""),
    (
        "max initcode size exceeded: code size 49153, limit 49152",
        lambda: sign(KEYS[0], data=b"\x01" * 49_153, gas=29_000_000),
    ),
    (
        "oversized data: transaction size",
        lambda: sign(KEYS[0], data=b"\x01" * 140_000, gas=29_000_000, to=b"\x01" * 20),
    ),
]


@pytest.mark.parametrize(("message", "make"), REJECTIONS)
def test_rejections_leave_state_unchanged(chain: Chain, message: str, make: Any) -> None:
    chain.send_raw_transaction(transfer(KEYS[1], 0, b"\x09" * 20, 1))  # something pooled
    before = state_of(chain)
    with pytest.raises(TransactionRejected) as info:
        chain.send_raw_transaction(make())
    expected = message.format(a0=KEYS[0].address, a5=KEYS[5].address)
    assert str(info.value).startswith(expected), str(info.value)
    assert state_of(chain) == before


def test_nonce_rules_replacement_and_queue(chain: Chain) -> None:
    a = KEYS[0]
    t0 = transfer(a, 0, b"\x01" * 20, 1)
    chain.send_raw_transaction(t0)
    with pytest.raises(TransactionRejected, match=r"^already known$"):
        chain.send_raw_transaction(t0)
    with pytest.raises(TransactionRejected, match=r"^replacement transaction underpriced$"):
        chain.send_raw_transaction(
            transfer(a, 0, b"\x01" * 20, 2, maxFeePerGas=2 * GWEI + 1, maxPriorityFeePerGas=GWEI)
        )
    bumped = chain.send_raw_transaction(
        transfer(a, 0, b"\x01" * 20, 2, maxFeePerGas=3 * GWEI, maxPriorityFeePerGas=2 * GWEI)
    )
    assert chain.pool_len() == 1
    chain.send_raw_transaction(transfer(a, 2, b"\x01" * 20, 1))  # a gap: queued
    assert chain.pending_nonce(addr(a)) == 1
    snapshot = json.loads(chain.pool_snapshot())
    assert len(snapshot["pending"]) == 1 and len(snapshot["queued"]) == 1
    result = chain.mine()
    assert result["blocks"][0]["tx_hashes"] == [bumped]
    with pytest.raises(TransactionRejected, match=r"^nonce too low: next nonce 1, tx nonce 0$"):
        chain.send_raw_transaction(transfer(a, 0, b"\x01" * 20, 5))
    with pytest.raises(TransactionRejected, match=r"^already known$"):
        chain.send_raw_transaction(
            transfer(a, 0, b"\x01" * 20, 2, maxFeePerGas=3 * GWEI, maxPriorityFeePerGas=2 * GWEI)
        )
    # Filling the gap makes the queued one pending.
    chain.send_raw_transaction(transfer(a, 1, b"\x01" * 20, 1))
    assert chain.pending_nonce(addr(a)) == 3
    assert len(chain.mine()["blocks"][0]["tx_hashes"]) == 2


# --- rounds --------------------------------------------------------------------------------


def test_parallel_producers_disjoint_sets(chain: Chain) -> None:
    sink = b"\x55" * 20
    for k in KEYS[:4]:
        for n in range(3):
            chain.send_raw_transaction(transfer(k, n, sink, 1))
    coinbases = [bytes([i]) * 20 for i in (1, 2, 3)]
    result = chain.mine(3, coinbases)
    assert [b["number"] for b in result["blocks"]] == [1, 2, 3]
    assert result["skipped"] == []
    owners: dict[str, int] = {}
    for i, block in enumerate(result["blocks"]):
        for tx_hash in block["tx_hashes"]:
            sender = json.loads(chain.transaction(tx_hash) or "null")["from"]
            assert owners.setdefault(sender, i) == i  # one sender, one block
    assert len(owners) == 4
    assert sum(len(b["tx_hashes"]) for b in result["blocks"]) == 12
    assert all(b["tx_hashes"] for b in result["blocks"])
    assert chain.balance(sink, 3) == 12
    stats = chain.dag_stats()
    assert stats["blocks"] == 4 and len(stats["tips"]) == 3
    assert stats["blue_count"] + stats["red_count"] == 4
    # The next round merges all three tips.
    chain.mine(2)
    dag = chain.block_dag(0, 10)
    assert [d["number"] for d in dag] == [0, 1, 2, 3, 4, 5]
    assert len(dag[4]["parents"]) == 3
    view = json.loads(chain.block_by_number(4, False) or "null")
    assert len(view["mergeParents"]) == 2
    assert view["parentHash"] == "0x" + dag[3]["hash"].hex()


def test_numbering_is_ghostdags_total_order(chain: Chain) -> None:
    """Block numbers follow GhostDAG's total order of the whole DAG (the chain computes only
    each round's part of it): rebuilt from the stored parents, the order is the numbering."""
    widths = [3, 1, 4, 2, 2, 5, 1, 3]
    for width in widths:
        chain.mine(width)
    dag = chain.block_dag(0, chain.head_number)
    assert len(dag) == 1 + sum(widths)
    ghostdag = GhostDag(chain.k, chain.genesis_hash, chain.max_parents)
    for block in dag[1:]:
        ghostdag.add_block(block["hash"], block["parents"])
    assert ghostdag.total_order() == [b["hash"] for b in dag]
    for block in dag[1:]:
        data = ghostdag.get(block["hash"])
        assert data is not None
        assert (data.blue_score, data.selected_parent) == (
            block["blue_score"],
            block["selected_parent"],
        )


def test_conflicting_transactions_are_skipped(chain: Chain) -> None:
    a, b = KEYS[0], KEYS[1]
    first = transfer(a, 0, b"\x66" * 20, 1)
    second = transfer(a, 0, b"\x66" * 20, 2)
    other = transfer(b, 0, b"\x66" * 20, 4)
    result = chain.mine_transactions([[first, other], [second]])
    assert len(result["blocks"]) == 2
    ((skipped_hash, reason),) = result["skipped"]
    assert reason == "nonce too low: next nonce 1, tx nonce 0"
    status = chain.transaction_status(skipped_hash)
    assert status["status"] == "skipped" and status["reason"] == reason
    assert chain.balance(b"\x66" * 20, 2) in (5, 6)
    assert chain.nonce(addr(a), 2) == 1
    # A transaction already included is never mined again.
    mined = [h for blk in result["blocks"] for h in blk["tx_hashes"]]
    included = first if skipped_hash != keccak256(first) else second
    assert keccak256(included) in mined
    again = chain.mine_transactions([[included]])
    assert again["blocks"][0]["tx_hashes"] == []
    assert again["skipped"][0][1] == "already known"


def test_reopen_rewind_and_history(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    chain = open_chain(path)
    a = KEYS[0]
    for n in range(3):
        chain.send_raw_transaction(transfer(a, n, b"\x33" * 20, 10))
        chain.mine()
    views = [chain.block_by_number(n, True) for n in range(4)]
    chain.set_code(b"\x44" * 20, b"\x60\x00")
    chain.set_storage_at(b"\x44" * 20, bytes(32), (5).to_bytes(32, "big"))
    chain.set_nonce(b"\x44" * 20, 9)
    chain.close()
    with pytest.raises(StoreError, match="closed"):
        chain.head_number  # noqa: B018
    chain = open_chain(path)
    assert [chain.block_by_number(n, True) for n in range(4)] == views
    assert chain.code(b"\x44" * 20, 3) == b"\x60\x00"
    assert chain.storage_at(b"\x44" * 20, bytes(32), 3) == (5).to_bytes(32, "big")
    assert chain.nonce(b"\x44" * 20, 3) == 9
    assert [chain.balance(b"\x33" * 20, n) for n in range(4)] == [0, 10, 20, 30]
    with pytest.raises(StoreError, match="in use"):
        open_chain(path)
    chain.close()
    with pytest.raises(StoreError, match="chain id"):
        open_chain(path, chain_id=5)
    chain = open_chain(path)
    chain.rewind(1)
    assert chain.head_number == 1
    assert chain.block_by_number(2, False) is None
    assert chain.balance(b"\x33" * 20, 1) == 10
    chain.send_raw_transaction(transfer(a, 1, b"\x33" * 20, 1))
    chain.mine()
    assert chain.balance(b"\x33" * 20, 2) == 11
    page, cursor = chain.transactions_by_address(addr(a), 1)
    assert len(json.loads(page)) == 1 and cursor is not None
    page2, cursor2 = chain.transactions_by_address(addr(a), 5, cursor)
    assert len(json.loads(page2)) == 1 and cursor2 is None
    history = json.loads(chain.fee_history(2, 2, [50.0]))
    assert len(history["baseFeePerGas"]) == 3 and len(history["reward"]) == 2
    assert history["oldestBlock"] == "0x1"


def test_mismatched_genesis_is_refused(tmp_path: Path) -> None:
    open_chain(tmp_path / "c").close()
    with pytest.raises(StoreError, match="GhostDAG k"):
        open_chain(tmp_path / "c", k=3)
    with pytest.raises(StoreError, match="different genesis"):
        Chain(tmp_path / "c", genesis_timestamp=1_700_000_000)


def test_concurrent_readers_and_a_writer(chain: Chain) -> None:
    a = KEYS[0]
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(200):
                head = chain.head_number
                chain.balance(addr(a), head)
                chain.call(CallRequest(to=b"\x01" * 20), head)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for n in range(10):
        chain.send_raw_transaction(transfer(a, n, b"\x01" * 20, 1))
        chain.mine()
    for t in threads:
        t.join()
    assert errors == []
    assert chain.head_number == 10


def test_every_read_method_runs_beside_a_busy_writer(chain: Chain) -> None:
    """Regression: a view that reads again (eth_getTransactionByHash of a mined transaction)
    must not deadlock against a writer waiting for the lock."""
    a = KEYS[1]
    sent = [chain.send_raw_transaction(transfer(a, n, b"\x02" * 20, 1)) for n in range(5)]
    chain.mine()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                chain.mine(2)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader() -> None:
        try:
            for _ in range(150):
                head = chain.head_number
                block_hash = chain.block_hash(head) or b""
                for tx_hash in sent:
                    chain.transaction(tx_hash)
                    chain.receipt(tx_hash)
                    chain.transaction_status(tx_hash)
                chain.block_by_hash(block_hash, True)
                chain.block_by_number(head, True)
                chain.block_receipts(1)
                chain.transaction_by_block_and_index(1, 0)
                chain.logs(0, head, [], [])
                chain.fee_history(4, head, [50.0])
                chain.transactions_by_address(addr(a), 10)
                chain.dag_stats()
                chain.block_dag(max(0, head - 5), head)
                chain.pool_snapshot()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    writer_thread = threading.Thread(target=writer, daemon=True)
    readers = [threading.Thread(target=reader, daemon=True) for _ in range(3)]
    writer_thread.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join(timeout=120)
    stop.set()
    writer_thread.join(timeout=60)
    assert not any(t.is_alive() for t in [*readers, writer_thread]), "deadlock"
    assert errors == []


# --- processes -----------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_second_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    with subprocess.Popen(
        [sys.executable, str(WORKER), str(path), "hold"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "OPEN"
            with pytest.raises(StoreError, match="in use by another process"):
                Chain(path, genesis_alloc=[(addr(KEYS[0]), 10**24)])
        finally:
            proc.kill()


def test_kill_9_keeps_every_returned_block(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    mined: list[list[str]] = []
    with subprocess.Popen(
        [sys.executable, str(WORKER), str(path), "mine"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as proc:
        try:
            assert proc.stdout is not None
            while len(mined) < 25:
                line = proc.stdout.readline()
                assert line, "the worker died"
                mined.append(line.split()[1:])
        finally:
            # SIGKILL at an arbitrary point: usually in the middle of the next round.
            proc.send_signal(signal.SIGKILL)
    chain = Chain(path, genesis_alloc=[(addr(KEYS[0]), 10**24)])
    assert chain.head_number >= int(mined[-1][0])
    for number, hash_hex, state_root, balance in mined:
        n = int(number)
        assert chain.block_hash(n) == bytes.fromhex(hash_hex)
        view = json.loads(chain.block_by_number(n, False) or "null")
        assert view["stateRoot"] == state_root
        assert chain.balance(b"\x22" * 20, n) == int(balance)
    # And it keeps going.
    chain.mine()


# --- fuzzing -------------------------------------------------------------------------------


_FUZZ_CHAIN: list[Chain] = []


def _fuzz_chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    if not _FUZZ_CHAIN:
        _FUZZ_CHAIN.append(open_chain(tmp_path_factory.mktemp("fuzz")))
    return _FUZZ_CHAIN[0]


_VALID = [
    transfer(KEYS[0], 0, b"\x01" * 20, 1),
    sign(KEYS[1], type=0, to=b"\x02" * 20, value=5),
    sign(KEYS[2], type=1, to=b"\x02" * 20, accessList=[]),
    sign(KEYS[3], data=counter_init(), gas=200_000),
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    chain = _fuzz_chain(tmp_path_factory)
    with contextlib.suppress(TransactionRejected):
        chain.send_raw_transaction(raw)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.integers(0, len(_VALID) - 1),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 10_000),
    tail=st.binary(max_size=8),
)
def test_fuzz_mutated_transactions(
    tmp_path_factory: pytest.TempPathFactory,
    which: int,
    edits: list[tuple[int, int]],
    cut: int,
    tail: bytes,
) -> None:
    chain = _fuzz_chain(tmp_path_factory)
    raw = bytearray(_VALID[which])
    for pos, byte in edits:
        raw[pos % len(raw)] = byte
    raw = raw[: max(1, len(raw) - cut % 8)] + tail
    with contextlib.suppress(TransactionRejected):
        chain.send_raw_transaction(bytes(raw))


def test_set_code_refuses_malformed_delegation_code(tmp_path: Path) -> None:
    chain = open_chain(tmp_path / "chain")
    target = b"\x55" * 20
    with pytest.raises(CitrateValueError, match="EIP-7702 delegation"):
        chain.set_code(target, b"\xef\x01\x00")
    assert chain.code(target, chain.head_number) == b""  # nothing was written
    chain.set_code(target, b"\xef\x01\x00" + b"\x22" * 20)  # a well-formed delegation is fine
    assert chain.code(target, chain.head_number) == b"\xef\x01\x00" + b"\x22" * 20
