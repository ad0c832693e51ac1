"""The ComputeMarket client's pieces that need no chain: ABI coding (checked against web3),
amounts, model ids, URL redaction, revert messages, RPC failures and wallet signing.

Everything against a chain (views, transactions, events, the contract's own commitment) runs in
`tests/e2e/compute/` on a real devnet.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from citrate_compute.errors import ComputeValueError
from citrate_compute.jobs import JobType
from citrate_compute.market import (
    MIN_PROVIDER_STAKE,
    ChainUnavailable,
    ContractAbi,
    JobSpec,
    MarketClient,
    Rpc,
    RpcError,
    ServiceConfig,
    SignerUnavailable,
    WalletSigner,
    _revert_error,
    commitment_of,
    format_salt,
    model_id,
    parse_salt,
    redact_url,
)
from citrate_contracts.artifacts import load_artifact
from citrate_crypto import KdfParams, Wallet

DEV_PHRASE = "test test test test test test test test test test test junk"
PASSWORD = "Correct-Horse-Battery-9"
ACCOUNT0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.fixture(scope="module")
def abi() -> ContractAbi:
    return ContractAbi(load_artifact("ComputeMarket").abi)


@pytest.fixture(scope="module")
def web3_market() -> Any:
    from web3 import Web3

    return Web3().eth.contract(address="0x" + "11" * 20, abi=load_artifact("ComputeMarket").abi)


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------ ABI


def test_calls_encode_as_web3_encodes_them(abi: ContractAbi, web3_market: Any) -> None:
    spec = JobSpec(JobType.EMBEDDING, model_id("m"), b"\x02" * 32, 10**17, 45, 90, 2)
    service = ServiceConfig(frozenset({JobType.INFERENCE, JobType.LORA}), 3, (b"\x05" * 32,))
    cases: list[tuple[str, list[Any]]] = [
        ("postJob", [spec.as_tuple()]),
        ("registerProvider", [service.as_tuple()]),
        ("bid", [7, 123, 4_000]),
        ("revealResult", [7, b"\x03" * 32, b"\x04" * 32]),
        ("withdraw", [ACCOUNT0]),
    ]
    for name, args in cases:
        ours = abi.encode_call(name, args)
        theirs = web3_market.encode_abi(name, args=args)
        assert "0x" + ours.hex() == theirs, name
    assert service.mask == 0b1001


def test_events_decode_as_web3_decodes_them(abi: ContractAbi, web3_market: Any) -> None:
    provider = "0x" + "ab" * 20
    log = {
        "address": web3_market.address,
        "topics": [
            "0x" + abi.event_topics["JobCompleted"].hex(),
            "0x" + (42).to_bytes(32, "big").hex(),
            "0x" + bytes(12).hex() + provider[2:],
        ],
        "data": "0x" + encode(["uint256"] * 5, [10, 9, 1, 0, 5]).hex(),
        "blockNumber": "0x7",
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": "0x1",
        "blockHash": "0x" + "ef" * 32,
        "transactionIndex": "0x0",
        "removed": False,
    }
    event = abi.decode_log(log)
    assert event is not None and event.name == "JobCompleted"
    assert (event.block_number, event.log_index) == (7, 1)
    reference = web3_market.events.JobCompleted().process_log(log)
    assert event.args == dict(reference["args"])
    assert abi.decode_log({**log, "topics": ["0x" + "00" * 32]}) is None


def test_struct_results_decode_to_dicts_by_field_name(abi: ContractAbi) -> None:
    values = (10**21, True, False, 3, 5000, 1, 0, 2, 4, 0, 1, 99)
    data = encode(
        ["(uint256,bool,bool,uint8,uint16,uint16,uint16,uint16,uint32,uint32,uint32,uint64)"],
        [values],
    )
    decoded = abi.decode_result("getProvider", data)
    assert decoded["stake"] == 10**21 and decoded["reputation"] == 5000
    assert decoded["jobsCompleted"] == 4 and decoded["registeredAt"] == 99


def test_the_commitment_is_the_abi_encoding_hash() -> None:
    output, nonce = b"\x09" * 32, b"\x0a" * 32
    packed = (5).to_bytes(32, "big") + output + nonce + bytes(12) + bytes.fromhex(ACCOUNT0[2:])
    assert commitment_of(5, output, nonce, ACCOUNT0.lower()) == keccak(packed)


# ------------------------------------------------------------------------------ values


@given(st.integers(min_value=0, max_value=10**30))
def test_salt_amounts_round_trip_exactly(wei: int) -> None:
    assert parse_salt(format_salt(wei)) == wei


@pytest.mark.parametrize(
    ("text", "wei"),
    [("1000", 10**21), ("1,000", 10**21), ("0.5", 5 * 10**17), (".25", 25 * 10**16)],
)
def test_salt_amounts_parse(text: str, wei: int) -> None:
    assert parse_salt(text) == wei


@pytest.mark.parametrize("text", ["", "-1", "1e3", "0.1234567890123456789", "abc", "1.2.3"])
def test_bad_salt_amounts_are_refused(text: str) -> None:
    with pytest.raises(ComputeValueError, match="is not a SALT amount"):
        parse_salt(text)


def test_format_salt_groups_thousands() -> None:
    assert format_salt(MIN_PROVIDER_STAKE) == "1,000"
    assert format_salt(10**15) == "0.001"


def test_model_ids() -> None:
    registry_id = "0x" + "ab" * 32
    assert model_id(registry_id) == bytes.fromhex("ab" * 32)
    assert model_id("gemma-3-270m") == keccak(text="gemma-3-270m")
    assert model_id(b"\x01" * 32) == b"\x01" * 32
    with pytest.raises(ComputeValueError, match="must not be empty"):
        model_id("  ")
    with pytest.raises(ComputeValueError, match="32 bytes"):
        model_id(b"\x01")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@rpc.example.com/v3/KEY?x=1", "https://rpc.example.com"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://[::1]:8545/", "http://[::1]:8545"),
        ("not a url", "the configured URL"),
    ],
)
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# ------------------------------------------------------------------------------ reverts


def test_common_reverts_are_explained_in_salt() -> None:
    selector = keccak(text="InsufficientStake(uint256,uint256)")[:4]
    data = selector + encode(["uint256", "uint256"], [MIN_PROVIDER_STAKE, 999 * 10**18])
    error = _revert_error(data, what="registerProvider")
    assert error.name == "InsufficientStake" and not error.sent
    assert str(error).startswith(
        "registerProvider: a provider stake must be at least 1,000 SALT (this one is 999 SALT);"
        " nothing was sent"
    )
    assert error.hint == "stake at least 1,000 SALT (--stake)"


def test_other_reverts_carry_the_contracts_notice() -> None:
    data = keccak(text="SelfDealing()")[:4]
    error = _revert_error(data, what="bid")
    assert str(error) == "bid: SelfDealing: A provider cannot bid on its own job.; nothing was sent"
    unknown = _revert_error(b"\xde\xad\xbe\xef", what="bid")
    assert unknown.name == "unknown" and "unrecognised error data" in str(unknown)


# ------------------------------------------------------------------------------ RPC


def test_an_unreachable_node_is_named_without_credentials(closed_url: str) -> None:
    port = closed_url.rsplit(":", 1)[1]
    rpc = Rpc(f"http://alice:hunter2@127.0.0.1:{port}/v3/APIKEY", timeout=5)
    try:
        with pytest.raises(ChainUnavailable) as failed:
            rpc.request("eth_chainId")
    finally:
        rpc.close()
    text = str(failed.value)
    assert f"the node at `http://127.0.0.1:{port}` is not reachable" in text
    assert "hunter2" not in text and "APIKEY" not in text and "alice" not in text


def test_a_non_http_url_is_refused() -> None:
    with pytest.raises(ComputeValueError, match="is not an http"):
        Rpc("ws://127.0.0.1:8545")


class _Answers(http.server.BaseHTTPRequestHandler):
    """TEST DOUBLE: a server that answers what the test sets in `body`."""

    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[tuple[str, type[_Answers]]]:
    handler = type("Handler", (_Answers,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_answers_that_are_not_json_rpc_are_reported(
    answering: tuple[str, type[_Answers]],
) -> None:
    url, handler = answering
    rpc = Rpc(url, timeout=5)
    try:
        handler.body = b"<html>hello</html>"
        with pytest.raises(ChainUnavailable, match="without JSON"):
            rpc.request("eth_chainId")
        handler.body = b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "no"}}'
        with pytest.raises(RpcError, match=r"`eth_chainId` failed: no \(code -32601\)") as e:
            rpc.request("eth_chainId")
        assert e.value.code == -32601
        handler.body = b'{"jsonrpc": "2.0", "id": 1, "result": "zz"}'
        with pytest.raises(RpcError, match="not a number"):
            rpc.quantity("eth_chainId")
    finally:
        rpc.close()


# ------------------------------------------------------------------------------ signing


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> Wallet:
    directory = tmp_path_factory.mktemp("market-wallet") / "wallet"
    wallet = Wallet(directory, kdf=KdfParams.owasp_minimum())
    wallet.recover(DEV_PHRASE, PASSWORD, accounts=2)
    return wallet


def test_the_wallet_signs_eip1559_transactions(wallet: Wallet) -> None:
    signer = WalletSigner(wallet=wallet)
    assert signer.address == ACCOUNT0
    tx = {
        "type": 2,
        "chainId": 1337,
        "nonce": 3,
        "to": "0x" + "22" * 20,
        "value": 5,
        "data": b"\x01\x02",
        "gas": 50_000,
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    with pytest.raises(SignerUnavailable, match="the wallet is locked"):
        signer.sign_transaction(tx)
    signer.unlock(PASSWORD)
    try:
        raw = signer.sign_transaction(tx)
        assert Account.recover_transaction(raw) == ACCOUNT0
        signer.authorize_value(10**24)  # no second factor configured: any value is allowed
    finally:
        signer.lock()
    assert not signer.unlocked


def test_a_signer_names_wrong_accounts_and_missing_wallets(wallet: Wallet, tmp_path: Path) -> None:
    with pytest.raises(SignerUnavailable, match="is not an account of this wallet"):
        WalletSigner(wallet=wallet, address="0x" + "33" * 20)
    with pytest.raises(SignerUnavailable, match="no wallet at"):
        WalletSigner(tmp_path / "nowhere")


def test_writes_need_a_signer_and_a_small_stake_never_reaches_the_node(
    wallet: Wallet, closed_url: str
) -> None:
    service = ServiceConfig(frozenset({JobType.INFERENCE}), 1, any_model=True)
    with (
        MarketClient(closed_url, address="0x" + "11" * 20) as market,
        pytest.raises(SignerUnavailable, match="no account to sign with"),
    ):
        market.bid(1, 1, 1)
    # The node is down: a refusal before any request proves nothing was attempted.
    with MarketClient(
        closed_url, signer=WalletSigner(wallet=wallet), address="0x" + "11" * 20
    ) as market:
        with pytest.raises(ComputeValueError, match="at least 1,000 SALT"):
            market.register_provider(service, MIN_PROVIDER_STAKE - 1)
        with pytest.raises(ChainUnavailable):
            market.register_provider(service, MIN_PROVIDER_STAKE)
