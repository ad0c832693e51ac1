//! Behaviour of the scheduler through its public API: admission, ordering, placement,
//! release, pausing, allocation changes and every error.
#![allow(clippy::unwrap_used)]

use citrate_compute::{Arg, JobPlace, JobSpec, Ledger, NodeSpec, Scheduler, SchedulerError};

const GIB: u64 = 1 << 30;

fn node(total_memory: u64, allocation_percent: u8, max_jobs: u32, job_types: u32) -> NodeSpec {
    NodeSpec::new(total_memory, allocation_percent, max_jobs, job_types)
}

fn job(job_type: u8, memory: u64) -> JobSpec {
    JobSpec { job_type, memory, max_price: 1_000, priority: 0, max_latency_ms: 0 }
}

fn placements(s: &mut Scheduler) -> Vec<(String, String)> {
    s.schedule().into_iter().map(|p| (p.job_id.to_string(), p.node_id.to_string())).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(j, n)| ((*j).to_owned(), (*n).to_owned())).collect()
}

#[test]
fn a_job_is_placed_and_released() {
    let mut s = Scheduler::new();
    s.add_node("gpu0", node(8 * GIB, 50, 2, 0b11)).unwrap();
    s.submit("j1", job(0, GIB)).unwrap();
    assert_eq!(s.queued().collect::<Vec<_>>(), ["j1"]);
    assert_eq!(s.job_node("j1").unwrap(), None);
    assert_eq!(placements(&mut s), pairs(&[("j1", "gpu0")]));
    assert_eq!(
        s.ledger("gpu0").unwrap(),
        Ledger {
            total: 8 * GIB,
            share: 4 * GIB,
            reserved: GIB,
            free: 3 * GIB,
            running: 1,
            max_jobs: 2,
            paused: false
        }
    );
    assert_eq!(s.job_node("j1").unwrap(), Some("gpu0"));
    assert_eq!(s.running(None).unwrap(), ["j1"]);
    assert_eq!(s.running(Some("gpu0")).unwrap(), ["j1"]);
    s.check().unwrap();
    s.finish("j1").unwrap();
    assert_eq!(s.ledger("gpu0").unwrap().reserved, 0);
    assert_eq!(s.ledger("gpu0").unwrap().running, 0);
    assert!(matches!(s.job_node("j1"), Err(SchedulerError::UnknownJob { queued: false, .. })));
    // A finished id may be used again.
    s.submit("j1", job(1, GIB)).unwrap();
    s.check().unwrap();
}

#[test]
fn queue_order_is_priority_then_submission() {
    let mut s = Scheduler::new();
    s.add_node("n", node(100, 100, 10, 1)).unwrap();
    let with_priority = |priority| JobSpec { priority, ..job(0, 1) };
    s.submit("low", with_priority(-5)).unwrap();
    s.submit("a", with_priority(1)).unwrap();
    s.submit("b", with_priority(1)).unwrap();
    s.submit("top", with_priority(i32::MAX)).unwrap();
    s.submit_many(&[("c", with_priority(1)), ("zero", with_priority(0))]).unwrap();
    assert_eq!(s.queued().collect::<Vec<_>>(), ["top", "a", "b", "c", "zero", "low"]);
    let order: Vec<String> = placements(&mut s).into_iter().map(|(j, _)| j).collect();
    assert_eq!(order, ["top", "a", "b", "c", "zero", "low"]);
    assert_eq!(s.running(None).unwrap(), ["top", "a", "b", "c", "zero", "low"]);
}

