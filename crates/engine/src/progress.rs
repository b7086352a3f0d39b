//! How long work reports how far it got, to whatever a front end shows
//! (a bar on a terminal, nothing in a server).

/// Told about one long step: its size, then how much is done.
pub trait Progress: Sync {
    /// A step of `total` units starts.
    fn start(&self, _total: usize) {}
    /// `done` units of the step are finished.
    fn set(&self, _done: usize) {}
    /// The step ended.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {}
