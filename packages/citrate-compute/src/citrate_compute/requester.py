"""The requester's side: post a job with its escrow, follow it, fetch and verify its result.

`RequesterClient.submit` checks everything it can before anything leaves the machine (job
type, model, price, windows, tier, the input document and its size), simulates `postJob` with
the input's hash, then uploads the input to the content store and posts the job with its max
price as escrow. A refused job sends nothing.

`status` reads the job, its bids and, once a result is revealed, the output document fetched by
its `outputHash` and verified against it. `assign` (the requester may assign its job before the
bid deadline), `complete`, `cancel`, `timeout`, `dispute` and `withdraw` are the contract's
calls, each simulated first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citrate_compute.content import (
    ContentClient,
    ContentError,
    canonical_json,
    hash_document,
    input_document,
    parse_document,
)
from citrate_compute.errors import ComputeValueError, ResultNotReady
from citrate_compute.jobs import JobType
from citrate_compute.market import (
    Bid,
    Job,
    JobSpec,
    JobState,
    MarketClient,
    Receipt,
    model_id,
)

# ComputeMarket's bounds (seconds); checked here so a bad value never costs a round trip.
MIN_BID_WINDOW, MAX_BID_WINDOW = 30, 86_400
MIN_EXEC_WINDOW, MAX_EXEC_WINDOW = 60, 7 * 86_400
MAX_TIER = 2


@dataclass(frozen=True)
class Submission:
    """A posted job: its id, the input's CID and hash, and the postJob receipt."""

    job_id: int
    input_cid: str
    input_hash: str
    receipt: Receipt


@dataclass
class JobView:
    """A job as its requester sees it."""

    job: Job
    bids: list[Bid]
    now: int
    output: bytes | None = None
    output_error: str | None = None
    split: tuple[int, int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"job": self.job.to_json(), "chain_time": self.now}
        doc["bids"] = [
            {
                "provider": b.provider,
                "price": str(b.price),
                "estimated_latency_ms": b.estimated_latency_ms,
                "score": b.score,
            }
            for b in self.bids
        ]
        if self.output is not None:
            try:
                doc["output"] = parse_document(self.output, "the output")
            except ComputeValueError:
                doc["output_bytes"] = len(self.output)
        if self.output_error is not None:
            doc["output_error"] = self.output_error
        if self.split is not None:
            doc["split"] = {
                "provider": str(self.split[0]),
                "treasury": str(self.split[1]),
                "routing_pool": str(self.split[2]),
            }
        return doc


def check_spec(max_price: int, bid_window: int, exec_window: int, tier: int) -> None:
    """Raises ComputeValueError for terms ComputeMarket would refuse."""
    if max_price <= 0:
        raise ComputeValueError(
            "the max price must be more than 0 SALT", hint="pass --max-price, e.g. 0.01"
        )
    if not MIN_BID_WINDOW <= bid_window <= MAX_BID_WINDOW:
        raise ComputeValueError(
            f"bid window `{bid_window}` s is not between {MIN_BID_WINDOW} and {MAX_BID_WINDOW}"
        )
    if not MIN_EXEC_WINDOW <= exec_window <= MAX_EXEC_WINDOW:
        raise ComputeValueError(
            f"execution window `{exec_window}` s is not between {MIN_EXEC_WINDOW} and "
            f"{MAX_EXEC_WINDOW}"
        )
    if not 0 <= tier <= MAX_TIER:
        raise ComputeValueError(
            f"verification tier `{tier}` is not 0, 1 or 2",
            hint="0 commitment only, 1 spot check, 2 full re-execution",
        )


