//! A loaded model folder: tokenizers, encoders, and what a query becomes (a
//! q-net for a Hypencoder, a vector for a bi-encoder).
//!
//! Folder kinds recognised, in this order:
//! - sentence-transformers (`modules.json`): bi-encoder; pooling from
//!   `1_Pooling/config.json`, L2 normalisation if a Normalize module is listed.
//! - official `HypencoderDualEncoder` (`config.json` with `query_encoder_kwargs`).
//! - plain BERT (`config.json` with `model_type: bert`): bi-encoder, mean pooling.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use candle_core::{Device, Tensor, D};

use crate::bert::{Bert, EncodePrecision};
use crate::config::{read_json, BertConfig, HypencoderConfig, Pooling};
use crate::error::{ModelError, Result};
use crate::hyperhead::HyperHead;
use crate::qnet::QNetBatch;
use crate::tokenize::{TextTokenizer, TokenBatch};
use crate::weights::{BaseModel, WeightFile};

/// Query token limit unless the caller sets one.
pub const DEFAULT_QUERY_MAX_LENGTH: usize = 64;
/// Document token limit unless the caller sets one.
pub const DEFAULT_DOC_MAX_LENGTH: usize = 512;

/// What kind of model a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Queries become q-nets.
    Hypencoder,
    /// Queries become vectors; relevance is the dot product.
    BiEncoder,
}

impl ModelKind {
    /// Short name for messages and manifests.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Hypencoder => "hypencoder",
            ModelKind::BiEncoder => "bi-encoder",
        }
    }
}

/// Encodes tokens to one vector: BERT, then pooling, optionally L2-normalised.
pub struct TextEncoder {
    bert: Arc<Bert>,
    pooling: Pooling,
    normalize: bool,
    precision: EncodePrecision,
}

impl TextEncoder {
    /// An encoder over `bert`: pooled states, L2-normalised when `normalize`.
    pub fn new(bert: Arc<Bert>, pooling: Pooling, normalize: bool) -> Self {
        TextEncoder {
            bert,
            pooling,
            normalize,
            precision: EncodePrecision::F32,
        }
    }

    /// Width of the vectors it makes.
    pub fn dim(&self) -> usize {
        self.bert.hidden_size()
    }

    /// (B, L) tokens -> (B, H) vectors. Mean pooling ignores padding, so a
    /// padded batch gives what each text alone would.
    pub fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        let hidden =
            self.bert
                .forward_at(&batch.input_ids, &batch.attention_mask, self.precision)?;
        self.pool(&hidden, &batch.attention_mask)
    }

    /// The transformer under this encoder.
    pub fn bert(&self) -> &Arc<Bert> {
        &self.bert
    }

    /// (B, L, H) hidden states and their (B, L) mask -> (B, H) vectors: the
    /// pooling and normalisation after the transformer.
    pub fn pool(&self, hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let mask = attention_mask.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = attention_mask.sum_keepdim(1)?.clamp(1f32, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
        };
        if self.normalize {
            let norm = pooled
                .sqr()?
                .sum_keepdim(D::Minus1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            Ok(pooled.broadcast_div(&norm)?)
        } else {
            Ok(pooled)
        }
    }
}

enum QueryEncoder {
    Hyper { bert: Arc<Bert>, head: HyperHead },
    Dense(TextEncoder),
}

/// What a batch of queries becomes.
pub enum QueryRepresentation {
    /// One q-net per query (Hypencoder).
    QNets(QNetBatch),
    /// (Q, d)
    Vectors(Tensor),
}

/// Load-time settings.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Query truncation length; default 64.
    pub query_max_length: Option<usize>,
    /// Document truncation length; default the model's own limit
    /// (sentence-transformers `max_seq_length`) or 512.
    pub doc_max_length: Option<usize>,
    /// A Hypencoder checkpoint's base transformer folder (its config and
    /// tokenizer), instead of resolving `model_name_or_path`: for a
    /// checkpoint installed away from its base, such as the default model
    /// in the Python package. The weights stay the checkpoint's, so the
    /// fingerprints do not change.
    pub base: Option<PathBuf>,
    /// The precision documents are encoded at (queries stay f32).
    pub doc_precision: EncodePrecision,
}

