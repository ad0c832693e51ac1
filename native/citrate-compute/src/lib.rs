//! Citrate's compute scheduler: admission, the job queue and the memory ledger of a provider.
//!
//! A provider lends a share of each device (a *node*: a GPU, or the CPU) to the compute network.
//! [`Scheduler`] admits jobs against those shares, keeps them queued by priority, places them on
//! the best feasible node (ComputeMarket's bid weights: price, reputation, load, latency) and
//! keeps a ledger in which each node's reserved memory is always the sum of its running jobs'
//! memory. Pure Rust, no Python: `citrate-py` exposes it as `citrate_native.Scheduler`, and
//! `citrate_compute.scheduler_ref` is a pure-Python reference with the same semantics (and the
//! same error messages), cross-checked on random operation sequences.
//!
//! Every refused call leaves the scheduler unchanged; `submit_many` is all-or-nothing.

mod error;
mod scheduler;
mod score;

pub use error::{job_type_name, Arg, JobPlace, SchedulerError};
pub use scheduler::{JobSpec, Ledger, NodeSpec, Placement, Scheduler};
pub use score::{basis_points, score, Scaled, ScoreInputs, SCALE};

/// The number of job types (ComputeMarket's: inference, embedding, training, LoRA, image).
pub const JOB_TYPE_COUNT: u8 = 5;

/// The job types' names, by number.
pub const JOB_TYPE_NAMES: [&str; JOB_TYPE_COUNT as usize] =
    ["inference", "embedding", "training", "lora", "image"];

/// The highest reputation (basis points).
pub const MAX_REPUTATION: u16 = 10_000;

/// The reputation of a node nothing is known about.
pub const DEFAULT_REPUTATION: u16 = 5_000;

/// Shorthand for the scheduler's results.
pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;
