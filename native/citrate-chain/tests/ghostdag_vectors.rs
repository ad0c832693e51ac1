//! GhostDAG against Kaspa's known-answer DAGs in `tests/vectors/ghostdag/*.json` at the
//! repository root (the same files the Python tests read), against a brute-force textbook
//! GhostDAG on random DAGs, and the API's error and ordering contracts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use citrate_chain::ghostdag::{BlockHash, GhostDag, GhostDagData, GhostDagError};
use serde_json::Value;

/// A vector id as a hash: its UTF-8 bytes padded with zeros on the right (Kaspa's convention).
fn id_hash(id: &str) -> BlockHash {
    let mut hash = [0; 32];
    hash[..id.len()].copy_from_slice(id.as_bytes());
    hash
}

fn ids(v: &Value) -> Vec<BlockHash> {
    v.as_array().unwrap().iter().map(|s| id_hash(s.as_str().unwrap())).collect()
}

fn vector_files() -> Vec<PathBuf> {
    let dir: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "..", "..", "tests", "vectors", "ghostdag"].iter().collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Every block once, each after all of its parents.
fn assert_topological(dag: &GhostDag, order: &[BlockHash]) {
    assert_eq!(order.len(), dag.len());
    let position: HashMap<BlockHash, usize> =
        order.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    assert_eq!(position.len(), order.len(), "a block appears twice");
    for (i, hash) in order.iter().enumerate() {
        for parent in dag.parents(hash).unwrap() {
            assert!(position[parent] < i, "a parent comes after its child");
        }
    }
}

/// The reds of a virtual block over all tips: `mergeset_reds` of the virtual and of every
/// block of its selected chain.
fn virtual_reds(dag: &GhostDag) -> HashSet<BlockHash> {
    let virtual_block = dag.virtual_data(&dag.tips()).unwrap();
    let mut reds: HashSet<BlockHash> = virtual_block.mergeset_reds.iter().copied().collect();
    let mut cursor = virtual_block.selected_parent;
    while let Some(hash) = cursor {
        let data = dag.get(&hash).unwrap();
        reds.extend(data.mergeset_reds.iter().copied());
        cursor = data.selected_parent;
    }
    reds
}

#[test]
fn kaspa_vectors() {
    let files = vector_files();
    assert!(files.len() >= 2, "expected the kaspa dag files, found {files:?}");
    for path in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let k = u16::try_from(doc["K"].as_u64().unwrap()).unwrap();
        let mut dag = GhostDag::new(k, id_hash(doc["GenesisID"].as_str().unwrap()), 10);
        let blocks = doc["Blocks"].as_array().unwrap();
        for block in blocks {
            let id = block["ID"].as_str().unwrap();
            let data = dag.add_block(id_hash(id), &ids(&block["Parents"])).unwrap().clone();
            let expected_sp = id_hash(block["ExpectedSelectedParent"].as_str().unwrap());
            assert_eq!(data.blue_score, block["ExpectedScore"].as_u64().unwrap(), "{name} {id}");
            assert_eq!(data.blue_work, u128::from(data.blue_score), "{name} {id}");
            assert_eq!(data.selected_parent, Some(expected_sp), "{name} {id}");
            // Kaspa's own test compares these as lists, so the order is part of the contract.
            assert_eq!(data.mergeset_blues, ids(&block["ExpectedBlues"]), "{name} {id} blues");
            assert_eq!(data.mergeset_reds, ids(&block["ExpectedReds"]), "{name} {id} reds");

            let ordered = dag.ordered_mergeset(&id_hash(id)).unwrap();
            assert_eq!(ordered.first(), Some(&expected_sp));
            let mut rest = data.mergeset_blues[1..].to_vec();
            rest.extend(&data.mergeset_reds);
            rest.sort_by_key(|h| (dag.get(h).unwrap().blue_work, *h));
            assert_eq!(ordered[1..], rest[..], "{name} {id} ordered mergeset");
            for blue in &data.mergeset_blues {
                assert_eq!(dag.is_blue_in(blue, &id_hash(id)), Some(true));
            }
            for red in &data.mergeset_reds {
                assert_eq!(dag.is_blue_in(red, &id_hash(id)), Some(false));
            }
        }
        assert_eq!(dag.len(), blocks.len() + 1);
        if let Some(expected) = doc.get("ExpectedReds") {
            let expected: HashSet<BlockHash> = ids(expected).into_iter().collect();
            assert_eq!(virtual_reds(&dag), expected, "{name} virtual reds");
        }
        assert_topological(&dag, &dag.total_order());
    }
}

