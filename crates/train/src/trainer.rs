//! The training loop: batches, forward, loss, AdamW, checkpoints, resume.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use hypencoder_index::Index;
use hypencoder_model::bert::Bert;
use hypencoder_model::hyperhead::HyperHead;
use hypencoder_model::weights::WeightFile;
use hypencoder_model::{
    Activation, BertConfig, LoadOptions, Model, Pooling, QNetBatch, QNetConfig, TextEncoder,
    TextTokenizer,
};

use crate::checkpoint::{self, HypencoderSpec};
use crate::config::{Kind, LossKind, Mode, TrainConfig};
use crate::data::{read_examples, Example};
use crate::error::{io_error, Result, TrainError};
use crate::init::init_hyper_head;
use crate::loss;
use crate::optim::{linear_schedule, AdamW, AdamWConfig};

/// What the trainer reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A preparation stage begins.
    Stage(&'a str),
    /// Query hidden states cached so far (frozen mode).
    Caching {
        done: usize,
        total: usize,
    },
    Resumed {
        step: u64,
        from: &'a Path,
    },
    Step(&'a StepReport),
    Saved {
        step: u64,
        dir: &'a Path,
    },
}

#[derive(Debug, Clone)]
pub struct StepReport {
    /// Steps done (1-based).
    pub step: u64,
    pub total: u64,
    pub loss: f64,
    pub lr: f64,
    /// Seconds spent on steps in this process.
    pub elapsed: f64,
    /// Steps done in this process.
    pub steps_here: u64,
}

/// The result of a finished run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub steps: u64,
    pub examples: usize,
    /// Mean loss over the first and the last 5% of steps (of this process).
    pub first_loss: f64,
    pub last_loss: f64,
    /// Seconds: preparing (caching) and stepping, in this process.
    pub prepare_seconds: f64,
    pub train_seconds: f64,
    pub output: PathBuf,
    /// False when `on` stopped the run early (no final model written).
    pub finished: bool,
}

const STATE_FILE: &str = "trainer_state.json";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

#[derive(serde::Serialize, serde::Deserialize)]
struct TrainerState {
    step: u64,
    total_steps: u64,
    training_key: String,
}

