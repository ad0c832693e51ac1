"""ComputeMarket: construction, constants, views, and the helpers the other
``test_compute_market_*`` files share (``Market`` wraps the contract for one chain).

Accounts: ``chain.users[0..2]`` act as requesters, ``chain.users[3..8]`` as providers,
``chain.users[9]`` as an outsider; every user starts with 10,000 SALT.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import pytest
from eth_abi import decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.types import TxReceipt

from citrate_contracts.artifacts import load_artifact

from .harness import ChainUnderTest

SALT = 10**18
MIN_STAKE = 1_000 * SALT
DISPUTE_BOND = 10 * SALT
ALL_TYPES = 0b11111
MODEL_A = keccak(text="llama-3.1-8b")
MODEL_B = keccak(text="sdxl-turbo")
INPUT = keccak(text="ipfs://bafy-input")
OUTPUT = keccak(text="ipfs://bafy-output")
NONCE = keccak(text="nonce")
ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
BID_WINDOW = 60
EXEC_WINDOW = 600
REVEAL_WINDOW = 3600
CHALLENGE_WINDOW = 3600
ARBITRATION_WINDOW = 7 * 86400
ARBITER_ROLE = keccak(text="ARBITER_ROLE")
VERIFIER_ROLE = keccak(text="VERIFIER_ROLE")
ADMIN_ROLE = ZERO32


class JobType(IntEnum):
    Inference = 0
    Embedding = 1
    Training = 2
    LoRA = 3
    Image = 4


class State(IntEnum):
    None_ = 0
    Open = 1
    Assigned = 2
    Committed = 3
    Revealed = 4
    Disputed = 5
    Completed = 6
    Expired = 7
    Cancelled = 8
    TimedOut = 9
    Failed = 10


def split(price: int) -> tuple[int, int, int]:
    """The documented split: treasury and pool rounded down, the dust to the provider."""
    treasury = price * 300 // 10_000
    pool = price * 200 // 10_000
    return price - treasury - pool, treasury, pool


def commitment(job_id: int, output: bytes, nonce: bytes, provider: str) -> bytes:
    from eth_abi import encode

    return keccak(
        encode(["uint256", "bytes32", "bytes32", "address"], [job_id, output, nonce, provider])
    )


def _norm(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return to_checksum_address(value)
    return value


def revert(
    chain: ChainUnderTest, fn: Any, sender: LocalAccount | str, value: int = 0
) -> tuple[str, dict[str, Any]]:
    """``(error name, arguments)`` of the revert ``fn`` causes (addresses checksummed)."""
    err = chain.revert_of(fn, sender, value)
    return err.name, {k: _norm(v) for k, v in err.args.items()}


def _abi_type(param: dict[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + t[len("tuple") :]
    return t


def _checksummed(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return type(value)(_checksummed(v) for v in value)
    return _norm(value)


def _names(abi: list[dict[str, Any]], fn: str) -> list[str]:
    item = next(i for i in abi if i.get("type") == "function" and i["name"] == fn)
    return [c["name"] for c in item["outputs"][0]["components"]]


@dataclass
class Market:
    """The deployed ComputeMarket on ``chain`` with shortcuts for every step of a job."""

    chain: ChainUnderTest

    def __post_init__(self) -> None:
        self.c = self.chain.contract("ComputeMarket")
        self.fn = self.c.functions
        abi = load_artifact("ComputeMarket").abi
        self._job_fields = _names(abi, "getJob")
        self._provider_fields = _names(abi, "getProvider")
        self._bid_fields = _names(abi, "getBids")

    @property
    def address(self) -> str:
        return str(self.c.address)

    def send(self, fn: Any, sender: LocalAccount, value: int = 0) -> TxReceipt:
        return self.chain.send(fn, sender, value)

    def events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        return self.chain.events(receipt, self.c, name)

    # --- reading -----------------------------------------------------------------------------

    def read(self, fn: Any) -> Any:
        """``fn.call()`` as one raw ``eth_call`` (web3's ``call`` costs several round trips,
        which the stateful test, reading after every step, cannot afford)."""
        reply = self.chain._rpc(
            "eth_call", [{"to": self.address, "data": fn._encode_transaction_data()}, "latest"]
        )
        if "error" in reply:
            raise AssertionError(f"{fn.fn_name} reverted: {reply['error']}")
        types = [_abi_type(o) for o in fn.abi["outputs"]]
        values = decode(types, bytes.fromhex(reply["result"][2:]))
        return _checksummed(values[0] if len(values) == 1 else list(values))

    def job(self, job_id: int) -> dict[str, Any]:
        return dict(zip(self._job_fields, self.read(self.fn.getJob(job_id)), strict=True))

    def state(self, job_id: int) -> State:
        return State(self.job(job_id)["state"])

    def provider(self, address: str) -> dict[str, Any]:
        return dict(
            zip(self._provider_fields, self.read(self.fn.getProvider(address)), strict=True)
        )

    def bids(self, job_id: int) -> list[dict[str, Any]]:
        return [
            dict(zip(self._bid_fields, b, strict=True)) for b in self.read(self.fn.getBids(job_id))
        ]

    def credit(self, address: str) -> int:
        return int(self.read(self.fn.creditOf(address)))

    def totals(self) -> dict[str, int]:
        return {
            "escrow": self.read(self.fn.totalEscrow()),
            "staked": self.read(self.fn.totalStaked()),
            "bonds": self.read(self.fn.totalBonds()),
            "credits": self.read(self.fn.totalCredits()),
        }

    def assert_solvent(self) -> None:
        """The contract holds exactly escrow + stakes + bonds + credits."""
        t = self.totals()
        assert self.chain.balance(self.address) == sum(t.values()), t

    # --- providers ---------------------------------------------------------------------------

    def register(
        self,
        who: LocalAccount,
        *,
        stake: int = MIN_STAKE,
        job_types: int = ALL_TYPES,
        any_model: bool = False,
        models: tuple[bytes, ...] = (MODEL_A,),
        max_jobs: int = 4,
    ) -> TxReceipt:
        config = (job_types, any_model, max_jobs, list(models))
        return self.send(self.fn.registerProvider(config), who, stake)

    # --- jobs --------------------------------------------------------------------------------

    @staticmethod
    def spec(
        *,
        job_type: int = JobType.Inference,
        model: bytes = MODEL_A,
        input_hash: bytes = INPUT,
        max_price: int = SALT,
        bid_window: int = BID_WINDOW,
        exec_window: int = EXEC_WINDOW,
        tier: int = 0,
    ) -> tuple[Any, ...]:
        return (job_type, model, input_hash, max_price, bid_window, exec_window, tier)

    def post(
        self, who: LocalAccount, value: int | None = None, **spec: Any
    ) -> tuple[int, TxReceipt]:
        s = self.spec(**spec)
        receipt = self.send(self.fn.postJob(s), who, s[3] if value is None else value)
        (event,) = self.events(receipt, "JobPosted")
        return int(event["jobId"]), receipt

    def bid(self, who: LocalAccount, job_id: int, price: int, latency_ms: int = 1_000) -> TxReceipt:
        return self.send(self.fn.bid(job_id, price, latency_ms), who)

    def assign(self, job_id: int, caller: LocalAccount | None = None) -> TxReceipt:
        return self.send(self.fn.assignBestBid(job_id), caller or self.chain.users[9])

    def commit(
        self, who: LocalAccount, job_id: int, output: bytes = OUTPUT, nonce: bytes = NONCE
    ) -> TxReceipt:
        return self.send(
            self.fn.commitResult(job_id, commitment(job_id, output, nonce, who.address)), who
        )

    def reveal(
        self, who: LocalAccount, job_id: int, output: bytes = OUTPUT, nonce: bytes = NONCE
    ) -> TxReceipt:
        return self.send(self.fn.revealResult(job_id, output, nonce), who)

    def assigned_job(
        self,
        requester: LocalAccount,
        provider: LocalAccount,
        *,
        price: int | None = None,
        **spec: Any,
    ) -> int:
        """Post a job, let ``provider`` bid ``price`` (default maxPrice) and assign it early."""
        job_id, _ = self.post(requester, **spec)
        max_price = spec.get("max_price", SALT)
        self.bid(provider, job_id, max_price if price is None else price)
        self.assign(job_id, requester)
        return job_id

    def revealed_job(
        self,
        requester: LocalAccount,
        provider: LocalAccount,
        *,
        price: int | None = None,
        **spec: Any,
    ) -> int:
        job_id = self.assigned_job(requester, provider, price=price, **spec)
        self.commit(provider, job_id)
        self.reveal(provider, job_id)
        return job_id


@pytest.fixture
def market(chain: ChainUnderTest) -> Market:
    return Market(chain)


# ----------------------------------------------------------------------------------- tests


def test_constructor_wires_roles_and_payees(chain: ChainUnderTest, market: Market) -> None:
    f = market.fn
    assert f.treasury().call() == chain.treasury.address
    assert f.routingPool().call() == chain.routing_pool.address
    assert f.hasRole(ADMIN_ROLE, chain.admin.address).call()
    assert f.hasRole(ARBITER_ROLE, chain.admin.address).call()
    assert f.ARBITER_ROLE().call() == ARBITER_ROLE
    assert f.VERIFIER_ROLE().call() == VERIFIER_ROLE
    assert f.getRoleAdmin(VERIFIER_ROLE).call() == ADMIN_ROLE
    # nobody verifies until the admin says so (the admin, an arbiter, must not dispute too)
    assert not f.hasRole(VERIFIER_ROLE, chain.admin.address).call()
    assert not f.hasRole(ADMIN_ROLE, chain.users[0].address).call()
    assert not f.paused().call()
    assert market.totals() == {"escrow": 0, "staked": 0, "bonds": 0, "credits": 0}
    assert f.jobCount().call() == 0


def test_constants(market: Market) -> None:
    f = market.fn
    assert f.MIN_PROVIDER_STAKE().call() == MIN_STAKE
    assert f.DISPUTE_BOND().call() == DISPUTE_BOND
    assert (f.TREASURY_FEE_BPS().call(), f.ROUTING_FEE_BPS().call(), f.BPS().call()) == (
        300,
        200,
        10_000,
    )
    weights = (
        f.PRICE_WEIGHT().call(),
        f.REPUTATION_WEIGHT().call(),
        f.LOAD_WEIGHT().call(),
        f.LATENCY_WEIGHT().call(),
    )
    assert weights == (40, 30, 20, 10)
    assert (f.INITIAL_REPUTATION().call(), f.MAX_REPUTATION().call()) == (5_000, 10_000)
    assert f.timeoutSlashBps().call() == 500
    assert f.wrongResultSlashBps().call() == 1_000
    assert (f.revealWindow().call(), f.challengeWindow().call(), f.arbitrationWindow().call()) == (
        REVEAL_WINDOW,
        CHALLENGE_WINDOW,
        ARBITRATION_WINDOW,
    )
    assert (f.MIN_BID_WINDOW().call(), f.MAX_BID_WINDOW().call()) == (30, 86_400)
    assert (f.MIN_EXEC_WINDOW().call(), f.MAX_EXEC_WINDOW().call()) == (60, 7 * 86_400)
    assert f.MAX_BIDS_PER_JOB().call() == 16
    assert f.JOB_TYPE_COUNT().call() == 5


def test_constructor_rejects_bad_addresses(chain: ChainUnderTest) -> None:
    from web3.utils.address import get_create_address

    deployer = chain.users[0]
    # the address the deployment would get (eth_call uses the deployer's current nonce)
    itself = get_create_address(
        deployer.address, chain.w3.eth.get_transaction_count(deployer.address)
    )
    ok = chain.admin.address
    for args, error in (
        ((ZERO_ADDRESS, ok, ok), "ZeroAddress"),
        ((ok, ZERO_ADDRESS, ok), "ZeroPayee"),
        ((ok, ok, ZERO_ADDRESS), "ZeroPayee"),
        ((ok, itself, ok), "PayeeIsThisContract"),
        ((ok, ok, itself), "PayeeIsThisContract"),
    ):
        assert chain.deploy_revert("ComputeMarket", deployer, *args).name == error, args


def test_runtime_code_fits_eip170(chain: ChainUnderTest, market: Market) -> None:
    code = chain.w3.eth.get_code(market.c.address)
    assert 0 < len(code) <= 24_576
    assert len(
        bytes.fromhex(load_artifact("ComputeMarket").deployed_bytecode.removeprefix("0x"))
    ) == len(code)


def test_split_price_view_matches_the_documented_rounding(market: Market) -> None:
    for price in (0, 1, 33, 34, 10**18 + 7, 999_999_937, 2**200 + 12345):
        assert tuple(market.fn.splitPrice(price).call()) == split(price)
        assert sum(split(price)) == price


def test_compute_commitment_binds_job_and_provider(chain: ChainUnderTest, market: Market) -> None:
    p1, p2 = chain.users[3].address, chain.users[4].address
    got = market.fn.computeCommitment(7, OUTPUT, NONCE, p1).call()
    assert got == commitment(7, OUTPUT, NONCE, p1)
    assert got != market.fn.computeCommitment(8, OUTPUT, NONCE, p1).call()
    assert got != market.fn.computeCommitment(7, OUTPUT, NONCE, p2).call()


def test_unknown_job_views_revert(chain: ChainUnderTest, market: Market) -> None:
    for fn in (
        market.fn.getJob(1),
        market.fn.getBids(1),
        market.fn.scoreBid(1, chain.users[3].address, 1, 1),
    ):
        err = chain.revert_of(fn, chain.users[0])
        assert err.name == "UnknownJob"
        assert err.args == {"jobId": 1}
        assert err.message == "UnknownJob: There is no job 1."


def test_paged_views(chain: ChainUnderTest, market: Market) -> None:
    requester = chain.users[0]
    ids = [market.post(requester)[0] for _ in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert market.fn.getOpenJobs(0, 100).call() == [ids, 5]
    assert market.fn.getOpenJobs(1, 2).call() == [[2, 3], 5]
    assert market.fn.getOpenJobs(4, 10).call() == [[5], 5]
    assert market.fn.getOpenJobs(5, 10).call() == [[], 5]
    assert market.fn.getOpenJobs(2**255, 2**255).call() == [[], 5]
    assert market.fn.getRequesterJobs(requester.address, 0, 3).call() == [[1, 2, 3], 5]
    assert market.fn.getRequesterJobs(chain.users[1].address, 0, 3).call() == [[], 0]
    # leaving the open list swaps the last id into the hole
    market.send(market.fn.cancelJob(2), requester)
    assert market.fn.getOpenJobs(0, 100).call() == [[1, 5, 3, 4], 4]
    market.send(market.fn.cancelJob(4), requester)
    assert market.fn.getOpenJobs(0, 100).call() == [[1, 5, 3], 3]
    market.send(market.fn.cancelJob(1), requester)
    market.send(market.fn.cancelJob(5), requester)
    market.send(market.fn.cancelJob(3), requester)
    assert market.fn.getOpenJobs(0, 100).call() == [[], 0]


def test_paged_views_cap_the_page_size(chain: ChainUnderTest, market: Market) -> None:
    # 101 providers would take too long; the cap is visible on any list through the constant.
    assert market.fn.MAX_PAGE_SIZE().call() == 100
    for who in chain.users[3:6]:
        market.register(who)
    assert market.fn.providerCount().call() == 3
    assert market.fn.getProviders(0, 2**256 - 1).call() == [
        [u.address for u in chain.users[3:6]],
        3,
    ]
    assert market.fn.getProviders(2, 5).call() == [[chain.users[5].address], 3]


def test_provider_jobs_view(chain: ChainUnderTest, market: Market) -> None:
    requester, provider = chain.users[0], chain.users[3]
    market.register(provider)
    a = market.assigned_job(requester, provider)
    market.post(requester)
    b = market.assigned_job(requester, provider)
    assert market.fn.getProviderJobs(provider.address, 0, 10).call() == [[a, b], 2]
    assert market.fn.getProviderJobs(provider.address, 1, 10).call() == [[b], 2]
    assert market.fn.getProviderJobs(chain.users[4].address, 0, 10).call() == [[], 0]


def test_remaining_bounds_constants(market: Market) -> None:
    f = market.fn
    assert f.ASSIGN_WINDOW().call() == 3_600
    assert (f.MAX_CONCURRENT_JOBS().call(), f.MAX_MODELS_PER_PROVIDER().call()) == (64, 32)
    assert (f.MIN_PROTOCOL_WINDOW().call(), f.MAX_PROTOCOL_WINDOW().call()) == (60, 30 * 86_400)
    assert (f.MIN_SLASH_BPS().call(), f.MAX_SLASH_BPS().call()) == (100, 5_000)
    assert f.MAX_VERIFICATION_TIER().call() == 2
    assert f.DEFAULT_ADMIN_ROLE().call() == ADMIN_ROLE


def test_role_management(chain: ChainUnderTest, market: Market) -> None:
    f, admin, judge = market.fn, chain.admin, chain.users[8]
    assert f.supportsInterface(bytes.fromhex("7965db0b")).call()  # IAccessControl
    assert f.supportsInterface(bytes.fromhex("01ffc9a7")).call()  # IERC165
    assert f.getRoleAdmin(ARBITER_ROLE).call() == ADMIN_ROLE
    receipt = market.send(f.grantRole(ARBITER_ROLE, judge.address), admin)
    assert market.events(receipt, "RoleGranted") == [
        {"role": ARBITER_ROLE, "account": judge.address, "sender": admin.address}
    ]
    receipt = market.send(f.revokeRole(ARBITER_ROLE, judge.address), admin)
    assert market.events(receipt, "RoleRevoked") == [
        {"role": ARBITER_ROLE, "account": judge.address, "sender": admin.address}
    ]
    assert revert(chain, f.renounceRole(ARBITER_ROLE, admin.address), judge) == (
        "AccessControlBadConfirmation",
        {},
    )
    assert revert(chain, f.revokeRole(ARBITER_ROLE, admin.address), judge) == (
        "AccessControlUnauthorizedAccount",
        {"account": judge.address, "neededRole": ADMIN_ROLE},
    )
    # the admin may give up arbitration; then nobody can rule (expireDispute still settles)
    market.send(f.renounceRole(ARBITER_ROLE, admin.address), admin)
    assert not f.hasRole(ARBITER_ROLE, admin.address).call()


def test_pause_state_errors(chain: ChainUnderTest, market: Market) -> None:
    assert revert(chain, market.fn.unpause(), chain.admin) == ("PauseUnchanged", {"paused": False})
    market.send(market.fn.pause(), chain.admin)
    assert revert(chain, market.fn.pause(), chain.admin) == ("PauseUnchanged", {"paused": True})
    err = chain.revert_of(market.fn.postJob(market.spec()), chain.users[0], SALT)
    assert err.message.startswith("MarketPaused: The market is paused: no new registrations")


def test_invalid_state_message_names_the_states(chain: ChainUnderTest, market: Market) -> None:
    requester = chain.users[0]
    job_id, _ = market.post(requester)
    market.send(market.fn.cancelJob(job_id), requester)
    err = chain.revert_of(market.fn.cancelJob(job_id), requester)
    assert err.message == (
        "InvalidJobState: Job 1 is in state 8 (1 Open, 2 Assigned, 3 Committed, 4 Revealed, "
        "5 Disputed, 6 Completed, 7 Expired, 8 Cancelled, 9 TimedOut, 10 Failed), "
        "which does not allow this action."
    )
