//! Search kernels against references: the q-net kernel against the model
//! crate's tensor implementation on the parity fixtures, exhaustive search
//! against a full sort, across block boundaries and storage types.

use hypencoder_index::Dtype;
use hypencoder_model::{Model, QNet, QNetConfig, QueryRepresentation};
use hypencoder_search::{
    exhaustive, DotScorer, Hit, Precision, QNetScorer, Scorer, ScratchSpace, BLOCK,
};
use hypencoder_test_support::{fixture, fixture_texts, Rng, Scratch};

use crate::write_index;

#[test]
fn qnet_kernel_matches_model_reference() {
    for name in ["tiny-2layer", "tiny-6layer-bin", "tiny-mean-unshared"] {
        let queries = fixture_texts(name, "queries");
        let passages = fixture_texts(name, "passages");
        let model = Model::load(&fixture(name)).unwrap();
        let q: Vec<&str> = queries.iter().map(String::as_str).collect();
        let p: Vec<&str> = passages.iter().map(String::as_str).collect();
        let docs = model.encode_docs_batched(&p, 4).unwrap();
        let QueryRepresentation::QNets(batch) = model.encode_queries(&q).unwrap() else {
            panic!()
        };
        let reference = model
            .score_vectors(&QueryRepresentation::QNets(batch.clone()), &docs)
            .unwrap();

        let scorer = QNetScorer::new(batch.split().unwrap());
        let flat: Vec<f32> = docs.iter().flatten().copied().collect();
        let mut out = vec![0.0; q.len() * p.len()];
        scorer.score_block(&flat, p.len(), &mut out, &mut ScratchSpace::default());
        for (qi, row) in reference.iter().enumerate() {
            for (di, &want) in row.iter().enumerate() {
                let got = out[qi * p.len() + di];
                // Same f32 arithmetic, different summation order.
                assert!(
                    (got - want).abs() <= 1e-4 + 1e-3 * want.abs(),
                    "{name} q{qi} d{di}: {got} vs {want}"
                );
            }
        }

        // Through an index and exhaustive search: full ranking, every score.
        let s = Scratch::new(name);
        let index = write_index(&s.join("idx"), &docs, Dtype::F32);
        let results = exhaustive(index.vectors(), &scorer, p.len());
        for (qi, hits) in results.iter().enumerate() {
            assert_eq!(hits.len(), p.len());
            for w in hits.windows(2) {
                assert!(
                    w[0].rank_cmp(&w[1]).is_lt(),
                    "{name} q{qi}: not sorted best first"
                );
            }
            for h in hits {
                assert_eq!(
                    h.score,
                    out[qi * p.len() + h.doc as usize],
                    "{name}: exhaustive uses the kernel's scores"
                );
            }
        }
    }
}

/// A random q-net of `hidden` layers over `dim`-d vectors, shaped as the
/// official converter builds them, with Glorot-scaled weights (trained
/// q-nets keep pre-activations O(1) too).
fn random_qnet(dim: usize, hidden: usize, rng: &mut Rng) -> QNet {
    let mut dims = vec![dim; hidden + 1];
    dims.push(1);
    let config = QNetConfig::official(dims);
    let weights = config
        .weight_shapes()
        .iter()
        .map(|&(i, o)| (0..i * o).map(|_| rng.f32() / (i as f32).sqrt()).collect())
        .collect();
    let biases = config
        .bias_sizes()
        .iter()
        .map(|&o| (0..o).map(|_| 0.1 * rng.f32()).collect())
        .collect();
    QNet {
        config,
        weights,
        biases,
    }
}

/// bf16 q-net layers against f32 ones: every score within 3% of the
/// spread of its query's scores, and each query's best document the same
/// unless the f32 scores of the two are within that error (weights and
/// layer inputs keep 8 bits of mantissa; sums stay f32).
/// bench/qnet/run_precision.sh measures ranking quality on a real model.
#[test]
fn bf16_qnet_scores_stay_close_to_f32() {
    let mut rng = Rng::new(11);
    let (n, dim) = (300, 96);
    let docs: Vec<f32> = rng.f32s(n * dim);
    for hidden in [1, 2, 6] {
        let qnets: Vec<QNet> = (0..8).map(|_| random_qnet(dim, hidden, &mut rng)).collect();
        let score = |precision| {
            let scorer = QNetScorer::with_precision(qnets.clone(), precision);
            let mut out = vec![0.0; qnets.len() * n];
            scorer.score_block(&docs, n, &mut out, &mut ScratchSpace::default());
            out
        };
        let (want, got) = (score(Precision::F32), score(Precision::Bf16));
        assert_ne!(want, got, "bf16 computed nothing different");
        for (q, (w, g)) in want.chunks(n).zip(got.chunks(n)).enumerate() {
            let mean = w.iter().sum::<f32>() / n as f32;
            let spread = (w.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
            let worst = w
                .iter()
                .zip(g)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 0.03 * spread,
                "{hidden} layers, q{q}: off by {worst}, spread {spread}"
            );
            let best = |s: &[f32]| (0..n).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
            let (bw, bg) = (best(w), best(g));
            assert!(
                bw == bg || (w[bw] - w[bg]).abs() <= 2.0 * worst,
                "{hidden} layers, q{q}"
            );
        }
    }
}