/// Trains as `config` says, resuming from its latest checkpoint if one was
/// made under the same settings. `on` hears every event; returning false
/// after a step stops there with a checkpoint (resumable), and the summary
/// says `finished: false`.
pub fn train(config: &TrainConfig, on: &mut dyn FnMut(&Event) -> bool) -> Result<Summary> {
    let started = Instant::now();
    check_config(config)?;
    on(&Event::Stage("reading the index and training data"));
    let index = Index::open(&config.index)?;
    let ids: Vec<&str> = (0..index.len())
        .map(|i| index.id(i))
        .collect::<std::result::Result<_, _>>()?;
    let rows: HashMap<&str, u32> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i as u32))
        .collect();
    let examples = read_examples(&config.data, &rows)?;
    check_examples(config, &examples, index.len())?;

    let setup = Setup::new(config, &index, &examples, on)?;
    let steps_per_epoch = (examples.len() / config.batch_size) as u64;
    if steps_per_epoch == 0 {
        return Err(TrainError::Invalid(format!(
            "{} training examples make no full batch of {}",
            examples.len(),
            config.batch_size
        )));
    }
    let total = config
        .max_steps
        .unwrap_or_else(|| (config.epochs * steps_per_epoch as f64).ceil() as u64)
        .max(1);
    let warmup = config.warmup_steps.unwrap_or(total / 20);
    let mut optimizer = AdamW::new(
        setup.params.clone(),
        AdamWConfig {
            lr: config.lr(),
            weight_decay: config.weight_decay,
            ..Default::default()
        },
    )?;

    let ckpt_dir = config.checkpoint_dir();
    let mut step = 0u64;
    if let Some((dir, state)) = latest_checkpoint(&ckpt_dir)? {
        if state.training_key != config.training_key() {
            return Err(TrainError::Invalid(format!(
                "{} was made with other training settings; resume with the same ones, or \
                 delete it (or choose another --output) to start over",
                dir.display()
            )));
        }
        setup.load_weights(&dir)?;
        let opt = candle_core::safetensors::load(dir.join(OPTIMIZER_FILE), &Device::Cpu)
            .map_err(|e| io_error(&dir.join(OPTIMIZER_FILE), e))?;
        optimizer.load_state(&opt, state.step)?;
        step = state.step;
        on(&Event::Resumed { step, from: &dir });
    } else {
        // The untrained model, written first: it proves the folder loads and
        // that the index holds the vectors this model's documents get.
        let dir = setup.save_checkpoint(&ckpt_dir, 0, total, &optimizer)?;
        if let Err(e) = setup.check_index_matches(&dir, &index) {
            // Leave nothing a corrected rerun would try to resume.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    }
    let prepare_seconds = started.elapsed().as_secs_f64();

    let mut losses = Vec::new();
    let train_start = Instant::now();
    let mut order_epoch = u64::MAX;
    let mut order: Vec<usize> = Vec::new();
    while step < total {
        let epoch = step / steps_per_epoch;
        if epoch != order_epoch {
            order = epoch_order(examples.len(), config.seed, epoch);
            order_epoch = epoch;
        }
        let at = (step % steps_per_epoch) as usize * config.batch_size;
        let batch_ids = &order[at..at + config.batch_size];
        let batch = setup.draw(batch_ids, epoch, index.len())?;
        let loss = setup.loss(&batch)?;
        let grads = loss.backward()?;
        let norm = optimizer.grad_norm(&grads)?;
        let scale = if config.max_grad_norm > 0.0 && norm > config.max_grad_norm {
            config.max_grad_norm / norm
        } else {
            1.0
        };
        let lr = linear_schedule(step, warmup, total, config.lr());
        optimizer.step(&grads, lr, scale)?;
        step += 1;
        let value = loss::value(&loss)?;
        if !value.is_finite() {
            return Err(TrainError::Invalid(format!(
                "the loss became {value} at step {step}; lower --lr"
            )));
        }
        losses.push(value);
        let go_on = on(&Event::Step(&StepReport {
            step,
            total,
            loss: value,
            lr,
            elapsed: train_start.elapsed().as_secs_f64(),
            steps_here: losses.len() as u64,
        }));
        if !go_on && step < total {
            let dir = setup.save_checkpoint(&ckpt_dir, step, total, &optimizer)?;
            prune_checkpoints(&ckpt_dir, config.keep_checkpoints)?;
            on(&Event::Saved { step, dir: &dir });
            return Ok(summarize(
                &losses,
                step,
                examples.len(),
                prepare_seconds,
                train_start,
                config,
                false,
            ));
        }
        if config.save_every > 0 && step.is_multiple_of(config.save_every) && step < total {
            let dir = setup.save_checkpoint(&ckpt_dir, step, total, &optimizer)?;
            prune_checkpoints(&ckpt_dir, config.keep_checkpoints)?;
            on(&Event::Saved { step, dir: &dir });
        }
    }
    setup.save_model(&config.output)?;
    let dir = setup.save_checkpoint(&ckpt_dir, step, total, &optimizer)?;
    prune_checkpoints(&ckpt_dir, config.keep_checkpoints)?;
    on(&Event::Saved { step, dir: &dir });

    let summary = summarize(
        &losses,
        step,
        examples.len(),
        prepare_seconds,
        train_start,
        config,
        true,
    );
    checkpoint::write_json(
        &config.output.join("training.json"),
        &serde_json::json!({"config": config, "summary": summary}),
    )?;
    Ok(summary)
}

fn summarize(
    losses: &[f64],
    steps: u64,
    examples: usize,
    prepare_seconds: f64,
    train_start: Instant,
    config: &TrainConfig,
    finished: bool,
) -> Summary {
    let tail = (losses.len() / 20).max(1);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    Summary {
        steps,
        examples,
        first_loss: mean(&losses[..tail.min(losses.len())]),
        last_loss: mean(&losses[losses.len().saturating_sub(tail)..]),
        prepare_seconds,
        train_seconds: train_start.elapsed().as_secs_f64(),
        output: config.output.clone(),
        finished,
    }
}

fn check_config(c: &TrainConfig) -> Result<()> {
    let bad = |m: &str| Err(TrainError::Invalid(m.to_string()));
    if c.batch_size == 0 {
        return bad("batch_size must be at least 1");
    }
    if c.kind == Kind::BiEncoder && c.mode != Mode::Full {
        return bad("a bi-encoder trains with --mode full (one tower for queries and documents)");
    }
    if c.loss == LossKind::MarginMse && c.negatives == 0 {
        return bad("margin-mse needs at least one negative per query (--negatives)");
    }
    if Activation::parse(&c.activation).is_none() {
        return Err(TrainError::Invalid(format!(
            "unknown activation '{}' (expected one of {})",
            c.activation,
            Activation::NAMES
        )));
    }
    if c.qnet_layers == 0 {
        return bad("the q-net needs at least one hidden layer (--qnet-layers)");
    }
    Ok(())
}

fn check_examples(c: &TrainConfig, examples: &[Example], docs: usize) -> Result<()> {
    if c.loss == LossKind::MarginMse {
        if let Some(i) = examples
            .iter()
            .position(|e| e.teacher.is_none() || e.negatives.len() < c.negatives)
        {
            return Err(TrainError::Invalid(format!(
                "{}: example {} lacks teacher scores or has fewer than {} negatives, which margin-mse needs",
                c.data.display(),
                i + 1,
                c.negatives
            )));
        }
    }
    if docs < c.negatives + 2 {
        return Err(TrainError::Invalid(format!(
            "the index has {docs} documents, too few to draw {} negatives",
            c.negatives
        )));
    }
    Ok(())
}

/// A shuffled order of the examples for one epoch, from the seed alone.
fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

/// One step's examples: a positive and `negatives` negatives each.
struct Batch {
    examples: Vec<usize>,
    positives: Vec<u32>,
    /// (B * n) rows, query-major.
    negatives: Vec<u32>,
    /// (B, 1 + n) teacher scores, when the loss needs them.
    teacher: Option<Vec<f32>>,
}

/// What the model is made of during training.
enum Encoders {
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
    FullHyper {
        bert: Arc<Bert>,
        head: HyperHead,
        query_tok: TextTokenizer,
        doc: TextEncoder,
        doc_tok: TextTokenizer,
        texts: Vec<String>,
    },
    FullDense {
        encoder: TextEncoder,
        query_tok: TextTokenizer,
        doc_tok: TextTokenizer,
        texts: Vec<String>,
    },
}

struct Setup<'a> {
    config: &'a TrainConfig,
    examples: &'a [Example],
    /// Trainable parameters, named as they are saved.
    params: Vec<(String, Var)>,
    encoders: Encoders,
    qnet: QNetConfig,
    model_dim: usize,
    /// Where the tokenizer files are (the base folder).
    tokenizer_dir: PathBuf,
}

