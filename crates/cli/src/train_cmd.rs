//! `hypencoder train` and `hypencoder mine`: flags (or a JSON config file)
//! to `hypencoder_train::train`, and hard negatives from our own search.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use hypencoder_eval::Qrels;
use hypencoder_index::Index;
use hypencoder_model::LoadOptions;
use hypencoder_search::exhaustive;
use hypencoder_train::data::select_negatives;
use hypencoder_train::{train, Event, InitStyle, Kind, LossKind, Mode, TrainConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::input::{read_jsonl, unique_ids, Fields};
use crate::search_cmd::{index_model, scorer_for};

#[derive(Args)]
pub struct TrainArgs {
    /// JSON file of settings (field names as these flags, with underscores:
    /// {"base": ..., "qnet_layers": 2, ...}); flags given here override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Base model folder (BERT or sentence-transformers).
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// What the checkpoint's model_name_or_path says [default: the base's
    /// path relative to the checkpoint].
    #[arg(long, value_name = "NAME")]
    pub base_name: Option<String>,
    /// Training examples, JSONL (see `hypencoder mine`).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Index the examples' document ids refer to (vectors for --mode frozen,
    /// texts for --mode full).
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Folder for the trained model.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Start from this checkpoint's weights where names and shapes match.
    #[arg(long, value_name = "DIR")]
    pub init_from: Option<PathBuf>,
    /// Folder for periodic checkpoints [default: OUTPUT/checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// hypencoder or bi-encoder [default: hypencoder].
    #[arg(long, value_parser = ["hypencoder", "bi-encoder"])]
    pub kind: Option<String>,
    /// frozen (hyper-head only), query (query transformer too; documents
    /// keep the index's vectors) or full (one shared transformer, documents
    /// re-encoded) [default: frozen].
    #[arg(long, value_parser = ["frozen", "query", "full"])]
    pub mode: Option<String>,
    /// How a new hyper-head starts: bi-encoder (scores like the base's
    /// mean-pooled similarity) or official (random q-nets) [default: bi-encoder].
    #[arg(long, value_parser = ["bi-encoder", "official"])]
    pub init: Option<String>,
    /// Hidden layers of the q-net [default: 2].
    #[arg(long, value_name = "N")]
    pub qnet_layers: Option<usize>,
    /// q-net activation [default: relu].
    #[arg(long, value_name = "NAME")]
    pub activation: Option<String>,
    /// cross-entropy or margin-mse [default: cross-entropy].
    #[arg(long, value_parser = ["cross-entropy", "margin-mse"])]
    pub loss: Option<String>,
    /// Queries per step [default: 32].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Hard negatives per query per step [default: 7].
    #[arg(long, value_name = "N")]
    pub negatives: Option<usize>,
    /// Do not use other queries' positives as negatives.
    #[arg(long)]
    pub no_in_batch_negatives: bool,
    /// Passes over the data [default: 1].
    #[arg(long, value_name = "X")]
    pub epochs: Option<f64>,
    /// Stop after this many steps.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
    /// Peak learning rate [default: 1e-5 frozen, 2e-5 query and full].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// AdamW weight decay [default: 0.01].
    #[arg(long, value_name = "X")]
    pub weight_decay: Option<f64>,
    /// Warm-up steps [default: 5% of all].
    #[arg(long, value_name = "N")]
    pub warmup_steps: Option<u64>,
    /// Seed for initial weights, data order and negatives [default: 42].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Checkpoint every N steps [default: 500].
    #[arg(long, value_name = "N")]
    pub save_every: Option<u64>,
    /// End this session after step N with a checkpoint (the schedule still
    /// follows --epochs/--max-steps; rerun the command to resume).
    #[arg(long, value_name = "N")]
    pub stop_after: Option<u64>,
    /// Query truncation [default: 64].
    #[arg(long, value_name = "N")]
    pub query_max_length: Option<usize>,
    /// Document truncation in full mode [default: 256].
    #[arg(long, value_name = "N")]
    pub doc_max_length: Option<usize>,
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig> {
        let mut c = match &self.config {
            Some(file) => TrainConfig::from_file(file)?,
            None => TrainConfig::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { c.$field = v.clone(); } )* };
        }
        set!(
            base,
            data,
            index,
            output,
            qnet_layers,
            activation,
            batch_size,
            negatives,
            epochs,
            weight_decay,
            seed,
            save_every,
            query_max_length,
            doc_max_length
        );
        macro_rules! set_opt {
            ($($field:ident),*) => { $( if self.$field.is_some() { c.$field = self.$field.clone(); } )* };
        }
        set_opt!(
            base_name,
            init_from,
            checkpoint_dir,
            max_steps,
            lr,
            warmup_steps
        );
        if self.no_in_batch_negatives {
            c.in_batch_negatives = false;
        }
        if let Some(k) = &self.kind {
            c.kind = if k == "hypencoder" {
                Kind::Hypencoder
            } else {
                Kind::BiEncoder
            };
        }
        if let Some(m) = &self.mode {
            c.mode = match m.as_str() {
                "frozen" => Mode::Frozen,
                "query" => Mode::Query,
                _ => Mode::Full,
            };
        }
        if let Some(i) = &self.init {
            c.init = if i == "official" {
                InitStyle::Official
            } else {
                InitStyle::BiEncoder
            };
        }
        if let Some(l) = &self.loss {
            c.loss = if l == "cross-entropy" {
                LossKind::CrossEntropy
            } else {
                LossKind::MarginMse
            };
        }
        for (name, empty) in [
            ("--base", c.base.as_os_str().is_empty()),
            ("--data", c.data.as_os_str().is_empty()),
            ("--index", c.index.as_os_str().is_empty()),
            ("--output", c.output.as_os_str().is_empty()),
        ] {
            if empty {
                bail!("{name} is required (as a flag or in --config)");
            }
        }
        Ok(c)
    }
}

