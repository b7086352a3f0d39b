//! The model under training, built for the settings' kind and mode: its
//! trainable parameters (named as they are saved), the encoders that use
//! them, and its output as a model folder (`checkpoint` writes the layout).
//!
//! - frozen Hypencoder: a new hyper-head over query hidden states cached
//!   once from the base; document vectors come from the index.
//! - query Hypencoder: the base transformer (as the query encoder) and a
//!   new hyper-head; document vectors come from the index.
//! - full Hypencoder or bi-encoder: the base transformer trains for queries
//!   and documents alike; documents are re-encoded from the index's texts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;

use hypencoder_index::{Dtype, Segment};
use hypencoder_model::bert::Bert;
use hypencoder_model::hyperhead::HyperHead;
use hypencoder_model::weights::WeightFile;
use hypencoder_model::{
    Activation, BertConfig, LoadOptions, Model, Pooling, QNetConfig, TextEncoder, TextTokenizer,
};

use crate::checkpoint::{self, HypencoderSpec};
use crate::config::{Kind, Mode, TrainConfig};
use crate::data::Example;
use crate::error::{io_error, Result, TrainError};
use crate::event::Event;
use crate::init::init_hyper_head;

/// Trainable parameters, named as they are saved.
type Params = Vec<(String, Var)>;

/// What the model is made of during training.
pub(crate) enum Encoders {
    /// Hyper-head over cached query hidden states; documents from the index.
    FrozenHyper {
        head: HyperHead,
        /// Per example: (tokens, hidden) states, real tokens only.
        hidden: Vec<(usize, Vec<f32>)>,
        /// Document vectors, index order.
        docs: Arc<Vec<f32>>,
    },
    /// Trainable query transformer and hyper-head; documents from the index.
    QueryHyper {
        bert: Arc<Bert>,
        head: HyperHead,
        query_tok: TextTokenizer,
        docs: Arc<Vec<f32>>,
    },
    /// One trainable transformer under the hyper-head and the documents.
    FullHyper {
        bert: Arc<Bert>,
        head: HyperHead,
        query_tok: TextTokenizer,
        doc: TextEncoder,
        doc_tok: TextTokenizer,
        /// Document texts, index order.
        texts: Vec<String>,
    },
    /// One trainable bi-encoder for queries and documents.
    FullDense {
        encoder: TextEncoder,
        query_tok: TextTokenizer,
        doc_tok: TextTokenizer,
        /// Document texts, index order.
        texts: Vec<String>,
    },
}

/// The model under training, with what it trains on.
pub(crate) struct Setup<'a> {
    pub(crate) config: &'a TrainConfig,
    pub(crate) examples: &'a [Example],
    /// Trainable parameters, named as they are saved.
    pub(crate) params: Params,
    pub(crate) encoders: Encoders,
    pub(crate) qnet: QNetConfig,
    /// Width of the transformer's hidden states.
    pub(crate) model_dim: usize,
    /// Where the tokenizer files are (the base folder).
    tokenizer_dir: PathBuf,
}

/// What every mode's builder reads from the base folder and the index.
struct Base<'c> {
    config: &'c TrainConfig,
    bert_config: BertConfig,
    model_dim: usize,
    qnet: QNetConfig,
    weights_path: PathBuf,
    tokenizer_file: PathBuf,
    /// `init::input_scale` of a sample of the index's vectors.
    input_scale: f64,
}

impl<'c> Base<'c> {
    fn new(config: &'c TrainConfig, index: &Segment) -> Result<Self> {
        let base = &config.base;
        let bert_config = BertConfig::from_file(&base.join("config.json"))?;
        let model_dim = bert_config.hidden_size;
        let d = index.manifest().dim;
        let qnet = QNetConfig {
            vector_dimensions: std::iter::repeat_n(d, config.qnet_layers + 1)
                .chain([1])
                .collect(),
            activation: Activation::parse(&config.activation).expect("checked"),
            do_layer_norm: true,
            do_residual: true,
            do_residual_on_last: false,
            layer_norm_before_residual: true,
        };
        let weights_path = WeightFile::find(base).ok_or_else(|| {
            io_error(
                base,
                "no model.safetensors or pytorch_model.bin in the base model folder",
            )
        })?;
        let sample = index.len().min(4096);
        let input_scale = crate::init::input_scale(&index.vectors().rows(0, sample), d);
        Ok(Base {
            config,
            bert_config,
            model_dim,
            qnet,
            weights_path,
            tokenizer_file: base.join("tokenizer.json"),
            input_scale,
        })
    }