fn var_builder(params: &[(String, Var)]) -> VarBuilder<'static> {
    let map: HashMap<String, Tensor> = params
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
}

impl<'a> Setup<'a> {
    fn new(
        config: &'a TrainConfig,
        index: &Index,
        examples: &'a [Example],
        on: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<Self> {
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
        let tokenizer_dir = base.clone();
        let tokenizer_file = base.join("tokenizer.json");

        let sample = index.len().min(4096);
        let scale = crate::init::input_scale(&index.vectors().rows(0, sample), d);
        let head_params = |seed| -> Result<Vec<(String, Var)>> {
            init_hyper_head(
                &qnet,
                model_dim,
                seed,
                config.init,
                scale,
                DType::F32,
                &Device::Cpu,
            )?
            .into_iter()
            .map(|(n, t)| Ok((format!("query_encoder.{n}"), Var::from_tensor(&t)?)))
            .collect::<Result<Vec<_>>>()
        };
        let texts = |index: &Index| -> Result<Vec<String>> {
            if !index.manifest().has_texts {
                return Err(TrainError::Invalid(format!(
                    "{} holds no document texts (built with --no-texts); full fine-tuning re-encodes documents from them",
                    index.dir().display()
                )));
            }
            (0..index.len())
                .map(|i| Ok(index.text(i)?.unwrap_or_default().to_string()))
                .collect()
        };

        let (params, encoders) = match (config.kind, config.mode) {
            (Kind::Hypencoder, Mode::Frozen) => {
                let params = head_params(config.seed)?;
                let head =
                    HyperHead::load(var_builder(&params).pp("query_encoder"), &qnet, model_dim)?;
                on(&Event::Stage(
                    "caching query hidden states (frozen transformer)",
                ));
                let model = Model::load_with(
                    base,
                    &LoadOptions {
                        query_max_length: Some(config.query_max_length),
                        doc_max_length: None,
                    },
                )?;
                let hidden = cache_hidden_states(&model, examples, on)?;
                let docs = Arc::new(index.vectors().rows(0, index.len()).into_owned());
                (params, Encoders::FrozenHyper { head, hidden, docs })
            }
            (kind, Mode::Full) => {
                on(&Event::Stage(
                    "loading the base transformer as trainable variables",
                ));
                let save_prefix = match kind {
                    Kind::Hypencoder => "query_encoder.transformer",
                    Kind::BiEncoder => "",
                };
                let (prefix, mut params) = bert_params(&weights_path, save_prefix)?;
                let query_tok = TextTokenizer::from_file(&tokenizer_file, config.query_max_length)?;
                let doc_tok = TextTokenizer::from_file(&tokenizer_file, config.doc_max_length)?;
                let texts = texts(index)?;
                match kind {
                    Kind::Hypencoder => {
                        params.extend(head_params(config.seed)?);
                        let vb = var_builder(&params);
                        let bert = Arc::new(Bert::load(
                            vb.pp("query_encoder.transformer"),
                            &bert_config,
                        )?);
                        let head = HyperHead::load(vb.pp("query_encoder"), &qnet, model_dim)?;
                        let doc = TextEncoder::new(bert.clone(), Pooling::Mean, false);
                        (
                            params,
                            Encoders::FullHyper {
                                bert,
                                head,
                                query_tok,
                                doc,
                                doc_tok,
                                texts,
                            },
                        )
                    }
                    Kind::BiEncoder => {
                        let vb = var_builder(&params);
                        let vb = if prefix.is_empty() {
                            vb
                        } else {
                            vb.pp(&prefix)
                        };
                        let bert = Arc::new(Bert::load(vb, &bert_config)?);
                        let (pooling, normalize) = bi_encoder_pooling(base)?;
                        let encoder = TextEncoder::new(bert, pooling, normalize);
                        (
                            params,
                            Encoders::FullDense {
                                encoder,
                                query_tok,
                                doc_tok,
                                texts,
                            },
                        )
                    }
                }
            }
            (Kind::Hypencoder, Mode::Query) => {
                on(&Event::Stage(
                    "loading the query transformer as trainable variables",
                ));
                let mut params = bert_params(&weights_path, "query_encoder.transformer")?.1;
                params.extend(head_params(config.seed)?);
                let vb = var_builder(&params);
                let bert = Arc::new(Bert::load(
                    vb.pp("query_encoder.transformer"),
                    &bert_config,
                )?);
                let head = HyperHead::load(vb.pp("query_encoder"), &qnet, model_dim)?;
                let query_tok = TextTokenizer::from_file(&tokenizer_file, config.query_max_length)?;
                let docs = Arc::new(index.vectors().rows(0, index.len()).into_owned());
                (
                    params,
                    Encoders::QueryHyper {
                        bert,
                        head,
                        query_tok,
                        docs,
                    },
                )
            }
            (Kind::BiEncoder, _) => unreachable!("check_config rejects it"),
        };
        if let Some(from) = &config.init_from {
            let file = from.join("model.safetensors");
            let saved = candle_core::safetensors::load(&file, &Device::Cpu)
                .map_err(|e| io_error(&file, e))?;
            let mut matched = 0;
            for (name, var) in &params {
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
        }
        Ok(Setup {
            config,
            examples,
            params,
            encoders,
            qnet,
            model_dim,
            tokenizer_dir,
        })
    }

    /// Draws each example's positive and negatives for this epoch: the same
    /// (seed, epoch, example) always draws the same.
    fn draw(&self, ids: &[usize], epoch: u64, num_docs: usize) -> Result<Batch> {
        let n = self.config.negatives;
        let mut batch = Batch {
            examples: ids.to_vec(),
            positives: Vec::new(),
            negatives: Vec::new(),
            teacher: (self.config.loss == LossKind::MarginMse).then(Vec::new),
        };
        for &i in ids {
            let ex = &self.examples[i];
            let mut rng = ChaCha8Rng::seed_from_u64(
                self.config.seed
                    ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
            );
            let p = rng.random_range(0..ex.positives.len());
            batch.positives.push(ex.positives[p]);
            let picked: Vec<usize> = if ex.negatives.len() >= n {
                rand::seq::index::sample(&mut rng, ex.negatives.len(), n).into_vec()
            } else {
                (0..ex.negatives.len()).collect()
            };
            batch
                .negatives
                .extend(picked.iter().map(|&k| ex.negatives[k]));
            // Too few listed: random documents fill in.
            let mut filled = picked.len();
            while filled < n {
                let doc = rng.random_range(0..num_docs) as u32;
                if !ex.positives.contains(&doc) && !ex.negatives.contains(&doc) {
                    batch.negatives.push(doc);
                    filled += 1;
                }
            }
            if let Some(t) = &mut batch.teacher {
                let (tp, tn) = ex.teacher.as_ref().expect("checked");
                t.push(tp[p]);
                t.extend(picked.iter().map(|&k| tn[k]));
            }
        }
        Ok(batch)
    }

    /// The batch's loss, with the graph back to every parameter.
    fn loss(&self, batch: &Batch) -> Result<Tensor> {
        let b = batch.examples.len();
        let n = self.config.negatives;
        let dev = Device::Cpu;
        let queries: Vec<&str> = batch
            .examples
            .iter()
            .map(|&i| self.examples[i].query.as_str())
            .collect();
        let scores = match &self.encoders {
            Encoders::FrozenHyper { head, hidden, docs } => {
                let (h, mask) =
                    pad_hidden(batch.examples.iter().map(|&i| &hidden[i]), self.model_dim)?;
                let (positives, negatives) =
                    index_docs(docs, self.qnet.vector_dimensions[0], batch, n)?;
                Scores::Hyper {
                    qnets: head.forward(&h, &mask)?,
                    positives,
                    negatives,
                }
            }
            Encoders::QueryHyper {
                bert,
                head,
                query_tok,
                docs,
            } => {
                let qb = query_tok.batch(&queries, &dev)?;
                let hidden = bert.forward(&qb.input_ids, &qb.attention_mask)?;
                let (positives, negatives) =
                    index_docs(docs, self.qnet.vector_dimensions[0], batch, n)?;
                Scores::Hyper {
                    qnets: head.forward(&hidden, &qb.attention_mask)?,
                    positives,
                    negatives,
                }
            }
            Encoders::FullHyper {
                bert,
                head,
                query_tok,
                doc,
                doc_tok,
                texts,
            } => {
                let qb = query_tok.batch(&queries, &dev)?;
                let hidden = bert.forward(&qb.input_ids, &qb.attention_mask)?;
                let qnets = head.forward(&hidden, &qb.attention_mask)?;
                let (positives, negatives) = encode_docs(doc, doc_tok, texts, batch, n)?;
                Scores::Hyper {
                    qnets,
                    positives,
                    negatives,
                }
            }
            Encoders::FullDense {
                encoder,
                query_tok,
                doc_tok,
                texts,
            } => {
                let q = encoder.forward(&query_tok.batch(&queries, &dev)?)?;
                let (positives, negatives) = encode_docs(encoder, doc_tok, texts, batch, n)?;
                Scores::Dense {
                    queries: q,
                    positives,
                    negatives,
                    scale: self.config.scale,
                }
            }
        };
        match (&batch.teacher, self.config.loss) {
            (Some(t), LossKind::MarginMse) => {
                let student = scores.own(n)?;
                let teacher = Tensor::from_vec(t.clone(), (b, 1 + n), &dev)?;
                loss::margin_mse(&student, &teacher)
            }
            _ => {
                let (logits, targets) = if self.config.in_batch_negatives {
                    let mask = duplicate_mask(&batch.positives)?;
                    let in_batch = scores.in_batch()?.broadcast_add(&mask)?;
                    let logits = if n > 0 {
                        Tensor::cat(&[&in_batch, &scores.negatives()?], 1)?
                    } else {
                        in_batch
                    };
                    (logits, (0..b).collect::<Vec<_>>())
                } else {
                    (scores.own(n)?, vec![0; b])
                };
                loss::cross_entropy(&logits, &targets)
            }
        }
    }

    fn tensors(&self) -> HashMap<String, Tensor> {
        self.params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
            .collect()
    }

    fn load_weights(&self, dir: &Path) -> Result<()> {
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

    /// Writes the model (official layout) to `dir`.
    fn save_model(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
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
                checkpoint::write_hypencoder(dir, &spec, &self.tensors(), &self.tokenizer_dir)
            }
            Kind::BiEncoder => {
                checkpoint::write_bi_encoder(dir, &self.config.base, &self.tensors())
            }
        }
    }

    /// `step-N/` under `root`: the model, optimizer moments and step,
    /// written aside and renamed into place.
    fn save_checkpoint(
        &self,
        root: &Path,
        step: u64,
        total: u64,
        optimizer: &AdamW,
    ) -> Result<PathBuf> {
        let dir = root.join(format!("step-{step}"));
        let partial = root.join(format!(".step-{step}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| io_error(&partial, e))?;
        }
        // `.step-N.partial` sits beside `step-N`: a relative base path
        // written for one is right for the other.
        std::fs::create_dir_all(&partial).map_err(|e| io_error(&partial, e))?;
        self.save_model(&partial)?;
        checkpoint::save_tensors(&partial.join(OPTIMIZER_FILE), &optimizer.state())?;
        let state = TrainerState {
            step,
            total_steps: total,
            training_key: self.config.training_key(),
        };
        checkpoint::write_json(
            &partial.join(STATE_FILE),
            &serde_json::to_value(&state).expect("serialises"),
        )?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        }
        std::fs::rename(&partial, &dir).map_err(|e| io_error(&dir, e))?;
        Ok(dir)
    }

    /// A frozen Hypencoder reads document vectors from the index, so the
    /// index must have been built by the same document encoder.
    fn check_index_matches(&self, model_dir: &Path, index: &Index) -> Result<()> {
        if self.config.mode == Mode::Full {
            return Ok(());
        }
        let model = Model::load(model_dir)?;
        let ours = model.doc_encoder_fingerprint()?;
        match &index.manifest().model.doc_encoder {
            Some(theirs) if *theirs == ours => Ok(()),
            _ => Err(TrainError::Invalid(format!(
                "{} was not built by this model's document encoder ({} with mean pooling, \
                 max length {}); frozen training reads document vectors from the index, so \
                 build one with `hypencoder index --model DIR`, DIR being this model or its \
                 base read as a plain BERT folder (config.json, weights, tokenizer.json)",
                index.dir().display(),
                self.config.base.display(),
                model.doc_tokenizer().max_length(),
            ))),
        }
    }
}

/// The base transformer's tensors as variables, renamed under
/// `save_prefix` (empty: kept as named in the file). Also returns the
/// file's own prefix.
fn bert_params(weights_path: &Path, save_prefix: &str) -> Result<(String, Vec<(String, Var)>)> {
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

/// Positives (B, d) and negatives (B, n, d) read from the index's vectors.
fn index_docs(docs: &[f32], d: usize, batch: &Batch, n: usize) -> Result<(Tensor, Tensor)> {
    let b = batch.positives.len();
    Ok((
        gather(docs, &batch.positives, d)?,
        gather(docs, &batch.negatives, d)?.reshape((b, n, d))?,
    ))
}

/// Rows of a row-major (N, d) matrix as a (rows, d) tensor.
fn gather(docs: &[f32], rows: &[u32], d: usize) -> Result<Tensor> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        out.extend_from_slice(&docs[r as usize * d..(r as usize + 1) * d]);
    }
    Ok(Tensor::from_vec(out, (rows.len(), d), &Device::Cpu)?)
}