#[test]
fn score_prefers_price_reputation_load_and_latency() {
    let mut s = Scheduler::new();
    s.add_node("pricey", NodeSpec { price: 900, ..node(100, 100, 4, 1) }).unwrap();
    s.add_node("cheap", NodeSpec { price: 100, ..node(100, 100, 4, 1) }).unwrap();
    s.submit("j", job(0, 1)).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("j", "cheap")]));

    let mut s = Scheduler::new();
    s.add_node("a", node(100, 100, 4, 1)).unwrap();
    s.add_node("b", NodeSpec { reputation: 9000, ..node(100, 100, 4, 1) }).unwrap();
    s.submit("j", job(0, 1)).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("j", "b")]));

    // Load: the second job goes to the emptier node.
    let mut s = Scheduler::new();
    s.add_node("a", node(100, 100, 2, 1)).unwrap();
    s.add_node("b", node(100, 100, 2, 1)).unwrap();
    s.submit_many(&[("j1", job(0, 1)), ("j2", job(0, 1))]).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("j1", "a"), ("j2", "b")]));

    // Latency counts only when the job sets a limit.
    let mut s = Scheduler::new();
    s.add_node("far", NodeSpec { latency_ms: 90, ..node(100, 100, 4, 1) }).unwrap();
    s.add_node("near", NodeSpec { latency_ms: 10, ..node(100, 100, 4, 1) }).unwrap();
    s.submit("any", job(0, 1)).unwrap();
    s.submit("fast", JobSpec { max_latency_ms: 100, ..job(0, 1) }).unwrap();
    s.submit("too-fast", JobSpec { max_latency_ms: 5, ..job(0, 1) }).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("any", "far"), ("fast", "near")]));
    assert_eq!(s.queued().collect::<Vec<_>>(), ["too-fast"]);
}

#[test]
fn ties_go_to_the_lower_price_then_the_earlier_node() {
    let mut s = Scheduler::new();
    let max_price = 10_000;
    s.add_node("b", NodeSpec { price: 1, reputation: 5000, ..node(10, 100, 1, 1) }).unwrap();
    s.add_node("a", NodeSpec { price: 0, reputation: 4998, ..node(10, 100, 1, 1) }).unwrap();
    // Price and reputation parts: b 40 * 9999 + 30 * 5000 = 549_960, a 40 * 10000 + 30 * 4998
    // = 549_940: b wins outright.
    s.submit("j", JobSpec { max_price, ..job(0, 1) }).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("j", "b")]));

    // Exactly equal: b at price 3 (40 * 9997 = 399_880) + 30 * 5004 = 550_000;
    // a at price 0 (400_000) + 30 * 5000 = 550_000. The lower price (a) wins though added later.
    let mut s = Scheduler::new();
    s.add_node("b", NodeSpec { price: 3, reputation: 5004, ..node(10, 100, 1, 1) }).unwrap();
    s.add_node("a", NodeSpec { price: 0, reputation: 5000, ..node(10, 100, 1, 1) }).unwrap();
    s.submit("j", JobSpec { max_price, ..job(0, 1) }).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("j", "a")]));

    // Same score and price: the earlier-added node.
    let mut s = Scheduler::new();
    s.add_node("first", node(10, 100, 1, 1)).unwrap();
    s.add_node("second", node(10, 100, 1, 1)).unwrap();
    s.submit("j", job(0, 1)).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("j", "first")]));
}

#[test]
fn feasibility_filters() {
    let mut s = Scheduler::new();
    s.add_node("emb", NodeSpec { price: 50, ..node(100, 100, 1, 0b10) }).unwrap();
    s.submit("wrong-type", JobSpec { max_price: 50, ..job(0, 1) }).unwrap_err();
    s.submit("too-cheap", JobSpec { max_price: 49, ..job(1, 1) }).unwrap();
    s.submit("ok", JobSpec { max_price: 50, ..job(1, 100) }).unwrap();
    s.submit("no-slot", JobSpec { max_price: 50, ..job(1, 0) }).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("ok", "emb")]));
    assert_eq!(s.queued().collect::<Vec<_>>(), ["too-cheap", "no-slot"]);
    assert_eq!(s.ledger("emb").unwrap().free, 0);
}

