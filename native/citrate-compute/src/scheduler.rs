//! [`Scheduler`]: nodes, the job queue, placement and the memory ledger.

use std::cmp::Reverse;
use std::sync::Arc;

// foldhash: a fast hasher, randomly seeded per process (ids can come from requesters).
use foldhash::{HashMap, HashMapExt};

use crate::error::{Arg, JobPlace, SchedulerError};
use crate::score::{job_part, latency_score, node_part, to_f64, Estimate, Scaled};
use crate::{Result, DEFAULT_REPUTATION, JOB_TYPE_COUNT};

/// A node (a device, or the part of one lent to the network) as it is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpec {
    /// The device's memory in bytes.
    pub total_memory: u64,
    /// The percentage of `total_memory` lent to the network (0 to 100).
    pub allocation_percent: u8,
    /// The most jobs the node runs at once (at least 1).
    pub max_jobs: u32,
    /// Bit mask of the job types served: bit `t` for job type `t` (1 to 31).
    pub job_types: u32,
    /// The node's price per job in wei.
    pub price: u128,
    /// The node's expected latency in milliseconds.
    pub latency_ms: u32,
    /// The node's reputation in basis points (0 to 10000).
    pub reputation: u16,
}

impl NodeSpec {
    /// A node with price 0, latency 0 and the neutral reputation.
    pub fn new(total_memory: u64, allocation_percent: u8, max_jobs: u32, job_types: u32) -> Self {
        Self {
            total_memory,
            allocation_percent,
            max_jobs,
            job_types,
            price: 0,
            latency_ms: 0,
            reputation: DEFAULT_REPUTATION,
        }
    }

    /// Check the fields' ranges, in declaration order.
    pub fn validate(&self) -> Result<()> {
        Arg::AllocationPercent.check(u128::from(self.allocation_percent))?;
        Arg::MaxJobs.check(u128::from(self.max_jobs))?;
        Arg::JobTypes.check(u128::from(self.job_types))?;
        Arg::Reputation.check(u128::from(self.reputation))?;
        Ok(())
    }

    /// The memory lent to the network: `total_memory * allocation_percent // 100`.
    pub fn share(&self) -> u64 {
        share_of(self.total_memory, self.allocation_percent)
    }

    /// Whether the node serves jobs of `job_type`.
    pub fn serves(&self, job_type: u8) -> bool {
        job_type < JOB_TYPE_COUNT && (self.job_types >> job_type) & 1 == 1
    }
}

fn share_of(total_memory: u64, percent: u8) -> u64 {
    // At most total_memory (percent <= 100), so the conversion back always succeeds.
    u64::try_from(u128::from(total_memory) * u128::from(percent) / 100).unwrap_or(total_memory)
}

/// A job as it is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSpec {
    /// The job type's number (0 to 4, see [`crate::JOB_TYPE_NAMES`]).
    pub job_type: u8,
    /// The job's declared memory in bytes.
    pub memory: u64,
    /// The most the job pays, in wei (at least 1).
    pub max_price: u128,
    /// Higher runs first; equal priorities run in submission order.
    pub priority: i32,
    /// The highest node latency accepted, in milliseconds (0: no limit).
    pub max_latency_ms: u32,
}

impl JobSpec {
    /// Check the fields' ranges, in declaration order.
    pub fn validate(&self) -> Result<()> {
        Arg::JobType.check(u128::from(self.job_type))?;
        Arg::MaxPrice.check(self.max_price)?;
        Ok(())
    }
}

/// One node's memory ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    /// The device's memory.
    pub total: u64,
    /// The memory lent to the network (`total * allocation_percent // 100`).
    pub share: u64,
    /// The memory held by running jobs (may exceed `share` after the allocation was lowered).
    pub reserved: u64,
    /// `max(0, share - reserved)`.
    pub free: u64,
    /// The number of running jobs.
    pub running: usize,
    /// The most jobs the node runs at once.
    pub max_jobs: u32,
    /// Whether new placements are held back (thermal or power limit).
    pub paused: bool,
}

/// One placement made by [`Scheduler::schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The job placed.
    pub job_id: Arc<str>,
    /// The node it was placed on.
    pub node_id: Arc<str>,
    /// That node's position in the order nodes were added (as in [`Scheduler::nodes`]).
    pub node: usize,
}

