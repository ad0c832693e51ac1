//! The scheduler's errors and the arguments it validates.
//!
//! Messages are lowercase, name the offending value in backticks and end with a `hint:` line
//! saying what to do. The pure-Python reference (`citrate_compute.scheduler_ref`) produces the
//! same messages word for word; the cross-check tests compare them.

use std::fmt;

use crate::JOB_TYPE_NAMES;

/// A checked argument of the scheduler's API: its name (as the Python keyword), range and hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arg {
    /// A node's id (a non-empty string).
    NodeId,
    /// A job's id (a non-empty string).
    JobId,
    /// A node's device memory in bytes.
    TotalMemory,
    /// The percentage of a node's memory lent to the network (`add_node`).
    AllocationPercent,
    /// The percentage of a node's memory lent to the network (`set_allocation`).
    Percent,
    /// The most jobs a node runs at once.
    MaxJobs,
    /// The bit mask of job types a node serves.
    JobTypes,
    /// A node's price per job in wei.
    Price,
    /// A node's expected latency in milliseconds.
    LatencyMs,
    /// A node's reputation in basis points.
    Reputation,
    /// A job's type number.
    JobType,
    /// A job's declared memory in bytes.
    Memory,
    /// The most a job pays, in wei.
    MaxPrice,
    /// A job's priority (higher first).
    Priority,
    /// A job's latency limit in milliseconds (0: none).
    MaxLatencyMs,
}

impl Arg {
    /// The argument's name, as the Python keyword argument.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NodeId => "node_id",
            Self::JobId => "job_id",
            Self::TotalMemory => "total_memory",
            Self::AllocationPercent => "allocation_percent",
            Self::Percent => "percent",
            Self::MaxJobs => "max_jobs",
            Self::JobTypes => "job_types",
            Self::Price => "price",
            Self::LatencyMs => "latency_ms",
            Self::Reputation => "reputation",
            Self::JobType => "job_type",
            Self::Memory => "memory",
            Self::MaxPrice => "max_price",
            Self::Priority => "priority",
            Self::MaxLatencyMs => "max_latency_ms",
        }
    }

    /// The smallest value allowed (integer arguments; 0 for the ids).
    pub const fn min(self) -> i128 {
        match self {
            Self::MaxJobs | Self::JobTypes | Self::MaxPrice => 1,
            Self::Priority => i32::MIN as i128,
            _ => 0,
        }
    }

    /// The largest value allowed (integer arguments; 0 for the ids).
    pub const fn max(self) -> u128 {
        match self {
            Self::NodeId | Self::JobId => 0,
            Self::TotalMemory | Self::Memory => u64::MAX as u128,
            Self::AllocationPercent | Self::Percent => 100,
            Self::MaxJobs | Self::LatencyMs | Self::MaxLatencyMs => u32::MAX as u128,
            Self::JobTypes => (1 << crate::JOB_TYPE_COUNT) - 1,
            Self::Price | Self::MaxPrice => u128::MAX,
            Self::Reputation => crate::MAX_REPUTATION as u128,
            Self::JobType => crate::JOB_TYPE_COUNT as u128 - 1,
            Self::Priority => i32::MAX as u128,
        }
    }

    /// What to do about a bad value.
    pub const fn hint(self) -> &'static str {
        match self {
            Self::NodeId => "give every node a unique, non-empty id (e.g. `gpu0`)",
            Self::JobId => "give every job a unique, non-empty id (e.g. the market's job id)",
            Self::TotalMemory => "pass the device's memory in bytes",
            Self::AllocationPercent | Self::Percent => {
                "the allocation is the share of the device's memory lent to the network, in percent"
            }
            Self::MaxJobs => "a node runs at least one job; to stop new placements, pause it",
            Self::JobTypes => {
                "job_types is a bit mask of the job types served: 1 inference, 2 embedding, \
                 4 training, 8 lora, 16 image (3 = inference and embedding)"
            }
            Self::Price => "pass the node's price per job in wei",
            Self::LatencyMs => "pass the node's expected latency in milliseconds",
            Self::Reputation => "reputation is in basis points: 0 to 10000 (5000 is neutral)",
            Self::JobType => "job types are 0 inference, 1 embedding, 2 training, 3 lora, 4 image",
            Self::Memory => "pass the job's declared memory in bytes",
            Self::MaxPrice => "pass the most the job pays in wei; it must be positive",
            Self::Priority => "priorities are 32-bit signed integers; higher runs first",
            Self::MaxLatencyMs => "pass a latency limit in milliseconds, or 0 for none",
        }
    }

    /// Check an unsigned value against the range; `Err` names the argument and the value.
    pub fn check(self, value: u128) -> Result<u128, SchedulerError> {
        // `min()` is never above 1 for an unsigned argument.
        if value > self.max() || (self.min() > 0 && value < self.min().unsigned_abs()) {
            return Err(self.invalid(value));
        }
        Ok(value)
    }

    /// Check a signed value against the range; `Err` names the argument and the value.
    pub fn check_signed(self, value: i128) -> Result<i128, SchedulerError> {
        let above = u128::try_from(value).is_ok_and(|v| v > self.max());
        if value < self.min() || above {
            return Err(self.invalid(value));
        }
        Ok(value)
    }

    /// The error for `value` (given as text, so that any integer fits).
    pub fn invalid(self, value: impl fmt::Display) -> SchedulerError {
        SchedulerError::InvalidArgument { arg: self, value: value.to_string() }
    }

    /// The error for an empty id (`NodeId` or `JobId`).
    pub fn empty(self) -> SchedulerError {
        SchedulerError::InvalidArgument { arg: self, value: String::new() }
    }
}