#[test]
fn backfill_places_later_jobs_that_fit() {
    let mut s = Scheduler::new();
    s.add_node("n", node(100, 100, 4, 1)).unwrap();
    s.submit("big", job(0, 80)).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("big", "n")]));
    s.submit_many(&[("big2", job(0, 50)), ("small", job(0, 20))]).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("small", "n")]));
    assert_eq!(s.queued().collect::<Vec<_>>(), ["big2"]);
    s.finish("big").unwrap();
    assert_eq!(placements(&mut s), pairs(&[("big2", "n")]));
    s.check().unwrap();
}

#[test]
fn pausing_holds_new_placements_only() {
    let mut s = Scheduler::new();
    s.add_node("n", node(100, 100, 4, 1)).unwrap();
    s.submit("a", job(0, 10)).unwrap();
    placements(&mut s);
    s.set_paused("n", true).unwrap();
    s.submit("b", job(0, 10)).unwrap();
    assert!(placements(&mut s).is_empty());
    let ledger = s.ledger("n").unwrap();
    assert!(ledger.paused);
    assert_eq!((ledger.running, ledger.reserved), (1, 10));
    // A paused node still counts for admission.
    s.submit("c", job(0, 100)).unwrap();
    s.set_paused("n", false).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("b", "n")]));
}

#[test]
fn lowering_the_allocation_below_the_reserved_memory() {
    let mut s = Scheduler::new();
    s.add_node("n", node(1000, 100, 4, 1)).unwrap();
    s.submit_many(&[("a", job(0, 400)), ("b", job(0, 400))]).unwrap();
    placements(&mut s);
    s.set_allocation("n", 50).unwrap();
    let ledger = s.ledger("n").unwrap();
    assert_eq!((ledger.share, ledger.reserved, ledger.free), (500, 800, 0));
    s.check().unwrap();
    // Admission uses the new share.
    assert!(matches!(
        s.submit("c", job(0, 501)),
        Err(SchedulerError::JobTooLarge { largest_share: 500, .. })
    ));
    s.submit("zero", job(0, 0)).unwrap();
    s.submit("c", job(0, 100)).unwrap();
    // free is 0: only a zero-memory job fits.
    assert_eq!(placements(&mut s), pairs(&[("zero", "n")]));
    s.finish("a").unwrap();
    assert_eq!(s.ledger("n").unwrap().free, 100);
    assert_eq!(placements(&mut s), pairs(&[("c", "n")]));
    s.check().unwrap();
}

#[test]
fn cancel_drops_a_queued_job_and_releases_a_running_one() {
    let mut s = Scheduler::new();
    s.add_node("n", node(100, 100, 1, 1)).unwrap();
    s.submit_many(&[("a", job(0, 10)), ("b", job(0, 10)), ("c", job(0, 10))]).unwrap();
    placements(&mut s);
    s.cancel("b").unwrap();
    assert_eq!(s.queued().collect::<Vec<_>>(), ["c"]);
    s.cancel("a").unwrap();
    assert_eq!(s.ledger("n").unwrap().reserved, 0);
    assert_eq!(placements(&mut s), pairs(&[("c", "n")]));
    assert!(matches!(s.cancel("a"), Err(SchedulerError::UnknownJob { queued: false, .. })));
    s.check().unwrap();
}