#[test]
fn genesis_only() {
    let dag = GhostDag::new(18, id_hash("G"), 10);
    assert_eq!((dag.k(), dag.genesis(), dag.max_parents()), (18, id_hash("G"), 10));
    assert_eq!((dag.len(), dag.is_empty()), (1, false));
    assert!(dag.contains(&id_hash("G")));
    let genesis = dag.get(&id_hash("G")).unwrap();
    assert_eq!(
        genesis,
        &GhostDagData {
            blue_score: 0,
            blue_work: 0,
            selected_parent: None,
            mergeset_blues: vec![],
            mergeset_reds: vec![],
        }
    );
    assert_eq!(dag.parents(&id_hash("G")), Some(&[][..]));
    assert_eq!(dag.ordered_mergeset(&id_hash("G")), Some(vec![]));
    assert_eq!(dag.tips(), vec![id_hash("G")]);
    assert_eq!(dag.total_order(), vec![id_hash("G")]);
    assert_eq!(dag.get(&id_hash("X")), None);
    assert_eq!(dag.ordered_mergeset(&id_hash("X")), None);
    assert_eq!(dag.is_blue_in(&id_hash("G"), &id_hash("G")), None);
}

#[test]
fn errors_leave_the_dag_unchanged() {
    let (g, a, b) = (id_hash("G"), id_hash("A"), id_hash("B"));
    let mut dag = GhostDag::new(3, g, 2);
    dag.add_block(a, &[g]).unwrap();
    dag.add_block(b, &[g]).unwrap();
    let (len, tips, order) = (dag.len(), dag.tips(), dag.total_order());

    let cases: Vec<(BlockHash, Vec<BlockHash>, GhostDagError)> = vec![
        (a, vec![g], GhostDagError::DuplicateBlock { hash: a }),
        (g, vec![a], GhostDagError::DuplicateBlock { hash: g }),
        (id_hash("C"), vec![], GhostDagError::NoParents),
        (id_hash("C"), vec![a, b, g], GhostDagError::TooManyParents { count: 3, max: 2 }),
        (id_hash("C"), vec![a, a], GhostDagError::DuplicateParent { parent: a }),
        (
            id_hash("C"),
            vec![a, id_hash("X")],
            GhostDagError::UnknownParent { parent: id_hash("X") },
        ),
        (id_hash("C"), vec![id_hash("C")], GhostDagError::UnknownParent { parent: id_hash("C") }),
    ];
    for (hash, parents, expected) in cases {
        assert_eq!(dag.add_block(hash, &parents).unwrap_err(), expected);
        assert_eq!((dag.len(), dag.tips(), dag.total_order()), (len, tips.clone(), order.clone()));
        assert!(!dag.contains(&id_hash("C")));
        match expected {
            GhostDagError::DuplicateBlock { .. } => {}
            // The virtual block is never added, so max_parents does not bind it.
            GhostDagError::TooManyParents { .. } => assert!(dag.virtual_data(&parents).is_ok()),
            _ => assert_eq!(dag.virtual_data(&parents).unwrap_err(), expected),
        }
    }

    // Messages name the value and say what to do.
    let msg = GhostDagError::UnknownParent { parent: id_hash("X") }.to_string();
    assert!(msg.starts_with("parent `0x5800"), "{msg}");
    assert!(msg.contains("hint: add a block only after all of its parents"), "{msg}");
    let msg = GhostDagError::TooManyParents { count: 11, max: 10 }.to_string();
    assert!(msg.starts_with("`11` parents is more than the maximum of 10\nhint:"), "{msg}");
}

#[test]
fn ties_go_to_the_higher_hash() {
    let g = id_hash("G");
    let mut dag = GhostDag::new(18, g, 10);
    // Three blocks with equal blue work: the greatest hash is the selected parent and the rest
    // of the mergeset is in ascending hash order, whatever order the parents are given in.
    let (lo, mid, hi) = ([1; 32], [0x80; 32], [0xff; 32]);
    let mut hi_low_tail = [0xff; 32];
    hi_low_tail[31] = 0;
    for hash in [mid, hi_low_tail, lo, hi] {
        dag.add_block(hash, &[g]).unwrap();
    }
    assert_eq!(dag.tips(), vec![lo, mid, hi_low_tail, hi]);
    let data = dag.add_block(id_hash("M"), &[lo, hi_low_tail, hi, mid]).unwrap().clone();
    assert_eq!(data.selected_parent, Some(hi));
    assert_eq!(data.mergeset_blues, vec![hi, lo, mid, hi_low_tail]);
    assert_eq!(data.blue_score, 5);
    assert_eq!(dag.ordered_mergeset(&id_hash("M")).unwrap(), vec![hi, lo, mid, hi_low_tail]);
    assert_eq!(dag.total_order(), vec![g, hi, lo, mid, hi_low_tail, id_hash("M")]);
    // Higher blue work beats a higher hash.
    dag.add_block([0; 32], &[lo]).unwrap();
    let data = dag.virtual_data(&[[0; 32], hi]).unwrap();
    assert_eq!(data.selected_parent, Some([0; 32]));
    assert_eq!(data.mergeset_blues, vec![[0; 32], hi]);
}

