//! The engine's policies: when segments merge, how a graph is built.

use hypencoder_engine::MergePolicy;
use hypencoder_index::SegmentEntry;

fn segments(sizes: &[(usize, usize)]) -> Vec<SegmentEntry> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &(docs, deleted))| SegmentEntry {
            name: format!("s{i}"),
            docs,
            deleted,
            deletes: None,
        })
        .collect()
}

#[test]
fn merge_policy_merges_similar_sizes_too_many_and_mostly_deleted() {
    let pick = |sizes: &[(usize, usize)], max| {
        MergePolicy { max_segments: max }
            .pick(&segments(sizes))
            .map(|mut names| {
                names.sort();
                names
            })
    };
    // Two halves become one.
    assert_eq!(
        pick(&[(5000, 0), (5000, 0)], 8),
        Some(vec!["s0".into(), "s1".into()])
    );
    // A small addition to a large segment waits...
    assert_eq!(pick(&[(60000, 0), (1000, 0)], 8), None);
    assert_eq!(pick(&[(60000, 0), (3000, 0), (1000, 0)], 8), None);
    // ...and gathers with others its size first.
    assert_eq!(
        pick(&[(60000, 0), (3000, 0), (1000, 0), (1000, 0)], 8),
        Some(vec!["s1".into(), "s2".into(), "s3".into()])
    );
    // Live documents count, not deleted ones.
    assert_eq!(
        pick(&[(10000, 6000), (3000, 0)], 8),
        Some(vec!["s0".into(), "s1".into()])
    );
    // Too many: the smallest merge until `max` remain.
    let many = [(100000, 0), (20000, 0), (4000, 0), (800, 0)];
    assert_eq!(pick(&many, 8), None);
    assert_eq!(pick(&many, 3), Some(vec!["s2".into(), "s3".into()]));
    // More than half deleted, alone.
    assert_eq!(
        pick(&[(100000, 0), (20000, 10001)], 8),
        Some(vec!["s1".into()])
    );
    assert_eq!(pick(&[(100000, 0)], 8), None);
    // Never, whatever the sizes.
    assert_eq!(pick(&[(5000, 0), (5000, 0)], 0), None);
}

#[test]
fn auto_graph_construction_is_exact_for_small_segments_and_inserts_for_large() {
    use hypencoder_engine::{Construction, EXACT_BELOW};
    let auto = Construction::Auto;
    assert_eq!(auto.for_documents(12, false), Construction::Exact);
    assert_eq!(
        auto.for_documents(EXACT_BELOW - 1, false),
        Construction::Exact
    );
    assert_eq!(auto.for_documents(EXACT_BELOW, false), Construction::Insert);
    assert_eq!(auto.for_documents(1_000_000, false), Construction::Insert);
    // Plain kNN lists are only built exactly (insertion prunes).
    assert_eq!(auto.for_documents(1_000_000, true), Construction::Exact);
    // A construction asked for is kept.
    for chosen in [
        Construction::Exact,
        Construction::NnDescent,
        Construction::Insert,
    ] {
        assert_eq!(chosen.for_documents(1_000_000, false), chosen);
    }
}
