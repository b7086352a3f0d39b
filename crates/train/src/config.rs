//! Training settings: every field has a default, so a config file (JSON)
//! names only what it changes. Errors name settings by these field names
//! (also the config file's keys); a front end maps them to its own spelling.

use std::path::PathBuf;

use hypencoder_index::Dtype;
use serde::{Deserialize, Serialize};

pub use crate::init::InitStyle;

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Queries become q-nets (hyper-head over the query transformer).
    Hypencoder,
    /// Queries become vectors; relevance is the (scaled) dot product.
    BiEncoder,
}

/// Which parts train, and where document vectors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The transformer stays as it is: only the hyper-head trains, query
    /// hidden states are computed once and document vectors come from the
    /// index. Fast on a CPU.
    Frozen,
    /// The query transformer trains with the hyper-head; documents keep the
    /// base's vectors from the index (separate encoders in the checkpoint,
    /// the passage one frozen). Queries are short, so this stays affordable.
    Query,
    /// The transformer trains too; documents are re-encoded from the
    /// index's texts every step.
    Full,
}

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Cross-entropy over each query's positive against in-batch and hard
    /// negatives.
    CrossEntropy,
    /// Margin-MSE against teacher scores (`positive_scores`, `negative_scores`).
    MarginMse,
}

/// Every training setting; field names are the config file's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Base model folder (BERT or sentence-transformers).
    pub base: PathBuf,
    /// What a Hypencoder's `model_name_or_path` says [default: the base
    /// folder's path relative to the checkpoint, so the two move together].
    pub base_name: Option<String>,
    /// Training examples (JSONL; see `data`).
    pub data: PathBuf,
    /// Index whose ids the examples use: document vectors (frozen and query
    /// mode) or texts (full mode) come from it.
    pub index: PathBuf,
    /// Folder the trained model is written to.
    pub output: PathBuf,
    /// Start from this checkpoint's weights where names and shapes match
    /// (e.g. a head trained frozen, then fine-tuned with `mode` query).
    pub init_from: Option<PathBuf>,
    /// Where periodic checkpoints go [default: OUTPUT/checkpoints].
    pub checkpoint_dir: Option<PathBuf>,
    /// Hypencoder or bi-encoder.
    pub kind: Kind,
    /// Which parts train (a bi-encoder needs `Full`).
    pub mode: Mode,
    /// How a new hyper-head starts: `bi-encoder` (scoring like the base's
    /// mean-pooled similarity) or `official` (the official random init).
    pub init: InitStyle,
    /// Hidden layers of the q-net (each as wide as the document vectors).
    pub qnet_layers: usize,
    /// Activation of the q-net's hidden layers.
    pub activation: String,
    /// Cross-entropy or margin-MSE.
    pub loss: LossKind,
    /// Queries per step.
    pub batch_size: usize,
    /// Hard negatives per query per step (drawn from its `negatives`; random
    /// documents fill in when a line has fewer).
    pub negatives: usize,
    /// Other queries' positives count as negatives too.
    pub in_batch_negatives: bool,
    /// Passes over the training data (fractions allowed).
    pub epochs: f64,
    /// Stop after this many steps, whatever `epochs` says.
    pub max_steps: Option<u64>,
    /// Peak learning rate [default: 1e-5 frozen, 2e-5 query and full].
    pub lr: Option<f64>,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Linear warm-up steps [default: 5% of all steps].
    pub warmup_steps: Option<u64>,
    /// Gradients are clipped to this global L2 norm (0: no clipping).
    pub max_grad_norm: f64,
    /// Seeds the hyper-head's initial weights, the data order and the
    /// negatives drawn: the same seed and data repeat a run exactly.
    pub seed: u64,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub save_every: u64,
    /// Checkpoints kept; older ones are deleted.
    pub keep_checkpoints: usize,
    /// Query truncation, in tokens.
    pub query_max_length: usize,
    /// Document truncation in full mode, in tokens.
    pub doc_max_length: usize,
    /// Bi-encoder logits are `scale * q.d` (cosine models need ~20).
    pub scale: f64,
    /// How the final model's weights are stored (f16 halves the folder;
    /// the run's checkpoints stay f32 so resuming is exact).
    #[serde(default = "f32_weights")]
    pub save_dtype: Dtype,
}

fn f32_weights() -> Dtype {
    Dtype::F32
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            base: PathBuf::new(),
            base_name: None,
            data: PathBuf::new(),
            index: PathBuf::new(),
            output: PathBuf::new(),
            init_from: None,
            checkpoint_dir: None,
            kind: Kind::Hypencoder,
            mode: Mode::Frozen,
            init: InitStyle::BiEncoder,
            qnet_layers: 2,
            activation: "relu".into(),
            loss: LossKind::CrossEntropy,
            batch_size: 32,
            negatives: 7,
            in_batch_negatives: true,
            epochs: 1.0,
            max_steps: None,
            lr: None,
            weight_decay: 0.01,
            warmup_steps: None,
            max_grad_norm: 1.0,
            seed: 42,
            save_every: 500,
            keep_checkpoints: 2,
            query_max_length: 64,
            doc_max_length: 256,
            scale: 20.0,
            save_dtype: Dtype::F32,
        }
    }
}

impl TrainConfig {
    /// The peak learning rate: `lr`, or the mode's default.
    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(match self.mode {
            // Measured on debian-pkg dev: 1e-3 and 1e-4 wreck the bi-encoder
            // start (Adam moves every entry of its identity matrices by the
            // rate each step), 1e-5 improves on it.
            Mode::Frozen => 1e-5,
            Mode::Query | Mode::Full => 2e-5,
        })
    }

    /// Where periodic checkpoints go: `checkpoint_dir`, or
    /// `output/checkpoints`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.checkpoint_dir
            .clone()
            .unwrap_or_else(|| self.output.join("checkpoints"))
    }

    /// The settings that shape the trained weights: a checkpoint resumes
    /// only under the same ones (where files go and how often does not count).
    pub fn training_key(&self) -> String {
        let mut c = self.clone();
        c.output = PathBuf::new();
        c.checkpoint_dir = None;
        c.save_every = 0;
        c.keep_checkpoints = 0;
        c.base_name = None;
        let mut v = serde_json::to_value(&c).expect("config serialises");
        // How the final model is stored changes no step (and runs begun
        // before the setting existed keep their key).
        if let Some(fields) = v.as_object_mut() {
            fields.remove("save_dtype");
        }
        v.to_string()
    }

    /// Reads settings from a JSON file; absent keys keep their defaults,
    /// unknown keys are an error.
    pub fn from_file(file: &std::path::Path) -> crate::Result<Self> {
        let text = std::fs::read_to_string(file).map_err(|e| crate::error::io_error(file, e))?;
        serde_json::from_str(&text).map_err(|e| crate::error::io_error(file, e))
    }
}
