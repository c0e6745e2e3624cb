//! The Merkle tree of RFC 9162 section 2.1, generic over the hash function.
//!
//! Production uses [`Blake3Hasher`]; [`Sha256Hasher`] is the RFC 6962 instantiation that the
//! published test vectors are written for. Both produce 32-byte hashes.
//!
//! Tree shape: the tree over `n` leaves splits at `k`, the largest power of two strictly
//! below `n`; the left part is always a perfect subtree. Proof generation therefore only
//! ever needs hashes of perfect, aligned subtrees, which a [`NodeSource`] provides (the
//! store keeps them on disk, [`MemoryTree`] keeps them in memory).

use std::marker::PhantomData;

use sha2::Digest;

/// Every hash in the tree is 32 bytes.
pub const HASH_LEN: usize = 32;
/// A tree hash.
pub type Hash = [u8; HASH_LEN];

/// Domain-separated hashing of leaves and interior nodes (RFC 9162 section 2.1.1).
pub trait TreeHasher {
    /// Root of the tree with no leaves: the hash of the empty string.
    fn empty_root() -> Hash;
    /// `HASH(0x00 || data)`.
    fn hash_leaf(data: &[u8]) -> Hash;
    /// `HASH(0x01 || left || right)`.
    fn hash_children(left: &Hash, right: &Hash) -> Hash;
}

/// The production hasher: BLAKE3 with RFC 9162 domain separation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blake3Hasher;

impl TreeHasher for Blake3Hasher {
    fn empty_root() -> Hash {
        *blake3::hash(b"").as_bytes()
    }
    fn hash_leaf(data: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[0x00]);
        h.update(data);
        *h.finalize().as_bytes()
    }
    fn hash_children(left: &Hash, right: &Hash) -> Hash {
        let mut buf = [0u8; 1 + 2 * HASH_LEN];
        buf[0] = 0x01;
        buf[1..1 + HASH_LEN].copy_from_slice(left);
        buf[1 + HASH_LEN..].copy_from_slice(right);
        *blake3::hash(&buf).as_bytes()
    }
}

/// SHA-256 with RFC 6962 hashing: the instantiation of the published test vectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256Hasher;

