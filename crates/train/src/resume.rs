//! The run's checkpoints, for resuming: `step-N/` folders under the
//! checkpoint folder, each a model folder (`checkpoint`) plus the
//! optimizer's moments (`optimizer.safetensors`) and the step and settings
//! (`trainer_state.json`).
//!
//! A folder is written as `.step-N.partial` and renamed into place, so a
//! `step-N` holding a state file is complete. A run resumes from the newest
//! one, and only if it was made under the same training settings.

use std::path::{Path, PathBuf};

use candle_core::Device;
use hypencoder_index::{Dtype, Segment};

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::error::{io_error, Result, TrainError};
use crate::event::Event;
use crate::optim::AdamW;
use crate::setup::Setup;

const STATE_FILE: &str = "trainer_state.json";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// What `trainer_state.json` holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct TrainerState {
    step: u64,
    total_steps: u64,
    /// `TrainConfig::training_key` of the run that wrote it.
    training_key: String,
}

/// A run's checkpoint folder.
pub(crate) struct Checkpoints {
    root: PathBuf,
    /// Checkpoints kept after each save (at least one).
    keep: usize,
    total_steps: u64,
    training_key: String,
}

impl Checkpoints {
    /// The checkpoints of a run of `total_steps` under `config`.
    pub(crate) fn new(config: &TrainConfig, total_steps: u64) -> Self {
        Checkpoints {
            root: config.checkpoint_dir(),
            keep: config.keep_checkpoints,
            total_steps,
            training_key: config.training_key(),
        }
    }

    /// Where the run starts: the newest checkpoint's step, with the model
    /// and `optimizer` restored from it, or, with none, step 0 after
    /// writing the untrained model as `step-0` (which proves the folder
    /// loads and that the index holds this model's document vectors).
    pub(crate) fn start(
        &self,
        setup: &Setup,
        optimizer: &mut AdamW,
        index: &Segment,
        on: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<u64> {
        if let Some((dir, state)) = latest_checkpoint(&self.root)? {
            if state.training_key != self.training_key {
                return Err(TrainError::Invalid(format!(
                    "{} was made with other training settings; resume with the same ones, or \
                     delete it (or choose another `output`) to start over",
                    dir.display()
                )));
            }
            setup.load_weights(&dir)?;
            let file = dir.join(OPTIMIZER_FILE);
            let opt = candle_core::safetensors::load(&file, &Device::Cpu)
                .map_err(|e| io_error(&file, e))?;
            optimizer.load_state(&opt, state.step)?;
            on(&Event::Resumed {
                step: state.step,
                from: &dir,
            });
            return Ok(state.step);
        }
        let dir = self.write(setup, optimizer, 0)?;
        if let Err(e) = setup.check_index_matches(&dir, index) {
            // Leave nothing a corrected rerun would try to resume.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(0)
    }

    /// Saves `step-N`, deletes all but the newest `keep`, and tells `on`.
    pub(crate) fn save(
        &self,
        setup: &Setup,
        optimizer: &AdamW,
        step: u64,
        on: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<()> {
        let dir = self.write(setup, optimizer, step)?;
        prune_checkpoints(&self.root, self.keep)?;
        on(&Event::Saved { step, dir: &dir });
        Ok(())
    }

    /// `step-N/`: the model, optimizer moments and step, written aside and
    /// renamed into place.
    fn write(&self, setup: &Setup, optimizer: &AdamW, step: u64) -> Result<PathBuf> {
        let dir = self.root.join(format!("step-{step}"));
        let partial = self.root.join(format!(".step-{step}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| io_error(&partial, e))?;
        }
        // `.step-N.partial` sits beside `step-N`: a relative base path
        // written for one is right for the other.
        std::fs::create_dir_all(&partial).map_err(|e| io_error(&partial, e))?;
        setup.save_model(&partial, Dtype::F32)?;
        checkpoint::save_tensors(&partial.join(OPTIMIZER_FILE), &optimizer.state())?;
        let state = TrainerState {
            step,
            total_steps: self.total_steps,
            training_key: self.training_key.clone(),
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

/// Complete `step-N` folders under `root` (none if it does not exist), by step.
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