#[test]
fn errors_change_nothing() {
    let mut s = Scheduler::new();
    s.add_node("n", node(100, 50, 1, 0b01)).unwrap();
    s.submit("q", job(0, 1)).unwrap();
    s.submit("r", job(0, 1)).unwrap();
    placements(&mut s);

    let err = |r: Result<(), SchedulerError>| r.unwrap_err();
    assert_eq!(
        err(s.add_node("n", node(1, 1, 1, 1))),
        SchedulerError::DuplicateNode { node_id: "n".into() }
    );
    assert_eq!(err(s.add_node("", node(1, 1, 1, 1))), Arg::NodeId.empty());
    assert_eq!(err(s.add_node("m", node(1, 101, 1, 1))), Arg::AllocationPercent.invalid(101));
    assert_eq!(err(s.add_node("m", node(1, 1, 0, 1))), Arg::MaxJobs.invalid(0));
    assert_eq!(err(s.add_node("m", node(1, 1, 1, 0))), Arg::JobTypes.invalid(0));
    assert_eq!(err(s.add_node("m", node(1, 1, 1, 32))), Arg::JobTypes.invalid(32));
    assert_eq!(
        err(s.add_node("m", NodeSpec { reputation: 10_001, ..node(1, 1, 1, 1) })),
        Arg::Reputation.invalid(10_001)
    );
    // Argument errors come before unknown ids.
    assert_eq!(err(s.set_allocation("x", 101)), Arg::Percent.invalid(101));
    assert_eq!(err(s.set_allocation("x", 1)), SchedulerError::UnknownNode { node_id: "x".into() });
    assert_eq!(err(s.set_paused("x", true)), SchedulerError::UnknownNode { node_id: "x".into() });
    assert_eq!(err(s.set_reputation("n", 10_001)), Arg::Reputation.invalid(10_001));
    assert!(matches!(s.ledger("x"), Err(SchedulerError::UnknownNode { .. })));
    assert!(matches!(s.running(Some("x")), Err(SchedulerError::UnknownNode { .. })));

    assert_eq!(err(s.submit("", job(0, 1))), Arg::JobId.empty());
    assert_eq!(err(s.submit("j", job(5, 1))), Arg::JobType.invalid(5));
    assert_eq!(err(s.submit("j", JobSpec { max_price: 0, ..job(0, 1) })), Arg::MaxPrice.invalid(0));
    assert_eq!(
        err(s.submit("q", job(9, 1))),
        Arg::JobType.invalid(9),
        "an argument error comes before a duplicate id"
    );
    assert_eq!(
        err(s.submit("q", job(0, 1))),
        SchedulerError::DuplicateJob { job_id: "q".into(), place: JobPlace::Running }
    );
    assert_eq!(
        err(s.submit("r", job(1, 1))),
        SchedulerError::DuplicateJob { job_id: "r".into(), place: JobPlace::Queued }
    );
    assert_eq!(
        err(s.submit("j", job(1, 1))),
        SchedulerError::NoCapableNode { job_id: "j".into(), job_type: 1 }
    );
    assert_eq!(
        err(s.submit("j", job(0, 51))),
        SchedulerError::JobTooLarge {
            job_id: "j".into(),
            memory: 51,
            job_type: 0,
            largest_share: 50
        }
    );
    assert_eq!(
        err(s.finish("r")),
        SchedulerError::UnknownJob { job_id: "r".into(), queued: true },
        "finish takes running jobs only"
    );
    assert_eq!(
        err(s.finish("zz")),
        SchedulerError::UnknownJob { job_id: "zz".into(), queued: false }
    );

    assert_eq!(s.nodes().collect::<Vec<_>>(), ["n"]);
    assert_eq!(s.queued().collect::<Vec<_>>(), ["r"]);
    assert_eq!(s.running(None).unwrap(), ["q"]);
    let ledger = s.ledger("n").unwrap();
    assert_eq!((ledger.share, ledger.reserved, ledger.running, ledger.paused), (50, 1, 1, false));
    s.check().unwrap();
}

