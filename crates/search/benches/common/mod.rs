//! What the search benches share: a seeded normal generator, random q-nets
//! shaped as the official converter builds them, and sampled-vector indexes.

#![allow(dead_code)] // each bench uses its own part

use std::path::Path;
use std::time::Instant;

use hypencoder_index::{
    write_graph, Dtype, GraphInfo, ModelInfo, Segment, SegmentWriter, WriterConfig,
};
use hypencoder_model::{QNet, QNetConfig};
use hypencoder_search::{GraphMetric, GrowingGraph};
use serde_json::{Map, Value};

/// Reads `name` from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: cannot parse")),
        Err(_) => default,
    }
}

/// SplitMix64 with Box-Muller normals: deterministic, no dependencies.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// A random q-net of `config`'s shape. Glorot-like scale keeps
/// pre-activations O(1), as trained q-nets do.
pub fn random_qnet(config: &QNetConfig, rng: &mut Rng) -> QNet {
    let weights = config
        .weight_shapes()
        .iter()
        .map(|&(i, o)| {
            let s = 1.0 / (i as f32).sqrt();
            (0..i * o).map(|_| rng.normal() * s).collect()
        })
        .collect();
    let biases = config
        .bias_sizes()
        .iter()
        .map(|&o| (0..o).map(|_| rng.normal() * 0.1).collect())
        .collect();
    QNet {
        config: config.clone(),
        weights,
        biases,
    }
}

/// `hidden` layers of `dim`, then one output, as the converter builds them.
pub fn official_config(dim: usize, hidden: usize) -> QNetConfig {
    let mut dims = vec![dim; hidden + 1];
    dims.push(1);
    QNetConfig::official(dims)
}

/// Writes `n` vectors of `dim` as an f32 index without texts at `dir`,
/// each made by `sample` (into the slice it is given) and L2-normalised.
pub fn write_sampled(
    dir: &Path,
    n: usize,
    dim: usize,
    source: &str,
    mut sample: impl FnMut(&mut [f32]),
) {
    write_sampled_as(dir, n, dim, source, "bench", |v, _| {
        sample(v);
        Map::new()
    });
}

/// [`write_sampled`] with the manifest's model kind ("bi-encoder" makes
/// searches score dot products with a bi-encoder's defaults) and each
/// document's fields, returned by `sample` beside its vector.
pub fn write_sampled_as(
    dir: &Path,
    n: usize,
    dim: usize,
    source: &str,
    kind: &str,
    mut sample: impl FnMut(&mut [f32], usize) -> Map<String, Value>,
) {
    let config = WriterConfig {
        dim,
        dtype: Dtype::F32,
        model: ModelInfo {
            path: "sampled".into(),
            kind: kind.into(),
            fingerprint: "sampled".into(),
            doc_encoder: None,
            doc_precision: None,
        },
        with_texts: false,
        max_length: 0,
        source: source.to_string(),
        chunk_size: 1 << 16,
        lexical: false,
    };
    let mut w = SegmentWriter::create(dir, config).expect("create bench index");
    let mut v = vec![0f32; dim];
    for i in 0..n {
        let fields = sample(&mut v, i);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        w.add_with_fields(&format!("d{i}"), "", &v, false, &fields)
            .expect("add vector");
    }
    w.finish().expect("finish bench index");
}

/// Latent dimensions of [`Surface`]'s vectors: sentence embeddings lie
/// near a low-dimensional surface, and graphs (built and walked) depend on
/// that; full-rank Gaussian vectors would be a worst case no real corpus is.
pub const LATENT: usize = 32;

/// Embedding-like vectors: `A z + noise` (L2-normalised by the writer),
/// `z` a Gaussian of [`LATENT`] dimensions with decaying scales, `A` a
/// fixed random `dim x LATENT` map, the noise 5% per dimension.
pub struct Surface {
    map: Vec<f32>,
    scales: Vec<f32>,
}

impl Surface {
    /// The surface of `dim`-d vectors (the same map for the same `dim`).
    pub fn new(dim: usize) -> Self {
        let mut rng = Rng(dim as u64 * 7 + 1);
        Surface {
            map: (0..dim * LATENT).map(|_| rng.normal()).collect(),
            scales: (0..LATENT).map(|j| 1.0 / (1.0 + j as f32).sqrt()).collect(),
        }
    }

    /// Writes one sample into `v` (unnormalised).
    pub fn sample(&self, rng: &mut Rng, v: &mut [f32]) {
        let z: Vec<f32> = self.scales.iter().map(|s| s * rng.normal()).collect();
        for (d, x) in v.iter_mut().enumerate() {
            let row = &self.map[d * LATENT..(d + 1) * LATENT];
            *x = row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + 0.05 * rng.normal();
        }
    }
}

/// Grows the index's graph of `degree` by insertion (inner product, pool
/// 128: O(n), where exact kNN is O(n^2)) and writes it; returns seconds.
pub fn grow_graph(dir: &Path, degree: usize) -> f64 {
    let index = Segment::open(dir).expect("open bench index");
    let started = Instant::now();
    let n = index.len() as u32;
    let mut graph = GrowingGraph::new(index.vectors(), degree, GraphMetric::InnerProduct, 128);
    graph.insert(&(0..n).collect::<Vec<_>>(), &|done| {
        if done % 100_000 < 128 {
            eprintln!("  graph: {done} of {n} inserted");
        }
    });
    let neighbours = graph.finish();
    let secs = started.elapsed().as_secs_f64();
    drop(index);
    let info = GraphInfo {
        degree,
        metric: "ip".into(),
        method: "inserted".into(),
        recall_vs_exact: None,
    };
    write_graph(dir, &neighbours, info).expect("write graph");
    secs
}