pub fn run_train(args: &TrainArgs) -> Result<()> {
    let config = args.config()?;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let log_every = 50;
    let mut window: Vec<f64> = Vec::new();
    let mut report = |event: &Event| match event {
        Event::Stage(what) => eprintln!("{what} ..."),
        Event::Caching { done, total } => {
            if bar.length() != Some(*total as u64) {
                bar.set_length(*total as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} queries  {per_sec}  ETA {eta}",
                    )
                    .expect("valid template"),
                );
            }
            bar.set_position(*done as u64);
            if done == total {
                bar.finish_and_clear();
            }
        }
        Event::Resumed { step, from } => {
            eprintln!("resuming at step {step} from {}", from.display())
        }
        Event::Step(r) => {
            window.push(r.loss);
            if r.step % log_every == 0 || r.step == r.total {
                let rate = r.steps_here as f64 / r.elapsed.max(1e-9);
                let eta = (r.total - r.step) as f64 / rate.max(1e-9);
                let mean = window.iter().sum::<f64>() / window.len() as f64;
                eprintln!(
                    "step {}/{}  loss {:.4} (mean of last {})  lr {:.2e}  {:.2} steps/s  ETA {}",
                    r.step,
                    r.total,
                    mean,
                    window.len(),
                    r.lr,
                    rate,
                    clock(eta)
                );
                window.clear();
            }
        }
        Event::Saved { step, dir } => eprintln!("step {step}: checkpoint {}", dir.display()),
    };
    let stop_after = args.stop_after;
    let summary = train(&config, &mut |event| {
        report(event);
        !matches!(event, Event::Step(r) if Some(r.step) == stop_after)
    })?;
    if !summary.finished {
        eprintln!(
            "stopped after step {} as asked (--stop-after); the newest checkpoint is in {}; \
             rerun the command without --stop-after to finish",
            summary.steps,
            config.checkpoint_dir().display()
        );
        return Ok(());
    }
    eprintln!(
        "trained {} steps on {} examples in {} (+{} preparing); loss {:.4} -> {:.4}; model in {}",
        summary.steps,
        summary.examples,
        clock(summary.train_seconds),
        clock(summary.prepare_seconds),
        summary.first_loss,
        summary.last_loss,
        summary.output.display()
    );
    Ok(())
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[derive(Args)]
pub struct MineArgs {
    /// Index to search (with the model it was built with).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Queries, JSONL with id and text.
    #[arg(long, value_name = "FILE")]
    pub queries: PathBuf,
    /// Which documents are relevant (TREC qrels; relevance > 0 counts).
    #[arg(long, value_name = "FILE")]
    pub qrels: PathBuf,
    /// Training examples written here (JSONL).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Negatives kept per query, hardest first.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub negatives: usize,
    /// Skip this many of the top non-relevant hits (likely unjudged positives).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skip: usize,
    /// Model folder, if the index's has moved.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Queries encoded and searched together.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub query_batch: usize,
}

