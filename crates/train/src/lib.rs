//! Training Hypencoders and bi-encoders on the CPU: training data, the
//! paper's losses (cross-entropy over in-batch and hard negatives,
//! margin-MSE), AdamW, the loop with checkpoints and exact resumption, and
//! trained models written in the official folder layout.
//!
//! Three modes: `frozen` trains only the hyper-head over cached query hidden
//! states and document vectors read from an index (minutes on a CPU);
//! `query` trains the query transformer too, against the index's vectors;
//! `full` trains the one transformer for queries and documents, re-encoding
//! documents from the index's texts (the only mode for a bi-encoder).
//!
//! Modules, from the entry point down:
//!
//! - `trainer`: the loop (`train`).
//! - `event`: what a run reports (events, step reports, the summary).
//! - `validate`: settings and examples refused before any work.
//! - `setup`: the model under training for a kind and mode, its
//!   parameters, and writing it as a model folder.
//! - `batch`: each epoch's order and each step's drawn negatives.
//! - `forward`: a batch's scores per mode and the loss over them.
//! - `transformer`: a step's pass through a trainable transformer (the
//!   model crate's training pass, joined to candle's autograd).
//! - `resume`: `step-N` checkpoints: save (then prune, then report),
//!   find the newest, resume from it.
//! - `checkpoint`: one model folder in the official layout, atomically.
//! - `config` (settings), `data` (training JSONL), `init` (new
//!   hyper-heads), `loss` (the losses), `optim` (AdamW and the schedule),
//!   `error`.

mod batch;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
mod event;
mod forward;
pub mod init;
pub mod loss;
pub mod optim;
mod resume;
mod setup;
pub mod trainer;
mod transformer;
mod validate;

pub use config::{InitStyle, Kind, LossKind, Mode, TrainConfig};
pub use error::{Result, TrainError};
pub use trainer::{train, Event, StepReport, Summary};
