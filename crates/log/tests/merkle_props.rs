//! Property tests of the Merkle tree, its proofs and their verifiers (BLAKE3 instantiation).
//!
//! Roots are compared with `reference_root`, proofs with the recursive definitions of RFC 9162
//! section 2.1 (PATH and SUBPROOF), restated below independently of `merkle.rs`.
//!
//! Mutated proofs are judged by a model of what RFC 9162 verification means: the proof's
//! hashes, placed at the subtrees the claimed sizes and index say they stand for, must rebuild
//! the claimed root(s). Some mutations are always refused (a flipped bit, a missing or extra
//! hash); others can legitimately still verify, e.g. a tree size changed to another size whose
//! tree has the same path shape, or another index whose leaf and siblings happen to be equal.
//! For those the verifier must agree with the model, whichever way it goes.

use std::collections::HashMap;

use careledger_log::merkle::{
    consistency_proof, inclusion_proof, reference_root, root, verify_consistency, verify_inclusion,
    MemoryTree, ProofError,
};
use careledger_log::{Blake3Hasher, CompactRange, Hash, NodeSource, TreeHasher};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

type H = Blake3Hasher;

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Keep failures in the test output only; do not write regression files.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// An independent restatement of RFC 9162 section 2.1.

/// Largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    assert!(n >= 2);
    let mut k = 1;
    while k <= (n - 1) / 2 {
        k *= 2;
    }
    k
}

