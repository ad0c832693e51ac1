// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {PullPayments} from "./lib/PullPayments.sol";

/// @title ComputeMarket: Citrate's GPU compute economy
/// @notice Providers stake SALT and declare the job types and models they serve; requesters post
/// jobs with escrowed payment; providers bid; the best bid is assigned; the provider commits to a
/// result and reveals it; after a challenge window the escrow pays 95 % to the provider, 3 % to
/// the treasury and 2 % to the routing incentive pool. Timeouts and results proven wrong slash the
/// provider's stake and refund the requester.
/// @dev Money flow. Every wei the contract holds is in exactly one bucket: a job's escrow
/// (`totalEscrow`, `maxPrice` per non-terminal job), a provider's stake (`totalStaked`), a
/// dispute bond (`totalBonds`) or an outstanding credit (`totalCredits`, PullPayments). Only
/// PullPayments.withdraw, withdrawStake and the excess refund of postJob send ether, each at the
/// end of a `nonReentrant` function. Ether forced in (selfdestruct) only makes the balance larger
/// than the sum.
///
/// Job state machine (every transition checks the current state; terminal states are absorbing,
/// so a job's escrow is released exactly once):
///
///     from        by                                             to
///     (post)      postJob                                        Open
///     Open        assignBestBid, an eligible bid, in time        Assigned
///     Open        assignBestBid, none eligible / ASSIGN_WINDOW   Expired     (escrow → requester)
///     Open        cancelJob (requester)                          Cancelled   (escrow → requester)
///     Assigned    commitResult (provider, by execDeadline)       Committed
///     Committed   revealResult (provider, by revealDeadline)     Revealed
///     Assigned    timeoutJob (after execDeadline)                TimedOut    (escrow + slash → requester)
///     Committed   timeoutJob (after revealDeadline)              TimedOut    (escrow + slash → requester)
///     Revealed    completeJob (requester, or anyone after
///                 challengeDeadline)                             Completed   (95/3/2 + unused escrow)
///     Revealed    disputeResult (by challengeDeadline, bond)     Disputed
///     Disputed    resolveDispute(correct)                        Completed   (95/3/2, bond → provider)
///     Disputed    resolveDispute(wrong)                          Failed      (escrow → requester,
///                                                                             bond + slash → disputer)
///     Disputed    expireDispute (after arbitrationDeadline)      Completed   (95/3/2, bond → provider)
///
/// Splits (completion): treasuryFee = price·300/10000 and poolFee = price·200/10000, both rounded
/// down; the provider receives price − treasuryFee − poolFee, so the rounding dust goes to the
/// provider and the three parts always sum to the price. The unused escrow (maxPrice − price)
/// goes back to the requester.
///
/// Slashes are a share of the provider's stake at the time of the slash (rounded down, the
/// provider keeps the dust), with the rate fixed when the job was posted. A timeout slash goes to
/// the requester (compensation for the lost time); a proven-wrong slash goes to the disputer (the
/// bounty that pays verifiers for re-executing jobs). Both refund the requester's whole escrow.
///
/// Reputation (basis points, 0–10000, new providers start at 5000 and keep their record across
/// deregistration): a completed job moves it 5 % of the way to 10000
/// (r += (10000 − r) / 20); a timeout removes a fifth (r −= r / 5); a result proven wrong halves
/// it (r −= r / 2). Rounding is down in every case.
///
/// Bid score (integer, 0–1,000,000; higher wins):
///     40·priceScore + 30·reputation + 20·loadScore + 10·latencyScore, where
///     priceScore   = (maxPrice − price) · 10000 / maxPrice
///     loadScore    = (maxConcurrentJobs − activeJobs) · 10000 / maxConcurrentJobs
///     latencyScore = (execWindow·1000 − estimatedLatencyMs) · 10000 / (execWindow·1000).
/// assignBestBid recomputes every score with the providers' current reputation and load, skips
/// bids whose provider can no longer take the job, and breaks ties by the lower price, then by
/// the earlier bid slot. A job holds at most MAX_BIDS_PER_JOB bids; once it is full, a new bid
/// first replaces a bid whose provider can no longer take the job (no longer registered, stake
/// below the minimum, no longer serving it or at capacity) and otherwise must outscore (at bid
/// time) the lowest one, which it evicts, so extra bidders cannot crowd out better offers.
///
/// Bids are commitments. Each open bid (on a job still Open) reserves one of the provider's
/// maxConcurrentJobs slots (activeJobs + openBids ≤ maxConcurrentJobs when bidding) and locks
/// its stake like an active job: withdrawStake reverts while openBids or activeJobs is non-zero,
/// and updateProvider may only widen what the provider serves (job types, models, capacity ≥
/// activeJobs + openBids). So a bid stays eligible until its job leaves Open, and a provider
/// cannot fill a job's bid list and then walk away to make it expire; a winning bid must be
/// executed or its stake is slashed. A job's bids stop counting when it is assigned, expires or
/// is cancelled (and an evicted bid at once). Bids never lock a stake for long: anyone may call
/// assignBestBid after the bid deadline, and ASSIGN_WINDOW later it expires the job, even while
/// the market is paused.
///
/// Disputes: the requester, or a holder of VERIFIER_ROLE other than the assigned provider, may
/// dispute a revealed result with DISPUTE_BOND. The admin grants VERIFIER_ROLE to verifying
/// providers, which re-execute a share of jobs off chain (as each job's verificationTier asks)
/// and dispute a mismatch; a verifier proven right earns the wrong-result slash, one proven wrong
/// loses its bond to the provider. Anyone else may not dispute: a rival could otherwise hold any
/// provider's payment hostage for the price of the bond.
///
/// Trust: ARBITER_ROLE holders decide disputes. If none rules within the job's arbitration
/// window, anyone may call expireDispute and the revealed result stands: the job is paid exactly
/// as completeJob pays it (95/3/2, unused escrow to the requester, reputation as on completion)
/// and the bond goes to the provider. A dispute therefore never gets compute for free nor blocks
/// a provider's pay for longer than the arbitration window, and no money is ever stuck. The admin
/// can pause new business, move the fee payees, grant the verifier and arbiter roles and tune
/// windows and slash rates within fixed bounds, but cannot touch escrows, stakes, bonds or
/// credits, and new terms apply only to new jobs.
contract ComputeMarket is AccessControl, PullPayments {
    // ------------------------------------------------------------------ constants

    /// @notice Role that rules on disputed results.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    /// @notice Role that may dispute any job's result (besides its requester): verifying
    /// providers that re-execute jobs and dispute a mismatch. Granted by the admin.
    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER_ROLE");

    /// @notice The smallest stake an active provider holds.
    uint256 public constant MIN_PROVIDER_STAKE = 1_000 ether;
    /// @notice The exact bond that opens a dispute.
    uint256 public constant DISPUTE_BOND = 10 ether;
    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Treasury share of a completed job's price (3 %).
    uint256 public constant TREASURY_FEE_BPS = 300;
    /// @notice Routing-pool share of a completed job's price (2 %).
    uint256 public constant ROUTING_FEE_BPS = 200;

    /// @notice Score weights (sum 100).
    uint256 public constant PRICE_WEIGHT = 40;
    /// @notice Score weight of reputation.
    uint256 public constant REPUTATION_WEIGHT = 30;
    /// @notice Score weight of free capacity.
    uint256 public constant LOAD_WEIGHT = 20;
    /// @notice Score weight of the estimated latency.
    uint256 public constant LATENCY_WEIGHT = 10;

    /// @notice Reputation of a new provider (bps).
    uint16 public constant INITIAL_REPUTATION = 5_000;
    /// @notice Highest reputation (bps).
    uint16 public constant MAX_REPUTATION = 10_000;

    /// @notice Number of job types; `jobTypes` bitmasks use bits 0..JOB_TYPE_COUNT-1
    /// (Inference 0, Embedding 1, Training 2, LoRA 3, Image 4).
    uint8 public constant JOB_TYPE_COUNT = 5;
    /// @notice Highest verification tier (0 commitment only, 1 spot check, 2 full re-execution).
    uint8 public constant MAX_VERIFICATION_TIER = 2;
    /// @notice Most models one provider lists.
    uint256 public constant MAX_MODELS_PER_PROVIDER = 32;
    /// @notice Highest `maxConcurrentJobs` a provider declares.
    uint16 public constant MAX_CONCURRENT_JOBS = 64;
    /// @notice Most bids a job holds; a new bid must then outscore the lowest, which it replaces.
    uint256 public constant MAX_BIDS_PER_JOB = 16;
    /// @notice Most entries a paged view returns.
    uint256 public constant MAX_PAGE_SIZE = 100;

    /// @notice Bounds of a job's bid window (seconds).
    uint32 public constant MIN_BID_WINDOW = 30;
    /// @notice Upper bound of a job's bid window (seconds).
    uint32 public constant MAX_BID_WINDOW = 1 days;
    /// @notice Lower bound of a job's execution window (seconds).
    uint32 public constant MIN_EXEC_WINDOW = 60;
    /// @notice Upper bound of a job's execution window (seconds).
    uint32 public constant MAX_EXEC_WINDOW = 7 days;
    /// @notice How long after its bid deadline a job can still be assigned; later it expires.
    uint32 public constant ASSIGN_WINDOW = 1 hours;
    /// @notice Lower bound of the reveal, challenge and arbitration windows (seconds).
    uint32 public constant MIN_PROTOCOL_WINDOW = 60;
    /// @notice Upper bound of the reveal, challenge and arbitration windows (seconds).
    uint32 public constant MAX_PROTOCOL_WINDOW = 30 days;
    /// @notice Lowest slash rate the admin can set (1 %).
    uint16 public constant MIN_SLASH_BPS = 100;
    /// @notice Highest slash rate the admin can set (50 %).
    uint16 public constant MAX_SLASH_BPS = 5_000;

    // ------------------------------------------------------------------ types

    /// @notice Lifecycle of a job (see the contract's state machine).
    enum JobState {
        None,
        Open,
        Assigned,
        Committed,
        Revealed,
        Disputed,
        Completed,
        Expired,
        Cancelled,
        TimedOut,
        Failed
    }

    /// @notice What a provider serves (argument of registerProvider / updateProvider).
    struct ProviderConfig {
        uint8 jobTypes; // bitmask, bit i = job type i
        bool anyModel; // serves every model
        uint16 maxConcurrentJobs;
        bytes32[] models;
    }

    /// @notice A provider's record.
    struct Provider {
        uint256 stake;
        bool registered;
        bool anyModel;
        uint8 jobTypes;
        uint16 reputation;
        uint16 activeJobs;
        uint16 openBids; // bids on jobs still Open; each reserves a slot and locks the stake
        uint16 maxConcurrentJobs;
        uint32 jobsCompleted;
        uint32 jobsTimedOut;
        uint32 jobsFailed;
        uint64 registeredAt;
    }

    /// @notice What a requester asks for (argument of postJob).
    struct JobSpec {
        uint8 jobType;
        bytes32 modelId;
        bytes32 inputHash; // content hash / CID digest of the input
        uint256 maxPrice;
        uint32 bidWindow;
        uint32 execWindow;
        uint8 verificationTier; // advisory for verifier agents; not enforced on-chain
    }

    /// @notice A job and its terms (windows and slash rates are fixed when it is posted).
    struct Job {
        address requester;
        JobState state;
        uint8 jobType;
        uint8 verificationTier;
        uint16 timeoutSlashBps;
        uint16 wrongResultSlashBps;
        address provider;
        uint32 execWindow;
        uint32 revealWindow;
        uint32 challengeWindow;
        address disputer;
        uint32 arbitrationWindow;
        uint64 postedAt;
        uint64 bidDeadline;
        uint64 execDeadline; // commit by then
        uint64 revealDeadline; // reveal by then
        uint64 challengeDeadline; // set at reveal
        uint64 arbitrationDeadline; // set when disputed
        bytes32 modelId;
        bytes32 inputHash;
        uint256 maxPrice; // the escrow, held until the job ends
        uint256 price; // the assigned bid's price
        bytes32 commitment;
        bytes32 outputHash;
    }

    /// @notice A bid (the score is the one computed when the bid was placed).
    struct Bid {
        address provider;
        uint32 estimatedLatencyMs;
        uint32 score;
        uint256 price;
    }

    // ------------------------------------------------------------------ state

    /// @notice Receives 3 % of every completed job.
    address public treasury;
    /// @notice Receives 2 % of every completed job (routing incentives).
    address public routingPool;

    /// @notice Reveal window after the execution deadline, for jobs posted from now on.
    uint32 public revealWindow = 1 hours;
    /// @notice Challenge window after a reveal, for jobs posted from now on.
    uint32 public challengeWindow = 1 hours;
    /// @notice Time the arbiter has to rule on a dispute, for jobs posted from now on.
    uint32 public arbitrationWindow = 7 days;
    /// @notice Stake share slashed on a timeout (bps), for jobs posted from now on.
    uint16 public timeoutSlashBps = 500;
    /// @notice Stake share slashed on a result proven wrong (bps), for jobs posted from now on.
    uint16 public wrongResultSlashBps = 1_000;

    /// @notice True while new registrations, jobs, bids and assignments are paused.
    bool public paused;

    /// @notice Number of jobs ever posted (ids are 1..jobCount).
    uint256 public jobCount;
    /// @notice Escrow held for jobs that have not ended.
    uint256 public totalEscrow;
    /// @notice Sum of all providers' stakes.
    uint256 public totalStaked;
    /// @notice Dispute bonds held.
    uint256 public totalBonds;

    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => Bid[]) private _bids;
    mapping(uint256 jobId => mapping(address provider => uint256)) private _bidSlot; // index + 1

    mapping(address provider => Provider) private _providers;
    mapping(address provider => bytes32[]) private _providerModels;
    mapping(address provider => mapping(bytes32 modelId => bool)) private _serves;
    address[] private _providerList;

    uint256[] private _openJobs;
    mapping(uint256 jobId => uint256) private _openIndex; // index + 1
    mapping(address provider => uint256[]) private _jobsOfProvider;
    mapping(address requester => uint256[]) private _jobsOfRequester;

    // ------------------------------------------------------------------ events

    /// @notice `provider` registered with `stake` wei, serving `jobTypes` and `models`.
    event ProviderRegistered(
        address indexed provider,
        uint256 stake,
        uint8 jobTypes,
        bool anyModel,
        uint16 maxConcurrentJobs,
        bytes32[] models
    );
    /// @notice `provider` changed what it serves.
    event ProviderUpdated(
        address indexed provider, uint8 jobTypes, bool anyModel, uint16 maxConcurrentJobs, bytes32[] models
    );
    /// @notice `provider` added `amount` wei of stake.
    event StakeAdded(address indexed provider, uint256 amount, uint256 newStake);
    /// @notice `provider` withdrew `amount` wei of stake.
    event StakeWithdrawn(address indexed provider, uint256 amount, uint256 newStake);
    /// @notice `provider` withdrew its whole stake and no longer serves jobs.
    event ProviderDeregistered(address indexed provider);
    /// @notice `amount` wei of `provider`'s stake was slashed over `jobId` and credited to `beneficiary`.
    event ProviderSlashed(
        address indexed provider, uint256 indexed jobId, address indexed beneficiary, uint256 amount, uint256 newStake
    );
    /// @notice `provider`'s reputation moved from `oldReputation` to `newReputation` bps.
    event ReputationUpdated(address indexed provider, uint16 oldReputation, uint16 newReputation);

    /// @notice Job `jobId` is open for bids until `bidDeadline`.
    event JobPosted(
        uint256 indexed jobId,
        address indexed requester,
        bytes32 indexed modelId,
        uint8 jobType,
        bytes32 inputHash,
        uint256 maxPrice,
        uint64 bidDeadline,
        uint32 execWindow,
        uint8 verificationTier
    );
    /// @notice `provider` bid `price` on `jobId` (`replaced`: it updated its earlier bid).
    event BidPlaced(
        uint256 indexed jobId,
        address indexed provider,
        uint256 price,
        uint32 estimatedLatencyMs,
        uint32 score,
        bool replaced
    );
    /// @notice `provider`'s bid on `jobId` was pushed out by a new one (the job had the most bids):
    /// `ineligible` if the provider could no longer take the job, else the new bid scored higher.
    event BidEvicted(uint256 indexed jobId, address indexed provider, bool ineligible);
    /// @notice `jobId` went to `provider` at `price`; commit by `execDeadline`, reveal by `revealDeadline`.
    event JobAssigned(
        uint256 indexed jobId,
        address indexed provider,
        uint256 price,
        uint32 score,
        uint64 execDeadline,
        uint64 revealDeadline
    );
    /// @notice The requester cancelled `jobId` before assignment; `refund` wei credited.
    event JobCancelled(uint256 indexed jobId, address indexed requester, uint256 refund);
    /// @notice `jobId` found no eligible bid in time; `refund` wei credited to the requester.
    event JobExpired(uint256 indexed jobId, address indexed requester, uint256 refund);
    /// @notice `provider` committed to a result of `jobId`.
    event ResultCommitted(uint256 indexed jobId, address indexed provider, bytes32 commitment);
    /// @notice `provider` revealed `outputHash` for `jobId`; it can be disputed until `challengeDeadline`.
    event ResultRevealed(
        uint256 indexed jobId, address indexed provider, bytes32 outputHash, uint64 challengeDeadline
    );
    /// @notice `jobId` completed: the price was split and the unused escrow refunded.
    event JobCompleted(
        uint256 indexed jobId,
        address indexed provider,
        uint256 price,
        uint256 providerAmount,
        uint256 treasuryFee,
        uint256 poolFee,
        uint256 requesterRefund
    );
    /// @notice `provider` missed a deadline of `jobId`; `slashed` wei of stake and the escrow went to the requester.
    event JobTimedOut(uint256 indexed jobId, address indexed provider, uint256 slashed, uint256 requesterRefund);
    /// @notice `disputer` disputed the result of `jobId`; the arbiter rules by `arbitrationDeadline`.
    event DisputeOpened(uint256 indexed jobId, address indexed disputer, uint256 bond, uint64 arbitrationDeadline);
    /// @notice The arbiter ruled on `jobId`: `resultCorrect`, and `slashed` wei of stake taken.
    event DisputeResolved(uint256 indexed jobId, address indexed arbiter, bool resultCorrect, uint256 slashed);
    /// @notice The result of `jobId` was proven wrong; the escrow was refunded to the requester.
    event JobFailed(uint256 indexed jobId, address indexed provider, uint256 slashed, uint256 requesterRefund);
    /// @notice The arbiter did not rule on `jobId` in time: the revealed result stands, the job was
    /// paid as completed (JobCompleted) and the disputer's `bond` went to `provider`.
    event DisputeExpired(uint256 indexed jobId, address indexed provider, uint256 bond);

    /// @notice `account` paused new business.
    event Paused(address indexed account);
    /// @notice `account` resumed new business.
    event Unpaused(address indexed account);
    /// @notice The treasury changed.
    event TreasuryUpdated(address indexed oldTreasury, address indexed newTreasury);
    /// @notice The routing pool changed.
    event RoutingPoolUpdated(address indexed oldPool, address indexed newPool);
    /// @notice The reveal, challenge and arbitration windows changed (for jobs posted from now on).
    event WindowsUpdated(uint32 revealWindow, uint32 challengeWindow, uint32 arbitrationWindow);
    /// @notice The slash rates changed (for jobs posted from now on).
    event SlashRatesUpdated(uint16 timeoutSlashBps, uint16 wrongResultSlashBps);

    // ------------------------------------------------------------------ errors

    /// @notice An address argument is the zero address; pass a real account.
    error ZeroAddress();
    /// @notice The stake sent is below the minimum; send at least `required` wei.
    error InsufficientStake(uint256 required, uint256 sent);
    /// @notice This address is already a registered provider; use updateProvider or addStake.
    error AlreadyRegistered(address provider);
    /// @notice This address is not a registered provider; call registerProvider first.
    error NotRegistered(address provider);
    /// @notice The provider's stake `stake` is below the minimum `minimum`; add stake first.
    error ProviderNotActive(address provider, uint256 stake, uint256 minimum);
    /// @notice `jobTypes` must be a non-zero bitmask of the five job types (1..31).
    error InvalidJobTypes(uint8 jobTypes);
    /// @notice maxConcurrentJobs must be between 1 and `max`.
    error InvalidMaxConcurrentJobs(uint256 given, uint256 max);
    /// @notice List at most `max` models (or serve any model).
    error TooManyModels(uint256 given, uint256 max);
    /// @notice List at least one model, or set anyModel.
    error NoModels();
    /// @notice A model id must not be zero.
    error ZeroModelId();
    /// @notice Model `modelId` is listed twice; list each model once.
    error DuplicateModel(bytes32 modelId);
    /// @notice The amount must be greater than zero.
    error ZeroAmount();
    /// @notice Stake cannot be withdrawn while the provider has `activeJobs` active jobs or `openBids`
    /// open bids; wait until they finish (open bids end when their jobs are assigned, expire or are cancelled).
    error StakeLocked(address provider, uint256 activeJobs, uint256 openBids);
    /// @notice The provider has `openBids` open bids: until their jobs are assigned, expire or are
    /// cancelled it may only add job types, models or capacity (at least active jobs + open bids).
    error ServiceLockedByBids(address provider, uint256 openBids);
    /// @notice Cannot withdraw `amount` wei: the stake is only `stake` wei.
    error AmountExceedsStake(uint256 amount, uint256 stake);
    /// @notice The stake left, `remaining` wei, would be below the minimum `minimum`; withdraw everything or less.
    error StakeBelowMinimum(uint256 remaining, uint256 minimum);
    /// @notice `jobType` is not a job type (0 Inference, 1 Embedding, 2 Training, 3 LoRA, 4 Image).
    error InvalidJobType(uint8 jobType);
    /// @notice The input hash must not be zero.
    error ZeroInputHash();
    /// @notice A job's maxPrice must be greater than zero.
    error ZeroMaxPrice();
    /// @notice The window `given` (seconds) must be between `min` and `max`.
    error WindowOutOfRange(uint256 given, uint256 min, uint256 max);
    /// @notice Verification tier `tier` is unknown; use 0 to `max`.
    error InvalidVerificationTier(uint8 tier, uint8 max);
    /// @notice The payment does not cover the job's maxPrice; send at least `required` wei.
    error InsufficientEscrow(uint256 required, uint256 sent);
    /// @notice There is no job `jobId`.
    error UnknownJob(uint256 jobId);
    /// @notice Job `jobId` is in state `state` (1 Open, 2 Assigned, 3 Committed, 4 Revealed, 5 Disputed,
    /// 6 Completed, 7 Expired, 8 Cancelled, 9 TimedOut, 10 Failed), which does not allow this action.
    error InvalidJobState(uint256 jobId, JobState state);
    /// @notice Bidding on job `jobId` closed at `bidDeadline`.
    error BiddingClosed(uint256 jobId, uint256 bidDeadline);
    /// @notice Bidding on job `jobId` is open until `bidDeadline`; only the requester may assign earlier.
    error BiddingNotOver(uint256 jobId, uint256 bidDeadline);
    /// @notice Bid a price between 1 wei and the job's maxPrice `maxPrice`.
    error BidPriceOutOfRange(uint256 price, uint256 maxPrice);
    /// @notice The estimated latency exceeds the job's execution window (`maxLatencyMs` ms).
    error LatencyTooHigh(uint256 latencyMs, uint256 maxLatencyMs);
    /// @notice A provider cannot bid on its own job.
    error SelfDealing();
    /// @notice The provider does not serve job type `jobType` or model `modelId`; update its configuration.
    error UnsupportedJob(address provider, uint8 jobType, bytes32 modelId);
    /// @notice The provider's `activeJobs` active jobs and `openBids` open bids fill its `maxConcurrentJobs`
    /// slots; wait for a job to finish or a bid to end, or raise maxConcurrentJobs.
    error ProviderAtCapacity(address provider, uint256 activeJobs, uint256 openBids, uint256 maxConcurrentJobs);
    /// @notice The job has the most bids and this bid's score `score` does not beat the lowest, `lowestScore`.
    error BidNotCompetitive(uint256 score, uint256 lowestScore);
    /// @notice Job `jobId` has no bid from a provider that can take it now.
    error NoEligibleBid(uint256 jobId);
    /// @notice Only the requester of job `jobId` may do this.
    error NotRequester(uint256 jobId, address caller);
    /// @notice Only the provider assigned to job `jobId` may do this.
    error NotAssignedProvider(uint256 jobId, address caller);
    /// @notice The commitment must not be zero.
    error ZeroCommitment();
    /// @notice The output hash must not be zero.
    error ZeroOutputHash();
    /// @notice The execution deadline of job `jobId` (`deadline`) has passed.
    error ExecutionDeadlinePassed(uint256 jobId, uint256 deadline);
    /// @notice The reveal deadline of job `jobId` (`deadline`) has passed.
    error RevealDeadlinePassed(uint256 jobId, uint256 deadline);
    /// @notice keccak256(abi.encode(jobId, outputHash, nonce, provider)) does not match the commitment of job `jobId`.
    error CommitmentMismatch(uint256 jobId);
    /// @notice Job `jobId` can still be disputed until `challengeDeadline`; only the requester may complete it earlier.
    error ChallengeWindowOpen(uint256 jobId, uint256 challengeDeadline);
    /// @notice The challenge window of job `jobId` closed at `challengeDeadline`.
    error ChallengeWindowClosed(uint256 jobId, uint256 challengeDeadline);
    /// @notice Only the requester of job `jobId` or a VERIFIER_ROLE holder other than its provider may dispute it.
    error NotAuthorizedDisputer(uint256 jobId, address caller);
    /// @notice A dispute needs a bond of exactly `required` wei.
    error WrongDisputeBond(uint256 required, uint256 sent);
    /// @notice Job `jobId`'s deadline `deadline` has not passed yet.
    error DeadlineNotReached(uint256 jobId, uint256 deadline);
    /// @notice The slash rate `given` (bps) must be between `min` and `max`.
    error SlashRateOutOfRange(uint256 given, uint256 min, uint256 max);
    /// @notice The market is paused: no new registrations, jobs, bids or assignments (running jobs,
    /// cancellations and withdrawals still work); try again when the admin resumes it.
    error MarketPaused();
    /// @notice The market's pause state is already `paused`.
    error PauseUnchanged(bool paused);

    // ------------------------------------------------------------------ modifiers

    modifier whenNotPaused() {
        if (paused) revert MarketPaused();
        _;
    }

    // ------------------------------------------------------------------ construction

    /// @notice Deploy with `admin` (admin and arbiter roles), the `treasury` and the routing pool
    /// (neither zero nor this contract). The admin grants VERIFIER_ROLE to verifying providers.
    constructor(address admin, address treasury_, address routingPool_) {
        if (admin == address(0)) revert ZeroAddress();
        _checkPayee(treasury_);
        _checkPayee(routingPool_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ARBITER_ROLE, admin);
        treasury = treasury_;
        routingPool = routingPool_;
        emit TreasuryUpdated(address(0), treasury_);
        emit RoutingPoolUpdated(address(0), routingPool_);
    }

    // ------------------------------------------------------------------ providers

    /// @notice Register as a provider with a stake of at least MIN_PROVIDER_STAKE (msg.value).
    function registerProvider(ProviderConfig calldata config) external payable nonReentrant whenNotPaused {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered(msg.sender);
        if (msg.value < MIN_PROVIDER_STAKE) revert InsufficientStake(MIN_PROVIDER_STAKE, msg.value);
        if (p.registeredAt == 0) {
            _providerList.push(msg.sender);
            p.reputation = INITIAL_REPUTATION;
        }
        p.registered = true;
        p.registeredAt = uint64(block.timestamp);
        p.stake = msg.value;
        totalStaked += msg.value;
        _configure(p, config);
        emit ProviderRegistered(
            msg.sender, msg.value, config.jobTypes, config.anyModel, config.maxConcurrentJobs, config.models
        );
    }

    /// @notice Change the job types, models and capacity you serve. While you have open bids you
    /// may only widen it (keep every job type and model, and capacity ≥ active jobs + open bids),
    /// so that every bid stays one you can honour.
    function updateProvider(ProviderConfig calldata config) external nonReentrant {
        Provider storage p = _registered(msg.sender);
        uint256 openBids = p.openBids;
        if (openBids == 0) {
            _configure(p, config);
        } else {
            bool narrower = (p.jobTypes & ~config.jobTypes) != 0 || (p.anyModel && !config.anyModel)
                || config.maxConcurrentJobs < uint256(p.activeJobs) + openBids;
            bytes32[] memory old = _providerModels[msg.sender];
            _configure(p, config);
            if (!config.anyModel) {
                for (uint256 i; i < old.length; ++i) {
                    if (!_serves[msg.sender][old[i]]) narrower = true;
                }
            }
            if (narrower) revert ServiceLockedByBids(msg.sender, openBids);
        }
        emit ProviderUpdated(msg.sender, config.jobTypes, config.anyModel, config.maxConcurrentJobs, config.models);
    }

    /// @notice Add msg.value to your stake.
    function addStake() external payable nonReentrant {
        Provider storage p = _registered(msg.sender);
        if (msg.value == 0) revert ZeroAmount();
        p.stake += msg.value;
        totalStaked += msg.value;
        emit StakeAdded(msg.sender, msg.value, p.stake);
    }

    /// @notice Withdraw `amount` wei of stake (no active jobs and no open bids; leave 0, which
    /// deregisters, or at least MIN_PROVIDER_STAKE). The ether is sent to you at once.
    function withdrawStake(uint256 amount) external nonReentrant {
        Provider storage p = _registered(msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (p.activeJobs != 0 || p.openBids != 0) revert StakeLocked(msg.sender, p.activeJobs, p.openBids);
        uint256 stake = p.stake;
        if (amount > stake) revert AmountExceedsStake(amount, stake);
        uint256 remaining = stake - amount;
        if (remaining != 0 && remaining < MIN_PROVIDER_STAKE) {
            revert StakeBelowMinimum(remaining, MIN_PROVIDER_STAKE);
        }
        p.stake = remaining;
        totalStaked -= amount;
        emit StakeWithdrawn(msg.sender, amount, remaining);
        if (remaining == 0) {
            p.registered = false;
            emit ProviderDeregistered(msg.sender);
        }
        _refundSender(amount);
    }

    // ------------------------------------------------------------------ jobs: posting and bidding

    /// @notice Post a job, escrowing `spec.maxPrice` (msg.value; any excess is sent back).
    /// @return jobId The new job's id.
    function postJob(JobSpec calldata spec) external payable nonReentrant whenNotPaused returns (uint256 jobId) {
        if (spec.jobType >= JOB_TYPE_COUNT) revert InvalidJobType(spec.jobType);
        if (spec.modelId == bytes32(0)) revert ZeroModelId();
        if (spec.inputHash == bytes32(0)) revert ZeroInputHash();
        if (spec.maxPrice == 0) revert ZeroMaxPrice();
        _checkWindow(spec.bidWindow, MIN_BID_WINDOW, MAX_BID_WINDOW);
        _checkWindow(spec.execWindow, MIN_EXEC_WINDOW, MAX_EXEC_WINDOW);
        if (spec.verificationTier > MAX_VERIFICATION_TIER) {
            revert InvalidVerificationTier(spec.verificationTier, MAX_VERIFICATION_TIER);
        }
        if (msg.value < spec.maxPrice) revert InsufficientEscrow(spec.maxPrice, msg.value);

        jobId = ++jobCount;
        Job storage job = _jobs[jobId];
        job.requester = msg.sender;
        job.state = JobState.Open;
        job.jobType = spec.jobType;
        job.verificationTier = spec.verificationTier;
        job.timeoutSlashBps = timeoutSlashBps;
        job.wrongResultSlashBps = wrongResultSlashBps;
        job.execWindow = spec.execWindow;
        job.revealWindow = revealWindow;
        job.challengeWindow = challengeWindow;
        job.arbitrationWindow = arbitrationWindow;
        job.postedAt = uint64(block.timestamp);
        job.bidDeadline = uint64(block.timestamp) + spec.bidWindow;
        job.modelId = spec.modelId;
        job.inputHash = spec.inputHash;
        job.maxPrice = spec.maxPrice;
        totalEscrow += spec.maxPrice;

        _openJobs.push(jobId);
        _openIndex[jobId] = _openJobs.length;
        _jobsOfRequester[msg.sender].push(jobId);

        emit JobPosted(
            jobId,
            msg.sender,
            spec.modelId,
            spec.jobType,
            spec.inputHash,
            spec.maxPrice,
            job.bidDeadline,
            spec.execWindow,
            spec.verificationTier
        );
        _refundSender(msg.value - spec.maxPrice);
    }

    /// @notice Bid `price` wei (≤ maxPrice) with an estimated latency on an open job, before its
    /// bid deadline. Bidding again replaces your earlier bid. A new bid needs a free slot
    /// (active jobs + open bids < maxConcurrentJobs) and, until the job is assigned, expires or is
    /// cancelled, reserves it and locks your stake and service (see withdrawStake, updateProvider).
    function bid(uint256 jobId, uint256 price, uint32 estimatedLatencyMs) external nonReentrant whenNotPaused {
        Job storage job = _jobInState(jobId, JobState.Open);
        if (block.timestamp > job.bidDeadline) revert BiddingClosed(jobId, job.bidDeadline);
        if (price == 0 || price > job.maxPrice) revert BidPriceOutOfRange(price, job.maxPrice);
        uint256 maxLatencyMs = uint256(job.execWindow) * 1000;
        if (estimatedLatencyMs > maxLatencyMs) revert LatencyTooHigh(estimatedLatencyMs, maxLatencyMs);
        if (msg.sender == job.requester) revert SelfDealing();
        Provider storage p = _providers[msg.sender];
        uint256 slot = _bidSlot[jobId][msg.sender];
        bool replaced = slot != 0;
        _checkCanTake(p, msg.sender, job, replaced);

        uint32 score = _score(job, p, price, estimatedLatencyMs);
        Bid[] storage bids = _bids[jobId];
        if (!replaced) {
            if (bids.length < MAX_BIDS_PER_JOB) {
                bids.push();
                slot = bids.length;
            } else {
                (uint256 out, bool ineligible) = _evictee(bids, job, score);
                address evicted = bids[out].provider;
                delete _bidSlot[jobId][evicted];
                _providers[evicted].openBids -= 1;
                emit BidEvicted(jobId, evicted, ineligible);
                slot = out + 1;
            }
            _bidSlot[jobId][msg.sender] = slot;
            p.openBids += 1;
        }
        bids[slot - 1] =
            Bid({provider: msg.sender, estimatedLatencyMs: estimatedLatencyMs, score: score, price: price});
        emit BidPlaced(jobId, msg.sender, price, estimatedLatencyMs, score, replaced);
    }

    /// @notice Assign an open job to its best eligible bid: anyone after the bid deadline, the
    /// requester at any time. With no eligible bid after the deadline, or when called later than
    /// ASSIGN_WINDOW after it, the job expires and the escrow is credited back to the requester.
    /// Either way the job's bids end. While the market is paused only the expiry happens.
    function assignBestBid(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Open);
        bool biddingOver = block.timestamp > job.bidDeadline;
        if (!biddingOver && msg.sender != job.requester) revert BiddingNotOver(jobId, job.bidDeadline);

        if (block.timestamp > uint256(job.bidDeadline) + ASSIGN_WINDOW) {
            _expire(jobId, job);
            return;
        }
        (bool found, uint256 index, uint32 score) = _bestBid(jobId, job);
        if (!found) {
            if (!biddingOver) revert NoEligibleBid(jobId);
            _expire(jobId, job);
            return;
        }
        if (paused) revert MarketPaused();
        Bid storage winner = _bids[jobId][index];
        address provider = winner.provider;
        _removeOpen(jobId);
        job.state = JobState.Assigned;
        job.provider = provider;
        job.price = winner.price;
        uint64 execDeadline = uint64(block.timestamp) + job.execWindow;
        job.execDeadline = execDeadline;
        job.revealDeadline = execDeadline + job.revealWindow;
        _providers[provider].activeJobs += 1;
        _jobsOfProvider[provider].push(jobId);
        emit JobAssigned(jobId, provider, winner.price, score, execDeadline, job.revealDeadline);
    }

    /// @notice Cancel your job before it is assigned; the escrow is credited back to you.
    function cancelJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Open);
        if (msg.sender != job.requester) revert NotRequester(jobId, msg.sender);
        _removeOpen(jobId);
        job.state = JobState.Cancelled;
        uint256 refund = job.maxPrice;
        totalEscrow -= refund;
        emit JobCancelled(jobId, msg.sender, refund);
        _credit(msg.sender, refund);
    }

    // ------------------------------------------------------------------ jobs: results

    /// @notice Commit to a result before the execution deadline:
    /// commitment = keccak256(abi.encode(jobId, outputHash, nonce, msg.sender)).
    function commitResult(uint256 jobId, bytes32 commitment) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Assigned);
        if (msg.sender != job.provider) revert NotAssignedProvider(jobId, msg.sender);
        if (block.timestamp > job.execDeadline) revert ExecutionDeadlinePassed(jobId, job.execDeadline);
        if (commitment == bytes32(0)) revert ZeroCommitment();
        job.commitment = commitment;
        job.state = JobState.Committed;
        emit ResultCommitted(jobId, msg.sender, commitment);
    }

    /// @notice Reveal the committed result before the reveal deadline; the challenge window starts.
    function revealResult(uint256 jobId, bytes32 outputHash, bytes32 nonce) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Committed);
        if (msg.sender != job.provider) revert NotAssignedProvider(jobId, msg.sender);
        if (block.timestamp > job.revealDeadline) revert RevealDeadlinePassed(jobId, job.revealDeadline);
        if (outputHash == bytes32(0)) revert ZeroOutputHash();
        if (computeCommitment(jobId, outputHash, nonce, msg.sender) != job.commitment) {
            revert CommitmentMismatch(jobId);
        }
        job.outputHash = outputHash;
        job.state = JobState.Revealed;
        uint64 deadline = uint64(block.timestamp) + job.challengeWindow;
        job.challengeDeadline = deadline;
        emit ResultRevealed(jobId, msg.sender, outputHash, deadline);
    }

    /// @notice Finalize a revealed job and pay it: the requester at any time, anyone after the
    /// challenge window. Credits 95/3/2 of the price and refunds the unused escrow.
    function completeJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Revealed);
        if (msg.sender != job.requester && block.timestamp <= job.challengeDeadline) {
            revert ChallengeWindowOpen(jobId, job.challengeDeadline);
        }
        _settle(jobId, job);
    }

    /// @notice Time out a job whose provider missed the execution (commit) or reveal deadline:
    /// slashes the job's timeout rate of the provider's stake and credits it, with the whole
    /// escrow, to the requester. Anyone may call.
    function timeoutJob(uint256 jobId) external nonReentrant {
        Job storage job = _job(jobId);
        uint256 deadline;
        if (job.state == JobState.Assigned) deadline = job.execDeadline;
        else if (job.state == JobState.Committed) deadline = job.revealDeadline;
        else revert InvalidJobState(jobId, job.state);
        if (block.timestamp <= deadline) revert DeadlineNotReached(jobId, deadline);

        job.state = JobState.TimedOut;
        address provider = job.provider;
        Provider storage p = _providers[provider];
        p.jobsTimedOut += 1;
        _setReputation(provider, p, p.reputation - p.reputation / 5);
        uint256 slashed = _release(jobId, job, p, job.timeoutSlashBps, job.requester);
        emit JobTimedOut(jobId, provider, slashed, job.maxPrice);
        _credit(job.requester, job.maxPrice);
    }

    // ------------------------------------------------------------------ disputes

    /// @notice Dispute a revealed result within the challenge window, with a bond of exactly
    /// DISPUTE_BOND: the requester, or a VERIFIER_ROLE holder other than the assigned provider.
    /// If the arbiter does not rule in time the result stands and the bond goes to the provider.
    function disputeResult(uint256 jobId) external payable nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Revealed);
        if (block.timestamp > job.challengeDeadline) revert ChallengeWindowClosed(jobId, job.challengeDeadline);
        if (msg.sender != job.requester && (msg.sender == job.provider || !hasRole(VERIFIER_ROLE, msg.sender))) {
            revert NotAuthorizedDisputer(jobId, msg.sender);
        }
        if (msg.value != DISPUTE_BOND) revert WrongDisputeBond(DISPUTE_BOND, msg.value);
        job.state = JobState.Disputed;
        job.disputer = msg.sender;
        uint64 deadline = uint64(block.timestamp) + job.arbitrationWindow;
        job.arbitrationDeadline = deadline;
        totalBonds += msg.value;
        emit DisputeOpened(jobId, msg.sender, msg.value, deadline);
    }

    /// @notice Rule on a disputed job (ARBITER_ROLE), until someone calls expireDispute. Result
    /// correct: the bond goes to the provider and the job completes and pays. Result wrong: the
    /// job's wrong-result rate of the provider's stake is slashed to the disputer, whose bond is
    /// returned, and the requester's escrow is refunded.
    function resolveDispute(uint256 jobId, bool resultCorrect) external nonReentrant onlyRole(ARBITER_ROLE) {
        Job storage job = _jobInState(jobId, JobState.Disputed);
        if (resultCorrect) {
            emit DisputeResolved(jobId, msg.sender, true, 0);
            _uphold(jobId, job);
            return;
        }
        address provider = job.provider;
        address disputer = job.disputer;
        totalBonds -= DISPUTE_BOND;
        job.state = JobState.Failed;
        Provider storage p = _providers[provider];
        p.jobsFailed += 1;
        _setReputation(provider, p, p.reputation - p.reputation / 2);
        uint256 slashed = _release(jobId, job, p, job.wrongResultSlashBps, disputer);
        emit DisputeResolved(jobId, msg.sender, false, slashed);
        emit JobFailed(jobId, provider, slashed, job.maxPrice);
        _credit(disputer, DISPUTE_BOND);
        _credit(job.requester, job.maxPrice);
    }

    /// @notice After the arbitration deadline of a dispute no arbiter ruled on, anyone may settle
    /// the job in the provider's favour: the revealed result stands, the job completes and pays
    /// exactly as completeJob does (95/3/2, unused escrow to the requester) and the disputer's
    /// bond goes to the provider.
    function expireDispute(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Disputed);
        if (block.timestamp <= job.arbitrationDeadline) revert DeadlineNotReached(jobId, job.arbitrationDeadline);
        emit DisputeExpired(jobId, job.provider, DISPUTE_BOND);
        _uphold(jobId, job);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Change the treasury (admin; neither zero nor this contract). Credits already owed
    /// stay with the old one.
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkPayee(newTreasury);
        emit TreasuryUpdated(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice Change the routing pool (admin; neither zero nor this contract). Credits already
    /// owed stay with the old one.
    function setRoutingPool(address newPool) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkPayee(newPool);
        emit RoutingPoolUpdated(routingPool, newPool);
        routingPool = newPool;
    }

    /// @notice Set the reveal, challenge and arbitration windows (admin; each within
    /// MIN_PROTOCOL_WINDOW..MAX_PROTOCOL_WINDOW) for jobs posted from now on.
    function setWindows(uint32 newRevealWindow, uint32 newChallengeWindow, uint32 newArbitrationWindow)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _checkWindow(newRevealWindow, MIN_PROTOCOL_WINDOW, MAX_PROTOCOL_WINDOW);
        _checkWindow(newChallengeWindow, MIN_PROTOCOL_WINDOW, MAX_PROTOCOL_WINDOW);
        _checkWindow(newArbitrationWindow, MIN_PROTOCOL_WINDOW, MAX_PROTOCOL_WINDOW);
        revealWindow = newRevealWindow;
        challengeWindow = newChallengeWindow;
        arbitrationWindow = newArbitrationWindow;
        emit WindowsUpdated(newRevealWindow, newChallengeWindow, newArbitrationWindow);
    }

    /// @notice Set the timeout and wrong-result slash rates (admin; each within
    /// MIN_SLASH_BPS..MAX_SLASH_BPS) for jobs posted from now on.
    function setSlashRates(uint16 newTimeoutSlashBps, uint16 newWrongResultSlashBps)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _checkSlash(newTimeoutSlashBps);
        _checkSlash(newWrongResultSlashBps);
        timeoutSlashBps = newTimeoutSlashBps;
        wrongResultSlashBps = newWrongResultSlashBps;
        emit SlashRatesUpdated(newTimeoutSlashBps, newWrongResultSlashBps);
    }

    /// @notice Stop new registrations, jobs, bids and assignments (admin). Running jobs,
    /// timeouts, disputes, cancellations, the expiry of jobs nobody can take (which ends their
    /// bids) and every withdrawal keep working.
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (paused) revert PauseUnchanged(true);
        paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Resume after pause (admin).
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!paused) revert PauseUnchanged(false);
        paused = false;
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @notice The commitment a provider submits for `outputHash` and `nonce` on `jobId`.
    function computeCommitment(uint256 jobId, bytes32 outputHash, bytes32 nonce, address provider)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(jobId, outputHash, nonce, provider));
    }

    /// @notice The split of a completed job's `price`: provider, treasury and pool shares.
    function splitPrice(uint256 price)
        public
        pure
        returns (uint256 providerAmount, uint256 treasuryFee, uint256 poolFee)
    {
        treasuryFee = price * TREASURY_FEE_BPS / BPS;
        poolFee = price * ROUTING_FEE_BPS / BPS;
        providerAmount = price - treasuryFee - poolFee;
    }

    /// @notice A job by id (reverts with UnknownJob).
    function getJob(uint256 jobId) external view returns (Job memory) {
        return _job(jobId);
    }

    /// @notice The bids on a job (at most MAX_BIDS_PER_JOB).
    function getBids(uint256 jobId) external view returns (Bid[] memory) {
        _job(jobId);
        return _bids[jobId];
    }

    /// @notice The score `provider` would get now for bidding `price` and `estimatedLatencyMs` on `jobId`.
    function scoreBid(uint256 jobId, address provider, uint256 price, uint32 estimatedLatencyMs)
        external
        view
        returns (uint32)
    {
        Job storage job = _job(jobId);
        if (price == 0 || price > job.maxPrice) revert BidPriceOutOfRange(price, job.maxPrice);
        uint256 maxLatencyMs = uint256(job.execWindow) * 1000;
        if (estimatedLatencyMs > maxLatencyMs) revert LatencyTooHigh(estimatedLatencyMs, maxLatencyMs);
        return _score(job, _providers[provider], price, estimatedLatencyMs);
    }

    /// @notice A provider's record (all zero for an unknown address).
    function getProvider(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice The models a provider lists.
    function getProviderModels(address provider) external view returns (bytes32[] memory) {
        return _providerModels[provider];
    }

    /// @notice True when `provider` is active (registered, stake ≥ minimum) and serves
    /// `jobType` with `modelId`, regardless of its current load.
    function canServe(address provider, uint8 jobType, bytes32 modelId) public view returns (bool) {
        Provider storage p = _providers[provider];
        return p.registered && p.stake >= MIN_PROVIDER_STAKE && _serving(p, provider, jobType, modelId);
    }

    /// @notice Number of addresses that ever registered as providers.
    function providerCount() external view returns (uint256) {
        return _providerList.length;
    }

    /// @notice Providers ever registered, paged (`limit` capped at MAX_PAGE_SIZE), and the total.
    function getProviders(uint256 offset, uint256 limit) external view returns (address[] memory page, uint256 total) {
        total = _providerList.length;
        (uint256 start, uint256 n) = _window(total, offset, limit);
        page = new address[](n);
        for (uint256 i; i < n; ++i) {
            page[i] = _providerList[start + i];
        }
    }

    /// @notice Ids of open jobs (not yet assigned, cancelled or expired), paged, and the total.
    /// The order changes when jobs leave the list (swap-and-pop).
    function getOpenJobs(uint256 offset, uint256 limit) external view returns (uint256[] memory ids, uint256 total) {
        return _page(_openJobs, offset, limit);
    }

    /// @notice Ids of the jobs ever assigned to `provider`, oldest first, paged, and the total.
    function getProviderJobs(address provider, uint256 offset, uint256 limit)
        external
        view
        returns (uint256[] memory ids, uint256 total)
    {
        return _page(_jobsOfProvider[provider], offset, limit);
    }

    /// @notice Ids of the jobs `requester` posted, oldest first, paged, and the total.
    function getRequesterJobs(address requester, uint256 offset, uint256 limit)
        external
        view
        returns (uint256[] memory ids, uint256 total)
    {
        return _page(_jobsOfRequester[requester], offset, limit);
    }

    // ------------------------------------------------------------------ internals

    function _job(uint256 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.state == JobState.None) revert UnknownJob(jobId);
    }

    function _jobInState(uint256 jobId, JobState expected) private view returns (Job storage job) {
        job = _job(jobId);
        if (job.state != expected) revert InvalidJobState(jobId, job.state);
    }

    function _registered(address who) private view returns (Provider storage p) {
        p = _providers[who];
        if (!p.registered) revert NotRegistered(who);
    }

    function _checkWindow(uint256 given, uint256 min, uint256 max) private pure {
        if (given < min || given > max) revert WindowOutOfRange(given, min, max);
    }

    function _checkSlash(uint256 given) private pure {
        if (given < MIN_SLASH_BPS || given > MAX_SLASH_BPS) {
            revert SlashRateOutOfRange(given, MIN_SLASH_BPS, MAX_SLASH_BPS);
        }
    }

    function _configure(Provider storage p, ProviderConfig calldata config) private {
        if (config.jobTypes == 0 || config.jobTypes >= (1 << JOB_TYPE_COUNT)) revert InvalidJobTypes(config.jobTypes);
        if (config.maxConcurrentJobs == 0 || config.maxConcurrentJobs > MAX_CONCURRENT_JOBS) {
            revert InvalidMaxConcurrentJobs(config.maxConcurrentJobs, MAX_CONCURRENT_JOBS);
        }
        uint256 n = config.models.length;
        if (n > MAX_MODELS_PER_PROVIDER) revert TooManyModels(n, MAX_MODELS_PER_PROVIDER);
        if (n == 0 && !config.anyModel) revert NoModels();

        mapping(bytes32 => bool) storage serves = _serves[msg.sender];
        bytes32[] storage listed = _providerModels[msg.sender];
        for (uint256 i = listed.length; i > 0; --i) {
            delete serves[listed[i - 1]];
            listed.pop();
        }
        for (uint256 i; i < n; ++i) {
            bytes32 model = config.models[i];
            if (model == bytes32(0)) revert ZeroModelId();
            if (serves[model]) revert DuplicateModel(model);
            serves[model] = true;
            listed.push(model);
        }
        p.jobTypes = config.jobTypes;
        p.anyModel = config.anyModel;
        p.maxConcurrentJobs = config.maxConcurrentJobs;
    }

    function _serving(Provider storage p, address provider, uint8 jobType, bytes32 modelId)
        private
        view
        returns (bool)
    {
        return (p.jobTypes & (uint8(1) << jobType)) != 0 && (p.anyModel || _serves[provider][modelId]);
    }

    /// @dev Reverts unless `p` may bid on `job` now (active, serves it and, for a new bid, has a
    /// free slot; a replaced bid keeps the slot it holds).
    function _checkCanTake(Provider storage p, address provider, Job storage job, bool replacing) private view {
        if (!p.registered) revert NotRegistered(provider);
        if (p.stake < MIN_PROVIDER_STAKE) revert ProviderNotActive(provider, p.stake, MIN_PROVIDER_STAKE);
        if (!_serving(p, provider, job.jobType, job.modelId)) revert UnsupportedJob(provider, job.jobType, job.modelId);
        if (!replacing && uint256(p.activeJobs) + p.openBids >= p.maxConcurrentJobs) {
            revert ProviderAtCapacity(provider, p.activeJobs, p.openBids, p.maxConcurrentJobs);
        }
    }

    function _eligible(Provider storage p, address provider, Job storage job) private view returns (bool) {
        return p.registered && p.stake >= MIN_PROVIDER_STAKE && p.activeJobs < p.maxConcurrentJobs
            && provider != job.requester && _serving(p, provider, job.jobType, job.modelId);
    }

    function _score(Job storage job, Provider storage p, uint256 price, uint32 latencyMs)
        private
        view
        returns (uint32)
    {
        uint256 maxPrice = job.maxPrice;
        uint256 priceScore = (maxPrice - price) * BPS / maxPrice;
        uint256 maxJobs = p.maxConcurrentJobs;
        uint256 loadScore = p.activeJobs < maxJobs ? (maxJobs - p.activeJobs) * BPS / maxJobs : 0;
        uint256 windowMs = uint256(job.execWindow) * 1000;
        uint256 latencyScore = (windowMs - latencyMs) * BPS / windowMs;
        return uint32(
            PRICE_WEIGHT * priceScore + REPUTATION_WEIGHT * p.reputation + LOAD_WEIGHT * loadScore
                + LATENCY_WEIGHT * latencyScore
        );
    }

    /// @dev The bid a new bid with `score` replaces on a full list: the first one whose provider
    /// can no longer take the job, else the lowest-scored one if `score` beats it (else reverts).
    function _evictee(Bid[] storage bids, Job storage job, uint32 score)
        private
        view
        returns (uint256 index, bool ineligible)
    {
        uint32 lowestScore = type(uint32).max;
        uint256 n = bids.length;
        for (uint256 i; i < n; ++i) {
            Bid storage b = bids[i];
            if (!_eligible(_providers[b.provider], b.provider, job)) return (i, true);
            if (b.score < lowestScore) {
                lowestScore = b.score;
                index = i;
            }
        }
        if (score <= lowestScore) revert BidNotCompetitive(score, lowestScore);
    }

    /// @dev Highest current score among eligible bids; ties: lower price, then lower index.
    function _bestBid(uint256 jobId, Job storage job)
        private
        view
        returns (bool found, uint256 best, uint32 bestScore)
    {
        Bid[] storage bids = _bids[jobId];
        uint256 n = bids.length;
        uint256 bestPrice;
        for (uint256 i; i < n; ++i) {
            Bid storage b = bids[i];
            Provider storage p = _providers[b.provider];
            if (!_eligible(p, b.provider, job)) continue;
            uint32 s = _score(job, p, b.price, b.estimatedLatencyMs);
            if (!found || s > bestScore || (s == bestScore && b.price < bestPrice)) {
                found = true;
                best = i;
                bestScore = s;
                bestPrice = b.price;
            }
        }
    }

    /// @dev The job leaves Open: off the open list, and its bids stop reserving their providers' slots.
    function _removeOpen(uint256 jobId) private {
        Bid[] storage bids = _bids[jobId];
        uint256 n = bids.length;
        for (uint256 i; i < n; ++i) {
            _providers[bids[i].provider].openBids -= 1;
        }
        uint256 idx = _openIndex[jobId];
        uint256 last = _openJobs[_openJobs.length - 1];
        _openJobs[idx - 1] = last;
        _openIndex[last] = idx;
        _openJobs.pop();
        delete _openIndex[jobId];
    }

    function _expire(uint256 jobId, Job storage job) private {
        _removeOpen(jobId);
        job.state = JobState.Expired;
        uint256 refund = job.maxPrice;
        totalEscrow -= refund;
        emit JobExpired(jobId, job.requester, refund);
        _credit(job.requester, refund);
    }

    /// @dev A disputed result stands (upheld, or the arbiter stayed silent): the bond goes to the
    /// provider and the job is paid.
    function _uphold(uint256 jobId, Job storage job) private {
        totalBonds -= DISPUTE_BOND;
        _credit(job.provider, DISPUTE_BOND);
        _settle(jobId, job);
    }

    /// @dev Pay a revealed (or upheld) job: state Completed, 95/3/2 split, unused escrow back.
    function _settle(uint256 jobId, Job storage job) private {
        job.state = JobState.Completed;
        address provider = job.provider;
        Provider storage p = _providers[provider];
        p.activeJobs -= 1;
        p.jobsCompleted += 1;
        _setReputation(provider, p, p.reputation + (MAX_REPUTATION - p.reputation) / 20);
        uint256 price = job.price;
        uint256 refund = job.maxPrice - price;
        totalEscrow -= job.maxPrice;
        (uint256 providerAmount, uint256 treasuryFee, uint256 poolFee) = splitPrice(price);
        emit JobCompleted(jobId, provider, price, providerAmount, treasuryFee, poolFee, refund);
        _credit(provider, providerAmount);
        _credit(treasury, treasuryFee);
        _credit(routingPool, poolFee);
        _credit(job.requester, refund);
    }

    /// @dev End a failed job: release its escrow and the provider's slot, slash `bps` of the
    /// stake to `beneficiary`. The caller credits the escrow.
    function _release(uint256 jobId, Job storage job, Provider storage p, uint256 bps, address beneficiary)
        private
        returns (uint256 slashed)
    {
        totalEscrow -= job.maxPrice;
        p.activeJobs -= 1;
        slashed = p.stake * bps / BPS;
        p.stake -= slashed;
        totalStaked -= slashed;
        emit ProviderSlashed(job.provider, jobId, beneficiary, slashed, p.stake);
        _credit(beneficiary, slashed);
    }

    function _setReputation(address provider, Provider storage p, uint256 newReputation) private {
        uint16 old = p.reputation;
        p.reputation = uint16(newReputation);
        emit ReputationUpdated(provider, old, uint16(newReputation));
    }

    function _window(uint256 total, uint256 offset, uint256 limit) private pure returns (uint256 start, uint256 n) {
        if (offset >= total) return (total, 0);
        if (limit > MAX_PAGE_SIZE) limit = MAX_PAGE_SIZE;
        uint256 left = total - offset;
        return (offset, left < limit ? left : limit);
    }

    function _page(uint256[] storage list, uint256 offset, uint256 limit)
        private
        view
        returns (uint256[] memory ids, uint256 total)
    {
        total = list.length;
        (uint256 start, uint256 n) = _window(total, offset, limit);
        ids = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            ids[i] = list[start + i];
        }
    }
}
