//! `hypencoder train`: flags (or a JSON config file) to
//! `hypencoder_train::train`, with progress and loss on stderr.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use hypencoder_train::{train, Event, TrainConfig, TrainError};
use indicatif::{ProgressBar, ProgressDrawTarget};

use hypencoder_engine::single_segment;

use crate::common::{
    clock, progress_style, Hinted, InitArg, KindArg, LossArg, TrainModeArg, WeightDtypeArg,
};

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
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// frozen (hyper-head only), query (query transformer too; documents
    /// keep the index's vectors) or full (one shared transformer, documents
    /// re-encoded) [default: frozen].
    #[arg(long, value_enum)]
    pub mode: Option<TrainModeArg>,
    /// How a new hyper-head starts: bi-encoder (scores like the base's
    /// mean-pooled similarity) or official (random q-nets) [default: bi-encoder].
    #[arg(long, value_enum)]
    pub init: Option<InitArg>,
    /// Hidden layers of the q-net [default: 2].
    #[arg(long, value_name = "N")]
    pub qnet_layers: Option<usize>,
    /// q-net activation [default: relu].
    #[arg(long, value_name = "NAME")]
    pub activation: Option<String>,
    /// cross-entropy or margin-mse [default: cross-entropy].
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
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
    /// How the final model's weights are stored: f32, or f16 (half the
    /// size; checkpoints stay f32) [default: f32].
    #[arg(long, value_enum)]
    pub save_dtype: Option<WeightDtypeArg>,
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
        if let Some(kind) = self.kind {
            c.kind = kind.into();
        }
        if let Some(mode) = self.mode {
            c.mode = mode.into();
        }
        if let Some(init) = self.init {
            c.init = init.into();
        }
        if let Some(loss) = self.loss {
            c.loss = loss.into();
        }
        if let Some(dtype) = self.save_dtype {
            c.save_dtype = dtype.into();
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

pub fn run(args: &TrainArgs) -> Result<()> {
    let mut config = args.config()?;
    // Training reads one segment's vectors: a live index of one segment
    // (after `optimize`) is read through that segment's folder.
    config.index = single_segment(&config.index).hinted()?;
    let mut progress = Progress::new();
    let stop_after = args.stop_after;
    let summary = train(&config, &mut |event| {
        progress.report(event);
        !matches!(event, Event::Step(r) if Some(r.step) == stop_after)
    })
    .map_err(flag_hint)?;
    if !summary.finished {
        eprintln!(
            "stopped after step {} as asked (--stop-after); the newest checkpoint is in {}; \
             rerun the command without --stop-after to finish",
            summary.steps,
            config.checkpoint_dir().display()
        );
        return Ok(());
    }
    if summary.steps_here == 0 {
        eprintln!(
            "nothing left to train: the run was done at step {} ({}); model written to {}",
            summary.steps,
            config.checkpoint_dir().display(),
            summary.output.display()
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

/// The training library names a setting by its config field (`lr`); here
/// each is also a flag (`--lr`), so errors about the settings say so.
fn flag_hint(err: TrainError) -> anyhow::Error {
    let about_settings = matches!(err, TrainError::Invalid(_));
    let err = anyhow::Error::from(err);
    if about_settings {
        err.context(
            "check the training settings (flags, or fields of --config: \
             a field such as qnet_layers is the flag --qnet-layers)",
        )
    } else {
        err
    }
}

/// Training's progress on stderr: a bar while query states are cached,
/// then the mean loss, learning rate, speed and ETA every `LOG_EVERY` steps.
struct Progress {
    bar: ProgressBar,
    /// Losses since the last line.
    window: Vec<f64>,
}

/// Steps between loss lines.
const LOG_EVERY: u64 = 50;

impl Progress {
    fn new() -> Self {
        Progress {
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            window: Vec::new(),
        }
    }

    fn report(&mut self, event: &Event) {
        match event {
            Event::Stage(what) => eprintln!("{what} ..."),
            Event::Caching { done, total } => {
                if self.bar.length() != Some(*total as u64) {
                    self.bar.set_length(*total as u64);
                    self.bar.set_style(progress_style("queries"));
                }
                self.bar.set_position(*done as u64);
                if done == total {
                    self.bar.finish_and_clear();
                }
            }
            Event::Resumed { step, from } => {
                eprintln!("resuming at step {step} from {}", from.display())
            }
            Event::Step(r) => {
                self.window.push(r.loss);
                if r.step % LOG_EVERY == 0 || r.step == r.total {
                    let rate = r.steps_here as f64 / r.elapsed.max(1e-9);
                    let eta = (r.total - r.step) as f64 / rate.max(1e-9);
                    let mean = self.window.iter().sum::<f64>() / self.window.len() as f64;
                    eprintln!(
                        "step {}/{}  loss {:.4} (mean of last {})  lr {:.2e}  {:.2} steps/s  ETA {}",
                        r.step,
                        r.total,
                        mean,
                        self.window.len(),
                        r.lr,
                        rate,
                        clock(eta)
                    );
                    self.window.clear();
                }
            }
            Event::Saved { step, dir } => eprintln!("step {step}: checkpoint {}", dir.display()),
        }
    }
}
