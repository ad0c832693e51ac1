//! GhostDAG consensus (PHANTOM/GHOSTDAG as implemented by Kaspa) over 32-byte block hashes.
//!
//! [`GhostDag`] holds a block DAG in memory. Each block added gets its [`GhostDagData`]: the
//! selected parent, the blue and red parts of its mergeset, its blue score and its blue work.
//! [`GhostDag::total_order`] turns the DAG into the sequence in which the chain executor runs
//! transactions.
//!
//! # Conventions (Kaspa's, so that Kaspa's test DAGs pass unchanged)
//!
//! - Every block carries the same work, 1. Blue work is the work of a block's blue past (its
//!   blue set without the block itself), so `blue_work == blue_score` for every block: the
//!   genesis has 0 and 0, and a block has its selected parent's value plus the number of its
//!   mergeset blues (the selected parent included). Kaspa's values with equal work are this
//!   times a constant, so every ordering below is Kaspa's.
//! - Blocks are ordered by `(blue work, hash)`, hashes compared as 32 bytes lexicographically.
//!   The selected parent is the parent greatest in this order.
//! - The mergeset of a block is its past minus the past of its selected parent (the selected
//!   parent itself included). Its members other than the selected parent are coloured one by
//!   one in ascending `(blue work, hash)` order, each against the blue set built so far
//!   (inherited from the selected parent): a candidate is blue when at most `k` blues lie in
//!   its anticone and none of those blues already has `k` blues in its own anticone;
//!   otherwise it is red. `mergeset_blues` (selected parent first) and `mergeset_reds` keep
//!   this colouring order.
//! - The genesis block has blue score 0, blue work 0, no selected parent and an empty
//!   mergeset.
//!
//! Kaspa rejects a block one of whose parents is in the past of another; this DAG accepts it.
//! Such a redundant parent never changes the result (the past, and so the mergeset, is the
//! same without it, and it cannot be the selected parent).
//!
//! # How the work stays bounded
//!
//! The colouring is Kaspa's incremental algorithm: each block keeps the anticone sizes of the
//! blues it affected ("blues anticone sizes"), and a candidate is checked only against the blues
//! of the selected chain above the first chain block in its past. Reachability ("is X in the
//! past of Y") is answered from two per-block facts rather than by a search of the DAG:
//!
//! 1. The selected parents form a tree. Each block stores its height in that tree and one
//!    skip pointer (the skip list of Bitcoin Core's `CBlockIndex::pskip`), which finds the
//!    tree ancestor at any height in `O(log n)` steps and takes constant memory per block.
//! 2. Every block of the past of `Y` is either on `Y`'s selected chain or in the mergeset of
//!    exactly one block of that chain. So each block records its *mergers*, the blocks whose
//!    mergeset (selected parent aside) contains it, and `X` is in the past of `Y` iff `X` or
//!    one of its mergers is on `Y`'s selected chain (Kaspa's "future covering set").
//!
//! A query costs `O(m log n)` for a block merged by `m` blocks, and blue score (which strictly
//! grows from parent to child) rules most queries out at once.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

/// A block hash: 32 bytes, ordered lexicographically where GhostDAG breaks ties.
pub type BlockHash = [u8; 32];

/// The GhostDAG data of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhostDagData {
    /// Number of blue blocks in the block's past (0 for the genesis).
    pub blue_score: u64,
    /// Work of the blue blocks in the block's past. Every block carries work 1, so this
    /// equals `blue_score` (see the module documentation).
    pub blue_work: u128,
    /// The parent with the greatest `(blue work, hash)`; `None` only for the genesis.
    pub selected_parent: Option<BlockHash>,
    /// The blue part of the mergeset in colouring order: the selected parent first, then
    /// ascending `(blue work, hash)`. Empty for the genesis.
    pub mergeset_blues: Vec<BlockHash>,
    /// The red part of the mergeset in ascending `(blue work, hash)` order.
    pub mergeset_reds: Vec<BlockHash>,
}