#[test]
fn submit_many_is_all_or_nothing() {
    let mut s = Scheduler::new();
    s.add_node("n", node(100, 100, 10, 0b1)).unwrap();
    s.submit("old", job(0, 1)).unwrap();

    let cases: Vec<(Vec<(&str, JobSpec)>, SchedulerError)> = vec![
        (vec![("a", job(0, 1)), ("b", job(0, 1)), ("a", job(0, 1))], {
            SchedulerError::DuplicateJob { job_id: "a".into(), place: JobPlace::Batch(0) }
                .in_batch(2)
        }),
        (vec![("a", job(0, 1)), ("old", job(0, 1))], {
            SchedulerError::DuplicateJob { job_id: "old".into(), place: JobPlace::Queued }
                .in_batch(1)
        }),
        (vec![("a", job(0, 1)), ("b", job(0, 101))], {
            SchedulerError::JobTooLarge {
                job_id: "b".into(),
                memory: 101,
                job_type: 0,
                largest_share: 100,
            }
            .in_batch(1)
        }),
        (
            vec![("a", job(0, 1)), ("b", job(3, 1))],
            SchedulerError::NoCapableNode { job_id: "b".into(), job_type: 3 }.in_batch(1),
        ),
        // Every item's arguments are checked before any item's state: item 3's bad type wins
        // over item 1's duplicate id.
        (
            vec![("a", job(0, 1)), ("old", job(0, 1)), ("c", job(0, 1)), ("d", job(7, 1))],
            Arg::JobType.invalid(7).in_batch(3),
        ),
        (vec![("a", job(0, 1)), ("", job(0, 1))], Arg::JobId.empty().in_batch(1)),
    ];
    for (batch, expected) in cases {
        assert_eq!(s.submit_many(&batch), Err(expected));
        assert_eq!(s.queued().collect::<Vec<_>>(), ["old"]);
    }
    s.submit_many::<&str>(&[]).unwrap();
    s.submit_many(&[("a", job(0, 1)), ("b", job(0, 1))]).unwrap();
    assert_eq!(s.queued().collect::<Vec<_>>(), ["old", "a", "b"]);
}

#[test]
fn huge_prices_score_exactly() {
    // With max_price = 2^128 - 1 the price score takes the 256-bit path: at price 2^127 - 1 it
    // is exactly 5000, at 2^127 it is 4999. `a` wins by 40 - 30 = 10 points only if both are
    // exact (rounded alike, `b` would win by 30).
    let mut s = Scheduler::new();
    let half = u128::MAX / 2;
    s.add_node("b", NodeSpec { price: half + 1, reputation: 5000, ..node(10, 100, 1, 1) }).unwrap();
    s.add_node("a", NodeSpec { price: half, reputation: 4999, ..node(10, 100, 1, 1) }).unwrap();
    s.submit("j", JobSpec { max_price: u128::MAX, ..job(0, 1) }).unwrap();
    assert_eq!(placements(&mut s), pairs(&[("j", "a")]));
}

#[test]
fn many_jobs_over_many_nodes_keep_the_ledger_consistent() {
    let mut s = Scheduler::new();
    for i in 0..20u32 {
        let spec = NodeSpec {
            price: u128::from(i % 7) * 10,
            latency_ms: i * 5,
            reputation: u16::try_from(4000 + i * 200).unwrap(),
            ..node(
                GIB * u64::from(1 + i % 4),
                10 * u8::try_from(1 + i % 10).unwrap(),
                1 + i % 5,
                1 + i % 31,
            )
        };
        s.add_node(&format!("n{i}"), spec).unwrap();
    }
    let jobs: Vec<(String, JobSpec)> = (0..2000u32)
        .map(|i| {
            let spec = JobSpec {
                job_type: u8::try_from(i % 5).unwrap(),
                memory: u64::from(i % 97) * (GIB / 128),
                max_price: 1 + u128::from(i % 80),
                priority: i32::try_from(i % 3).unwrap(),
                max_latency_ms: (i % 4) * 40,
            };
            (format!("j{i}"), spec)
        })
        .collect();
    s.submit_many(&jobs).unwrap();
    let mut placed = 0;
    for round in 0..50 {
        placed += s.schedule().len();
        s.check().unwrap();
        let running: Vec<String> = s.running(None).unwrap().into_iter().map(String::from).collect();
        for id in running.iter().step_by(2 + round % 3) {
            s.finish(id).unwrap();
        }
        s.check().unwrap();
    }
    assert!(placed > 500, "placed {placed}");
}