fn brute_force(vectors: &[Vec<f32>], queries: &[Vec<f32>], k: usize) -> Vec<Vec<Hit>> {
    queries
        .iter()
        .map(|q| {
            let mut hits: Vec<Hit> = vectors
                .iter()
                .enumerate()
                .map(|(i, v)| Hit {
                    doc: i as u32,
                    score: v.iter().zip(q).map(|(a, b)| a * b).sum(),
                })
                .collect();
            hits.sort_by(Hit::rank_cmp);
            hits.truncate(k);
            hits
        })
        .collect()
}

#[test]
fn exhaustive_dot_matches_brute_force_across_blocks_with_ties() {
    let mut rng = Rng::new(42);
    let dim = 24;
    let n = 3 * BLOCK + 17;
    let mut vectors: Vec<Vec<f32>> = (0..n).map(|_| rng.f32s(dim)).collect();
    // Exact duplicates across block boundaries: ties must go to the earlier doc.
    for (from, to) in [(5, BLOCK + 3), (5, 2 * BLOCK + 9), (BLOCK - 1, BLOCK)] {
        vectors[to] = vectors[from].clone();
    }
    let mut queries: Vec<Vec<f32>> = (0..5).map(|_| rng.f32s(dim)).collect();
    queries.push(vectors[5].clone());
    let s = Scratch::new("dot");
    let index = write_index(&s.join("idx"), &vectors, Dtype::F32);
    let scorer = DotScorer::new(queries.iter().flatten().copied().collect(), dim);
    let k = 50;
    let got = exhaustive(index.vectors(), &scorer, k);
    let want = brute_force(&vectors, &queries, k);
    for (qi, (g, w)) in got.iter().zip(&want).enumerate() {
        let g_docs: Vec<u32> = g.iter().map(|h| h.doc).collect();
        let w_docs: Vec<u32> = w.iter().map(|h| h.doc).collect();
        // GEMM sums in another order than the naive loop: compare ranks
        // where scores are clearly apart, exact ties by construction.
        for (a, b) in g.iter().zip(w) {
            assert!(
                (a.score - b.score).abs() < 1e-4,
                "q{qi}: {} vs {}",
                a.score,
                b.score
            );
        }
        let overlap = g_docs.iter().filter(|d| w_docs.contains(d)).count();
        assert!(overlap >= k - 1, "q{qi}: top-{k} overlap {overlap}");
    }
    let last = got.last().unwrap();
    assert_eq!(last[0].doc, 5, "the query equal to doc 5 finds it first");
    assert_eq!(
        last[1].doc as usize,
        BLOCK + 3,
        "its duplicates follow in document order"
    );
    assert_eq!(last[2].doc as usize, 2 * BLOCK + 9);
}

#[test]
fn f16_index_ranks_like_f32() {
    let mut rng = Rng::new(9);
    let dim = 16;
    let vectors: Vec<Vec<f32>> = (0..500).map(|_| rng.f32s(dim)).collect();
    let queries: Vec<f32> = rng.f32s(3 * dim);
    let s = Scratch::new("f16");
    let f32_index = write_index(&s.join("f32"), &vectors, Dtype::F32);
    let f16_index = write_index(&s.join("f16"), &vectors, Dtype::F16);
    let scorer = DotScorer::new(queries, dim);
    let a = exhaustive(f32_index.vectors(), &scorer, 10);
    let b = exhaustive(f16_index.vectors(), &scorer, 10);
    for (x, y) in a.iter().zip(&b) {
        let overlap = x
            .iter()
            .filter(|h| y.iter().any(|g| g.doc == h.doc))
            .count();
        assert!(overlap >= 9, "f16 top-10 overlap {overlap}");
        assert!((x[0].score - y[0].score).abs() < 1e-2);
    }
}

#[test]
fn k_larger_than_corpus_and_zero() {
    let vectors = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
    let s = Scratch::new("small");
    let index = write_index(&s.join("idx"), &vectors, Dtype::F32);
    let scorer = DotScorer::new(vec![1.0, 2.0], 2);
    let hits = exhaustive(index.vectors(), &scorer, 10);
    assert_eq!(
        hits[0].iter().map(|h| h.doc).collect::<Vec<_>>(),
        vec![1, 0]
    );
    assert!(exhaustive(index.vectors(), &scorer, 0)[0].is_empty());
}