/// `cell`'s value, computed by `f` the first time.
fn memo(cell: &OnceLock<String>, f: impl FnOnce() -> Result<String>) -> Result<String> {
    if let Some(v) = cell.get() {
        return Ok(v.clone());
    }
    let v = f()?;
    Ok(cell.get_or_init(|| v).clone())
}

/// A model ready to encode text.
pub struct Model {
    dir: PathBuf,
    kind: ModelKind,
    query_tokenizer: TextTokenizer,
    doc_tokenizer: TextTokenizer,
    query_encoder: QueryEncoder,
    doc_encoder: TextEncoder,
    weights_files: Vec<PathBuf>,
    /// The document transformer's tensors, for `doc_encoder_fingerprint`.
    doc_transformer: Vec<(String, Tensor)>,
    device: Device,
    /// Both fingerprints, computed once (each hashes every weight: ~0.5 s
    /// for MiniLM, paid by every index piece a worker writes otherwise).
    fingerprints: [OnceLock<String>; 2],
}

impl Model {
    /// Loads the model in folder `dir` with default options.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, &LoadOptions::default())
    }

    /// Loads the model in folder `dir`: Hypencoder, sentence-transformers or BERT folder.
    pub fn load_with(dir: &Path, options: &LoadOptions) -> Result<Self> {
        let mut model = Self::load_folder(dir, options)?;
        model.set_doc_precision(options.doc_precision);
        Ok(model)
    }

    fn load_folder(dir: &Path, options: &LoadOptions) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ModelError::NotAModel {
                dir: dir.to_path_buf(),
                reason: "no such folder".into(),
            });
        }
        let config_file = dir.join("config.json");
        if dir.join("modules.json").is_file() {
            return load_sentence_transformers(dir, options);
        }
        if !config_file.is_file() {
            return Err(not_a_model(dir, "it has no config.json"));
        }
        let value: serde_json::Value = read_json(&config_file)?;
        if HypencoderConfig::describes(&value) {
            load_hypencoder(dir, options)
        } else if value.get("model_type").and_then(|v| v.as_str()).is_some()
            || value.get("hidden_size").is_some()
        {
            load_bert_bi_encoder(dir, dir, Pooling::Mean, false, None, options)
        } else {
            Err(not_a_model(
                dir,
                "config.json describes neither a HypencoderDualEncoder nor a BERT model",
            ))
        }
    }

    /// Encodes documents with the linear layers at `precision` from now on
    /// (queries stay f32). Fingerprints do not change: the weights are the
    /// same, and a document vector stays within ~0.99 cosine of f32's.
    pub fn set_doc_precision(&mut self, precision: EncodePrecision) {
        self.doc_encoder.precision = precision;
    }

    /// The precision documents are encoded at.
    pub fn doc_precision(&self) -> EncodePrecision {
        self.doc_encoder.precision
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hypencoder or bi-encoder.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// Width of document vectors.
    pub fn dim(&self) -> usize {
        self.doc_encoder.dim()
    }

    /// The weight files this model was read from (for hashing into indexes).
    pub fn weights_files(&self) -> &[PathBuf] {
        &self.weights_files
    }

    /// Tokenizer for queries.
    pub fn query_tokenizer(&self) -> &TextTokenizer {
        &self.query_tokenizer
    }

    /// Tokenizer for documents.
    pub fn doc_tokenizer(&self) -> &TextTokenizer {
        &self.doc_tokenizer
    }

    /// Sets the query token limit (at least 2).
    pub fn set_query_max_length(&mut self, n: usize) -> Result<()> {
        self.query_tokenizer.set_max_length(n)
    }

    /// Sets the document token limit (at least 2).
    pub fn set_doc_max_length(&mut self, n: usize) -> Result<()> {
        self.doc_tokenizer.set_max_length(n)
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Document vectors (N, d) for one batch of texts, in input order.
    pub fn encode_docs(&self, texts: &[&str]) -> Result<Tensor> {
        Ok(self.encode_docs_with_truncation(texts)?.0)
    }

    /// Document vectors and, per text, whether it was cut at the max length.
    pub fn encode_docs_with_truncation(&self, texts: &[&str]) -> Result<(Tensor, Vec<bool>)> {
        let batch = self.doc_tokenizer.batch(texts, &self.device)?;
        Ok((self.doc_encoder.forward(&batch)?, batch.truncated))
    }

    /// Document vectors for any number of texts: batches of `batch_size`,
    /// grouped by length so little compute goes to padding; input order kept.
    pub fn encode_docs_batched(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .encode_docs_batched_with_truncation(texts, batch_size)?
            .0)
    }

    /// As `encode_docs_batched`, also saying which texts were truncated.
    pub fn encode_docs_batched_with_truncation(
        &self,
        texts: &[&str],
        batch_size: usize,
    ) -> Result<(Vec<Vec<f32>>, Vec<bool>)> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        let mut truncated = vec![false; texts.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let (vectors, cut) = self.encode_docs_with_truncation(&batch)?;
            for ((&i, v), c) in chunk.iter().zip(vectors.to_vec2::<f32>()?).zip(cut) {
                out[i] = v;
                truncated[i] = c;
            }
        }
        Ok((out, truncated))
    }

    /// SHA-256 over the model's config and weight files: two folders with
    /// the same fingerprint compute the same vectors.
    pub fn fingerprint(&self) -> Result<String> {
        memo(&self.fingerprints[0], || self.hash_files())
    }

    fn hash_files(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        let config = self.dir.join("config.json");
        let mut files: Vec<&Path> = Vec::new();
        if config.is_file() {
            files.push(&config);
        }
        files.extend(self.weights_files.iter().map(PathBuf::as_path));
        for path in files {
            let mut f = std::fs::File::open(path).map_err(|e| ModelError::Weights {
                file: path.to_path_buf(),
                message: e.to_string(),
            })?;
            std::io::copy(&mut f, &mut hasher).map_err(|e| ModelError::Weights {
                file: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        Ok(format!("{:x}", hasher.finalize()))
    }

    /// SHA-256 over what makes document vectors: the document transformer's
    /// tensors, pooling, normalisation and max length. Models that share it
    /// (a head-only Hypencoder and its base read as a plain BERT folder, or
    /// two heads trained on one frozen base) can search the same index.
    pub fn doc_encoder_fingerprint(&self) -> Result<String> {
        memo(&self.fingerprints[1], || self.hash_doc_encoder())
    }

    fn hash_doc_encoder(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(format!(
            "pooling={:?};normalize={};max_length={};",
            self.doc_encoder.pooling,
            self.doc_encoder.normalize,
            self.doc_tokenizer.max_length()
        ));
        for (name, tensor) in &self.doc_transformer {
            hasher.update(format!("{name}:{:?};", tensor.dims()));
            let values = tensor
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for v in values {
                hasher.update(v.to_le_bytes());
            }
        }
        Ok(format!("{:x}", hasher.finalize()))
    }

    /// The query transformer's last hidden states and the token batch.
    pub fn query_hidden_states(&self, texts: &[&str]) -> Result<(TokenBatch, Tensor)> {
        let batch = self.query_tokenizer.batch(texts, &self.device)?;
        let bert = match &self.query_encoder {
            QueryEncoder::Hyper { bert, .. } => bert,
            QueryEncoder::Dense(enc) => &enc.bert,
        };
        let hidden = bert.forward(&batch.input_ids, &batch.attention_mask)?;
        Ok((batch, hidden))
    }

    /// Queries -> q-nets (Hypencoder) or vectors (bi-encoder).
    pub fn encode_queries(&self, texts: &[&str]) -> Result<QueryRepresentation> {
        match &self.query_encoder {
            QueryEncoder::Hyper { bert, head } => {
                let batch = self.query_tokenizer.batch(texts, &self.device)?;
                let hidden = bert.forward(&batch.input_ids, &batch.attention_mask)?;
                // Per query, so results do not depend on the batch (the
                // server batches whatever queries arrive together).
                Ok(QueryRepresentation::QNets(head.forward_each(
                    &hidden,
                    &batch.attention_mask,
                    &batch.lengths,
                )?))
            }
            QueryEncoder::Dense(enc) => {
                let batch = self.query_tokenizer.batch(texts, &self.device)?;
                Ok(QueryRepresentation::Vectors(enc.forward(&batch)?))
            }
        }
    }

    /// Relevance of every document vector to every query, as rows per query.
    pub fn score_vectors(
        &self,
        queries: &QueryRepresentation,
        docs: &[Vec<f32>],
    ) -> Result<Vec<Vec<f32>>> {
        let n_queries = match queries {
            QueryRepresentation::QNets(q) => q.len(),
            QueryRepresentation::Vectors(v) => v.dim(0)?,
        };
        if docs.is_empty() {
            return Ok(vec![Vec::new(); n_queries]);
        }
        let dim = self.dim();
        if let Some((i, v)) = docs.iter().enumerate().find(|(_, v)| v.len() != dim) {
            return Err(ModelError::Invalid(format!(
                "document vector {i} has {} dimensions, the model's have {dim}",
                v.len()
            )));
        }
        let flat: Vec<f32> = docs.iter().flatten().copied().collect();
        let matrix = Tensor::from_vec(flat, (docs.len(), dim), &self.device)?;
        Ok(self.score(queries, &matrix)?.to_vec2::<f32>()?)
    }

    /// Relevance of every document (N, d) to every query: (Q, N).
    pub fn score(&self, queries: &QueryRepresentation, docs: &Tensor) -> Result<Tensor> {
        match queries {
            QueryRepresentation::QNets(qnets) => Ok(qnets.score_all(docs)?),
            QueryRepresentation::Vectors(q) => Ok(q.matmul(&docs.t()?)?),
        }
    }
}

fn not_a_model(dir: &Path, why: &str) -> ModelError {
    ModelError::NotAModel {
        dir: dir.to_path_buf(),
        reason: format!(
            "{why}; expected a HypencoderDualEncoder checkpoint, a sentence-transformers folder \
             (modules.json) or a BERT folder (config.json, model.safetensors or pytorch_model.bin, tokenizer.json)"
        ),
    }
}

fn tokenizer_file(dirs: &[&Path]) -> Result<PathBuf> {
    dirs.iter()
        .map(|d| d.join("tokenizer.json"))
        .find(|p| p.is_file())
        .ok_or_else(|| ModelError::NotAModel {
            dir: dirs[0].to_path_buf(),
            reason:
                "no tokenizer.json found (save the tokenizer with a fast Hugging Face tokenizer)"
                    .into(),
        })
}

fn weights_file(dir: &Path) -> Result<WeightFile> {
    let path = WeightFile::find(dir).ok_or_else(|| ModelError::NotAModel {
        dir: dir.to_path_buf(),
        reason: "no weights file (model.safetensors or pytorch_model.bin)".into(),
    })?;
    WeightFile::load(&path)
}

fn clamp_length(n: usize, config: &BertConfig) -> usize {
    n.min(config.max_position_embeddings)
}

fn tokenizers(
    file: &Path,
    config: &BertConfig,
    query_default: usize,
    doc_default: usize,
    options: &LoadOptions,
) -> Result<(TextTokenizer, TextTokenizer)> {
    let query = options
        .query_max_length
        .unwrap_or(clamp_length(query_default, config));
    let doc = options
        .doc_max_length
        .unwrap_or(clamp_length(doc_default, config));
    for n in [query, doc] {
        if n > config.max_position_embeddings {
            return Err(ModelError::Invalid(format!(
                "max length {n} exceeds the model's max_position_embeddings {}",
                config.max_position_embeddings
            )));
        }
    }
    Ok((
        TextTokenizer::from_file(file, query)?,
        TextTokenizer::from_file(file, doc)?,
    ))
}

/// A transformer and the tensors it was built from (see `doc_encoder_fingerprint`).
type LoadedBert = (Arc<Bert>, Vec<(String, Tensor)>);

fn load_bert(weights: &WeightFile, prefix: &str, config: &BertConfig) -> Result<LoadedBert> {
    let vb = weights.var_builder();
    let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
    let bert = Bert::load(vb, config)
        .map(Arc::new)
        .map_err(|e| ModelError::from_weights(e, weights.path()))?;
    // Only what the forward pass reads: files differ in pooler and buffers.
    let tensors = weights
        .module_tensors(prefix)
        .into_iter()
        .filter(|(n, _)| {
            (n.starts_with("embeddings.") || n.starts_with("encoder."))
                && !n.ends_with("position_ids")
        })
        .collect();
    Ok((bert, tensors))
}

fn load_bert_bi_encoder(
    model_dir: &Path,
    transformer_dir: &Path,
    pooling: Pooling,
    normalize: bool,
    max_seq_length: Option<usize>,
    options: &LoadOptions,
) -> Result<Model> {
    let config = BertConfig::from_file(&transformer_dir.join("config.json"))?;
    let weights = weights_file(transformer_dir)?;
    let (bert, doc_transformer) = load_bert(&weights, weights.bert_prefix()?, &config)?;
    let tok_file = tokenizer_file(&[transformer_dir, model_dir])?;
    let doc_default = max_seq_length.unwrap_or(DEFAULT_DOC_MAX_LENGTH);
    let (query_tokenizer, doc_tokenizer) = tokenizers(
        &tok_file,
        &config,
        DEFAULT_QUERY_MAX_LENGTH,
        doc_default,
        options,
    )?;
    Ok(Model {
        dir: model_dir.to_path_buf(),
        kind: ModelKind::BiEncoder,
        query_tokenizer,
        doc_tokenizer,
        query_encoder: QueryEncoder::Dense(TextEncoder::new(bert.clone(), pooling, normalize)),
        doc_encoder: TextEncoder::new(bert, pooling, normalize),
        weights_files: vec![weights.path().to_path_buf()],
        doc_transformer,
        device: Device::Cpu,
        fingerprints: Default::default(),
    })
}

#[derive(serde::Deserialize)]
struct StModule {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(serde::Deserialize)]
struct StPooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(serde::Deserialize)]
struct StBertConfig {
    max_seq_length: Option<usize>,
}

fn load_sentence_transformers(dir: &Path, options: &LoadOptions) -> Result<Model> {
    let modules_file = dir.join("modules.json");
    let modules: Vec<StModule> = read_json(&modules_file)?;
    let find = |suffix: &str| modules.iter().find(|m| m.kind.ends_with(suffix));
    let transformer = find(".Transformer").ok_or_else(|| ModelError::Config {
        file: modules_file.clone(),
        message: "no sentence_transformers.models.Transformer module listed".into(),
    })?;
    let transformer_dir = dir.join(&transformer.path);
    let pooling = match find(".Pooling") {
        None => Pooling::Cls,
        Some(m) => {
            let file = dir.join(&m.path).join("config.json");
            let p: StPooling = read_json(&file)?;
            if p.pooling_mode_max_tokens || p.pooling_mode_mean_sqrt_len_tokens {
                return Err(ModelError::Config {
                    file,
                    message: "only cls and mean pooling are supported".into(),
                });
            }
            match (p.pooling_mode_cls_token, p.pooling_mode_mean_tokens) {
                (true, false) => Pooling::Cls,
                (false, true) => Pooling::Mean,
                _ => {
                    return Err(ModelError::Config {
                        file,
                        message: "exactly one of pooling_mode_cls_token and pooling_mode_mean_tokens must be true".into(),
                    })
                }
            }
        }
    };
    let normalize = find(".Normalize").is_some();
    let st_config = transformer_dir.join("sentence_bert_config.json");
    let max_seq_length = if st_config.is_file() {
        read_json::<StBertConfig>(&st_config)?.max_seq_length
    } else {
        None
    };
    load_bert_bi_encoder(
        dir,
        &transformer_dir,
        pooling,
        normalize,
        max_seq_length,
        options,
    )
}

/// The transformers' widths agree with the Hypencoder config.
fn check_widths(config: &HypencoderConfig, query_bert: &Bert, passage_bert: &Bert) -> Result<()> {
    let bad = |message: String| ModelError::Config {
        file: config.file.clone(),
        message,
    };
    if config.query_model_dim != query_bert.hidden_size() {
        return Err(bad(format!(
            "query_encoder_kwargs.base_encoder_output_dim is {} but the query transformer's hidden size is {}",
            config.query_model_dim,
            query_bert.hidden_size()
        )));
    }
    if config.qnet.vector_dimensions[0] != passage_bert.hidden_size() {
        return Err(bad(format!(
            "converter_kwargs.vector_dimensions starts with {} but passage vectors have {} dimensions",
            config.qnet.vector_dimensions[0],
            passage_bert.hidden_size()
        )));
    }
    Ok(())
}

/// Query and document tokenizers: `tokenizer.json` in the checkpoint
/// folder or else in the query transformer's base folder.
fn hypencoder_tokenizers(
    dir: &Path,
    query_base: &BaseModel,
    query_config: &BertConfig,
    options: &LoadOptions,
) -> Result<(TextTokenizer, TextTokenizer)> {
    let mut tok_dirs: Vec<&Path> = vec![dir];
    if let Some(f) = query_base.folder() {
        tok_dirs.push(f);
    }
    let tok_file = tokenizer_file(&tok_dirs)?;
    tokenizers(
        &tok_file,
        query_config,
        DEFAULT_QUERY_MAX_LENGTH,
        DEFAULT_DOC_MAX_LENGTH,
        options,
    )
}

/// The query and passage base models of a Hypencoder checkpoint in `dir`,
/// each with its BERT configuration.
fn bases(
    config: &HypencoderConfig,
    dir: &Path,
    base: Option<&Path>,
) -> Result<((BaseModel, BertConfig), (BaseModel, BertConfig))> {
    let resolve = |name: &str| match base {
        Some(folder) => Ok(BaseModel::Folder(folder.to_path_buf())),
        None => BaseModel::resolve(name, dir, &config.file),
    };
    let query_base = resolve(&config.query_base)?;
    let passage_base = if config.passage_base == config.query_base {
        query_base.clone()
    } else {
        resolve(&config.passage_base)?
    };
    let query_config = query_base.bert_config()?;
    let passage_config = if config.shared_encoder {
        query_config.clone()
    } else {
        passage_base.bert_config()?
    };
    Ok(((query_base, query_config), (passage_base, passage_config)))
}

fn load_hypencoder(dir: &Path, options: &LoadOptions) -> Result<Model> {
    let config = HypencoderConfig::from_file(&dir.join("config.json"))?;
    let weights = weights_file(dir)?;
    let ((query_base, query_config), (passage_base, passage_config)) =
        bases(&config, dir, options.base.as_deref())?;

    // Transformer weights: in the checkpoint (both prefixes for a shared
    // encoder in pytorch_model.bin; only `passage_encoder.` in the hub's
    // safetensors conversion), or absent (head-only) and read from the base.
    let mut weights_files = vec![weights.path().to_path_buf()];
    let mut from_base = |base: &BaseModel, config: &BertConfig| -> Result<LoadedBert> {
        let folder = base.folder().ok_or_else(|| ModelError::Weights {
            file: weights.path().to_path_buf(),
            message: format!(
                "the checkpoint holds no transformer weights and its base {} has none either; \
                 point model_name_or_path at a folder with the base model's weights",
                base.describe()
            ),
        })?;
        let base_weights = weights_file(folder)?;
        weights_files.push(base_weights.path().to_path_buf());
        load_bert(&base_weights, base_weights.bert_prefix()?, config)
    };
    let q_prefix = "query_encoder.transformer";
    let p_prefix = "passage_encoder.transformer";
    let ((query_bert, _), (passage_bert, doc_transformer)) = if config.shared_encoder {
        let bert = if weights.has_module(q_prefix) {
            load_bert(&weights, q_prefix, &query_config)?
        } else if weights.has_module(p_prefix) {
            load_bert(&weights, p_prefix, &query_config)?
        } else {
            from_base(&query_base, &query_config)?
        };
        (bert.clone(), bert)
    } else {
        let q = if weights.has_module(q_prefix) {
            load_bert(&weights, q_prefix, &query_config)?
        } else {
            from_base(&query_base, &query_config)?
        };
        let p = if weights.has_module(p_prefix) {
            load_bert(&weights, p_prefix, &passage_config)?
        } else {
            from_base(&passage_base, &passage_config)?
        };
        (q, p)
    };

    check_widths(&config, &query_bert, &passage_bert)?;
    let head = HyperHead::load(
        weights.var_builder().pp("query_encoder"),
        &config.qnet,
        config.query_model_dim,
    )
    .map_err(|e| ModelError::from_weights(e, weights.path()))?;

    let (query_tokenizer, doc_tokenizer) =
        hypencoder_tokenizers(dir, &query_base, &query_config, options)?;
    Ok(Model {
        dir: dir.to_path_buf(),
        kind: ModelKind::Hypencoder,
        query_tokenizer,
        doc_tokenizer,
        query_encoder: QueryEncoder::Hyper {
            bert: query_bert,
            head,
        },
        doc_encoder: TextEncoder::new(passage_bert, config.passage_pooling, false),
        weights_files,
        doc_transformer,
        device: Device::Cpu,
        fingerprints: Default::default(),
    })
}