    /// A new hyper-head from the seed, named under `query_encoder.`.
    fn head_params(&self) -> Result<Params> {
        let c = self.config;
        init_hyper_head(
            &self.qnet,
            self.model_dim,
            c.seed,
            c.init,
            self.input_scale,
            DType::F32,
            &Device::Cpu,
        )?
        .into_iter()
        .map(|(n, t)| Ok((format!("query_encoder.{n}"), Var::from_tensor(&t)?)))
        .collect()
    }

    fn tokenizer(&self, max_length: usize) -> Result<TextTokenizer> {
        Ok(TextTokenizer::from_file(&self.tokenizer_file, max_length)?)
    }

    /// The trainable transformer and hyper-head of a Hypencoder, loaded
    /// from `params` (the transformer under `query_encoder.transformer`).
    fn bert_and_head(&self, params: &Params) -> Result<(Arc<Bert>, HyperHead)> {
        let vb = var_builder(params);
        let bert = Arc::new(Bert::load(
            vb.pp("query_encoder.transformer"),
            &self.bert_config,
        )?);
        let head = HyperHead::load(vb.pp("query_encoder"), &self.qnet, self.model_dim)?;
        Ok((bert, head))
    }
}

impl<'a> Setup<'a> {
    /// Builds the model the settings describe, reporting stages to `on`
    /// (and, in frozen mode, the caching of query hidden states).
    pub(crate) fn new(
        config: &'a TrainConfig,
        index: &Segment,
        examples: &'a [Example],
        on: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<Self> {
        let base = Base::new(config, index)?;
        let (params, encoders) = match (config.kind, config.mode) {
            (Kind::Hypencoder, Mode::Frozen) => frozen_hyper(&base, index, examples, on)?,
            (Kind::Hypencoder, Mode::Query) => query_hyper(&base, index, on)?,
            (Kind::Hypencoder, Mode::Full) => full_hyper(&base, index, on)?,
            (Kind::BiEncoder, Mode::Full) => full_dense(&base, index, on)?,
            (Kind::BiEncoder, _) => unreachable!("check_config rejects it"),
        };
        if let Some(from) = &config.init_from {
            init_from(&params, from, on)?;
        }
        Ok(Setup {
            config,
            examples,
            params,
            encoders,
            qnet: base.qnet,
            model_dim: base.model_dim,
            tokenizer_dir: config.base.clone(),
        })
    }
}

fn frozen_hyper(
    base: &Base,
    index: &Segment,
    examples: &[Example],
    on: &mut dyn FnMut(&Event) -> bool,
) -> Result<(Params, Encoders)> {
    let params = base.head_params()?;
    let head = HyperHead::load(
        var_builder(&params).pp("query_encoder"),
        &base.qnet,
        base.model_dim,
    )?;
    on(&Event::Stage(
        "caching query hidden states (frozen transformer)",
    ));
    let model = Model::load_with(
        &base.config.base,
        &LoadOptions {
            query_max_length: Some(base.config.query_max_length),
            doc_max_length: None,
            ..Default::default()
        },
    )?;
    let hidden = cache_hidden_states(&model, examples, on)?;
    let docs = Arc::new(index.vectors().rows(0, index.len()).into_owned());
    Ok((params, Encoders::FrozenHyper { head, hidden, docs }))
}

fn query_hyper(
    base: &Base,
    index: &Segment,
    on: &mut dyn FnMut(&Event) -> bool,
) -> Result<(Params, Encoders)> {
    on(&Event::Stage(
        "loading the query transformer as trainable variables",
    ));
    let mut params = bert_params(&base.weights_path, "query_encoder.transformer")?.1;
    params.extend(base.head_params()?);
    let (bert, head) = base.bert_and_head(&params)?;
    let query_tok = base.tokenizer(base.config.query_max_length)?;
    let docs = Arc::new(index.vectors().rows(0, index.len()).into_owned());
    let encoders = Encoders::QueryHyper {
        bert,
        head,
        query_tok,
        docs,
    };
    Ok((params, encoders))
}

/// What full mode starts from for either kind: the base transformer as
/// variables, both tokenizers and the index's texts.
struct FullStart {
    /// The weight file's own prefix of the transformer's tensors.
    prefix: String,
    params: Params,
    query_tok: TextTokenizer,
    doc_tok: TextTokenizer,
    texts: Vec<String>,
}

fn full_start(
    base: &Base,
    index: &Segment,
    save_prefix: &str,
    on: &mut dyn FnMut(&Event) -> bool,
) -> Result<FullStart> {
    on(&Event::Stage(
        "loading the base transformer as trainable variables",
    ));
    let (prefix, params) = bert_params(&base.weights_path, save_prefix)?;
    Ok(FullStart {
        prefix,
        params,
        query_tok: base.tokenizer(base.config.query_max_length)?,
        doc_tok: base.tokenizer(base.config.doc_max_length)?,
        texts: doc_texts(index)?,
    })
}

fn full_hyper(
    base: &Base,
    index: &Segment,
    on: &mut dyn FnMut(&Event) -> bool,
) -> Result<(Params, Encoders)> {
    let start = full_start(base, index, "query_encoder.transformer", on)?;
    let mut params = start.params;
    params.extend(base.head_params()?);
    let (bert, head) = base.bert_and_head(&params)?;
    let doc = TextEncoder::new(bert.clone(), Pooling::Mean, false);
    let encoders = Encoders::FullHyper {
        bert,
        head,
        query_tok: start.query_tok,
        doc,
        doc_tok: start.doc_tok,
        texts: start.texts,
    };
    Ok((params, encoders))
}

fn full_dense(
    base: &Base,
    index: &Segment,
    on: &mut dyn FnMut(&Event) -> bool,
) -> Result<(Params, Encoders)> {
    // A bi-encoder is saved as its base is, so names stay as in the file.
    let start = full_start(base, index, "", on)?;
    let vb = var_builder(&start.params);
    let vb = if start.prefix.is_empty() {
        vb
    } else {
        vb.pp(&start.prefix)
    };
    let bert = Arc::new(Bert::load(vb, &base.bert_config)?);
    let (pooling, normalize) = bi_encoder_pooling(&base.config.base)?;
    let encoders = Encoders::FullDense {
        encoder: TextEncoder::new(bert, pooling, normalize),
        query_tok: start.query_tok,
        doc_tok: start.doc_tok,
        texts: start.texts,
    };
    Ok((start.params, encoders))
}

/// Every document's text, index order.
fn doc_texts(index: &Segment) -> Result<Vec<String>> {
    if !index.manifest().has_texts {
        return Err(TrainError::Invalid(format!(
            "{} holds no document texts (the index was built without them); `mode` full re-encodes documents from them",
            index.dir().display()
        )));
    }
    (0..index.len())
        .map(|i| Ok(index.text(i)?.unwrap_or_default().to_string()))
        .collect()
}

/// Overwrites the parameters that `from`'s weights hold under the same
/// name and shape; at least one must match.
fn init_from(params: &Params, from: &Path, on: &mut dyn FnMut(&Event) -> bool) -> Result<()> {
    let file = from.join("model.safetensors");
    let saved =
        candle_core::safetensors::load(&file, &Device::Cpu).map_err(|e| io_error(&file, e))?;
    let mut matched = 0;
    for (name, var) in params {
        if let Some(t) = saved.get(name).filter(|t| t.dims() == var.dims()) {
            var.set(&t.to_dtype(DType::F32)?)?;
            matched += 1;
        }
    }
    if matched == 0 {
        return Err(io_error(
            &file,
            "no tensor matches a parameter of this model by name and shape",
        ));
    }
    on(&Event::Stage(&format!(
        "initialised {matched} of {} tensors from {}",
        params.len(),
        file.display()
    )));
    Ok(())
}

fn var_builder(params: &[(String, Var)]) -> VarBuilder<'static> {
    let map: HashMap<String, Tensor> = params
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
}