/// Positives (B, d) and negatives (B, n, d) encoded from the index's texts.
fn encode_docs(
    encoder: &TextEncoder,
    tok: &TextTokenizer,
    texts: &[String],
    batch: &Batch,
    n: usize,
) -> Result<(Tensor, Tensor)> {
    let all: Vec<&str> = batch
        .positives
        .iter()
        .chain(&batch.negatives)
        .map(|&r| texts[r as usize].as_str())
        .collect();
    let vectors = encoder.forward(&tok.batch(&all, &Device::Cpu)?)?;
    let b = batch.positives.len();
    let d = vectors.dim(1)?;
    Ok((
        vectors.narrow(0, 0, b)?,
        vectors.narrow(0, b, b * n)?.reshape((b, n, d))?,
    ))
}

/// Scores of a batch's queries against its documents.
enum Scores {
    Hyper {
        qnets: QNetBatch,
        positives: Tensor,
        negatives: Tensor,
    },
    Dense {
        queries: Tensor,
        positives: Tensor,
        negatives: Tensor,
        scale: f64,
    },
}

impl Scores {
    /// Every query against every positive: (B, B).
    fn in_batch(&self) -> Result<Tensor> {
        Ok(match self {
            Scores::Hyper {
                qnets, positives, ..
            } => qnets.score_all(positives)?,
            Scores::Dense {
                queries,
                positives,
                scale,
                ..
            } => (queries.matmul(&positives.t()?)? * *scale)?,
        })
    }