/// Why a block (or a set of parents, or a parameter) was refused.
///
/// A refused call leaves the DAG unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GhostDagError {
    /// The block hash is already in the DAG.
    #[error("block `{}` is already in the dag\nhint: each block hash can be added only once", hex(.hash))]
    DuplicateBlock {
        /// The hash given.
        hash: BlockHash,
    },
    /// A block other than the genesis was given no parents.
    #[error("a block needs at least one parent; only the genesis block has none\nhint: pass the current tips (`tips()`) as parents")]
    NoParents,
    /// More parents than the DAG allows.
    #[error("`{count}` parents is more than the maximum of {max}\nhint: pick at most {max} parents, e.g. the tips with the highest blue work")]
    TooManyParents {
        /// The number of parents given.
        count: usize,
        /// The DAG's `max_parents`.
        max: usize,
    },
    /// The same parent was listed twice.
    #[error("parent `{}` is listed more than once\nhint: list each parent once", hex(.parent))]
    DuplicateParent {
        /// The repeated parent.
        parent: BlockHash,
    },
    /// A parent that is not in the DAG.
    #[error("parent `{}` is not in the dag\nhint: add a block only after all of its parents", hex(.parent))]
    UnknownParent {
        /// The unknown parent.
        parent: BlockHash,
    },
    /// A block that is not in the DAG was asked about.
    #[error("block `{}` is not in the dag", hex(.hash))]
    UnknownBlock {
        /// The hash asked about.
        hash: BlockHash,
    },
    /// A block hash that is not 32 bytes long (see [`block_hash`]).
    #[error("a block hash is 32 bytes, got `{len}` bytes")]
    HashLength {
        /// The length given.
        len: usize,
    },
    /// A `k` or `max_parents` out of range (see [`check_params`]).
    #[error("`{name}` is `{value}`; it must be between {min} and {max}")]
    InvalidParameter {
        /// `k` or `max_parents`.
        name: &'static str,
        /// The value given (a string, so that any integer fits).
        value: String,
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// The DAG already holds as many blocks as its 32-bit block indexes can number.
    #[error("the dag is full: it holds the maximum of {max} blocks")]
    Full {
        /// The maximum number of blocks.
        max: u64,
    },
}