#[derive(Debug)]
struct Node {
    id: Arc<str>,
    spec: NodeSpec,
    /// `spec.share()`, kept because placement reads it for every (job, node) pair.
    share: u64,
    paused: bool,
    reserved: u64,
    /// Running jobs as (placement number, id) in placement order: numbers only grow, so a new
    /// placement is pushed at the end.
    running: Vec<(u64, Arc<str>)>,
    /// `30 * reputation + 20 * loadScore`, the part of the score that depends on the node only;
    /// kept current by [`Node::refresh`], because placement reads it for every (job, node) pair.
    node_score: u64,
    /// `node_score` and the price as floats, for the estimated scores (see `best_node`).
    node_score_f64: f64,
    price_f64: f64,
}

impl Node {
    fn free(&self) -> u64 {
        self.share.saturating_sub(self.reserved)
    }

    fn refresh(&mut self) {
        self.node_score = node_part(self.spec.reputation, self.spec.max_jobs, self.running_count());
        // Exact: node scores are far below 2^53.
        self.node_score_f64 = self.node_score as f64;
        self.price_f64 = to_f64(self.spec.price);
    }

    fn running_count(&self) -> u32 {
        u32::try_from(self.running.len()).unwrap_or(u32::MAX)
    }

    /// Not paused and below its job limit: it may take a job this round.
    fn has_slot(&self) -> bool {
        !self.paused && self.running_count() < self.spec.max_jobs
    }

    fn ledger(&self) -> Ledger {
        Ledger {
            total: self.spec.total_memory,
            share: self.share,
            reserved: self.reserved,
            free: self.free(),
            running: self.running.len(),
            max_jobs: self.spec.max_jobs,
            paused: self.paused,
        }
    }
}

/// The queue order: priority descending, then submission number ascending.
type QueueKey = (Reverse<i32>, u64);

#[derive(Debug)]
struct QueueEntry {
    key: QueueKey,
    id: Arc<str>,
    spec: JobSpec,
}

#[derive(Debug, Clone, Copy)]
enum JobState {
    Queued,
    Running { node: usize, placement: u64 },
}

#[derive(Debug)]
struct Job {
    spec: JobSpec,
    key: QueueKey,
    state: JobState,
}

/// Admission, the job queue and the memory ledger of one provider.
///
/// * `add_node` adds a node; `set_allocation`, `set_paused` and `set_reputation` change one.
/// * `submit` / `submit_many` admit jobs into the queue: a job must fit the largest share of a
///   node that serves its type (otherwise [`SchedulerError::JobTooLarge`], or
///   [`SchedulerError::NoCapableNode`] when no node serves it). `submit_many` validates every
///   job before it queues any.
/// * `schedule` visits the queue in order (priority descending, then submission order) and
///   places each job on its best feasible node; a job that fits nowhere now stays queued and
///   later jobs may still be placed.
/// * `finish` and `cancel` release a running job's memory.
///
/// Argument errors come first, then unknown or duplicate ids, then admission.
#[derive(Debug, Default)]
pub struct Scheduler {
    nodes: Vec<Node>,
    node_index: HashMap<Arc<str>, usize>,
    jobs: HashMap<Arc<str>, Job>,
    /// Queued jobs, sorted by key.
    queue: Vec<QueueEntry>,
    next_seq: u64,
    next_placement: u64,
}

