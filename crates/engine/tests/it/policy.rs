//! The merge policy's choices.

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
