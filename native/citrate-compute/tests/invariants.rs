//! Property tests: random operation sequences keep the ledger consistent, every placement is
//! feasible when it is made and goes to the best node by the public `score` (ties: lower price,
//! then earlier node), and after `schedule` no queued job fits anywhere.
#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::HashMap;

use citrate_compute::{score, JobSpec, NodeSpec, Scheduler, ScoreInputs};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    AddNode(u8, NodeSpec),
    SetAllocation(u8, u8),
    SetPaused(u8, bool),
    SetReputation(u8, u16),
    Submit(u8, JobSpec),
    SubmitMany(Vec<(u8, JobSpec)>),
    Schedule,
    Finish(u8),
    Cancel(u8),
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    let varied = (0u64..2000, 0u8..=100, 1u32..4, 1u32..32, 0u128..50, 0u32..100, 0u16..=10_000);
    // Few distinct values, so that scores tie often: at max price 10000, price 3 with
    // reputation 5004 ties price 0 with reputation 5000; equal nodes tie on price too.
    let tie_prone = (
        prop::sample::select(vec![400u64, 1000]),
        Just(100u8),
        1u32..3,
        prop::sample::select(vec![1u32, 3, 31]),
        prop::sample::select(vec![0u128, 3]),
        prop::sample::select(vec![0u32, 10]),
        prop::sample::select(vec![5000u16, 5004]),
    );
    prop_oneof![varied, tie_prone].prop_map(
        |(total_memory, allocation_percent, max_jobs, job_types, price, latency_ms, reputation)| {
            NodeSpec {
                total_memory,
                allocation_percent,
                max_jobs,
                job_types,
                price,
                latency_ms,
                reputation,
            }
        },
    )
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    let max_prices = prop_oneof![1u128..60, Just(10_000u128), Just(u128::MAX)];
    (0u8..5, 0u64..800, max_prices, -2i32..3, prop_oneof![Just(0u32), 1u32..120]).prop_map(
        |(job_type, memory, max_price, priority, max_latency_ms)| JobSpec {
            job_type,
            memory,
            max_price,
            priority,
            max_latency_ms,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..6, node_spec()).prop_map(|(n, s)| Op::AddNode(n, s)),
        1 => (0u8..6, 0u8..=100).prop_map(|(n, p)| Op::SetAllocation(n, p)),
        1 => (0u8..6, any::<bool>()).prop_map(|(n, p)| Op::SetPaused(n, p)),
        1 => (0u8..6, 0u16..=10_000).prop_map(|(n, r)| Op::SetReputation(n, r)),
        4 => (0u8..40, job_spec()).prop_map(|(j, s)| Op::Submit(j, s)),
        1 => prop::collection::vec((0u8..40, job_spec()), 0..6).prop_map(Op::SubmitMany),
        3 => Just(Op::Schedule),
        2 => (0u8..40).prop_map(Op::Finish),
        1 => (0u8..40).prop_map(Op::Cancel),
    ]
}

/// What the test knows about the nodes and jobs, to judge feasibility independently.
#[derive(Default)]
struct Model {
    nodes: HashMap<String, NodeSpec>,
    paused: HashMap<String, bool>,
    jobs: HashMap<String, JobSpec>,
}

