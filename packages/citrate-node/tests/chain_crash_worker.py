"""Subprocess for the chain crash tests in ``test_chain_core.py``.

``python chain_crash_worker.py DATA_DIR mine`` mines transfer blocks forever, printing
``MINED <number> <hash hex> <stateRoot> <balance of the recipient>`` after each ``mine`` returned
(so after its durable commit); the test kills it with SIGKILL at an arbitrary moment.

``python chain_crash_worker.py DATA_DIR hold`` opens the chain, prints ``OPEN`` and sleeps, so
that the test can check that a second process is refused.
"""

from __future__ import annotations

import json
import sys
import time

from eth_account import Account

from citrate_native import Chain, to_checksum_address

CHAIN_ID = 1337
SENDER = Account.from_key(bytes([0x11] + [0] * 30 + [1]))
RECIPIENT = bytes.fromhex("22" * 20)


def main() -> None:
    data_dir, mode = sys.argv[1], sys.argv[2]
    chain = Chain(data_dir, genesis_alloc=[(bytes.fromhex(SENDER.address[2:]), 10**24)])
    if mode == "hold":
        print("OPEN", flush=True)
        time.sleep(60)
        return
    nonce = chain.nonce(bytes.fromhex(SENDER.address[2:]), chain.head_number)
    while True:
        batch = []
        for _ in range(5):
            tx = {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": nonce,
                "to": to_checksum_address("0x" + RECIPIENT.hex()),
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
            }
            batch.append(bytes(Account.sign_transaction(tx, SENDER.key).raw_transaction))
            nonce += 1
        for raw in batch:
            chain.send_raw_transaction(raw)
        result = chain.mine(1)
        for block in result["blocks"]:
            view = json.loads(chain.block_by_number(block["number"], False) or "{}")
            balance = chain.balance(RECIPIENT, block["number"])
            print(
                f"MINED {block['number']} {block['hash'].hex()} {view['stateRoot']} {balance}",
                flush=True,
            )


if __name__ == "__main__":
    main()
