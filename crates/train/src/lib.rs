//! Training Hypencoders and bi-encoders on the CPU: training data, the
//! paper's losses (cross-entropy over in-batch and hard negatives,
//! margin-MSE), AdamW, the loop with checkpoints and exact resumption, and
//! checkpoint folders in the official layout.
//!
//! Two modes: `frozen` trains only the hyper-head over cached query hidden
//! states and document vectors read from an index (minutes on a CPU);
//! `full` trains the transformer too, re-encoding documents from the
//! index's texts.

mod batch;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
mod forward;
pub mod init;
pub mod loss;
pub mod optim;
mod resume;
mod setup;
pub mod trainer;
mod validate;

pub use config::{InitStyle, Kind, LossKind, Mode, TrainConfig};
pub use error::{Result, TrainError};
pub use trainer::{train, Event, StepReport, Summary};
