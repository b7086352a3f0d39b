//! What a training run tells its caller: events as it goes, a report per
//! step, the summary at the end. Below every other module of the loop, so
//! `setup` and `resume` can report without depending on the loop.

use std::path::{Path, PathBuf};

/// What the trainer reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A preparation stage begins.
    Stage(&'a str),
    /// Query hidden states cached so far (frozen mode).
    Caching {
        /// Examples whose query is cached.
        done: usize,
        /// All examples.
        total: usize,
    },
    /// The run goes on from a checkpoint.
    Resumed {
        /// Steps the checkpoint had done.
        step: u64,
        /// The checkpoint's folder.
        from: &'a Path,
    },
    /// A step is done.
    Step(&'a StepReport),
    /// A checkpoint was written.
    Saved {
        /// Steps done when it was written.
        step: u64,
        /// The checkpoint's folder.
        dir: &'a Path,
    },
}

/// One finished step, as reported to the caller.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Steps done (1-based).
    pub step: u64,
    /// Steps the run will take in all.
    pub total: u64,
    /// The step's loss.
    pub loss: f64,
    /// The learning rate the step used.
    pub lr: f64,
    /// Seconds spent on steps in this process.
    pub elapsed: f64,
    /// Steps done in this process.
    pub steps_here: u64,
}

/// The result of a finished run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Steps done (in all, counting those before a resume).
    pub steps: u64,
    /// Training examples read.
    pub examples: usize,
    /// Steps done in this process (0 when a finished run was resumed at
    /// its end, which only writes the model).
    pub steps_here: u64,
    /// Mean loss over the first and the last 5% of steps (of this process;
    /// 0 when it did none).
    pub first_loss: f64,
    /// See `first_loss`.
    pub last_loss: f64,
    /// Seconds: preparing (caching) and stepping, in this process.
    pub prepare_seconds: f64,
    /// See `prepare_seconds`.
    pub train_seconds: f64,
    /// The trained model's folder.
    pub output: PathBuf,
    /// False when `on` stopped the run early (no final model written).
    pub finished: bool,
}