fn check_id(arg: Arg, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(arg.empty());
    }
    Ok(())
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a node. Errors: an empty id or a field out of range
    /// ([`SchedulerError::InvalidArgument`]), then [`SchedulerError::DuplicateNode`].
    pub fn add_node(&mut self, node_id: &str, spec: NodeSpec) -> Result<()> {
        check_id(Arg::NodeId, node_id)?;
        spec.validate()?;
        if self.node_index.contains_key(node_id) {
            return Err(SchedulerError::DuplicateNode { node_id: node_id.to_owned() });
        }
        let id: Arc<str> = Arc::from(node_id);
        self.node_index.insert(Arc::clone(&id), self.nodes.len());
        let mut node = Node {
            id,
            spec,
            share: spec.share(),
            paused: false,
            reserved: 0,
            running: Vec::new(),
            node_score: 0,
            node_score_f64: 0.0,
            price_f64: 0.0,
        };
        node.refresh();
        self.nodes.push(node);
        Ok(())
    }

    fn node_mut(&mut self, node_id: &str) -> Result<&mut Node> {
        match self.node_index.get(node_id) {
            Some(&index) => self
                .nodes
                .get_mut(index)
                .ok_or_else(|| SchedulerError::UnknownNode { node_id: node_id.to_owned() }),
            None => Err(SchedulerError::UnknownNode { node_id: node_id.to_owned() }),
        }
    }

    fn node(&self, node_id: &str) -> Result<&Node> {
        self.node_index
            .get(node_id)
            .and_then(|&index| self.nodes.get(index))
            .ok_or_else(|| SchedulerError::UnknownNode { node_id: node_id.to_owned() })
    }

    /// Change a node's allocation. Lowering it below what is reserved is allowed: running
    /// jobs keep their memory, and the node's free memory is 0 until enough of them end.
    pub fn set_allocation(&mut self, node_id: &str, percent: u8) -> Result<()> {
        Arg::Percent.check(u128::from(percent))?;
        let node = self.node_mut(node_id)?;
        node.spec.allocation_percent = percent;
        node.share = node.spec.share();
        Ok(())
    }

    /// Hold back (or allow again) new placements on a node; running jobs are not touched.
    pub fn set_paused(&mut self, node_id: &str, paused: bool) -> Result<()> {
        self.node_mut(node_id)?.paused = paused;
        Ok(())
    }

    /// Change a node's reputation (basis points).
    pub fn set_reputation(&mut self, node_id: &str, reputation: u16) -> Result<()> {
        Arg::Reputation.check(u128::from(reputation))?;
        let node = self.node_mut(node_id)?;
        node.spec.reputation = reputation;
        node.refresh();
        Ok(())
    }

    /// The largest share among the nodes serving each job type (paused or not).
    fn largest_shares(&self) -> [Option<u64>; JOB_TYPE_COUNT as usize] {
        let mut largest = [None; JOB_TYPE_COUNT as usize];
        for node in &self.nodes {
            for (job_type, slot) in (0u8..).zip(largest.iter_mut()) {
                if node.spec.serves(job_type) {
                    *slot = Some(slot.map_or(node.share, |s: u64| s.max(node.share)));
                }
            }
        }
        largest
    }

    /// The state checks of admission: a new id, a node that serves the type, a share it fits.
    fn admit(
        &self,
        job_id: &str,
        spec: &JobSpec,
        largest: &[Option<u64>; JOB_TYPE_COUNT as usize],
        batch: Option<&HashMap<&str, usize>>,
    ) -> Result<()> {
        if let Some(job) = self.jobs.get(job_id) {
            let place = match job.state {
                JobState::Queued => JobPlace::Queued,
                JobState::Running { .. } => JobPlace::Running,
            };
            return Err(SchedulerError::DuplicateJob { job_id: job_id.to_owned(), place });
        }
        if let Some(&first) = batch.and_then(|seen| seen.get(job_id)) {
            return Err(SchedulerError::DuplicateJob {
                job_id: job_id.to_owned(),
                place: JobPlace::Batch(first),
            });
        }
        match largest.get(usize::from(spec.job_type)).copied().flatten() {
            None => Err(SchedulerError::NoCapableNode {
                job_id: job_id.to_owned(),
                job_type: spec.job_type,
            }),
            Some(share) if spec.memory > share => Err(SchedulerError::JobTooLarge {
                job_id: job_id.to_owned(),
                memory: spec.memory,
                job_type: spec.job_type,
                largest_share: share,
            }),
            Some(_) => Ok(()),
        }
    }

    fn new_entry(&mut self, job_id: &str, spec: JobSpec) -> QueueEntry {
        let key = (Reverse(spec.priority), self.next_seq);
        self.next_seq += 1;
        let id: Arc<str> = Arc::from(job_id);
        self.jobs.insert(Arc::clone(&id), Job { spec, key, state: JobState::Queued });
        QueueEntry { key, id, spec }
    }

    /// Admit one job into the queue. Errors, in this order: an empty id or a field out of
    /// range, [`SchedulerError::DuplicateJob`], [`SchedulerError::NoCapableNode`],
    /// [`SchedulerError::JobTooLarge`].
    pub fn submit(&mut self, job_id: &str, spec: JobSpec) -> Result<()> {
        check_id(Arg::JobId, job_id)?;
        spec.validate()?;
        self.admit(job_id, &spec, &self.largest_shares(), None)?;
        let entry = self.new_entry(job_id, spec);
        // The new key is the largest of its priority (submission numbers only grow).
        let at = self.queue.partition_point(|e| e.key < entry.key);
        self.queue.insert(at, entry);
        Ok(())
    }

    /// Admit a batch of jobs, all or nothing.
    ///
    /// Every item's arguments are checked first (in order), then every item against the
    /// scheduler and the items before it (in order); the first error is returned wrapped in
    /// [`SchedulerError::Batch`] with the item's index, and nothing is queued.
    pub fn submit_many<S: AsRef<str>>(&mut self, jobs: &[(S, JobSpec)]) -> Result<()> {
        for (index, (job_id, spec)) in jobs.iter().enumerate() {
            check_id(Arg::JobId, job_id.as_ref())
                .and_then(|()| spec.validate())
                .map_err(|e| e.in_batch(index))?;
        }
        let largest = self.largest_shares();
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(jobs.len());
        self.jobs.reserve(jobs.len());
        for (index, (job_id, spec)) in jobs.iter().enumerate() {
            let job_id = job_id.as_ref();
            self.admit(job_id, spec, &largest, Some(&seen)).map_err(|e| e.in_batch(index))?;
            seen.insert(job_id, index);
        }
        self.queue.reserve(jobs.len());
        for (job_id, spec) in jobs {
            let entry = self.new_entry(job_id.as_ref(), *spec);
            self.queue.push(entry);
        }
        // Keys are unique, so an unstable sort gives the same order as a stable one.
        self.queue.sort_unstable_by_key(|e| e.key);
        Ok(())
    }

    /// The position in `open` of the best feasible node for `spec`, if any.
    ///
    /// Best: the highest score; ties go to the lower price, then to the earlier-added node
    /// (`open` is in add order and only a strictly better node replaces the best so far).
    fn best_node(&self, spec: &JobSpec, open: &[usize]) -> Option<usize> {
        // The job's side of the score, set up once: ratios to its max price and latency limit.
        let price_ratio = Scaled::new(spec.max_price);
        let latency_limit = Scaled::new(spec.max_latency_ms.into());
        let bit = 1u32.checked_shl(spec.job_type.into()).unwrap_or(0);
        let estimate = Estimate::new(spec.max_price, spec.max_latency_ms);
        let mut best: Option<(usize, u64, u128)> = None;
        let mut best_f64 = f64::NEG_INFINITY;
        for (pos, &index) in open.iter().enumerate() {
            let Some(node) = self.nodes.get(index) else { continue };
            let feasible = node.spec.job_types & bit != 0
                && node.free() >= spec.memory
                && node.spec.price <= spec.max_price
                && (spec.max_latency_ms == 0 || node.spec.latency_ms <= spec.max_latency_ms);
            if !feasible {
                continue;
            }
            // Most nodes lose by far: rule them out on the estimated score (see `Estimate`)
            // before computing the exact one.
            if estimate.score(node.price_f64, node.spec.latency_ms, node.node_score_f64) + 1.0
                < best_f64
            {
                continue;
            }
            let s = job_part(
                price_ratio.of(spec.max_price - node.spec.price),
                latency_score(&latency_limit, node.spec.latency_ms),
            ) + node.node_score;
            let better = match best {
                None => true,
                Some((_, best_score, best_price)) => {
                    s > best_score || (s == best_score && node.spec.price < best_price)
                }
            };
            if better {
                best = Some((pos, s, node.spec.price));
                best_f64 = s as f64;
            }
        }
        best.map(|(pos, _, _)| pos)
    }

    fn place(&mut self, entry: &QueueEntry, node_index: usize) -> Option<Placement> {
        let placement = self.next_placement;
        let node = self.nodes.get_mut(node_index)?;
        let job = self.jobs.get_mut(&entry.id)?;
        self.next_placement += 1;
        job.state = JobState::Running { node: node_index, placement };
        node.reserved = node.reserved.saturating_add(entry.spec.memory);
        node.running.push((placement, Arc::clone(&entry.id)));
        node.refresh();
        Some(Placement {
            job_id: Arc::clone(&entry.id),
            node_id: Arc::clone(&node.id),
            node: node_index,
        })
    }

    /// Place what can be placed now; returns the placements in the order they were made.
    ///
    /// A node is feasible for a job if it is not paused, serves the job's type, runs fewer
    /// than `max_jobs` jobs, has `free >= memory`, `price <= max_price`, and
    /// `latency_ms <= max_latency_ms` (when the job sets a limit). Each placement updates the
    /// node's ledger before the next job is considered.
    pub fn schedule(&mut self) -> Vec<Placement> {
        // Nodes that may take a job; a node that fills up (or is paused) cannot take another
        // in this call, so it is dropped from the scan. The order stays the add order.
        let mut open: Vec<usize> =
            self.nodes.iter().enumerate().filter(|(_, n)| n.has_slot()).map(|(i, _)| i).collect();
        let queue = std::mem::take(&mut self.queue);
        let mut remaining = Vec::with_capacity(queue.len());
        let mut placements = Vec::new();
        let mut entries = queue.into_iter();
        for entry in entries.by_ref() {
            if open.is_empty() {
                remaining.push(entry);
                break;
            }
            let Some(pos) = self.best_node(&entry.spec, &open) else {
                remaining.push(entry);
                continue;
            };
            let Some(&node_index) = open.get(pos) else {
                remaining.push(entry);
                continue;
            };
            match self.place(&entry, node_index) {
                Some(placement) => placements.push(placement),
                None => remaining.push(entry),
            }
            if self.nodes.get(node_index).is_none_or(|n| !n.has_slot()) {
                open.remove(pos);
            }
        }
        remaining.extend(entries);
        self.queue = remaining;
        placements
    }

    /// Release a running job: its node's reserved memory and slot.
    fn release(&mut self, job_id: &str, node: usize, placement: u64, memory: u64) {
        self.jobs.remove(job_id);
        if let Some(node) = self.nodes.get_mut(node) {
            if let Ok(at) = node.running.binary_search_by_key(&placement, |(p, _)| *p) {
                node.running.remove(at);
            }
            node.reserved = node.reserved.saturating_sub(memory);
            node.refresh();
        }
    }

    /// A running job ended: release it. [`SchedulerError::UnknownJob`] for a job that is not
    /// running (queued, or not known).
    pub fn finish(&mut self, job_id: &str) -> Result<()> {
        match self.jobs.get(job_id) {
            Some(&Job { spec, state: JobState::Running { node, placement }, .. }) => {
                self.release(job_id, node, placement, spec.memory);
                Ok(())
            }
            Some(Job { state: JobState::Queued, .. }) => {
                Err(SchedulerError::UnknownJob { job_id: job_id.to_owned(), queued: true })
            }
            None => Err(SchedulerError::UnknownJob { job_id: job_id.to_owned(), queued: false }),
        }
    }

    /// Drop a queued job, or release a running one. [`SchedulerError::UnknownJob`] otherwise.
    pub fn cancel(&mut self, job_id: &str) -> Result<()> {
        match self.jobs.get(job_id) {
            Some(&Job { spec, state: JobState::Running { node, placement }, .. }) => {
                self.release(job_id, node, placement, spec.memory);
                Ok(())
            }
            Some(&Job { key, state: JobState::Queued, .. }) => {
                if let Ok(at) = self.queue.binary_search_by_key(&key, |e| e.key) {
                    self.queue.remove(at);
                }
                self.jobs.remove(job_id);
                Ok(())
            }
            None => Err(SchedulerError::UnknownJob { job_id: job_id.to_owned(), queued: false }),
        }
    }

    /// A node's memory ledger.
    pub fn ledger(&self, node_id: &str) -> Result<Ledger> {
        Ok(self.node(node_id)?.ledger())
    }

    /// The queued job ids, in scheduling order.
    pub fn queued(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.queue.iter().map(|e| &*e.id)
    }

    /// The running job ids in placement order: of one node, or of all nodes.
    pub fn running(&self, node_id: Option<&str>) -> Result<Vec<&str>> {
        if let Some(node_id) = node_id {
            return Ok(self.node(node_id)?.running.iter().map(|(_, id)| &**id).collect());
        }
        let mut all: Vec<(u64, &str)> =
            self.nodes.iter().flat_map(|n| n.running.iter().map(|(p, id)| (*p, &**id))).collect();
        all.sort_unstable_by_key(|(placement, _)| *placement);
        Ok(all.into_iter().map(|(_, id)| id).collect())
    }

    /// The number of running jobs on all nodes.
    pub fn running_count(&self) -> usize {
        self.nodes.iter().map(|n| n.running.len()).sum()
    }

    /// The number of queued jobs.
    pub fn queued_count(&self) -> usize {
        self.queue.len()
    }

    /// The node a job runs on; `None` while it is queued. [`SchedulerError::UnknownJob`] if the
    /// job is neither queued nor running.
    pub fn job_node(&self, job_id: &str) -> Result<Option<&str>> {
        match self.jobs.get(job_id) {
            Some(Job { state: JobState::Running { node, .. }, .. }) => {
                Ok(self.nodes.get(*node).map(|n| &*n.id))
            }
            Some(Job { state: JobState::Queued, .. }) => Ok(None),
            None => Err(SchedulerError::UnknownJob { job_id: job_id.to_owned(), queued: false }),
        }
    }

    /// The node ids, in the order they were added.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.nodes.iter().map(|n| &*n.id)
    }

    /// Verify the ledger: on every node, reserved memory equals the sum of its running jobs'
    /// memory (from the job table) and the node lists exactly that many running jobs.
    pub fn check(&self) -> Result<()> {
        let mut held = vec![(0u128, 0usize); self.nodes.len()];
        for job in self.jobs.values() {
            if let JobState::Running { node, .. } = job.state {
                if let Some((memory, count)) = held.get_mut(node) {
                    *memory += u128::from(job.spec.memory);
                    *count += 1;
                }
            }
        }
        for (node, (memory, count)) in self.nodes.iter().zip(held) {
            if u128::from(node.reserved) != memory || node.running.len() != count {
                return Err(SchedulerError::LedgerInconsistent {
                    node_id: node.id.to_string(),
                    reserved: node.reserved,
                    held: memory,
                    running: count,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(job_type: u8, memory: u64) -> JobSpec {
        JobSpec { job_type, memory, max_price: 100, priority: 0, max_latency_ms: 0 }
    }

    #[test]
    fn share_rounds_down_and_never_overflows() {
        assert_eq!(NodeSpec::new(999, 50, 1, 1).share(), 499);
        assert_eq!(NodeSpec::new(u64::MAX, 100, 1, 1).share(), u64::MAX);
        assert_eq!(NodeSpec::new(u64::MAX, 99, 1, 1).share(), 18_262_276_632_972_456_098);
    }

    #[test]
    fn check_detects_a_corrupted_ledger() {
        let mut s = Scheduler::new();
        s.add_node("n", NodeSpec::new(100, 100, 2, 1)).unwrap();
        s.submit("a", job(0, 10)).unwrap();
        s.schedule();
        s.check().unwrap();
        s.nodes[0].reserved += 1;
        let err = s.check().unwrap_err();
        assert_eq!(
            err,
            SchedulerError::LedgerInconsistent {
                node_id: "n".into(),
                reserved: 11,
                held: 10,
                running: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "node `n` has 11 bytes reserved but its 1 running jobs hold 10 bytes\n\
             hint: this is a bug in the scheduler; please report it"
        );
        s.nodes[0].reserved -= 1;
        s.nodes[0].running.clear();
        assert!(matches!(s.check(), Err(SchedulerError::LedgerInconsistent { .. })));
    }

    #[test]
    fn full_nodes_leave_the_scan_but_the_queue_is_kept_in_order() {
        let mut s = Scheduler::new();
        s.add_node("n", NodeSpec::new(100, 100, 1, 1)).unwrap();
        for id in ["a", "b", "c"] {
            s.submit(id, job(0, 1)).unwrap();
        }
        let placed = s.schedule();
        assert_eq!(placed.len(), 1);
        assert_eq!(s.queued().collect::<Vec<_>>(), ["b", "c"]);
    }
}