fn feasible(s: &Scheduler, model: &Model, node_id: &str, job: &JobSpec) -> bool {
    let spec = model.nodes[node_id];
    let ledger = s.ledger(node_id).unwrap();
    !model.paused[node_id]
        && spec.serves(job.job_type)
        && ledger.running < spec.max_jobs as usize
        && ledger.free >= job.memory
        && spec.price <= job.max_price
        && (job.max_latency_ms == 0 || spec.latency_ms <= job.max_latency_ms)
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut s = Scheduler::new();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::AddNode(n, spec) => {
                let id = format!("n{n}");
                if s.add_node(&id, spec).is_ok() {
                    prop_assert!(!model.nodes.contains_key(&id));
                    model.nodes.insert(id.clone(), spec);
                    model.paused.insert(id, false);
                }
            }
            Op::SetAllocation(n, p) => {
                let id = format!("n{n}");
                if s.set_allocation(&id, p).is_ok() {
                    if let Some(spec) = model.nodes.get_mut(&id) {
                        spec.allocation_percent = p;
                    }
                }
            }
            Op::SetPaused(n, p) => {
                let id = format!("n{n}");
                if s.set_paused(&id, p).is_ok() {
                    model.paused.insert(id, p);
                }
            }
            Op::SetReputation(n, r) => {
                let id = format!("n{n}");
                if s.set_reputation(&id, r).is_ok() {
                    if let Some(spec) = model.nodes.get_mut(&id) {
                        spec.reputation = r;
                    }
                }
            }
            Op::Submit(j, spec) => {
                let id = format!("j{j}");
                if s.submit(&id, spec).is_ok() {
                    model.jobs.insert(id, spec);
                }
            }
            Op::SubmitMany(items) => {
                let batch: Vec<(String, JobSpec)> =
                    items.into_iter().map(|(j, spec)| (format!("j{j}"), spec)).collect();
                let before: Vec<String> = s.queued().map(String::from).collect();
                if s.submit_many(&batch).is_ok() {
                    model.jobs.extend(batch);
                } else {
                    let after: Vec<String> = s.queued().map(String::from).collect();
                    prop_assert_eq!(before, after, "a refused batch queued something");
                }
            }
            Op::Schedule => {
                let queued_before: Vec<String> = s.queued().map(String::from).collect();
                let mut ledgers: HashMap<String, _> =
                    s.nodes().map(|n| (n.to_owned(), s.ledger(n).unwrap())).collect();
                let order: Vec<String> = s.nodes().map(String::from).collect();
                for placement in s.schedule() {
                    // Feasible against the ledger as it was when this placement was made.
                    let job = model.jobs[&*placement.job_id];
                    let spec = model.nodes[&*placement.node_id];
                    // The best by the public score: highest score, then lower price, then
                    // earlier-added node.
                    let rank = |node_id: &String| {
                        let (spec, ledger) = (model.nodes[node_id], &ledgers[node_id]);
                        let feasible = !ledger.paused
                            && spec.serves(job.job_type)
                            && ledger.running < spec.max_jobs as usize
                            && ledger.free >= job.memory
                            && spec.price <= job.max_price
                            && (job.max_latency_ms == 0 || spec.latency_ms <= job.max_latency_ms);
                        feasible.then(|| {
                            score(&ScoreInputs {
                                max_price: job.max_price,
                                price: spec.price,
                                max_jobs: spec.max_jobs,
                                running: ledger.running as u32,
                                max_latency_ms: job.max_latency_ms,
                                latency_ms: spec.latency_ms,
                                reputation: spec.reputation,
                            })
                        })
                    };
                    let expected = order
                        .iter()
                        .enumerate()
                        .filter_map(|(i, n)| {
                            rank(n).map(|sc| (sc, Reverse(model.nodes[n].price), Reverse(i), n))
                        })
                        .max()
                        .map(|(_, _, _, n)| n.clone());
                    prop_assert_eq!(expected.as_deref(), Some(&*placement.node_id));
                    let ledger = ledgers.get_mut(&*placement.node_id).unwrap();
                    prop_assert!(spec.serves(job.job_type) && spec.price <= job.max_price);
                    prop_assert!(job.max_latency_ms == 0 || spec.latency_ms <= job.max_latency_ms);
                    prop_assert!(!ledger.paused && ledger.running < spec.max_jobs as usize);
                    prop_assert!(ledger.free >= job.memory, "{ledger:?} {job:?}");
                    ledger.free -= job.memory;
                    ledger.running += 1;
                    prop_assert!(queued_before.iter().any(|q| **q == *placement.job_id));
                }
                // Maximal: nothing left in the queue fits anywhere now.
                for job_id in s.queued() {
                    for node_id in s.nodes() {
                        prop_assert!(
                            !feasible(&s, &model, node_id, &model.jobs[job_id]),
                            "{job_id} fits {node_id} but stayed queued"
                        );
                    }
                }
            }
            Op::Finish(j) => {
                let id = format!("j{j}");
                let running = s.job_node(&id).is_ok_and(|n| n.is_some());
                prop_assert_eq!(s.finish(&id).is_ok(), running);
                if running {
                    model.jobs.remove(&id);
                }
            }
            Op::Cancel(j) => {
                let id = format!("j{j}");
                let known = s.job_node(&id).is_ok();
                prop_assert_eq!(s.cancel(&id).is_ok(), known);
                model.jobs.remove(&id);
            }
        }
        prop_assert!(s.check().is_ok(), "{:?}", s.check());
        for node_id in s.nodes() {
            let ledger = s.ledger(node_id).unwrap();
            let held: u64 =
                s.running(Some(node_id)).unwrap().iter().map(|id| model.jobs[*id].memory).sum();
            prop_assert_eq!(ledger.reserved, held);
            prop_assert!(ledger.running <= model.nodes[node_id].max_jobs as usize);
            prop_assert_eq!(ledger.free, ledger.share.saturating_sub(ledger.reserved));
        }
        let queued = s.queued().count();
        let running = s.running(None).unwrap().len();
        prop_assert_eq!(queued + running, model.jobs.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_invariants(ops in prop::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
