//! Configuration files: the base BERT's `config.json`, the official
//! `HypencoderDualEncoder` `config.json`, and the q-net converter settings.
//! Parsing checks what the model code relies on (dimensions, activation
//! names) so that a bad config fails here, naming its file and field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ModelError, Result};

/// Reads and parses a JSON file, naming the file on failure.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T> {
    let text = std::fs::read_to_string(file).map_err(|e| ModelError::Config {
        file: file.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| ModelError::Config {
        file: file.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })
}

/// The subset of a Hugging Face `BertConfig` that inference needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BertConfig {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation name (`gelu` and its aliases).
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Longest sequence the position embeddings cover.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Token-type (segment) vocabulary size.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_bert_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` is supported.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// `bert` (or a compatible type), when given.
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_bert_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// `google-bert/bert-base-uncased`, the base model every released
    /// Hypencoder names; built in so those checkpoints load offline.
    pub fn bert_base_uncased() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            position_embedding_type: "absolute".into(),
            model_type: Some("bert".into()),
        }
    }

    /// Reads and checks a `config.json`.
    pub fn from_file(file: &Path) -> Result<Self> {
        let config: BertConfig = read_json(file)?;
        config.validate(file)?;
        Ok(config)
    }

    fn validate(&self, file: &Path) -> Result<()> {
        let bad = |message: String| {
            Err(ModelError::Config {
                file: file.to_path_buf(),
                message,
            })
        };
        if let Some(kind) = &self.model_type {
            if !matches!(
                kind.as_str(),
                "bert" | "roberta" | "xlm-roberta" | "electra"
            ) {
                return bad(format!(
                    "model_type '{kind}' is not supported (this engine runs BERT encoders)"
                ));
            }
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if Activation::parse(&self.hidden_act).is_none() {
            return bad(format!(
                "unknown hidden_act '{}' (expected one of {})",
                self.hidden_act,
                Activation::NAMES
            ));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type '{}' is not supported (only 'absolute')",
                self.position_embedding_type
            ));
        }
        Ok(())
    }
}

/// Element-wise activations: the kernels crate's, so configs, the candle
/// path and the SIMD kernels share one type (tensors: [`crate::activate`]).
pub use hypencoder_kernels::Activation;

/// How passage (document) token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The first token's hidden state.
    Cls,
    /// Mean over non-padding tokens.
    Mean,
}

impl Pooling {
    /// `cls` or `mean`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "cls" => Some(Pooling::Cls),
            "mean" => Some(Pooling::Mean),
            _ => None,
        }
    }
}

/// The q-net shape and wiring: `converter_kwargs` of the official config.
#[derive(Debug, Clone, PartialEq)]
pub struct QNetConfig {
    /// `[d, h1, ..., hn, 1]`: input width, hidden widths, one output.
    pub vector_dimensions: Vec<usize>,
    /// Activation of the hidden layers.
    pub activation: Activation,
    /// LayerNorm (no parameters) in each hidden layer.
    pub do_layer_norm: bool,
    /// Residual connections on the hidden layers.
    pub do_residual: bool,
    /// A residual on the last hidden layer too.
    pub do_residual_on_last: bool,
    /// LayerNorm before (true) or after the residual.
    pub layer_norm_before_residual: bool,
}

impl QNetConfig {
    /// A q-net of these widths (`[d, h1, ..., hn, 1]`) as the official
    /// converter builds them by default: ReLU, LayerNorm before the
    /// residual, a residual on every hidden layer but the last.
    pub fn official(vector_dimensions: Vec<usize>) -> Self {
        QNetConfig {
            vector_dimensions,
            activation: Activation::Relu,
            do_layer_norm: true,
            do_residual: true,
            do_residual_on_last: false,
            layer_norm_before_residual: true,
        }
    }

    /// Shapes `(in, out)` of every weight matrix, the last one `(h, 1)`.
    pub fn weight_shapes(&self) -> Vec<(usize, usize)> {
        self.vector_dimensions
            .windows(2)
            .map(|w| (w[0], w[1]))
            .collect()
    }

    /// Widths of the hidden layers' biases (the last layer has none).
    pub fn bias_sizes(&self) -> Vec<usize> {
        let dims = &self.vector_dimensions;
        dims[1..dims.len() - 1].to_vec()
    }

    /// Number of hidden layers (all but the output layer).
    pub fn hidden_layers(&self) -> usize {
        self.vector_dimensions.len() - 2
    }

    /// Whether hidden layer `j` (0-based) adds its input back.
    pub fn residual_on(&self, j: usize) -> bool {
        self.do_residual && (j + 1 < self.hidden_layers() || self.do_residual_on_last)
    }
}

#[derive(Debug, Deserialize)]
struct RawConverterKwargs {
    vector_dimensions: Option<Vec<usize>>,
    #[serde(default = "default_activation")]
    activation_type: String,
    #[serde(default = "yes")]
    do_layer_norm: bool,
    #[serde(default = "yes")]
    do_residual: bool,
    /// `null` means "same as do_residual", as in the official converter.
    #[serde(default = "some_false")]
    do_residual_on_last: Option<bool>,
    #[serde(default = "yes")]
    layer_norm_before_residual: bool,
}

fn default_activation() -> String {
    "relu".into()
}
fn yes() -> bool {
    true
}
fn some_false() -> Option<bool> {
    Some(false)
}

#[derive(Debug, Deserialize)]
struct RawQueryEncoderKwargs {
    #[serde(default)]
    model_name_or_path: String,
    #[serde(default = "default_model_dim")]
    base_encoder_output_dim: usize,
    converter_kwargs: Option<RawConverterKwargs>,
}

fn default_model_dim() -> usize {
    768
}

#[derive(Debug, Deserialize)]
struct RawPassageEncoderKwargs {
    #[serde(default)]
    model_name_or_path: String,
    #[serde(default = "default_pooling")]
    pooling_type: String,
}

fn default_pooling() -> String {
    "cls".into()
}

#[derive(Debug, Deserialize)]
struct RawDualEncoderConfig {
    query_encoder_kwargs: RawQueryEncoderKwargs,
    passage_encoder_kwargs: RawPassageEncoderKwargs,
    #[serde(default)]
    shared_encoder: bool,
}

/// An official `HypencoderDualEncoder` `config.json`, checked.
#[derive(Debug, Clone)]
pub struct HypencoderConfig {
    /// The `config.json` this was read from.
    pub file: PathBuf,
    /// Query transformer (`model_name_or_path` of the query encoder).
    pub query_base: String,
    /// Passage transformer (`model_name_or_path` of the passage encoder).
    pub passage_base: String,
    /// Hidden size of the query transformer (`base_encoder_output_dim`).
    pub query_model_dim: usize,
    /// How passage token states become one vector.
    pub passage_pooling: Pooling,
    /// Whether queries and passages share one transformer.
    pub shared_encoder: bool,
    /// The q-net shape and wiring.
    pub qnet: QNetConfig,
}

impl HypencoderConfig {
    /// Whether a parsed `config.json` describes a Hypencoder dual encoder.
    pub fn describes(value: &serde_json::Value) -> bool {
        value.get("query_encoder_kwargs").is_some()
            || value
                .get("architectures")
                .and_then(|a| a.as_array())
                .is_some_and(|a| a.iter().any(|v| v == "HypencoderDualEncoder"))
    }

    /// Reads and checks an official `config.json`.
    pub fn from_file(file: &Path) -> Result<Self> {
        let raw: RawDualEncoderConfig = read_json(file)?;
        let bad = |message: String| ModelError::Config {
            file: file.to_path_buf(),
            message,
        };
        let conv = raw
            .query_encoder_kwargs
            .converter_kwargs
            .ok_or_else(|| bad("query_encoder_kwargs.converter_kwargs is missing".into()))?;
        let dims = conv.vector_dimensions.ok_or_else(|| {
            bad("query_encoder_kwargs.converter_kwargs.vector_dimensions is missing".into())
        })?;
        let activation = Activation::parse(&conv.activation_type).ok_or_else(|| {
            bad(format!(
                "unknown activation '{}' in query_encoder_kwargs.converter_kwargs.activation_type \
                 (expected one of {})",
                conv.activation_type,
                Activation::NAMES
            ))
        })?;
        let do_residual_on_last = conv.do_residual_on_last.unwrap_or(conv.do_residual);
        if do_residual_on_last && !conv.do_residual {
            return Err(bad(
                "converter_kwargs: do_residual_on_last is true but do_residual is false".into(),
            ));
        }
        let pooling =
            Pooling::parse(&raw.passage_encoder_kwargs.pooling_type).ok_or_else(|| {
                bad(format!(
                    "unknown passage_encoder_kwargs.pooling_type '{}' (expected cls or mean)",
                    raw.passage_encoder_kwargs.pooling_type
                ))
            })?;
        let qnet = QNetConfig {
            vector_dimensions: dims,
            activation,
            do_layer_norm: conv.do_layer_norm,
            do_residual: conv.do_residual,
            do_residual_on_last,
            layer_norm_before_residual: conv.layer_norm_before_residual,
        };
        check_qnet_dimensions(&qnet).map_err(|m| {
            bad(format!(
                "converter_kwargs.vector_dimensions {:?}: {m}",
                qnet.vector_dimensions
            ))
        })?;
        if raw.query_encoder_kwargs.model_name_or_path.is_empty() {
            return Err(bad(
                "query_encoder_kwargs.model_name_or_path is empty".into()
            ));
        }
        let passage_base = if raw.passage_encoder_kwargs.model_name_or_path.is_empty() {
            raw.query_encoder_kwargs.model_name_or_path.clone()
        } else {
            raw.passage_encoder_kwargs.model_name_or_path
        };
        Ok(HypencoderConfig {
            file: file.to_path_buf(),
            query_base: raw.query_encoder_kwargs.model_name_or_path,
            passage_base,
            query_model_dim: raw.query_encoder_kwargs.base_encoder_output_dim,
            passage_pooling: pooling,
            shared_encoder: raw.shared_encoder,
            qnet,
        })
    }
}

/// The q-net must take the document vector, end in one score, and keep the
/// width wherever a residual adds a layer's input to its output.
fn check_qnet_dimensions(qnet: &QNetConfig) -> std::result::Result<(), String> {
    let dims = &qnet.vector_dimensions;
    if dims.len() < 2 {
        return Err("needs at least an input and an output size".into());
    }
    if dims.contains(&0) {
        return Err("sizes must be positive".into());
    }
    if *dims.last().unwrap() != 1 {
        return Err("the last size must be 1 (one score)".into());
    }
    if dims.len() < 3 {
        return Err("needs at least one hidden layer".into());
    }
    for j in 0..qnet.hidden_layers() {
        if qnet.residual_on(j) && dims[j] != dims[j + 1] {
            return Err(format!(
                "hidden layer {j} maps {} to {} but has a residual connection, which needs equal sizes",
                dims[j],
                dims[j + 1]
            ));
        }
    }
    Ok(())
}
