//! The training loop and what it tells its caller: the schedule, then step
//! after step (draw a batch, loss, gradients, clipping, AdamW) with
//! checkpoints as the settings say, and the trained model written at the
//! end. Building the model is `setup`, a step's data `batch`, its loss
//! `forward`, checkpoints and resuming `resume`.

use std::collections::HashMap;
use std::time::Instant;

use hypencoder_index::Segment;

use crate::batch::{epoch_order, Batch};
use crate::checkpoint;
use crate::config::TrainConfig;
use crate::data::{read_examples, Example};
use crate::error::{Result, TrainError};
pub use crate::event::{Event, StepReport, Summary};
use crate::loss;
use crate::optim::{linear_schedule, AdamW, AdamWConfig};
use crate::resume::Checkpoints;
use crate::setup::Setup;
use crate::validate::{check_config, check_examples};

/// Trains as `config` says, resuming from its latest checkpoint if one was
/// made under the same settings. `on` hears every event; returning false
/// after a step stops there with a checkpoint (resumable), and the summary
/// says `finished: false`.
pub fn train(config: &TrainConfig, on: &mut dyn FnMut(&Event) -> bool) -> Result<Summary> {
    let started = Instant::now();
    check_config(config)?;
    on(&Event::Stage("reading the index and training data"));
    let index = Segment::open(&config.index)?;
    let examples = read_index_examples(config, &index)?;
    let setup = Setup::new(config, &index, &examples, on)?;
    let plan = Plan::new(config, examples.len())?;
    let mut optimizer = AdamW::new(
        setup.params.clone(),
        AdamWConfig {
            lr: config.lr(),
            weight_decay: config.weight_decay,
            ..Default::default()
        },
    )?;
    let checkpoints = Checkpoints::new(config, plan.total);
    let step = checkpoints.start(&setup, &mut optimizer, &index, on)?;
    let run = Run {
        setup: &setup,
        plan,
        optimizer,
        checkpoints,
        num_docs: index.len(),
        losses: Vec::new(),
        prepare_seconds: started.elapsed().as_secs_f64(),
        train_start: Instant::now(),
    };
    run.go(step, on)
}

/// The training examples, their document ids resolved to `index` rows and
/// checked against the settings.
fn read_index_examples(config: &TrainConfig, index: &Segment) -> Result<Vec<Example>> {
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
    Ok(examples)
}

/// How many steps the run takes and how the learning rate moves.
struct Plan {
    steps_per_epoch: u64,
    total: u64,
    warmup: u64,
}

impl Plan {
    fn new(config: &TrainConfig, examples: usize) -> Result<Self> {
        let steps_per_epoch = (examples / config.batch_size) as u64;
        if steps_per_epoch == 0 {
            return Err(TrainError::Invalid(format!(
                "{} training examples make no full batch of {} (`batch_size`)",
                examples, config.batch_size
            )));
        }
        let total = config
            .max_steps
            .unwrap_or_else(|| (config.epochs * steps_per_epoch as f64).ceil() as u64)
            .max(1);
        let warmup = config.warmup_steps.unwrap_or(total / 20);
        Ok(Plan {
            steps_per_epoch,
            total,
            warmup,
        })
    }
}

/// The stepping part of a run, after preparation.
struct Run<'s> {
    setup: &'s Setup<'s>,
    plan: Plan,
    optimizer: AdamW,
    checkpoints: Checkpoints,
    /// Documents in the index (random negatives are drawn among them).
    num_docs: usize,
    /// Losses of the steps done in this process.
    losses: Vec<f64>,
    prepare_seconds: f64,
    train_start: Instant,
}

impl Run<'_> {
    /// Steps on from `step` to the end, or until `on` says stop.
    fn go(mut self, mut step: u64, on: &mut dyn FnMut(&Event) -> bool) -> Result<Summary> {
        let config = self.setup.config;
        let total = self.plan.total;
        let mut order_epoch = u64::MAX;
        let mut order: Vec<usize> = Vec::new();
        while step < total {
            let epoch = step / self.plan.steps_per_epoch;
            if epoch != order_epoch {
                order = epoch_order(self.setup.examples.len(), config.seed, epoch);
                order_epoch = epoch;
            }
            let at = (step % self.plan.steps_per_epoch) as usize * config.batch_size;
            let ids = &order[at..at + config.batch_size];
            let batch = Batch::draw(config, self.setup.examples, ids, epoch, self.num_docs);
            let (value, lr) = self.step(&batch, step)?;
            step += 1;
            if !value.is_finite() {
                return Err(TrainError::Invalid(format!(
                    "the loss became {value} at step {step}; lower the learning rate (`lr`)"
                )));
            }
            self.losses.push(value);
            let go_on = on(&Event::Step(&StepReport {
                step,
                total,
                loss: value,
                lr,
                elapsed: self.train_start.elapsed().as_secs_f64(),
                steps_here: self.losses.len() as u64,
            }));
            if !go_on && step < total {
                self.checkpoints
                    .save(self.setup, &self.optimizer, step, on)?;
                return Ok(self.summary(step, false));
            }
            if config.save_every > 0 && step.is_multiple_of(config.save_every) && step < total {
                self.checkpoints
                    .save(self.setup, &self.optimizer, step, on)?;
            }
        }
        self.setup.save_model(&config.output, config.save_dtype)?;
        self.checkpoints
            .save(self.setup, &self.optimizer, step, on)?;
        let summary = self.summary(step, true);
        checkpoint::write_json(
            &config.output.join("training.json"),
            &serde_json::json!({"config": config, "summary": summary}),
        )?;
        Ok(summary)
    }

    /// One optimizer step on `batch` (step `step`, 0-based): returns its
    /// loss and learning rate.
    fn step(&mut self, batch: &Batch, step: u64) -> Result<(f64, f64)> {
        let config = self.setup.config;
        let (loss, grads) = self.setup.gradients(batch)?;
        let norm = self.optimizer.grad_norm(&grads)?;
        let scale = if config.max_grad_norm > 0.0 && norm > config.max_grad_norm {
            config.max_grad_norm / norm
        } else {
            1.0
        };
        let lr = linear_schedule(step, self.plan.warmup, self.plan.total, config.lr());
        self.optimizer.step(&grads, lr, scale)?;
        Ok((loss::value(&loss)?, lr))
    }

    fn summary(&self, steps: u64, finished: bool) -> Summary {
        let losses = &self.losses;
        let tail = (losses.len() / 20).max(1);
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        Summary {
            steps,
            examples: self.setup.examples.len(),
            steps_here: losses.len() as u64,
            first_loss: mean(&losses[..tail.min(losses.len())]),
            last_loss: mean(&losses[losses.len().saturating_sub(tail)..]),
            prepare_seconds: self.prepare_seconds,
            train_seconds: self.train_start.elapsed().as_secs_f64(),
            output: self.setup.config.output.clone(),
            finished,
        }
    }
}
