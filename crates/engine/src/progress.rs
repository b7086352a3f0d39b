//! How long work reports how far it got, to whatever a front end shows
//! (a bar on a terminal, nothing in a server).

/// Told about one long step: its name and size, then how much is done.
pub trait Progress: Sync {
    /// The step `step` (`encode`, `write`, `graph`, ...) of `total` units
    /// starts; a step of 0 units has no measure of its own.
    fn start(&self, _step: &'static str, _total: usize) {}
    /// `done` units of the step are finished.
    fn set(&self, _done: usize) {}
    /// The step ended.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {}
