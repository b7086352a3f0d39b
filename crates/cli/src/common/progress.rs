//! Progress on stderr for long work: a bar with items/s and ETA on a
//! terminal, a line every half minute when stderr is a file or a pipe.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// How often a step's progress is logged when stderr is not a terminal
/// (a long build redirected to a file still tells how far it got).
const LOG_EVERY: Duration = Duration::from_secs(30);

/// The engine's progress, one step at a time: a bar on a terminal; on
/// anything else, a line when a step starts, every `LOG_EVERY` (done,
/// rate, ETA) and when it ends (its time), so logs keep each phase's time.
pub struct Bar {
    unit: &'static str,
    step: Mutex<Option<Step>>,
}

struct Step {
    name: &'static str,
    total: usize,
    started: Instant,
    /// Units already done when the step started (a resumed build).
    base: Option<usize>,
    done: usize,
    shown: Shown,
}

enum Shown {
    Bar(ProgressBar),
    Lines { logged: Instant },
}

impl Bar {
    /// No bar until a step starts; it counts documents.
    pub fn new() -> Self {
        Bar::counting("docs")
    }

    /// No bar until a step starts; it counts `unit`s.
    pub fn counting(unit: &'static str) -> Self {
        Bar {
            unit,
            step: Mutex::new(None),
        }
    }

    fn step(&self) -> std::sync::MutexGuard<'_, Option<Step>> {
        self.step.lock().expect("no panic holding the bar")
    }
}

impl Progress for Bar {
    fn start(&self, name: &'static str, total: usize) {
        let shown = if std::io::stderr().is_terminal() {
            let bar = if total == 0 {
                ProgressBar::new_spinner()
            } else {
                progress_bar(total)
            };
            bar.set_style(step_style(self.unit, total));
            bar.set_prefix(name);
            Shown::Bar(bar)
        } else {
            if total > 0 {
                eprintln!("{name}: {total} {}", self.unit);
            }
            Shown::Lines {
                logged: Instant::now(),
            }
        };
        *self.step() = Some(Step {
            name,
            total,
            started: Instant::now(),
            base: None,
            done: 0,
            shown,
        });
    }

    fn set(&self, done: usize) {
        let mut step = self.step();
        let Some(step) = step.as_mut() else { return };
        step.base.get_or_insert(done);
        step.done = done;
        match &mut step.shown {
            Shown::Bar(bar) => bar.set_position(done as u64),
            Shown::Lines { logged } if logged.elapsed() >= LOG_EVERY => {
                *logged = Instant::now();
                eprintln!("{}", step.line(self.unit));
            }
            Shown::Lines { .. } => {}
        }
    }

    fn finish(&self) {
        let Some(step) = self.step().take() else {
            return;
        };
        if let Shown::Bar(bar) = &step.shown {
            bar.finish_and_clear();
        } else {
            eprintln!("{}", step.ended(self.unit));
        }
    }
}

impl Step {
    /// Units per second since the step started (not counting resumed ones).
    fn rate(&self) -> f64 {
        let done = self.done - self.base.unwrap_or(0);
        done as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn line(&self, unit: &str) -> String {
        let rate = self.rate();
        let eta = (self.total.saturating_sub(self.done)) as f64 / rate.max(1e-9);
        format!(
            "{}: {}/{} {unit} ({:.1}%), {rate:.1} {unit}/s, ETA {}",
            self.name,
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64,
            clock(eta)
        )
    }

    fn ended(&self, unit: &str) -> String {
        let took = clock(self.started.elapsed().as_secs_f64());
        if self.total == 0 {
            format!("{}: done in {took}", self.name)
        } else {
            format!(
                "{}: done in {took} ({:.1} {unit}/s)",
                self.name,
                self.rate()
            )
        }
    }
}

/// A step's bar: its name, then the bar (a spinner for a step of no size).
fn step_style(unit: &str, total: usize) -> ProgressStyle {
    let template = if total == 0 {
        "{prefix} {spinner} {elapsed}".to_string()
    } else {
        format!("{{prefix}} {{bar:30}} {{pos}}/{{len}} {unit}  {{per_sec}}  ETA {{eta}}")
    };
    ProgressStyle::with_template(&template).expect("valid template")
}

/// Seconds as h:mm:ss.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
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