#[test]
fn virtual_data_matches_add_block() {
    let g = id_hash("G");
    let mut dag = GhostDag::new(1, g, 10);
    let mut rng = Rng(7);
    let hashes = random_dag(&mut dag, &mut rng, 60, 6, 4);
    for _ in 0..20 {
        let parents = pick_parents(&mut rng, &hashes, 6, 4);
        let predicted = dag.virtual_data(&parents).unwrap();
        let mut copy = rebuild(&dag, &hashes);
        assert_eq!(copy.add_block(rng.hash(), &parents).unwrap(), &predicted);
    }
}

#[test]
fn redundant_parents_change_nothing() {
    let g = id_hash("G");
    let mut dag = GhostDag::new(2, g, 10);
    dag.add_block(id_hash("A"), &[g]).unwrap();
    dag.add_block(id_hash("B"), &[id_hash("A")]).unwrap();
    dag.add_block(id_hash("C"), &[g]).unwrap();
    let lean = dag.virtual_data(&[id_hash("B"), id_hash("C")]).unwrap();
    let redundant = dag.virtual_data(&[id_hash("A"), id_hash("B"), g, id_hash("C")]).unwrap();
    assert_eq!(lean, redundant);
}

// --- random DAGs against a brute-force textbook GhostDAG -------------------------------------

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn hash(&mut self) -> BlockHash {
        let mut hash = [0; 32];
        for chunk in hash.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        // Short prefixes so that some ties are decided late in the hash.
        hash[0] %= 4;
        hash
    }
}

/// 1 to `max_parents` distinct parents among the last `window` blocks.
fn pick_parents(
    rng: &mut Rng,
    hashes: &[BlockHash],
    window: usize,
    max_parents: usize,
) -> Vec<BlockHash> {
    let recent = &hashes[hashes.len().saturating_sub(window)..];
    let want = 1 + rng.below(max_parents.min(recent.len()));
    let mut parents = Vec::new();
    while parents.len() < want {
        let p = recent[rng.below(recent.len())];
        if !parents.contains(&p) {
            parents.push(p);
        }
    }
    parents
}

/// Add `n` random blocks; return all hashes in insertion order (genesis first).
fn random_dag(
    dag: &mut GhostDag,
    rng: &mut Rng,
    n: usize,
    window: usize,
    max_parents: usize,
) -> Vec<BlockHash> {
    let mut hashes = vec![dag.genesis()];
    for _ in 0..n {
        let parents = pick_parents(rng, &hashes, window, max_parents);
        let hash = rng.hash();
        dag.add_block(hash, &parents).unwrap();
        hashes.push(hash);
    }
    hashes
}

fn rebuild(dag: &GhostDag, order: &[BlockHash]) -> GhostDag {
    let mut copy = GhostDag::new(dag.k(), dag.genesis(), dag.max_parents());
    for hash in &order[1..] {
        copy.add_block(*hash, dag.parents(hash).unwrap()).unwrap();
    }
    copy
}

/// The textbook algorithm with explicit past sets (quadratic; for small DAGs only).
struct Brute {
    k: usize,
    hashes: Vec<BlockHash>,
    past: Vec<HashSet<usize>>,
    blue_set: Vec<HashSet<usize>>,
    data: Vec<GhostDagData>,
}

impl Brute {
    fn new(k: u16, genesis: BlockHash) -> Self {
        let data = GhostDagData {
            blue_score: 0,
            blue_work: 0,
            selected_parent: None,
            mergeset_blues: vec![],
            mergeset_reds: vec![],
        };
        Self {
            k: k.into(),
            hashes: vec![genesis],
            past: vec![HashSet::new()],
            blue_set: vec![HashSet::new()],
            data: vec![data],
        }
    }

    fn key(&self, i: usize) -> (u64, BlockHash) {
        (self.data[i].blue_score, self.hashes[i])
    }

