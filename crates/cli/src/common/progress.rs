//! Progress on stderr for long work: items/s and ETA on a terminal, hidden
//! when stderr is piped.

use anyhow::Result;
use hypencoder_engine::{Model, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar's look, counting `unit`s (`docs`, `queries`).
pub fn progress_style(unit: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{bar:30}} {{pos}}/{{len}} {unit}  {{per_sec}}  ETA {{eta}}"
    ))
    .expect("valid template")
}

/// A bar over `total` documents.
pub fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(progress_style("docs"));
    bar
}

/// The engine's progress as a bar over documents (or another unit), one
/// per step.
pub struct Bar(std::sync::Mutex<Option<ProgressBar>>, &'static str);

impl Bar {
    /// No bar until a step starts; it counts documents.
    pub fn new() -> Self {
        Bar::counting("docs")
    }

    /// No bar until a step starts; it counts `unit`s.
    pub fn counting(unit: &'static str) -> Self {
        Bar(std::sync::Mutex::new(None), unit)
    }
}

impl Progress for Bar {
    fn start(&self, total: usize) {
        let bar = progress_bar(total);
        bar.set_style(progress_style(self.1));
        *self.0.lock().expect("no panic holding the bar") = Some(bar);
    }

    fn set(&self, done: usize) {
        if let Some(bar) = &*self.0.lock().expect("no panic holding the bar") {
            bar.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.lock().expect("no panic holding the bar").take() {
            bar.finish_and_clear();
        }
    }
}

/// Encodes documents in slices, advancing a progress bar.
pub fn encode_with_progress(
    model: &Model,
    texts: &[&str],
    batch_size: usize,
) -> Result<Vec<Vec<f32>>> {
    let progress = progress_bar(texts.len());
    let mut vectors = Vec::with_capacity(texts.len());
    for slice in texts.chunks(batch_size.max(1) * 32) {
        vectors.extend(model.encode_docs_batched(slice, batch_size)?);
        progress.inc(slice.len() as u64);
    }
    progress.finish_and_clear();
    Ok(vectors)
}