/// The leaf ranges `[a, b)` of the inclusion proof of leaf `index` in the tree over
/// `[0, size)`, in proof order (RFC 9162 PATH: deepest sibling first).
fn path_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    fn go(index: u64, start: u64, end: u64, out: &mut Vec<(u64, u64)>) {
        if end - start <= 1 {
            return;
        }
        let k = split(end - start);
        if index < start + k {
            go(index, start, start + k, out);
            out.push((start + k, end));
        } else {
            go(index, start + k, end, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    go(index, 0, size, &mut out);
    out
}

/// The leaf ranges of the consistency proof between sizes `m` and `n`, `0 < m <= n`, in
/// proof order (RFC 9162 SUBPROOF).
fn consistency_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    fn sub(m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
        let n = end - start;
        if m == n {
            if !whole {
                out.push((start, end));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            sub(m, start, start + k, whole, out);
            out.push((start + k, end));
        } else {
            sub(m - k, start + k, end, false, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    sub(m, 0, n, true, &mut out);
    out
}

/// MTH of the leaves `[start, end)` where the hashes of some subtrees are given instead of
/// computed: the meaning of a proof. Panics if a leaf is not covered by a given subtree.
fn rebuild(start: u64, end: u64, given: &HashMap<(u64, u64), Hash>) -> Hash {
    if let Some(hash) = given.get(&(start, end)) {
        return *hash;
    }
    assert!(
        end - start > 1,
        "leaf {start} is not covered by the proof ranges {given:?}"
    );
    let k = split(end - start);
    H::hash_children(
        &rebuild(start, start + k, given),
        &rebuild(start + k, end, given),
    )
}

/// Whether RFC 9162 verification must accept this inclusion claim.
fn model_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let ranges = path_ranges(index, size);
    if ranges.len() != proof.len() {
        return false;
    }
    let mut given: HashMap<_, _> = ranges.into_iter().zip(proof.iter().copied()).collect();
    given.insert((index, index + 1), *leaf);
    rebuild(0, size, &given) == *root
}

/// Whether verification must accept this consistency claim. A proof from the empty tree is
/// refused (as `verify_consistency` documents and the vectors expect).
fn model_consistency(size1: u64, size2: u64, proof: &[Hash], root1: &Hash, root2: &Hash) -> bool {
    if size1 == 0 || size1 > size2 {
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    let ranges = consistency_ranges(size1, size2);
    if ranges.len() != proof.len() {
        return false;
    }
    let mut given: HashMap<_, _> = ranges.into_iter().zip(proof.iter().copied()).collect();
    if size1.is_power_of_two() {
        // The old root is itself a node of the new tree and is left out of the proof.
        given.insert((0, size1), *root1);
    }
    rebuild(0, size1, &given) == *root1 && rebuild(0, size2, &given) == *root2
}

// ---------------------------------------------------------------------------------------
// Trees under test.

/// Leaf data: either arbitrary bytes, or drawn from a tiny alphabet so that equal leaves
/// and equal subtrees are common (which lets some "wrong" claims verify legitimately).
fn leaf_data(max_leaves: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..=max_leaves),
        prop::collection::vec(prop::collection::vec(0u8..2, 0..2), 1..=max_leaves),
    ]
}

fn build(data: &[Vec<u8>]) -> (MemoryTree<H>, Vec<Hash>) {
    let leaves: Vec<Hash> = data.iter().map(|d| H::hash_leaf(d)).collect();
    let mut tree = MemoryTree::<H>::new();
    for leaf in &leaves {
        tree.push(*leaf);
    }
    assert_eq!(tree.size(), leaves.len() as u64);
    (tree, leaves)
}

/// Four claims to check per tree, each as (size pick, index or size1 pick, mutation pick,
/// bit to flip).
fn picks() -> impl Strategy<Value = Vec<(Index, Index, usize, usize)>> {
    prop::collection::vec(
        (any::<Index>(), any::<Index>(), any::<usize>(), 0usize..256),
        4,
    )
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[(bit / 8) % 32] ^= 1 << (bit % 8);
    out
}

fn sizes_around(x: u64, extra: u64) -> Vec<u64> {
    let mut out = vec![
        0,
        1,
        x.wrapping_sub(1),
        x + 1,
        x ^ 1,
        x / 2,
        x * 2,
        x.next_power_of_two(),
        extra,
        u64::MAX,
    ];
    out.retain(|&y| y != x);
    out.sort_unstable();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------------------
// Roots.

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn roots_of_every_prefix_match_the_reference(data in leaf_data(300)) {
        let (tree, leaves) = build(&data);
        let n = leaves.len() as u64;
        let want = reference_root::<H>(&leaves);
        prop_assert_eq!(tree.root(), want);
        prop_assert_eq!(root::<H, _>(&tree, n).unwrap(), want);
        for m in 0..=n {
            prop_assert_eq!(
                root::<H, _>(&tree, m).unwrap(),
                reference_root::<H>(&leaves[..m as usize]),
                "prefix {}", m
            );
        }
        prop_assert!(root::<H, _>(&tree, n + 1).is_err());
    }

    #[test]
    fn compact_range_from_source_continues_like_the_tree(
        data in leaf_data(300),
        at in any::<Index>(),
    ) {
        let (tree, leaves) = build(&data);
        let n = leaves.len();
        let m = at.index(n + 1);
        let mut range = CompactRange::<H>::from_source(&tree, m as u64).unwrap();
        prop_assert_eq!(range.size(), m as u64);
        prop_assert_eq!(range.root(), reference_root::<H>(&leaves[..m]));
        for (i, leaf) in leaves.iter().enumerate().skip(m) {
            let mut completed = Vec::new();
            range.push(*leaf, |level, index, hash| completed.push((level, index, *hash)));
            prop_assert_eq!(range.size(), i as u64 + 1);
            prop_assert_eq!(range.root(), reference_root::<H>(&leaves[..=i]), "after leaf {}", i);
            // The leaf itself, then one parent per trailing one bit of its index.
            prop_assert_eq!(completed.len(), 1 + (i as u64).trailing_ones() as usize);
            for (step, &(level, index, hash)) in completed.iter().enumerate() {
                prop_assert_eq!(level as usize, step);
                prop_assert_eq!(index, i as u64 >> level);
                prop_assert_eq!(hash, tree.perfect_node(level, index).unwrap());
                let start = (index << level) as usize;
                prop_assert_eq!(hash, reference_root::<H>(&leaves[start..start + (1 << level)]));
            }
        }
        prop_assert!(CompactRange::<H>::from_source(&tree, n as u64 + 1).is_err());
    }
}

// ---------------------------------------------------------------------------------------
// Inclusion proofs.

/// Checks one honest inclusion proof and every mutation of it against the model.
fn check_inclusion(
    tree: &MemoryTree<H>,
    leaves: &[Hash],
    index: u64,
    size: u64,
    pick: usize,
    bit: usize,
) -> Result<(), TestCaseError> {
    let root_at = |n: u64| reference_root::<H>(&leaves[..n as usize]);
    let root = root_at(size);
    let leaf = leaves[index as usize];
    let proof = inclusion_proof::<H, _>(tree, index, size).unwrap();

    // The proof is RFC 9162 PATH.
    let ranges = path_ranges(index, size);
    prop_assert_eq!(proof.len(), ranges.len());
    for (hash, &(a, b)) in proof.iter().zip(&ranges) {
        prop_assert_eq!(*hash, reference_root::<H>(&leaves[a as usize..b as usize]));
    }
    prop_assert!(model_inclusion(index, size, &leaf, &proof, &root));
    prop_assert_eq!(
        verify_inclusion::<H, _>(index, size, &leaf, &proof, &root),
        Ok(())
    );

    let verdict = |index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash| {
        verify_inclusion::<H, _>(index, size, leaf, proof, root).is_ok()
    };
    // Mutations that must always be refused.
    let mut refused: Vec<(String, u64, u64, Hash, Vec<Hash>, Hash)> = Vec::new();
    if !proof.is_empty() {
        let j = pick % proof.len();
        let mut p = proof.clone();
        p[j] = flip(&p[j], bit);
        refused.push((
            format!("bit {bit} of element {j} flipped"),
            index,
            size,
            leaf,
            p,
            root,
        ));
        let mut p = proof.clone();
        p.remove(j);
        refused.push((format!("element {j} dropped"), index, size, leaf, p, root));
    }
    for j in [0, pick % (proof.len() + 1), proof.len()] {
        let mut p = proof.clone();
        p.insert(j, flip(&root, bit));
        refused.push((format!("element added at {j}"), index, size, leaf, p, root));
        let mut p = proof.clone();
        p.insert(j, leaf);
        refused.push((format!("leaf added at {j}"), index, size, leaf, p, root));
    }
    let flipped_leaf = flip(&leaf, bit);
    refused.push((
        "leaf flipped".into(),
        index,
        size,
        flipped_leaf,
        proof.clone(),
        root,
    ));
    refused.push((
        "root flipped".into(),
        index,
        size,
        leaf,
        proof.clone(),
        flip(&root, bit),
    ));
    refused.push(("index = size".into(), size, size, leaf, proof.clone(), root));
    refused.push((
        "size = index".into(),
        index,
        index,
        leaf,
        proof.clone(),
        root,
    ));
    for (what, i, n, l, p, r) in &refused {
        prop_assert!(
            !model_inclusion(*i, *n, l, p, r),
            "model accepts {} (index {}, size {})",
            what,
            index,
            size
        );
        prop_assert!(
            !verdict(*i, *n, l, p, r),
            "verifier accepts {} (index {}, size {})",
            what,
            index,
            size
        );
    }

    // Mutations that may legitimately still verify: the verifier must agree with the model.
    let mut judged: Vec<(String, u64, u64, Hash, Hash)> = Vec::new();
    let other = (pick % size as usize) as u64;
    for i in sizes_around(index, other) {
        judged.push((format!("index {i}"), i, size, leaf, root));
    }
    for n in sizes_around(size, leaves.len() as u64) {
        judged.push((format!("size {n}"), index, n, leaf, root));
        if n <= leaves.len() as u64 {
            judged.push((format!("size {n} and its root"), index, n, leaf, root_at(n)));
        }
    }
    judged.push((
        format!("leaf {other}"),
        index,
        size,
        leaves[other as usize],
        root,
    ));
    for n in [index + 1, size - 1, leaves.len() as u64] {
        if n > index {
            judged.push((format!("root of size {n}"), index, size, leaf, root_at(n)));
        }
    }
    for (what, i, n, l, r) in &judged {
        let want = model_inclusion(*i, *n, l, &proof, r);
        prop_assert_eq!(
            verdict(*i, *n, l, &proof, r),
            want,
            "{} (honest index {}, size {})",
            what,
            index,
            size
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn inclusion_proofs_verify_and_mutations_are_judged_correctly(
        data in leaf_data(300),
        picks in picks(),
    ) {
        let (tree, leaves) = build(&data);
        let n = leaves.len();
        for (size_pick, index_pick, pick, bit) in &picks {
            let size = 1 + size_pick.index(n) as u64;
            let index = index_pick.index(size as usize) as u64;
            check_inclusion(&tree, &leaves, index, size, *pick, *bit)?;
        }
        prop_assert_eq!(
            inclusion_proof::<H, _>(&tree, n as u64, n as u64),
            Err(ProofError::IndexOutOfRange { index: n as u64, size: n as u64 })
        );
        prop_assert!(matches!(
            inclusion_proof::<H, _>(&tree, 0, n as u64 + 1),
            Err(ProofError::Source(_))
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Consistency proofs.

/// Checks one honest consistency proof and every mutation of it against the model.
fn check_consistency(
    tree: &MemoryTree<H>,
    leaves: &[Hash],
    size1: u64,
    size2: u64,
    pick: usize,
    bit: usize,
) -> Result<(), TestCaseError> {
    let root_at = |n: u64| reference_root::<H>(&leaves[..n as usize]);
    let (root1, root2) = (root_at(size1), root_at(size2));
    let proof = consistency_proof::<H, _>(tree, size1, size2).unwrap();

    // The proof is RFC 9162 SUBPROOF.
    let ranges = consistency_ranges(size1, size2);
    prop_assert_eq!(proof.len(), ranges.len());
    for (hash, &(a, b)) in proof.iter().zip(&ranges) {
        prop_assert_eq!(*hash, reference_root::<H>(&leaves[a as usize..b as usize]));
    }
    prop_assert_eq!(proof.is_empty(), size1 == size2);
    prop_assert!(model_consistency(size1, size2, &proof, &root1, &root2));
    prop_assert_eq!(
        verify_consistency::<H, _>(size1, size2, &proof, &root1, &root2),
        Ok(())
    );

    let verdict = |m: u64, n: u64, proof: &[Hash], r1: &Hash, r2: &Hash| {
        verify_consistency::<H, _>(m, n, proof, r1, r2).is_ok()
    };
    // Mutations that must always be refused.
    let mut refused: Vec<(String, u64, u64, Vec<Hash>, Hash, Hash)> = Vec::new();
    if !proof.is_empty() {
        let j = pick % proof.len();
        let mut p = proof.clone();
        p[j] = flip(&p[j], bit);
        refused.push((
            format!("bit {bit} of element {j} flipped"),
            size1,
            size2,
            p,
            root1,
            root2,
        ));
        let mut p = proof.clone();
        p.remove(j);
        refused.push((
            format!("element {j} dropped"),
            size1,
            size2,
            p,
            root1,
            root2,
        ));
        // Sizes differ, so the two roots are of differently shaped trees.
        refused.push((
            "roots swapped".into(),
            size1,
            size2,
            proof.clone(),
            root2,
            root1,
        ));
    }
    for j in [0, pick % (proof.len() + 1), proof.len()] {
        let mut p = proof.clone();
        p.insert(j, flip(&root2, bit));
        refused.push((
            format!("element added at {j}"),
            size1,
            size2,
            p,
            root1,
            root2,
        ));
        let mut p = proof.clone();
        p.insert(j, root1);
        refused.push((format!("root1 added at {j}"), size1, size2, p, root1, root2));
    }
    refused.push((
        "root1 flipped".into(),
        size1,
        size2,
        proof.clone(),
        flip(&root1, bit),
        root2,
    ));
    refused.push((
        "root2 flipped".into(),
        size1,
        size2,
        proof.clone(),
        root1,
        flip(&root2, bit),
    ));
    refused.push(("size1 = 0".into(), 0, size2, proof.clone(), root1, root2));
    refused.push((
        "size1 > size2".into(),
        size2 + 1,
        size2,
        proof.clone(),
        root1,
        root2,
    ));
    if size1 > 1 {
        refused.push((
            "size2 < size1".into(),
            size1,
            size1 - 1,
            proof.clone(),
            root1,
            root2,
        ));
    }
    for (what, m, n, p, r1, r2) in &refused {
        prop_assert!(
            !model_consistency(*m, *n, p, r1, r2),
            "model accepts {} (sizes {}, {})",
            what,
            size1,
            size2
        );
        prop_assert!(
            !verdict(*m, *n, p, r1, r2),
            "verifier accepts {} (sizes {}, {})",
            what,
            size1,
            size2
        );
    }

    // Mutations that may legitimately still verify: the verifier must agree with the model.
    let mut judged: Vec<(String, u64, u64, Hash, Hash)> = Vec::new();
    let max = leaves.len() as u64;
    let other = 1 + (pick % max as usize) as u64;
    for m in sizes_around(size1, other) {
        judged.push((format!("size1 {m}"), m, size2, root1, root2));
        if (1..=max).contains(&m) {
            judged.push((
                format!("size1 {m} and its root"),
                m,
                size2,
                root_at(m),
                root2,
            ));
        }
    }
    for n in sizes_around(size2, other) {
        judged.push((format!("size2 {n}"), size1, n, root1, root2));
        if n <= max {
            judged.push((
                format!("size2 {n} and its root"),
                size1,
                n,
                root1,
                root_at(n),
            ));
        }
    }
    judged.push(("roots swapped".into(), size1, size2, root2, root1));
    judged.push(("root1 = root2".into(), size1, size2, root2, root2));
    judged.push(("root2 = root1".into(), size1, size2, root1, root1));
    judged.push((
        format!("root1 of size {other}"),
        size1,
        size2,
        root_at(other),
        root2,
    ));
    judged.push((
        format!("root2 of size {other}"),
        size1,
        size2,
        root1,
        root_at(other),
    ));
    for (what, m, n, r1, r2) in &judged {
        let want = model_consistency(*m, *n, &proof, r1, r2);
        prop_assert_eq!(
            verdict(*m, *n, &proof, r1, r2),
            want,
            "{} (honest sizes {}, {})",
            what,
            size1,
            size2
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn consistency_proofs_verify_and_mutations_are_judged_correctly(
        data in leaf_data(300),
        picks in picks(),
    ) {
        let (tree, leaves) = build(&data);
        let n = leaves.len();
        for (size2_pick, size1_pick, pick, bit) in &picks {
            let size2 = 1 + size2_pick.index(n) as u64;
            let size1 = 1 + size1_pick.index(size2 as usize) as u64;
            check_consistency(&tree, &leaves, size1, size2, *pick, *bit)?;
        }
        // And the equal-sizes case, which random picks rarely hit for big trees.
        let size = 1 + picks[0].0.index(n) as u64;
        check_consistency(&tree, &leaves, size, size, picks[0].2, picks[0].3)?;
        for (size1, size2) in [(0, n as u64), (2, 1)] {
            prop_assert_eq!(
                consistency_proof::<H, _>(&tree, size1, size2),
                Err(ProofError::BadSizes { size1, size2 })
            );
        }
        prop_assert!(matches!(
            consistency_proof::<H, _>(&tree, 1, n as u64 + 1),
            Err(ProofError::Source(_))
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Exhaustive small trees and pinned edge cases.

#[test]
fn every_proof_of_every_small_tree() {
    let data: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let (tree, leaves) = build(&data);
    for size in 1..=leaves.len() as u64 {
        for index in 0..size {
            check_inclusion(&tree, &leaves, index, size, (index * 7 + size) as usize, 3).unwrap();
        }
        for size1 in 1..=size {
            check_consistency(
                &tree,
                &leaves,
                size1,
                size,
                (size1 * 5 + size) as usize,
                200,
            )
            .unwrap();
        }
    }
}

/// RFC 9162 roots do not commit to the tree size: a proof for size 3 also checks out as a
/// proof for size 4 against the size-3 root, because leaf 0 has the same path shape in both.
/// (Checkpoints bind a size to its root; a verifier must take both from the same one.)
#[test]
fn a_root_alone_does_not_fix_the_tree_size() {
    let data: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i]).collect();
    let (tree, leaves) = build(&data);
    let root3 = reference_root::<H>(&leaves[..3]);
    let proof = inclusion_proof::<H, _>(&tree, 0, 3).unwrap();
    assert_eq!(
        verify_inclusion::<H, _>(0, 4, &leaves[0], &proof, &root3),
        Ok(())
    );
    let proof = consistency_proof::<H, _>(&tree, 2, 3).unwrap();
    assert_eq!(
        verify_consistency::<H, _>(2, 4, &proof, &reference_root::<H>(&leaves[..2]), &root3),
        Ok(())
    );
}

#[test]
fn malformed_hash_lengths_are_refused() {
    let data: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i]).collect();
    let (tree, leaves) = build(&data);
    let root5 = reference_root::<H>(&leaves);
    let root2 = reference_root::<H>(&leaves[..2]);
    let proof: Vec<Vec<u8>> = inclusion_proof::<H, _>(&tree, 1, 5)
        .unwrap()
        .iter()
        .map(|h| h.to_vec())
        .collect();
    assert!(verify_inclusion::<H, _>(1, 5, &leaves[1], &proof, &root5).is_ok());
    for j in 0..proof.len() {
        let mut short = proof.clone();
        short[j].pop();
        assert!(verify_inclusion::<H, _>(1, 5, &leaves[1], &short, &root5).is_err());
        let mut long = proof.clone();
        long[j].push(0);
        assert!(verify_inclusion::<H, _>(1, 5, &leaves[1], &long, &root5).is_err());
    }
    assert!(verify_inclusion::<H, _>(1, 5, &leaves[1][..31], &proof, &root5).is_err());
    assert!(verify_inclusion::<H, _>(1, 5, &leaves[1], &proof, &root5[..31]).is_err());

    let proof: Vec<Vec<u8>> = consistency_proof::<H, _>(&tree, 2, 5)
        .unwrap()
        .iter()
        .map(|h| h.to_vec())
        .collect();
    assert!(verify_consistency::<H, _>(2, 5, &proof, &root2, &root5).is_ok());
    for j in 0..proof.len() {
        let mut short = proof.clone();
        short[j].pop();
        assert!(verify_consistency::<H, _>(2, 5, &short, &root2, &root5).is_err());
    }
    assert!(verify_consistency::<H, _>(2, 5, &proof, &root2[..31], &root5).is_err());
    assert!(verify_consistency::<H, _>(2, 5, &proof, &root2, &root5[..31]).is_err());
}
