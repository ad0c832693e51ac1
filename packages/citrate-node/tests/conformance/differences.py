"""Every deliberate difference between Citrate and anvil, with the reason, in one place.

The conformance suite asserts the same behaviour on every node except for the entries here,
where it asserts each node's own expectation (`expected(node.kind, key)`). Anything not listed
is a bug to fix in Citrate. Values were recorded from anvil 1.7.1 (tools/package.json).

Where anvil's wording differs from geth's, Citrate follows geth (web3.py, ethers and viem match
on geth's messages). Error expectations are `Err(codes, pattern)`: the code must be one of
`codes` and `re.search(pattern, message)` must match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .nodes import dev_accounts


@dataclass(frozen=True)
class Err:
    """An expected JSON-RPC error: one of `codes`, and a message matching `pattern`."""

    codes: tuple[int, ...]
    pattern: str

    def check(self, error: dict[str, Any]) -> None:
        assert error.get("code") in self.codes, f"code {error.get('code')} not in {self.codes}"
        message = error.get("message", "")
        assert isinstance(message, str)
        assert re.search(self.pattern, message), f"message {message!r} !~ {self.pattern!r}"


@dataclass(frozen=True)
class Deliberate:
    reason: str
    anvil: Any
    citrate: Any


# geth answers every transaction-pool rejection with -32000; EIP-1474 names -32003
# "transaction rejected" (anvil's choice). Clients key on the message, so Citrate may use either.
POOL_CODES = (-32000, -32003)

DELIBERATE: dict[str, Deliberate] = {
    "eth_accounts": Deliberate(
        "Citrate's node holds no keys (wallets sign locally); anvil lists its unlocked dev keys.",
        anvil=[a.address.lower() for a in dev_accounts()],
        citrate=[],
    ),
    "net_peerCount": Deliberate(
        "anvil does not implement net_peerCount; Citrate answers like geth (no peers on a devnet).",
        anvil=Err((-32601,), r"^Method not found$"),
        citrate="0x0",
    ),
    "parse_error": Deliberate(
        "anvil answers malformed JSON with -32600; JSON-RPC 2.0 (and geth) say -32700.",
        anvil=Err((-32600,), r"^Invalid request$"),
        citrate=Err((-32700,), r"(?i)parse error"),
    ),
    "method_not_found": Deliberate(
        "anvil's message does not name the method; Citrate uses geth's "
        "`the method foo_bar does not exist/is not available`.",
        anvil=Err((-32601,), r"^Method not found$"),
        citrate=Err((-32601,), r"\bfoo_bar\b"),
    ),
    "batch_with_non_object": Deliberate(
        "A batch holding a non-object (`[{...}, 5]`): anvil rejects the whole batch with one "
        "-32600; JSON-RPC 2.0 (and geth) answer each element, -32600 for the bad one.",
        anvil=Err((-32600,), r"^Invalid request$"),
        citrate="per-element",
    ),
    "oversized_body": Deliberate(
        "anvil's limit is 2 MiB (2,097,152 bytes) and it answers HTTP 200 with -32600; Citrate "
        "answers HTTP 413 like geth (whose limit is 5 MiB). Both serve a 512 KiB body.",
        anvil={"status": 200, "error": Err((-32600,), r"^Invalid request$")},
        citrate={"status": 413, "error": None},
    ),
    "custom_error_message": Deliberate(
        "For a revert that is not Error(string) geth says just `execution reverted`; anvil "
        "appends `custom error 0x<selector>:` and the data decoded as text. `data` is the same.",
        anvil=Err((3,), r"^execution reverted: custom error 0x63a2a81f"),
        citrate=Err((3,), r"^execution reverted$"),
    ),
    "call_insufficient_funds": Deliberate(
        "eth_call moving value the sender does not have: geth's lower-case message with the "
        "address and amounts; anvil's capitalised text.",
        anvil=Err((-32003,), r"^Insufficient funds for gas \* price \+ value$"),
        citrate=Err(POOL_CODES, r"^insufficient funds for (gas \* price \+ value|transfer)"),
    ),
    "unknown_block_state": Deliberate(
        "A state query at a block past the head: geth's `header not found`; anvil's own text.",
        anvil=Err((-32602,), r"^BlockOutOfRangeError: block height is \d+ but requested was \d+$"),
        citrate=Err((-32000,), r"^header not found"),
    ),
    "tx_count_unknown_block": Deliberate(
        "eth_getBlockTransactionCountByNumber past the head: geth answers null, anvil an error.",
        anvil=Err((-32602,), r"^BlockOutOfRangeError"),
        citrate=None,
    ),
    "legacy_wrong_chain_id": Deliberate(
        "anvil accepts an EIP-155 legacy transaction signed for another chain, returns its hash "
        "and silently drops it; Citrate rejects it like geth.",
        anvil="accepted-and-dropped",
        citrate=Err(POOL_CODES, r"^(invalid sender: )?invalid chain id"),
    ),
    "first_block_base_fee": Deliberate(
        "anvil repeats the genesis base fee (1 gwei) in block 1 and applies EIP-1559 from block 2 "
        "on; Citrate, like geth, applies it from genesis (empty genesis: 1 gwei * 7/8).",
        anvil=10**9,
        citrate=875_000_000,
    ),
    "unprotected_legacy": Deliberate(
        "A pre-EIP-155 legacy transaction (no chain id, v = 27/28): anvil accepts it; Citrate "
        "refuses it like geth does without --rpc.allow-unprotected-txs (replayable elsewhere).",
        anvil="accepted",
        citrate=Err(
            (-32000,), r"^only replay-protected \(EIP-155\) transactions allowed over RPC$"
        ),
    ),
    "block_extra_keys": Deliberate(
        "Citrate adds its GhostDAG data to block objects (a Citrate extension).",
        anvil=frozenset(),
        citrate=frozenset({"blueScore", "blueWork", "selectedParent", "mergeParents"}),
    ),
    "safe_finalized_lag": Deliberate(
        "anvil puts `safe` 32 and `finalized` 64 blocks behind the head (one and two epochs, "
        "imitating the beacon chain). The Citrate devnet has one producer process and never "
        "reorders a mined block, so every mined block is final: safe = finalized = latest.",
        anvil=(32, 64),
        citrate=(0, 0),
    ),
}

# eth_sendRawTransaction rejections: (anvil, citrate). anvil's full messages; Citrate uses
# geth's, which may append details after a colon (`nonce too low: next nonce 5, tx nonce 3`).
# Same text on both where anvil already matches geth (not a deliberate difference then).
TX_REJECTIONS: dict[str, tuple[Err, Err]] = {
    "wrong_chain_id_1559": (
        Err((-32003,), r"^invalid chain id for signer$"),
        Err(POOL_CODES, r"^(invalid sender: )?invalid chain id"),
    ),
    "invalid_signature": (  # r = 0: no sender can be recovered
        Err((-32602,), r"^Failed to recover the signer$"),
        Err(POOL_CODES, r"^invalid sender"),
    ),
    "nonce_too_low": (
        Err((-32003,), r"^nonce too low$"),
        Err(POOL_CODES, r"^nonce too low: next nonce \d+, tx nonce \d+$"),
    ),
    "insufficient_funds": (
        Err((-32003,), r"^Insufficient funds for gas \* price \+ value$"),
        Err(POOL_CODES, r"^insufficient funds for gas \* price \+ value"),
    ),
    "intrinsic_gas_too_low": (
        Err((-32000,), r"^intrinsic gas too low$"),
        Err(POOL_CODES, r"^intrinsic gas too low: gas 20000, minimum needed 21000$"),
    ),
    "exceeds_block_gas_limit": (
        Err((-32000,), r"^intrinsic gas too high -- tx.gas_limit > env.block.gas_limit$"),
        Err(POOL_CODES, r"^exceeds block gas limit$"),
    ),
    "fee_cap_below_base_fee": (  # geth would pool it; Citrate, like anvil, refuses it
        Err((-32003,), r"^max fee per gas less than block base fee$"),
        Err(POOL_CODES, r"^max fee per gas less than block base fee"),
    ),
    "tip_above_fee_cap": (
        Err((-32003,), r"^max priority fee per gas higher than max fee per gas$"),
        Err(POOL_CODES, r"^max priority fee per gas higher than max fee per gas"),
    ),
    "already_known": (
        Err((-32003,), r"^transaction already imported$"),
        Err(POOL_CODES, r"^already known$"),
    ),
    "replacement_underpriced": (
        Err((-32003,), r"^replacement transaction underpriced$"),
        Err(POOL_CODES, r"^replacement transaction underpriced$"),
    ),
    "undecodable": (  # anvil: "Failed to decode transaction"; geth: "rlp: ..." text
        Err((-32602,), r"^Failed to decode transaction$"),
        Err((-32602, -32000), r"\S"),
    ),
    "empty": (  # anvil: "Empty transaction data"; geth: "typed transaction too short"
        Err((-32602,), r"^Empty transaction data$"),
        Err((-32602, -32000), r"\S"),
    ),
}


def expected(kind: str, key: str) -> Any:
    """Node `kind`'s expectation for the deliberate difference `key`."""
    entry = DELIBERATE[key]
    return getattr(entry, kind)


def tx_rejection(kind: str, case: str) -> Err:
    anvil, citrate = TX_REJECTIONS[case]
    return {"anvil": anvil, "citrate": citrate}[kind]