    /// Each query against its own negatives: (B, n).
    fn negatives(&self) -> Result<Tensor> {
        Ok(match self {
            Scores::Hyper {
                qnets, negatives, ..
            } => qnets.score_per_query(negatives)?,
            Scores::Dense {
                queries,
                negatives,
                scale,
                ..
            } => {
                (queries
                    .unsqueeze(1)?
                    .matmul(&negatives.transpose(1, 2)?)?
                    .squeeze(1)?
                    * *scale)?
            }
        })
    }

    /// Each query against its own positive then negatives: (B, 1 + n).
    fn own(&self, n: usize) -> Result<Tensor> {
        let (positives, negatives) = match self {
            Scores::Hyper {
                positives,
                negatives,
                ..
            }
            | Scores::Dense {
                positives,
                negatives,
                ..
            } => (positives, negatives),
        };
        let docs = if n > 0 {
            Tensor::cat(&[&positives.unsqueeze(1)?, negatives], 1)?
        } else {
            positives.unsqueeze(1)?
        };
        Ok(match self {
            Scores::Hyper { qnets, .. } => qnets.score_per_query(&docs)?,
            Scores::Dense { queries, scale, .. } => {
                (queries
                    .unsqueeze(1)?
                    .matmul(&docs.transpose(1, 2)?)?
                    .squeeze(1)?
                    * *scale)?
            }
        })
    }
}