/// Where a duplicate job id was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPlace {
    /// In the queue.
    Queued,
    /// Running on a node.
    Running,
    /// Earlier in the same `submit_many` batch, at this index.
    Batch(usize),
}

/// Why a scheduler call was refused. A refused call changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    /// An argument out of its range, or an empty id.
    #[error("{}", invalid_argument(*.arg, .value))]
    InvalidArgument {
        /// The argument.
        arg: Arg,
        /// The value given, as text (empty for an empty id).
        value: String,
    },
    /// A `submit_many` item is a sequence of the wrong length.
    #[error(
        "a job is a tuple (job_id, job_type, memory, max_price, priority, max_latency_ms) \
         of 6 items, got `{len}` items\nhint: pass one 6-item tuple per job"
    )]
    BatchItemLength {
        /// The number of items found.
        len: usize,
    },
    /// `add_node` with an id that is already in use.
    #[error(
        "node `{node_id}` is already added\nhint: node ids are unique; change a node with \
         set_allocation, set_paused or set_reputation"
    )]
    DuplicateNode {
        /// The node id.
        node_id: String,
    },
    /// A node id that is not known.
    #[error("there is no node `{node_id}`\nhint: add it with add_node first (nodes() lists them)")]
    UnknownNode {
        /// The node id.
        node_id: String,
    },
    /// `submit` with a job id that is queued, running, or earlier in the batch.
    #[error("{}", duplicate_job(.job_id, *.place))]
    DuplicateJob {
        /// The job id.
        job_id: String,
        /// Where the id is already in use.
        place: JobPlace,
    },
    /// A job id that is neither queued nor running, or `finish` of a queued job.
    #[error("{}", unknown_job(.job_id, *.queued))]
    UnknownJob {
        /// The job id.
        job_id: String,
        /// The job is queued (for `finish`, which only takes running jobs).
        queued: bool,
    },
    /// A job larger than the share of every node that serves its type.
    #[error(
        "job `{job_id}` needs `{memory}` bytes but the largest share of a node serving {} jobs \
         is {largest_share} bytes\nhint: lower the job's memory, or raise a node's allocation \
         (set_allocation)",
        job_type_name(*.job_type)
    )]
    JobTooLarge {
        /// The job id.
        job_id: String,
        /// The job's memory.
        memory: u64,
        /// The job's type.
        job_type: u8,
        /// The largest share among the nodes serving that type.
        largest_share: u64,
    },
    /// No node serves the job's type.
    #[error(
        "no node serves {} jobs (job `{job_id}`)\nhint: add a node whose job_types include {}",
        job_type_name(*.job_type),
        1u32 << .job_type
    )]
    NoCapableNode {
        /// The job id.
        job_id: String,
        /// The job's type.
        job_type: u8,
    },
    /// A node's reserved memory differs from the sum of its running jobs' memory (a bug).
    #[error(
        "node `{node_id}` has {reserved} bytes reserved but its {running} running jobs hold \
         {held} bytes\nhint: this is a bug in the scheduler; please report it"
    )]
    LedgerInconsistent {
        /// The node id.
        node_id: String,
        /// The node's reserved memory.
        reserved: u64,
        /// The sum of its running jobs' memory.
        held: u128,
        /// The number of its running jobs.
        running: usize,
    },
    /// An error in one item of a `submit_many` batch (the batch was not queued).
    #[error("batch item {index}: {source}")]
    Batch {
        /// The item's index in the batch.
        index: usize,
        /// The item's error.
        source: Box<SchedulerError>,
    },
}

impl SchedulerError {
    /// The error itself, without the `Batch` wrapper(s).
    pub fn innermost(&self) -> &Self {
        match self {
            Self::Batch { source, .. } => source.innermost(),
            other => other,
        }
    }

    /// Wrap in `Batch` for item `index`.
    pub fn in_batch(self, index: usize) -> Self {
        Self::Batch { index, source: Box::new(self) }
    }
}

/// The name of a job type in messages (`inference`, ...; a number if out of range).
pub fn job_type_name(job_type: u8) -> String {
    JOB_TYPE_NAMES
        .get(usize::from(job_type))
        .map_or_else(|| format!("type-{job_type}"), |name| (*name).to_owned())
}

fn invalid_argument(arg: Arg, value: &str) -> String {
    let name = arg.name();
    if matches!(arg, Arg::NodeId | Arg::JobId) {
        return format!("`{name}` is empty\nhint: {}", arg.hint());
    }
    format!(
        "`{name}` is `{value}`; it must be an integer from {} to {}\nhint: {}",
        lower_text(arg.min()),
        upper_text(arg.max()),
        arg.hint()
    )
}