    fn in_anticone(&self, a: usize, b: usize) -> bool {
        a != b && !self.past[a].contains(&b) && !self.past[b].contains(&a)
    }

    fn add(&mut self, hash: BlockHash, parents: &[BlockHash]) {
        let parents: Vec<usize> =
            parents.iter().map(|p| self.hashes.iter().position(|h| h == p).unwrap()).collect();
        let mut past = HashSet::new();
        for &p in &parents {
            past.insert(p);
            past.extend(&self.past[p]);
        }
        let sp = *parents.iter().max_by_key(|&&p| self.key(p)).unwrap();
        let mut mergeset: Vec<usize> =
            past.iter().copied().filter(|&x| x != sp && !self.past[sp].contains(&x)).collect();
        mergeset.sort_by_key(|&x| self.key(x));
        let mut blue = self.blue_set[sp].clone();
        blue.insert(sp);
        let (mut blues, mut reds) = (vec![sp], vec![]);
        for c in mergeset {
            let anticone: Vec<usize> =
                blue.iter().copied().filter(|&b| self.in_anticone(b, c)).collect();
            let fits = anticone.len() <= self.k
                && anticone
                    .iter()
                    .all(|&b| blue.iter().filter(|&&x| self.in_anticone(b, x)).count() < self.k);
            if fits {
                blue.insert(c);
                blues.push(c);
            } else {
                reds.push(c);
            }
        }
        let score = blue.len() as u64;
        self.data.push(GhostDagData {
            blue_score: score,
            blue_work: score.into(),
            selected_parent: Some(self.hashes[sp]),
            mergeset_blues: blues.iter().map(|&i| self.hashes[i]).collect(),
            mergeset_reds: reds.iter().map(|&i| self.hashes[i]).collect(),
        });
        self.hashes.push(hash);
        self.past.push(past);
        self.blue_set.push(blue);
    }
}

#[test]
fn random_dags_match_the_textbook_algorithm() {
    let mut seed: u64 = 1;
    for k in [0u16, 1, 2, 3, 4, 7, 18] {
        for (window, max_parents) in [(3, 2), (6, 3), (12, 5), (25, 10)] {
            seed += 1;
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let genesis = rng.hash();
            let mut dag = GhostDag::new(k, genesis, max_parents);
            let mut brute = Brute::new(k, genesis);
            let hashes = random_dag(&mut dag, &mut rng, 120, window, max_parents);
            let mut reds = 0;
            for hash in &hashes[1..] {
                brute.add(*hash, dag.parents(hash).unwrap());
                let want = brute.data.last().unwrap();
                assert_eq!(dag.get(hash).unwrap(), want, "k={k} window={window}");
                reds += want.mergeset_reds.len();
            }
            if k <= 2 && window >= 6 {
                assert!(reds > 0, "k={k} window={window}: no red blocks, the test is too weak");
            }

            let order = dag.total_order();
            assert_topological(&dag, &order);
            // The order depends on the DAG, not on the order blocks were added in.
            let shuffled = rebuild(&dag, &order);
            assert_eq!(shuffled.total_order(), order);
            // The order ends with the virtual's mergeset; its selected parent is the best tip.
            let tips = dag.tips();
            let virtual_block = dag.virtual_data(&tips).unwrap();
            assert_eq!(virtual_block.selected_parent, tips.last().copied());
            let mut tail = virtual_block.mergeset_blues[1..].to_vec();
            tail.extend(&virtual_block.mergeset_reds);
            tail.sort_by_key(|h| (dag.get(h).unwrap().blue_work, *h));
            assert_eq!(order[order.len() - tail.len()..], tail[..]);
            assert_eq!(order[order.len() - tail.len() - 1], tips[tips.len() - 1]);
        }
    }
}

#[test]
fn wide_rounds_merge_everything_blue() {
    // Rounds of 10 parallel blocks, each over all 10 blocks of the previous round (the shape
    // of the benchmark): with k = 18 every block is blue and the blue score grows 10 a round.
    let mut dag = GhostDag::new(18, [0; 32], 10);
    let mut rng = Rng(99);
    let mut round = vec![[0; 32]];
    for r in 1..=50u64 {
        let next: Vec<BlockHash> = (0..10).map(|_| rng.hash()).collect();
        for hash in &next {
            let data = dag.add_block(*hash, &round).unwrap();
            assert!(data.mergeset_reds.is_empty());
            assert_eq!(data.blue_score, 1 + 10 * (r - 1));
        }
        round = next;
    }
    assert_topological(&dag, &dag.total_order());
}