#[derive(serde::Serialize)]
struct MinedExample<'a> {
    query_id: &'a str,
    query: &'a str,
    positives: Vec<&'a str>,
    negatives: Vec<String>,
}

pub fn run_mine(args: &MineArgs) -> Result<()> {
    let index = Index::open(&args.index)?;
    let qrels = Qrels::read(&args.qrels)?;
    let fields = Fields {
        id: "id",
        text: "text",
        require_id: true,
    };
    let records = read_jsonl(&args.queries, &fields)?;
    let qids = unique_ids(&records, &args.queries)?;
    let model = index_model(&index, args.model.as_deref(), &LoadOptions::default())?;
    let in_index: std::collections::HashSet<&str> = (0..index.len())
        .map(|i| index.id(i))
        .collect::<std::result::Result<_, _>>()?;

    let mut unjudged = 0usize;
    let mut work: Vec<(usize, Vec<&str>)> = Vec::new();
    for (i, qid) in qids.iter().enumerate() {
        let positives: Vec<&str> = qrels
            .judgments(qid)
            .map(|j| {
                let mut p: Vec<&str> = j
                    .iter()
                    .filter(|(_, &r)| r > 0)
                    .map(|(d, _)| d.as_str())
                    .collect();
                p.sort();
                p
            })
            .unwrap_or_default();
        if positives.is_empty() {
            unjudged += 1;
            continue;
        }
        if let Some(d) = positives.iter().find(|d| !in_index.contains(*d)) {
            bail!(
                "{}: query {qid}'s relevant document {d} is not in {}",
                args.qrels.display(),
                index.dir().display()
            );
        }
        work.push((i, positives));
    }
    let tmp = args.output.with_extension("jsonl.partial");
    let mut out = BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    let bar = crate::progress_bar(work.len());
    let started = Instant::now();
    let depth = args.negatives + args.skip + 8;
    for chunk in work.chunks(args.query_batch.max(1)) {
        let texts: Vec<&str> = chunk
            .iter()
            .map(|(i, _)| records[*i].text.as_str())
            .collect();
        let reps = model.encode_queries(&texts)?;
        let depth_here = depth + chunk.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
        let hits = exhaustive(
            index.vectors(),
            scorer_for(reps, model.dim())?.as_ref(),
            depth_here,
        );
        for ((i, positives), hits) in chunk.iter().zip(hits) {
            let ranked = hits
                .iter()
                .map(|h| index.id(h.doc as usize))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let example = MinedExample {
                query_id: &qids[*i],
                query: &records[*i].text,
                negatives: select_negatives(ranked, positives, args.skip, args.negatives),
                positives: positives.clone(),
            };
            serde_json::to_writer(&mut out, &example)?;
            writeln!(out)?;
        }
        bar.inc(chunk.len() as u64);
    }
    out.flush()?;
    drop(out);
    bar.finish_and_clear();
    std::fs::rename(&tmp, &args.output)?;
    eprintln!(
        "mined {} examples into {} in {:.0} s; {} queries have no relevant document in {} and were left out",
        work.len(),
        args.output.display(),
        started.elapsed().as_secs_f64(),
        unjudged,
        args.qrels.display(),
    );
    Ok(())
}