class RequesterClient:
    """Posts and follows jobs for the market client's account.

    Args:
        market: a `MarketClient` with the requester's signer (views work without one).
        content: the content store client.
    """

    def __init__(self, market: MarketClient, content: ContentClient) -> None:
        self.market = market
        self.content = content

    def prepare(
        self,
        job_type: JobType | str,
        model: str | bytes,
        *,
        document: Mapping[str, Any] | None = None,
        prompt: str | None = None,
        max_price: int,
        bid_window: int = 60,
        exec_window: int = 600,
        tier: int = 1,
        max_tokens: int = 64,
    ) -> tuple[JobSpec, bytes]:
        """The job's terms and its input bytes, checked; nothing is sent.

        Raises:
            ComputeValueError / MalformedInput / ContentTooLarge: refused before sending.
        """
        kind = job_type if isinstance(job_type, JobType) else _job_type(job_type)
        check_spec(max_price, bid_window, exec_window, tier)
        doc = input_document(kind, prompt=prompt, document=document, max_tokens=max_tokens)
        data = canonical_json(doc)
        if len(data) > self.content.max_input_bytes:
            from citrate_compute.content import ContentTooLarge

            raise ContentTooLarge(
                f"the input document is {len(data)} bytes, more than the limit of "
                f"{self.content.max_input_bytes} bytes",
                hint="send a smaller document",
            )
        spec = JobSpec(
            job_type=kind,
            model_id=model_id(model),
            input_hash=hash_document(data),
            max_price=max_price,
            bid_window=bid_window,
            exec_window=exec_window,
            verification_tier=tier,
        )
        return spec, data

    def submit(
        self,
        job_type: JobType | str,
        model: str | bytes,
        *,
        document: Mapping[str, Any] | None = None,
        prompt: str | None = None,
        max_price: int,
        bid_window: int = 60,
        exec_window: int = 600,
        tier: int = 1,
        max_tokens: int = 64,
    ) -> Submission:
        """Upload the input and post the job, escrowing `max_price` wei.

        Raises:
            ComputeValueError: bad terms or input (nothing sent).
            TransactionReverted: the contract refuses (nothing sent when refused in simulation).
            ContentError: the input could not be stored (nothing posted).
        """
        spec, data = self.prepare(
            job_type,
            model,
            document=document,
            prompt=prompt,
            max_price=max_price,
            bid_window=bid_window,
            exec_window=exec_window,
            tier=tier,
            max_tokens=max_tokens,
        )
        # Simulate first: a job the contract refuses is not worth an upload.
        self.market.simulate("postJob", spec.as_tuple(), value=spec.max_price)
        ref = self.content.put(data, what="the input document")
        if ref.digest != spec.input_hash:
            raise ContentError(
                f"the stored input has hash {ref.hex}, expected 0x{spec.input_hash.hex()}",
                hint="the content store does not hash like ipfs add --raw-leaves",
            )
        job_id, receipt = self.market.post_job(spec)
        return Submission(job_id, ref.cid, ref.hex, receipt)

    def status(self, job_id: int, *, fetch_output: bool = True) -> JobView:
        """The job, its bids, and its verified output once revealed."""
        job = self.market.job(job_id)
        view = JobView(job=job, bids=self.market.bids(job_id), now=self.market.chain_time())
        if job.price:
            view.split = self.market.split_price(job.price)
        if fetch_output and job.output_hash != bytes(32):
            try:
                view.output = self.content.get(
                    job.output_hash,
                    limit=self.content.max_output_bytes,
                    what=f"the output of job {job_id}",
                )
            except ContentError as exc:
                view.output_error = exc.message
        return view

    def result(self, job_id: int) -> bytes:
        """The revealed output document, fetched by its hash and verified.

        Raises:
            ResultNotReady: nothing revealed.
            ContentError: the output is not in the store, or does not match its hash.
        """
        job = self.market.job(job_id)
        if job.output_hash == bytes(32):
            raise ResultNotReady(
                f"job {job_id} is {job.state.name.lower()} and has no revealed result",
                hint=_next_step(job),
            )
        return self.content.get(
            job.output_hash, limit=self.content.max_output_bytes, what=f"the output of job {job_id}"
        )

    def assign(self, job_id: int) -> Receipt:
        """Assign the job to its best bid now (the requester may before the bid deadline)."""
        return self.market.assign_best_bid(job_id)

    def complete(self, job_id: int) -> Receipt:
        """Accept the revealed result and pay: 95 % provider, 3 % treasury, 2 % routing."""
        return self.market.complete_job(job_id)

    def cancel(self, job_id: int) -> Receipt:
        return self.market.cancel_job(job_id)

    def timeout(self, job_id: int) -> Receipt:
        """Time out a job whose provider missed its deadline: escrow + slash come back."""
        return self.market.timeout_job(job_id)

    def dispute(self, job_id: int) -> Receipt:
        """Dispute the revealed result with the bond (the arbiter rules)."""
        return self.market.dispute_result(job_id)

    def withdraw(self) -> Receipt | None:
        """Withdraw refunds and other credits owed to this account (None if nothing is owed)."""
        if self.market.credit_of(self.market.account) == 0:
            return None
        return self.market.withdraw()


def _job_type(value: str) -> JobType:
    try:
        return JobType.parse(value)
    except ValueError as exc:
        raise ComputeValueError(str(exc)) from None


def _next_step(job: Job) -> str:
    state = job.state
    if state == JobState.OPEN:
        return "wait for bids, or assign it now with `citrate compute assign`"
    if state in (JobState.ASSIGNED, JobState.COMMITTED):
        return "wait for the provider; after its deadline `citrate compute timeout` refunds you"
    if state in (JobState.EXPIRED, JobState.CANCELLED, JobState.TIMED_OUT, JobState.FAILED):
        return "the escrow was credited back: `citrate compute withdraw` sends it"
    return "check `citrate compute status`"


__all__ = [
    "JobView",
    "RequesterClient",
    "ResultNotReady",
    "Submission",
    "check_spec",
]