/// `0x`-prefixed lowercase hex of a hash, for messages.
fn hex(hash: &BlockHash) -> String {
    let mut out = String::with_capacity(66);
    out.push_str("0x");
    for byte in hash {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A block hash from bytes that must be exactly 32 long ([`GhostDagError::HashLength`]
/// otherwise); for callers that receive hashes as byte strings.
pub fn block_hash(bytes: &[u8]) -> Result<BlockHash, GhostDagError> {
    BlockHash::try_from(bytes).map_err(|_| GhostDagError::HashLength { len: bytes.len() })
}

/// Validate `k` (0 to 65535) and `max_parents` (1 to 2^32 - 1) given as wide integers, for
/// callers whose integers may be out of range (negative, huge); `(k, max_parents)` on success.
pub fn check_params(k: i128, max_parents: i128) -> Result<(u16, usize), GhostDagError> {
    let k = u16::try_from(k).map_err(|_| GhostDagError::InvalidParameter {
        name: "k",
        value: k.to_string(),
        min: 0,
        max: u16::MAX.into(),
    })?;
    let max_parents = u32::try_from(max_parents)
        .ok()
        .filter(|&m| m >= 1)
        .and_then(|m| usize::try_from(m).ok())
        .ok_or_else(|| GhostDagError::InvalidParameter {
            name: "max_parents",
            value: max_parents.to_string(),
            min: 1,
            max: u32::MAX.into(),
        })?;
    Ok((k, max_parents))
}

/// Index of a block in [`GhostDag::nodes`] (insertion order; the genesis is 0).
type Idx = u32;

/// "No block": the selected parent and skip pointer of the genesis.
const NONE: Idx = Idx::MAX;

/// A multiplicative hasher for block indexes. They are assigned by this module, so no input
/// can steer them into collisions, and SipHash would cost more than the lookups it serves.
#[derive(Default)]
struct IdxHasher(u64);

impl Hasher for IdxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdxSet = HashSet<Idx, BuildHasherDefault<IdxHasher>>;

/// One block with its GhostDAG data, in public (hash) form and in index form for the algorithm.
#[derive(Debug)]
struct Node {
    hash: BlockHash,
    parents: Vec<BlockHash>,
    parent_idx: Vec<Idx>,
    data: GhostDagData,
    /// Selected parent ([`NONE`] for the genesis).
    sp: Idx,
    /// `data.mergeset_blues` as indexes.
    blues: Vec<Idx>,
    /// `blue_sizes[i]`: blue anticone size of `blues[i]` within this block's blue set.
    blue_sizes: Vec<u16>,
    /// Blue anticone sizes of blues of the selected chain below this block that this block's
    /// blues enlarged (Kaspa keeps these and `blue_sizes` in one map).
    deep_sizes: Vec<(Idx, u16)>,
    /// `data.mergeset_reds` as indexes.
    reds: Vec<Idx>,
    /// Height in the selected-parent tree (the genesis is 0).
    height: u32,
    /// A selected-chain ancestor at `skip_height(height)` ([`NONE`] for the genesis).
    skip: Idx,
    /// Blocks whose mergeset, selected parent aside, contains this block.
    mergers: Vec<Idx>,
    /// Position in [`GhostDag::tips`], or `usize::MAX` once the block has a child.
    tip_pos: usize,
}

/// The blue anticone size a block's data records for `block`, if any: in `blue_sizes` (parallel
/// to `blues`) or in `deep_sizes`.
fn recorded_size(
    blues: &[Idx],
    blue_sizes: &[u16],
    deep_sizes: &[(Idx, u16)],
    block: Idx,
) -> Option<u16> {
    match blues.iter().position(|&b| b == block) {
        Some(i) => blue_sizes.get(i).copied(),
        None => deep_sizes.iter().find(|&&(b, _)| b == block).map(|&(_, s)| s),
    }
}

/// Height of the skip pointer of a block at `height` (Bitcoin Core's `GetSkipHeight`): any
/// ancestor height is then reached in `O(log height)` jumps.
fn skip_height(height: u32) -> u32 {
    fn invert_lowest_one(n: u32) -> u32 {
        n & n.wrapping_sub(1)
    }
    if height < 2 {
        0
    } else if height & 1 == 1 {
        invert_lowest_one(invert_lowest_one(height - 1)) + 1
    } else {
        invert_lowest_one(height)
    }
}

/// The GhostDAG colouring of a (possibly hypothetical) block.
struct Colouring {
    sp: Idx,
    blues: Vec<Idx>,
    blue_sizes: Vec<u16>,
    deep_sizes: Vec<(Idx, u16)>,
    reds: Vec<Idx>,
    /// The mergeset without the selected parent, ascending `(blue work, hash)`.
    mergeset: Vec<Idx>,
    blue_score: u64,
}

impl Colouring {
    /// Record `size` as the blue anticone size of `block` in the new block's data.
    fn set_size(&mut self, block: Idx, size: u16) {
        if let Some(i) = self.blues.iter().position(|&b| b == block) {
            if let Some(slot) = self.blue_sizes.get_mut(i) {
                *slot = size;
            }
        } else if let Some(slot) = self.deep_sizes.iter_mut().find(|(b, _)| *b == block) {
            slot.1 = size;
        } else {
            self.deep_sizes.push((block, size));
        }
    }
}

/// A GhostDAG block DAG in memory (Kaspa's algorithm and conventions; see the module docs).
#[derive(Debug)]
pub struct GhostDag {
    k: u16,
    max_parents: usize,
    nodes: Vec<Node>,
    index: HashMap<BlockHash, Idx>,
    /// Blocks without children, unordered (see `Node::tip_pos`).
    tips: Vec<Idx>,
}

impl GhostDag {
    /// A DAG holding only `genesis`.
    ///
    /// `k` bounds the blue anticone sizes (Kaspa ran k = 18 at one block per second);
    /// `max_parents` bounds the parents of a block (with 0 no block can be added).
    pub fn new(k: u16, genesis: BlockHash, max_parents: usize) -> Self {
        let data = GhostDagData {
            blue_score: 0,
            blue_work: 0,
            selected_parent: None,
            mergeset_blues: Vec::new(),
            mergeset_reds: Vec::new(),
        };
        let node = Node {
            hash: genesis,
            parents: Vec::new(),
            parent_idx: Vec::new(),
            data,
            sp: NONE,
            blues: Vec::new(),
            blue_sizes: Vec::new(),
            deep_sizes: Vec::new(),
            reds: Vec::new(),
            height: 0,
            skip: NONE,
            mergers: Vec::new(),
            tip_pos: 0,
        };
        Self {
            k,
            max_parents,
            nodes: vec![node],
            index: HashMap::from([(genesis, 0)]),
            tips: vec![0],
        }
    }

    /// The anticone-size bound.
    pub fn k(&self) -> u16 {
        self.k
    }

    /// The genesis block's hash.
    pub fn genesis(&self) -> BlockHash {
        self.nodes.first().map_or([0; 32], |n| n.hash)
    }

    /// The largest number of parents a block may have.
    pub fn max_parents(&self) -> usize {
        self.max_parents
    }

    /// Add a block whose parents are all in the DAG and return its GhostDAG data.
    ///
    /// # Errors
    ///
    /// [`GhostDagError::DuplicateBlock`], [`NoParents`](GhostDagError::NoParents),
    /// [`TooManyParents`](GhostDagError::TooManyParents),
    /// [`DuplicateParent`](GhostDagError::DuplicateParent),
    /// [`UnknownParent`](GhostDagError::UnknownParent) (checked in this order), and
    /// [`Full`](GhostDagError::Full); the DAG is unchanged after an error.
    pub fn add_block(
        &mut self,
        hash: BlockHash,
        parents: &[BlockHash],
    ) -> Result<&GhostDagData, GhostDagError> {
        if self.index.contains_key(&hash) {
            return Err(GhostDagError::DuplicateBlock { hash });
        }
        let parent_idx = self.resolve_parents(parents, self.max_parents)?;
        let new = Idx::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != NONE)
            .ok_or(GhostDagError::Full { max: u64::from(NONE) })?;

        let colouring = self.colour(&parent_idx);
        let data = self.data_of(&colouring);
        let sp = colouring.sp;
        let height = self.nodes[sp as usize].height + 1;
        let skip = self.ancestor_at(sp, skip_height(height));

        for &m in &colouring.mergeset {
            self.nodes[m as usize].mergers.push(new);
        }
        for &p in &parent_idx {
            self.remove_tip(p);
        }
        self.tips.push(new);
        self.nodes.push(Node {
            hash,
            parents: parents.to_vec(),
            parent_idx,
            data,
            sp,
            blues: colouring.blues,
            blue_sizes: colouring.blue_sizes,
            deep_sizes: colouring.deep_sizes,
            reds: colouring.reds,
            height,
            skip,
            mergers: Vec::new(),
            tip_pos: self.tips.len() - 1,
        });
        self.index.insert(hash, new);
        Ok(&self.nodes[new as usize].data)
    }

    /// The GhostDAG data of a block, if it is in the DAG.
    pub fn get(&self, hash: &BlockHash) -> Option<&GhostDagData> {
        self.index.get(hash).map(|&i| &self.nodes[i as usize].data)
    }

    /// Whether the block is in the DAG.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.index.contains_key(hash)
    }

    /// The number of blocks, genesis included (so never 0).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: the DAG holds at least its genesis (here for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A block's parents as they were given to [`add_block`](Self::add_block) (empty for the
    /// genesis), if the block is in the DAG.
    pub fn parents(&self, hash: &BlockHash) -> Option<&[BlockHash]> {
        self.index.get(hash).map(|&i| self.nodes[i as usize].parents.as_slice())
    }

    /// The blocks without children, in ascending `(blue work, hash)` order (so the last one
    /// is the selected parent of a block over all tips).
    pub fn tips(&self) -> Vec<BlockHash> {
        let mut tips = self.tips.clone();
        self.sort(&mut tips);
        tips.iter().map(|&i| self.nodes[i as usize].hash).collect()
    }

    /// A block's mergeset in Kaspa's consensus order: the selected parent first, then the
    /// other members (blue and red) in ascending `(blue work, hash)` order. Empty for the
    /// genesis; `None` if the block is not in the DAG.
    pub fn ordered_mergeset(&self, hash: &BlockHash) -> Option<Vec<BlockHash>> {
        let node = &self.nodes[*self.index.get(hash)? as usize];
        let Some(&sp) = node.blues.first() else {
            return Some(Vec::new());
        };
        let rest = self.merge_sorted(node.blues.get(1..).unwrap_or_default(), &node.reds);
        Some(std::iter::once(sp).chain(rest).map(|i| self.nodes[i as usize].hash).collect())
    }

    /// The GhostDAG data a block with these parents would get, without adding it.
    ///
    /// `max_parents` does not apply: the block is virtual, never added, so this also gives the
    /// data of the virtual block over all tips (`virtual_data(&dag.tips())`), which is what
    /// [`total_order`](Self::total_order) orders by.
    ///
    /// # Errors
    ///
    /// As [`add_block`](Self::add_block) for the parents: [`NoParents`](GhostDagError::NoParents),
    /// [`DuplicateParent`](GhostDagError::DuplicateParent) and
    /// [`UnknownParent`](GhostDagError::UnknownParent).
    pub fn virtual_data(&self, parents: &[BlockHash]) -> Result<GhostDagData, GhostDagError> {
        let parent_idx = self.resolve_parents(parents, usize::MAX)?;
        Ok(self.data_of(&self.colour(&parent_idx)))
    }

    /// Every block once, in the order of a virtual block whose parents are all the tips.
    ///
    /// This is Kaspa's order: the concatenation of [`ordered_mergeset`](Self::ordered_mergeset)
    /// over the selected chain of the virtual, from the genesis upwards, ending with the
    /// virtual's own ordered mergeset (`max_parents` does not limit the virtual). With
    /// `G = C0, C1, ..., Cn` the virtual's selected chain (`Cn` its selected parent) and `M(B)`
    /// the ordered mergeset of `B` without its selected parent, the result is
    ///
    /// `G, M(C1), C1, M(C2), C2, ..., M(Cn), Cn, M(virtual)`.
    ///
    /// Each block comes after all of its parents: inside one `M(B)` ascending blue work
    /// orders parents first, and a block's parents outside `M(B)` are in the past of `B`'s
    /// selected parent, which is already out. The result is a function of the DAG alone, not
    /// of the insertion order. Each call costs time linear in the number of blocks.
    pub fn total_order(&self) -> Vec<BlockHash> {
        let virtual_block = self.colour(&self.tips);
        let mut chain = Vec::new();
        let mut cursor = virtual_block.sp;
        while cursor != NONE {
            chain.push(cursor);
            cursor = self.nodes[cursor as usize].sp;
        }
        let mut order = Vec::with_capacity(self.nodes.len());
        // `chain` runs from the virtual's selected parent down to the genesis.
        for &block in chain.iter().rev() {
            let node = &self.nodes[block as usize];
            let rest = node.blues.get(1..).unwrap_or_default();
            order.extend(self.merge_sorted(rest, &node.reds));
            order.push(block);
        }
        order.extend(virtual_block.mergeset.iter().copied());
        order.into_iter().map(|i| self.nodes[i as usize].hash).collect()
    }

    /// How `merger`'s mergeset coloured `block`: `Some(true)` for blue (the selected parent
    /// included), `Some(false)` for red, `None` if `block` is not in `merger`'s mergeset or
    /// either block is unknown.
    pub fn is_blue_in(&self, block: &BlockHash, merger: &BlockHash) -> Option<bool> {
        let data = self.get(merger)?;
        if data.mergeset_blues.contains(block) {
            Some(true)
        } else if data.mergeset_reds.contains(block) {
            Some(false)
        } else {
            None
        }
    }

    // --- internals -------------------------------------------------------------------------

    /// Check a parent list (at most `max_parents` long) and map it to indexes.
    fn resolve_parents(
        &self,
        parents: &[BlockHash],
        max_parents: usize,
    ) -> Result<Vec<Idx>, GhostDagError> {
        if parents.is_empty() {
            return Err(GhostDagError::NoParents);
        }
        if parents.len() > max_parents {
            return Err(GhostDagError::TooManyParents { count: parents.len(), max: max_parents });
        }
        let mut sorted = parents.to_vec();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|w| w.first() == w.get(1)) {
            if let Some(&parent) = pair.first() {
                return Err(GhostDagError::DuplicateParent { parent });
            }
        }
        parents
            .iter()
            .map(|p| self.index.get(p).copied().ok_or(GhostDagError::UnknownParent { parent: *p }))
            .collect()
    }

    /// The `(blue work, hash)` order.
    fn cmp_blocks(&self, a: Idx, b: Idx) -> Ordering {
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        na.data.blue_work.cmp(&nb.data.blue_work).then_with(|| na.hash.cmp(&nb.hash))
    }

    fn sort(&self, blocks: &mut [Idx]) {
        blocks.sort_unstable_by(|&a, &b| self.cmp_blocks(a, b));
    }

    /// Merge two lists that are each ascending in `(blue work, hash)`.
    fn merge_sorted(&self, a: &[Idx], b: &[Idx]) -> Vec<Idx> {
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
            if self.cmp_blocks(x, y) == Ordering::Less {
                out.push(x);
                i += 1;
            } else {
                out.push(y);
                j += 1;
            }
        }
        out.extend_from_slice(a.get(i..).unwrap_or_default());
        out.extend_from_slice(b.get(j..).unwrap_or_default());
        out
    }

    /// The selected-chain ancestor of `block` at `height` (`block` itself at its own height);
    /// [`NONE`] if `height` is above the block. Bitcoin Core's `CBlockIndex::GetAncestor`.
    fn ancestor_at(&self, block: Idx, height: u32) -> Idx {
        let Some(node) = self.nodes.get(block as usize) else {
            return NONE;
        };
        if height > node.height {
            return NONE;
        }
        let (mut walk, mut walk_height) = (block, node.height);
        while walk_height > height {
            let node = &self.nodes[walk as usize];
            let h_skip = skip_height(walk_height);
            let h_skip_prev = skip_height(walk_height - 1);
            // Take the skip unless it overshoots, or the predecessor's skip would get closer
            // (Bitcoin's condition, in i64 so that `h_skip - 2` cannot underflow).
            let take_skip = node.skip != NONE
                && (h_skip == height
                    || (h_skip > height
                        && !(i64::from(h_skip_prev) < i64::from(h_skip) - 2
                            && h_skip_prev >= height)));
            if take_skip {
                walk = node.skip;
                walk_height = h_skip;
            } else {
                walk = node.sp;
                walk_height -= 1;
            }
        }
        walk
    }

    /// Whether `a` is `b` or on `b`'s selected chain.
    fn is_chain_ancestor(&self, a: Idx, b: Idx) -> bool {
        self.ancestor_at(b, self.nodes[a as usize].height) == a
    }

    /// Whether `a` is `b` or in the past of `b` (Kaspa's `is_dag_ancestor_of`).
    fn is_ancestor(&self, a: Idx, b: Idx) -> bool {
        if a == b {
            return true;
        }
        let node = &self.nodes[a as usize];
        // Blue score strictly grows from parent to child, so this rules out most queries.
        if node.data.blue_score >= self.nodes[b as usize].data.blue_score {
            return false;
        }
        self.is_chain_ancestor(a, b) || node.mergers.iter().any(|&m| self.is_chain_ancestor(m, b))
    }

    /// GhostDAG for a block with these (checked, known, distinct) parents.
    fn colour(&self, parents: &[Idx]) -> Colouring {
        let mut sp = parents.first().copied().unwrap_or(0);
        for &p in parents {
            if self.cmp_blocks(p, sp) == Ordering::Greater {
                sp = p;
            }
        }
        let mergeset = self.mergeset_without_sp(sp, parents);
        let mut c = Colouring {
            sp,
            blues: vec![sp],
            blue_sizes: vec![0],
            deep_sizes: Vec::new(),
            reds: Vec::new(),
            mergeset: Vec::new(),
            blue_score: 0,
        };
        let mut candidate_sizes = Vec::new();
        for &candidate in &mergeset {
            match self.check_blue_candidate(&c, candidate, &mut candidate_sizes) {
                Some(size) => {
                    c.blues.push(candidate);
                    c.blue_sizes.push(size);
                    for &(blue, blue_size) in &candidate_sizes {
                        // `blue_size < k` (checked), so this cannot overflow.
                        c.set_size(blue, blue_size.saturating_add(1));
                    }
                }
                None => c.reds.push(candidate),
            }
        }
        c.mergeset = mergeset;
        let blues = u64::try_from(c.blues.len()).unwrap_or(u64::MAX);
        c.blue_score = self.nodes[sp as usize].data.blue_score.saturating_add(blues);
        c
    }

    /// The past of a block with these parents minus the past of `sp` and `sp` itself,
    /// ascending `(blue work, hash)` (Kaspa's `ordered_mergeset_without_selected_parent`).
    fn mergeset_without_sp(&self, sp: Idx, parents: &[Idx]) -> Vec<Idx> {
        let capacity = 4 * parents.len();
        let mut mergeset = Vec::with_capacity(capacity);
        let mut seen = IdxSet::with_capacity_and_hasher(capacity, Default::default());
        let mut sp_past = IdxSet::with_capacity_and_hasher(capacity, Default::default());
        for &p in parents {
            // A redundant parent (in the past of the selected parent) is not in the mergeset.
            if p != sp && !self.is_ancestor(p, sp) {
                seen.insert(p);
                mergeset.push(p);
            }
        }
        let mut queue: VecDeque<Idx> = mergeset.iter().copied().collect();
        while let Some(current) = queue.pop_front() {
            for &p in &self.nodes[current as usize].parent_idx {
                if seen.contains(&p) || sp_past.contains(&p) {
                    continue;
                }
                if self.is_ancestor(p, sp) {
                    sp_past.insert(p);
                } else {
                    seen.insert(p);
                    mergeset.push(p);
                    queue.push_back(p);
                }
            }
        }
        self.sort(&mut mergeset);
        mergeset
    }

    /// Kaspa's `check_blue_candidate`: `Some(blue anticone size of the candidate)` if it can
    /// be blue, with the blues in its anticone and their current anticone sizes left in
    /// `anticone`; `None` if it must be red.
    fn check_blue_candidate(
        &self,
        new: &Colouring,
        candidate: Idx,
        anticone: &mut Vec<(Idx, u16)>,
    ) -> Option<u16> {
        let k = u32::from(self.k);
        // Every mergeset blue is in the anticone of the selected parent, whose blue anticone
        // would exceed k with one more.
        if new.blues.len() > usize::from(self.k) {
            return None;
        }
        anticone.clear();
        let mut size: u32 = 0;
        // Walk the blues of the new block, then of each block of its selected chain, until a
        // chain block in the candidate's past: all blues below it are in that past too.
        let mut chain = NONE;
        loop {
            let blues = if chain == NONE {
                &new.blues
            } else {
                if self.is_ancestor(chain, candidate) {
                    return u16::try_from(size).ok();
                }
                &self.nodes[chain as usize].blues
            };
            for (i, &peer) in blues.iter().enumerate() {
                if self.is_ancestor(peer, candidate) {
                    continue;
                }
                let peer_size = self.blue_anticone_size(new, chain, i, peer);
                anticone.push((peer, peer_size));
                size += 1;
                if size > k || u32::from(peer_size) >= k {
                    return None;
                }
            }
            chain = if chain == NONE { new.sp } else { self.nodes[chain as usize].sp };
            if chain == NONE {
                // Unreachable: the genesis is in every candidate's past. Red is the safe side.
                return None;
            }
        }
    }

    /// Blue anticone size of `peer` (= `blues(owner)[i]`, `owner` a block of the new block's
    /// selected chain or [`NONE`] for the new block) within the new block's blue set: the
    /// value recorded by the first block, walking down from the new block, that recorded one
    /// (Kaspa's `blue_anticone_size`). `owner` recorded one when it coloured `peer`, so the
    /// walk stops there at the latest.
    fn blue_anticone_size(&self, new: &Colouring, owner: Idx, i: usize, peer: Idx) -> u16 {
        let from_owner = |node_sizes: &[u16]| node_sizes.get(i).copied().unwrap_or(0);
        if owner == NONE {
            return from_owner(&new.blue_sizes);
        }
        if let Some(size) = recorded_size(&new.blues, &new.blue_sizes, &new.deep_sizes, peer) {
            return size;
        }
        let mut block = new.sp;
        while block != owner && block != NONE {
            let node = &self.nodes[block as usize];
            if let Some(size) = recorded_size(&node.blues, &node.blue_sizes, &node.deep_sizes, peer)
            {
                return size;
            }
            block = node.sp;
        }
        from_owner(&self.nodes[owner as usize].blue_sizes)
    }

    /// The public data of a colouring.
    fn data_of(&self, c: &Colouring) -> GhostDagData {
        let hashes = |v: &[Idx]| v.iter().map(|&i| self.nodes[i as usize].hash).collect();
        GhostDagData {
            blue_score: c.blue_score,
            blue_work: u128::from(c.blue_score),
            selected_parent: Some(self.nodes[c.sp as usize].hash),
            mergeset_blues: hashes(&c.blues),
            mergeset_reds: hashes(&c.reds),
        }
    }

    /// `block` got a child: it is no longer a tip.
    fn remove_tip(&mut self, block: Idx) {
        let pos = std::mem::replace(&mut self.nodes[block as usize].tip_pos, usize::MAX);
        if pos == usize::MAX {
            return;
        }
        self.tips.swap_remove(pos);
        if let Some(&moved) = self.tips.get(pos) {
            self.nodes[moved as usize].tip_pos = pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> BlockHash {
        let mut hash = [0; 32];
        hash[0] = n;
        hash
    }

    #[test]
    fn skip_heights_match_bitcoin() {
        let expected = [0, 0, 0, 1, 0, 1, 4, 1, 0, 1, 8, 1, 8, 1, 12, 9, 0];
        for (height, &want) in expected.iter().enumerate() {
            assert_eq!(skip_height(height as u32), want, "height {height}");
        }
    }

    #[test]
    fn ancestor_at_walks_long_chains() {
        let mut dag = GhostDag::new(3, h(0), 10);
        let mut hashes = vec![h(0)];
        for i in 1..=1000u32 {
            let mut hash = [0; 32];
            hash[..4].copy_from_slice(&i.to_be_bytes());
            let parent = *hashes.last().unwrap();
            dag.add_block(hash, &[parent]).unwrap();
            hashes.push(hash);
        }
        for top in [1u32, 2, 3, 17, 500, 999, 1000] {
            for height in 0..=top {
                let idx = dag.ancestor_at(top, height);
                assert_eq!(idx, height, "ancestor of {top} at {height}");
            }
            assert_eq!(dag.ancestor_at(top, top + 1), NONE);
        }
    }

    #[test]
    fn reachability_agrees_with_a_full_search() {
        // Two chains off the genesis, merged, then a side block.
        let mut dag = GhostDag::new(3, h(0), 10);
        dag.add_block(h(1), &[h(0)]).unwrap();
        dag.add_block(h(2), &[h(1)]).unwrap();
        dag.add_block(h(3), &[h(0)]).unwrap();
        dag.add_block(h(4), &[h(3)]).unwrap();
        dag.add_block(h(5), &[h(2), h(4)]).unwrap();
        dag.add_block(h(6), &[h(3)]).unwrap();
        dag.add_block(h(7), &[h(5), h(6)]).unwrap();
        let n = dag.len() as Idx;
        for a in 0..n {
            for b in 0..n {
                let mut stack = vec![b];
                let mut found = false;
                while let Some(x) = stack.pop() {
                    if x == a {
                        found = true;
                        break;
                    }
                    stack.extend(&dag.nodes[x as usize].parent_idx);
                }
                assert_eq!(dag.is_ancestor(a, b), found, "{a} in past of {b}");
            }
        }
    }

    #[test]
    fn check_params_bounds() {
        assert_eq!(check_params(18, 10), Ok((18, 10)));
        assert_eq!(check_params(0, 1), Ok((0, 1)));
        assert!(matches!(
            check_params(-1, 10),
            Err(GhostDagError::InvalidParameter { name: "k", .. })
        ));
        assert!(matches!(
            check_params(65_536, 10),
            Err(GhostDagError::InvalidParameter { name: "k", .. })
        ));
        assert!(matches!(
            check_params(18, 0),
            Err(GhostDagError::InvalidParameter { name: "max_parents", .. })
        ));
        assert_eq!(block_hash(&[1; 31]), Err(GhostDagError::HashLength { len: 31 }));
        assert_eq!(block_hash(&[1; 32]), Ok([1; 32]));
    }
}