/// A lower bound in messages (`-2**31` for the 32-bit priority).
fn lower_text(bound: i128) -> String {
    if bound == i128::from(i32::MIN) {
        "-2**31".to_owned()
    } else {
        bound.to_string()
    }
}

/// An upper bound in messages: integer type limits as powers of two, others in decimal.
fn upper_text(bound: u128) -> String {
    match bound {
        u128::MAX => "2**128 - 1".to_owned(),
        b if b == u128::from(u64::MAX) => "2**64 - 1".to_owned(),
        b if b == u128::from(u32::MAX) => "2**32 - 1".to_owned(),
        b if b == u128::from(i32::MAX.unsigned_abs()) => "2**31 - 1".to_owned(),
        b => b.to_string(),
    }
}

fn duplicate_job(job_id: &str, place: JobPlace) -> String {
    let hint = "hint: job ids are unique among queued and running jobs; \
                finish or cancel the other job first";
    match place {
        JobPlace::Queued => format!("job `{job_id}` is already queued\n{hint}"),
        JobPlace::Running => format!("job `{job_id}` is already running\n{hint}"),
        JobPlace::Batch(first) => format!(
            "job `{job_id}` is already batch item {first}\nhint: list each job once in a batch"
        ),
    }
}

fn unknown_job(job_id: &str, queued: bool) -> String {
    if queued {
        format!("job `{job_id}` is queued, not running\nhint: use cancel to drop a queued job")
    } else {
        format!(
            "there is no queued or running job `{job_id}`\nhint: it may have finished or been \
             cancelled already (queued() and running() list the current jobs)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_value_range_and_hint() {
        let err = Arg::AllocationPercent.check(150).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`allocation_percent` is `150`; it must be an integer from 0 to 100\n\
             hint: the allocation is the share of the device's memory lent to the network, \
             in percent"
        );
        assert_eq!(Arg::MaxPrice.check(0).unwrap_err(), Arg::MaxPrice.invalid(0));
        assert_eq!(Arg::MaxPrice.check(u128::MAX), Ok(u128::MAX));
        assert!(Arg::JobTypes.check(32).is_err());
        assert_eq!(Arg::JobTypes.check(31), Ok(31));
        assert!(Arg::JobTypes.check(0).is_err());
        assert!(Arg::Memory.check(u128::from(u64::MAX) + 1).is_err());
        assert!(Arg::Memory.check_signed(-1).is_err());
        assert_eq!(Arg::Priority.check_signed(i128::from(i32::MIN)), Ok(i128::from(i32::MIN)));
        assert!(Arg::Priority.check_signed(i128::from(i32::MIN) - 1).is_err());
        assert!(Arg::Priority.check_signed(i128::from(i32::MAX) + 1).is_err());
        assert!(Arg::Priority.check(u128::from(i32::MAX as u32) + 1).is_err());
    }

    #[test]
    fn empty_id_message() {
        assert_eq!(
            Arg::NodeId.empty().to_string(),
            "`node_id` is empty\nhint: give every node a unique, non-empty id (e.g. `gpu0`)"
        );
    }

    #[test]
    fn batch_wrapper_keeps_the_inner_error() {
        let inner = SchedulerError::UnknownNode { node_id: "n".into() };
        let err = inner.clone().in_batch(3);
        assert_eq!(err.innermost(), &inner);
        assert!(err.to_string().starts_with("batch item 3: there is no node `n`"));
    }

    #[test]
    fn every_message_has_a_hint() {
        let errors = [
            SchedulerError::BatchItemLength { len: 5 },
            SchedulerError::DuplicateNode { node_id: "n".into() },
            SchedulerError::UnknownNode { node_id: "n".into() },
            SchedulerError::DuplicateJob { job_id: "j".into(), place: JobPlace::Queued },
            SchedulerError::DuplicateJob { job_id: "j".into(), place: JobPlace::Running },
            SchedulerError::DuplicateJob { job_id: "j".into(), place: JobPlace::Batch(0) },
            SchedulerError::UnknownJob { job_id: "j".into(), queued: true },
            SchedulerError::UnknownJob { job_id: "j".into(), queued: false },
            SchedulerError::JobTooLarge {
                job_id: "j".into(),
                memory: 2,
                job_type: 1,
                largest_share: 1,
            },
            SchedulerError::NoCapableNode { job_id: "j".into(), job_type: 4 },
            SchedulerError::LedgerInconsistent {
                node_id: "n".into(),
                reserved: 1,
                held: 2,
                running: 1,
            },
        ];
        for err in errors {
            assert!(err.to_string().contains("\nhint: "), "{err}");
        }
        assert_eq!(
            SchedulerError::NoCapableNode { job_id: "j".into(), job_type: 4 }.to_string(),
            "no node serves image jobs (job `j`)\nhint: add a node whose job_types include 16"
        );
        assert_eq!(job_type_name(9), "type-9");
    }
}