/// The base transformer's tensors as variables, renamed under
/// `save_prefix` (empty: kept as named in the file). Also returns the
/// file's own prefix.
fn bert_params(weights_path: &Path, save_prefix: &str) -> Result<(String, Params)> {
    let file = WeightFile::load(weights_path)?;
    let prefix = file.bert_prefix()?.to_string();
    let save_prefix = if save_prefix.is_empty() {
        prefix.as_str()
    } else {
        save_prefix
    };
    let params = file
        .module_tensors(&prefix)
        .into_iter()
        .filter(|(n, _)| n.starts_with("embeddings.") || n.starts_with("encoder."))
        .filter(|(n, _)| !n.ends_with("position_ids"))
        .map(|(n, t)| {
            let name = if save_prefix.is_empty() {
                n
            } else {
                format!("{save_prefix}.{n}")
            };
            Ok((name, Var::from_tensor(&t.to_dtype(DType::F32)?)?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((prefix, params))
}

/// Pooling of a bi-encoder base: sentence-transformers' own, else mean.
fn bi_encoder_pooling(base: &Path) -> Result<(Pooling, bool)> {
    let model = Model::load(base)?;
    let probe = model.encode_docs(&["a probe", "another, longer probe text"])?;
    let norms = probe.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;
    let normalize = norms.iter().all(|n| (n - 1.0).abs() < 1e-4);
    // sentence-transformers folders say cls or mean in 1_Pooling; a BERT
    // folder is read with mean pooling.
    let pooling_file = base.join("1_Pooling/config.json");
    let pooling = match std::fs::read_to_string(&pooling_file) {
        Ok(text) if text.contains("\"pooling_mode_cls_token\": true") => Pooling::Cls,
        _ => Pooling::Mean,
    };
    Ok((pooling, normalize))
}

/// The frozen query transformer's output for every example, computed once.
fn cache_hidden_states(
    model: &Model,
    examples: &[Example],
    on: &mut dyn FnMut(&Event) -> bool,
) -> Result<Vec<(usize, Vec<f32>)>> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].query.len());
    let mut out = vec![(0, Vec::new()); examples.len()];
    let mut done = 0;
    for chunk in order.chunks(128) {
        let texts: Vec<&str> = chunk.iter().map(|&i| examples[i].query.as_str()).collect();
        let (batch, hidden) = model.query_hidden_states(&texts)?;
        let hidden = hidden.to_dtype(DType::F32)?;
        for (row, &i) in chunk.iter().enumerate() {
            let len = batch.lengths[row];
            let states = hidden
                .get(row)?
                .narrow(0, 0, len)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            out[i] = (len, states);
        }
        done += chunk.len();
        on(&Event::Caching {
            done,
            total: examples.len(),
        });
    }
    Ok(out)
}

/// Reading and writing the model's weights.
impl Setup<'_> {
    /// The parameters' current values, detached from the graph.
    pub(crate) fn tensors(&self) -> HashMap<String, Tensor> {
        self.params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
            .collect()
    }

    /// The parameters' values as `dtype` stores them.
    fn tensors_as(&self, dtype: Dtype) -> Result<HashMap<String, Tensor>> {
        let dtype = match dtype {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::Bf16 => DType::BF16,
            // Refused by `check_config` before any training.
            Dtype::Int8 => unreachable!("weights are never saved as int8"),
        };
        self.tensors()
            .into_iter()
            .map(|(n, t)| Ok((n, t.to_dtype(dtype)?)))
            .collect()
    }

    /// Sets every parameter from a model folder this run saved.
    pub(crate) fn load_weights(&self, dir: &Path) -> Result<()> {
        let file = dir.join("model.safetensors");
        let saved =
            candle_core::safetensors::load(&file, &Device::Cpu).map_err(|e| io_error(&file, e))?;
        for (name, var) in &self.params {
            let t = saved
                .get(name)
                .ok_or_else(|| io_error(&file, format!("no tensor {name}")))?;
            var.set(t)?;
        }
        Ok(())
    }

    /// Writes the model (official layout) to `dir`, its weights as `dtype`.
    pub(crate) fn save_model(&self, dir: &Path, dtype: Dtype) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let tensors = self.tensors_as(dtype)?;
        match self.config.kind {
            Kind::Hypencoder => {
                let base_name = self.config.base_name.clone().unwrap_or_else(|| {
                    checkpoint::relative_path(&self.config.base, dir)
                        .display()
                        .to_string()
                });
                let spec = HypencoderSpec {
                    base_name: &base_name,
                    model_dim: self.model_dim,
                    qnet: &self.qnet,
                    mode: self.config.mode,
                };
                checkpoint::write_hypencoder(dir, &spec, &tensors, &self.tokenizer_dir)
            }
            Kind::BiEncoder => checkpoint::write_bi_encoder(dir, &self.config.base, &tensors),
        }
    }

    /// A frozen Hypencoder reads document vectors from the index, so the
    /// index must have been built by the same document encoder.
    pub(crate) fn check_index_matches(&self, model_dir: &Path, index: &Segment) -> Result<()> {
        if self.config.mode == Mode::Full {
            return Ok(());
        }
        let model = Model::load(model_dir)?;
        let ours = model.doc_encoder_fingerprint()?;
        match &index.manifest().model.doc_encoder {
            Some(theirs) if *theirs == ours => Ok(()),
            _ => Err(TrainError::Invalid(format!(
                "{} was not built by this model's document encoder ({} with mean pooling, \
                 max length {}); `mode` frozen and query read document vectors from the \
                 index, so index the documents with this model, or with its base read as a \
                 plain BERT folder (config.json, weights, tokenizer.json)",
                index.dir().display(),
                self.config.base.display(),
                model.doc_tokenizer().max_length(),
            ))),
        }
    }
}
