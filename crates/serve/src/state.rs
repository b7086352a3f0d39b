//! What every handler shares.

use std::sync::Arc;

use axum::extract::State;

use crate::catalog::Catalog;
use crate::catalog::Slot;
use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The served indexes, the metrics and the settings.
pub struct AppState {
    pub catalog: Catalog,
    pub metrics: Arc<Metrics>,
    pub config: ServeConfig,
}

/// The state as handlers extract it.
pub type Shared = State<Arc<AppState>>;

impl AppState {
    /// The index served as `name`, or the 404 that says there is none.
    pub fn slot(&self, name: &str) -> Result<&Slot, ApiError> {
        self.catalog
            .get(name)
            .ok_or_else(|| ApiError::unknown_index(name))
    }
}