impl TreeHasher for Sha256Hasher {
    fn empty_root() -> Hash {
        sha2::Sha256::digest(b"").into()
    }
    fn hash_leaf(data: &[u8]) -> Hash {
        let mut h = sha2::Sha256::new();
        h.update([0x00]);
        h.update(data);
        h.finalize().into()
    }
    fn hash_children(left: &Hash, right: &Hash) -> Hash {
        let mut h = sha2::Sha256::new();
        h.update([0x01]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("{what} is {len} bytes long; a hash is {HASH_LEN} bytes")]
    BadHashLength { what: &'static str, len: usize },
    #[error("proof element {position} is {len} bytes long; a hash is {HASH_LEN} bytes")]
    BadProofElement { position: usize, len: usize },
    #[error("the proof has the wrong number of hashes for these tree sizes")]
    WrongProofLength,
    #[error("size1 {size1} is greater than size2 {size2}")]
    SizesReversed { size1: u64, size2: u64 },
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyTree,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// Why a proof could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("consistency proof needs 0 < size1 <= size2, got size1 {size1}, size2 {size2}")]
    BadSizes { size1: u64, size2: u64 },
    #[error("reading a tree node: {0}")]
    Source(E),
}

/// Where proof generation reads hashes of perfect subtrees.
pub trait NodeSource {
    type Error;
    /// Hash of the perfect subtree at `level` whose leaves are
    /// `[index << level, (index + 1) << level)`. Level 0 holds the leaf hashes.
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Largest power of two strictly below `n` (`n >= 2`).
pub fn split_point(n: u64) -> u64 {
    assert!(n >= 2, "a tree of {n} leaves has no split");
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect, aligned subtrees that make up `[start, end)`, left to right, as
/// `(level, index)`. `start` must be aligned to the largest power of two not above
/// `end - start`, as every range met in RFC 9162 proofs is.
pub fn perfect_pieces(start: u64, end: u64) -> impl Iterator<Item = (u8, u64)> {
    let mut at = start;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let remaining = end - at;
        let by_size = 63 - remaining.leading_zeros();
        let by_alignment = if at == 0 { 63 } else { at.trailing_zeros() };
        let level = by_size.min(by_alignment);
        let piece = (level as u8, at >> level);
        at += 1u64 << level;
        Some(piece)
    })
}

/// Hash of the subtree over leaves `[start, end)` (RFC 9162 MTH), read from `src`.
///
/// `start` must be aligned to the largest power of two not above `end - start` (true of
/// every subtree RFC 9162 proofs use); other ranges are not subtrees of the tree and
/// panic rather than hash to something meaningless.
pub fn range_hash<H: TreeHasher, S: NodeSource>(
    src: &S,
    start: u64,
    end: u64,
) -> Result<Hash, S::Error> {
    assert!(start < end, "empty range [{start}, {end})");
    let largest = 1u64 << (63 - (end - start).leading_zeros());
    assert!(
        start.is_multiple_of(largest),
        "[{start}, {end}) is not a subtree: {start} is not a multiple of {largest}"
    );
    let mut pieces = [(0u8, 0u64); 64];
    let mut count = 0;
    for piece in perfect_pieces(start, end) {
        pieces[count] = piece;
        count += 1;
    }
    let (level, index) = pieces[count - 1];
    let mut hash = src.perfect_node(level, index)?;
    for &(level, index) in pieces[..count - 1].iter().rev() {
        hash = H::hash_children(&src.perfect_node(level, index)?, &hash);
    }
    Ok(hash)
}

/// Root of the tree of the first `size` leaves.
pub fn root<H: TreeHasher, S: NodeSource>(src: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(H::empty_root());
    }
    range_hash::<H, S>(src, 0, size)
}

/// Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 PATH).
pub fn inclusion_proof<H: TreeHasher, S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk down from the root, noting siblings; the proof lists them bottom-up.
    let mut siblings = Vec::with_capacity(64);
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            siblings.push(range_hash::<H, S>(src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            siblings.push(range_hash::<H, S>(src, start, start + k).map_err(ProofError::Source)?);
            start += k;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// Consistency proof between the trees of `size1` and `size2` leaves (RFC 9162 PROOF).
pub fn consistency_proof<H: TreeHasher, S: NodeSource>(
    src: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadSizes { size1, size2 });
    }
    let mut out = Vec::with_capacity(64);
    // SUBPROOF(m, D[start:end], whole): iterative, since each step recurses once.
    let (mut m, mut start, mut end, mut whole) = (size1, 0u64, size2, true);
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(range_hash::<H, S>(src, start, end).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            out.push(range_hash::<H, S>(src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            out.push(range_hash::<H, S>(src, start, start + k).map_err(ProofError::Source)?);
            m -= k;
            start += k;
            whole = false;
        }
    }
    // Each step appended its sibling after the deeper part of the proof in RFC order.
    out.reverse();
    Ok(out)
}

fn hash_from(bytes: &[u8], what: &'static str) -> Result<Hash, VerifyError> {
    bytes.try_into().map_err(|_| VerifyError::BadHashLength {
        what,
        len: bytes.len(),
    })
}

fn proof_hashes<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, VerifyError> {
    proof
        .iter()
        .enumerate()
        .map(|(position, p)| {
            p.as_ref()
                .try_into()
                .map_err(|_| VerifyError::BadProofElement {
                    position,
                    len: p.as_ref().len(),
                })
        })
        .collect()
}

/// Checks an inclusion proof (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion<H: TreeHasher, P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let leaf = hash_from(leaf_hash, "leaf hash")?;
    let root = hash_from(root, "root")?;
    let proof = proof_hashes(proof)?;
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in &proof {
        if s == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        if f & 1 == 1 || f == s {
            r = H::hash_children(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = H::hash_children(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    if r != root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 section 2.1.4.2).
///
/// A proof from the empty tree is refused: it would accept any second tree.
pub fn verify_consistency<H: TreeHasher, P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), VerifyError> {
    if size1 > size2 {
        return Err(VerifyError::SizesReversed { size1, size2 });
    }
    if size1 == 0 {
        return Err(VerifyError::EmptyTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength);
        }
        if root1 != root2 {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }
    let root1 = hash_from(root1, "root1")?;
    let root2 = hash_from(root2, "root2")?;
    let mut path = proof_hashes(proof)?;
    if size1.is_power_of_two() {
        path.insert(0, root1);
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(VerifyError::WrongProofLength);
    };
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        if f & 1 == 1 || f == s {
            fr = H::hash_children(c, &fr);
            sr = H::hash_children(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = H::hash_children(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    if fr != root1 || sr != root2 {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first.
/// Appending a leaf costs O(1) amortised hashes and reports every perfect node it completes.
#[derive(Debug, Clone)]
pub struct CompactRange<H> {
    size: u64,
    peaks: Vec<Hash>,
    hasher: PhantomData<H>,
}

impl<H: TreeHasher> Default for CompactRange<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: TreeHasher> CompactRange<H> {
    pub fn new() -> Self {
        Self {
            size: 0,
            peaks: Vec::with_capacity(64),
            hasher: PhantomData,
        }
    }

    /// Rebuilds the right edge of the tree of `size` leaves from stored perfect nodes.
    pub fn from_source<S: NodeSource>(src: &S, size: u64) -> Result<Self, S::Error> {
        let mut peaks = Vec::with_capacity(64);
        for (level, index) in perfect_pieces(0, size) {
            peaks.push(src.perfect_node(level, index)?);
        }
        Ok(Self {
            size,
            peaks,
            hasher: PhantomData,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; `completed` sees every perfect node this append completes,
    /// the leaf itself (level 0) first, then each parent upwards.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u8, u64, &Hash)) {
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        completed(level, index, &hash);
        while index & 1 == 1 {
            let left = self
                .peaks
                .pop()
                .expect("a set low bit of the size means a peak of this level exists");
            hash = H::hash_children(&left, &hash);
            level += 1;
            index >>= 1;
            completed(level, index, &hash);
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// Root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return H::empty_root();
        };
        peaks.fold(*last, |acc, left| H::hash_children(left, &acc))
    }
}

/// A whole tree held in memory: every perfect node of every level.
/// For tests, and for verifiers that rebuild a tree from an export.
#[derive(Debug, Clone)]
pub struct MemoryTree<H> {
    levels: Vec<Vec<Hash>>,
    range: CompactRange<H>,
}

impl<H: TreeHasher> Default for MemoryTree<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: TreeHasher> MemoryTree<H> {
    pub fn new() -> Self {
        Self {
            levels: Vec::new(),
            range: CompactRange::new(),
        }
    }

    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.range.push(leaf, |level, index, hash| {
            let level = level as usize;
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            debug_assert_eq!(levels[level].len() as u64, index);
            levels[level].push(*hash);
        });
    }

    pub fn size(&self) -> u64 {
        self.range.size()
    }

    pub fn root(&self) -> Hash {
        self.range.root()
    }
}

/// Reading a node that the tree does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tree has no perfect node at level {level}, index {index}")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

impl<H> NodeSource for MemoryTree<H> {
    type Error = MissingNode;
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

/// RFC 9162 MTH computed directly from the definition; the reference the tests compare to.
pub fn reference_root<H: TreeHasher>(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => H::empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            H::hash_children(
                &reference_root::<H>(&leaves[..k]),
                &reference_root::<H>(&leaves[k..]),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "is not a subtree")]
    fn range_hash_refuses_a_range_that_is_not_a_subtree() {
        let mut tree = MemoryTree::<Blake3Hasher>::new();
        for i in 0..4u8 {
            tree.push([i; 32]);
        }
        let _ = range_hash::<Blake3Hasher, _>(&tree, 1, 4);
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn range_hash_refuses_an_empty_range() {
        let tree = MemoryTree::<Blake3Hasher>::new();
        let _ = range_hash::<Blake3Hasher, _>(&tree, 2, 2);
    }
}
