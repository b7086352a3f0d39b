//! Refusing a run that cannot succeed before any work is done: settings that
//! contradict each other, and training examples the settings cannot use.

use crate::config::{Kind, LossKind, Mode, TrainConfig};
use crate::data::Example;
use crate::error::{Result, TrainError};
use hypencoder_model::Activation;

/// Checks the settings on their own. Errors name settings by their
/// `TrainConfig` field (the keys of a config file), not by any command-line
/// flag: the caller knows how its users spell them.
pub(crate) fn check_config(c: &TrainConfig) -> Result<()> {
    let bad = |m: &str| Err(TrainError::Invalid(m.to_string()));
    if c.batch_size == 0 {
        return bad("`batch_size` must be at least 1");
    }
    if c.kind == Kind::BiEncoder && c.mode != Mode::Full {
        return bad("a bi-encoder (`kind` bi-encoder) trains only with `mode` full (one tower for queries and documents)");
    }
    if c.loss == LossKind::MarginMse && c.negatives == 0 {
        return bad("margin-mse needs at least one negative per query (`negatives`)");
    }
    if Activation::parse(&c.activation).is_none() {
        return Err(TrainError::Invalid(format!(
            "unknown `activation` '{}' (expected one of {})",
            c.activation,
            Activation::NAMES
        )));
    }
    if c.qnet_layers == 0 {
        return bad("the q-net needs at least one hidden layer (`qnet_layers`)");
    }
    if c.save_dtype == hypencoder_index::Dtype::Int8 {
        return bad("`save_dtype` int8 stores vectors, not weights: use f32, f16 or bf16");
    }
    Ok(())
}

/// Checks the examples against the settings and the index's size.
pub(crate) fn check_examples(c: &TrainConfig, examples: &[Example], docs: usize) -> Result<()> {
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
            "the index has {docs} documents, too few to draw {} negatives (`negatives`)",
            c.negatives
        )));
    }
    Ok(())
}