/// (B, B): a large negative where another query's positive is this
/// query's positive too (it is no negative), 0 elsewhere.
fn duplicate_mask(positives: &[u32]) -> Result<Tensor> {
    let b = positives.len();
    let mut m = vec![0f32; b * b];
    for i in 0..b {
        for j in 0..b {
            if i != j && positives[i] == positives[j] {
                m[i * b + j] = -1e9;
            }
        }
    }
    Ok(Tensor::from_vec(m, (b, b), &Device::Cpu)?)
}

/// Cached hidden states padded into (B, L, H) plus the (B, L) mask.
fn pad_hidden<'b>(
    rows: impl Iterator<Item = &'b (usize, Vec<f32>)> + Clone,
    h: usize,
) -> Result<(Tensor, Tensor)> {
    let b = rows.clone().count();
    let l = rows.clone().map(|r| r.0).max().unwrap_or(1).max(1);
    let mut states = vec![0f32; b * l * h];
    let mut mask = vec![0f32; b * l];
    for (i, (len, values)) in rows.enumerate() {
        states[i * l * h..i * l * h + len * h].copy_from_slice(values);
        mask[i * l..i * l + len].fill(1.0);
    }
    let dev = Device::Cpu;
    Ok((
        Tensor::from_vec(states, (b, l, h), &dev)?,
        Tensor::from_vec(mask, (b, l), &dev)?,
    ))
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

/// The newest complete `step-N` checkpoint under `root`.
fn latest_checkpoint(root: &Path) -> Result<Option<(PathBuf, TrainerState)>> {
    let mut best: Option<(u64, PathBuf)> = None;
    for (step, dir) in checkpoints(root)? {
        if best.as_ref().is_none_or(|b| step > b.0) {
            best = Some((step, dir));
        }
    }
    let Some((_, dir)) = best else {
        return Ok(None);
    };
    let file = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| io_error(&file, e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| io_error(&file, e))?;
    Ok(Some((dir, state)))
}

fn checkpoints(root: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error(root, e))?;
        let name = entry.file_name();
        if let Some(step) = name
            .to_str()
            .and_then(|n| n.strip_prefix("step-"))
            .and_then(|s| s.parse().ok())
        {
            if entry.path().join(STATE_FILE).is_file() {
                out.push((step, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Keeps the newest `keep` checkpoints (at least one).
fn prune_checkpoints(root: &Path, keep: usize) -> Result<()> {
    let all = checkpoints(root)?;
    let drop = all.len().saturating_sub(keep.max(1));
    for (_, dir) in &all[..drop] {
        std::fs::remove_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    Ok(())
}
