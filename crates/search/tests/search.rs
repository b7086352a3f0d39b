//! Search kernels against references: the q-net kernel against the model
//! crate's tensor implementation on the parity fixtures, exhaustive search
//! against a full sort, across block boundaries and storage types.

use std::path::{Path, PathBuf};

use hypencoder_index::{Dtype, Index, IndexWriter, ModelInfo, WriterConfig};
use hypencoder_model::{Model, QueryRepresentation};
use hypencoder_search::{exhaustive, DotScorer, Hit, QNetScorer, Scorer, ScratchSpace, BLOCK};

fn fixtures() -> PathBuf {
    std::env::var("HYPENCODER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("hypencoder-search-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_index(out: &Path, vectors: &[Vec<f32>], dtype: Dtype) -> Index {
    let dim = vectors[0].len();
    let config = WriterConfig {
        dim,
        dtype,
        model: ModelInfo {
            path: "test".into(),
            kind: "test".into(),
            fingerprint: "test".into(),
            doc_encoder: None,
        },
        with_texts: false,
        max_length: 0,
        source: "test".into(),
        segment_size: 1000,
    };
    let mut w = IndexWriter::create(out, config).unwrap();
    for (i, v) in vectors.iter().enumerate() {
        w.add(&format!("d{i}"), "", v, false).unwrap();
    }
    w.finish().unwrap();
    Index::open(out).unwrap()
}

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

#[test]
fn qnet_kernel_matches_model_reference() {
    for name in ["tiny-2layer", "tiny-6layer-bin", "tiny-mean-unshared"] {
        let dir = fixtures().join(name);
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let texts = |k: &str| -> Vec<String> {
            meta[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let (queries, passages) = (texts("queries"), texts("passages"));
        let model = Model::load(&dir).unwrap();
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
        let index = write_index(&s.0.join("idx"), &docs, Dtype::F32);
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
    let mut seed = 42;
    let dim = 24;
    let n = 3 * BLOCK + 17;
    let mut vectors: Vec<Vec<f32>> = (0..n)
        .map(|_| (0..dim).map(|_| lcg(&mut seed)).collect())
        .collect();
    // Exact duplicates across block boundaries: ties must go to the earlier doc.
    for (from, to) in [(5, BLOCK + 3), (5, 2 * BLOCK + 9), (BLOCK - 1, BLOCK)] {
        vectors[to] = vectors[from].clone();
    }
    let mut queries: Vec<Vec<f32>> = (0..5)
        .map(|_| (0..dim).map(|_| lcg(&mut seed)).collect())
        .collect();
    queries.push(vectors[5].clone());
    let s = Scratch::new("dot");
    let index = write_index(&s.0.join("idx"), &vectors, Dtype::F32);
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
    let mut seed = 9;
    let dim = 16;
    let vectors: Vec<Vec<f32>> = (0..500)
        .map(|_| (0..dim).map(|_| lcg(&mut seed)).collect())
        .collect();
    let queries: Vec<f32> = (0..3 * dim).map(|_| lcg(&mut seed)).collect();
    let s = Scratch::new("f16");
    let f32_index = write_index(&s.0.join("f32"), &vectors, Dtype::F32);
    let f16_index = write_index(&s.0.join("f16"), &vectors, Dtype::F16);
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
    let index = write_index(&s.0.join("idx"), &vectors, Dtype::F32);
    let scorer = DotScorer::new(vec![1.0, 2.0], 2);
    let hits = exhaustive(index.vectors(), &scorer, 10);
    assert_eq!(
        hits[0].iter().map(|h| h.doc).collect::<Vec<_>>(),
        vec![1, 0]
    );
    assert!(exhaustive(index.vectors(), &scorer, 0)[0].is_empty());
}
