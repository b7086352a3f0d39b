//! `hypencoder serve`: a long-running search service over open indexes.
//!
//! Modules depend one way: `config`, `error` <- `api` (the JSON shapes with
//! their OpenAPI schemas, strict parsing; a search request embeds the
//! engine's `SearchParams`) <- `metrics` <- `batcher` (one worker per index
//! that encodes and scores whatever queries are waiting in one pass, on the
//! rayon pool) <- `catalog` (each index open through the engine, its
//! writer, reloads) <- `state` <- `handlers` (one file per resource:
//! search, documents, indexes, operations) <- `openapi` <- `layers` (key
//! check, metrics middleware), `page` <- `router`. tokio only moves bytes:
//! every model and index operation runs on the process's one rayon pool.

mod api;
mod batcher;
mod catalog;
mod config;
mod error;
mod handlers;
mod layers;
mod metrics;
mod openapi;
mod page;
mod router;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

pub use catalog::CatalogError;
pub use config::ServeConfig;
pub use openapi::openapi_json;

/// What can stop the service from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An index or its model cannot be opened.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The address cannot be bound, or the server failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A setting is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// A service with its indexes open and its socket bound, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: axum::Router,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Opens every index and loads its model, starts each index's batching
    /// worker, then binds `config.addr`: errors in any index come before the
    /// server listens.
    pub fn start(config: ServeConfig) -> Result<Self, ServeError> {
        if config.indexes.is_empty() {
            return Err(ServeError::Invalid("no index to serve".into()));
        }
        if config.max_batch == 0 || config.max_queue == 0 || config.max_k == 0 {
            return Err(ServeError::Invalid(
                "max_batch, max_queue and max_k must be at least 1".into(),
            ));
        }
        let metrics = Arc::new(metrics::Metrics::new());
        let catalog = catalog::Catalog::open(&config, Arc::clone(&metrics))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|source| ServeError::Io {
                what: "cannot start the async runtime".into(),
                source,
            })?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.addr))
            .map_err(|source| ServeError::Io {
                what: format!("cannot listen on {}", config.addr),
                source,
            })?;
        let app = router::router(Arc::new(state::AppState {
            catalog,
            metrics,
            config,
        }));
        Ok(Server {
            listener,
            app,
            runtime,
        })
    }

    /// The address bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then stops taking connections,
    /// finishes the requests in flight and returns.
    pub fn run_until<F>(self, shutdown: F) -> Result<(), ServeError>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Server {
            listener,
            app,
            runtime,
        } = self;
        runtime
            .block_on(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            })
            .map_err(|source| ServeError::Io {
                what: "the server failed".into(),
                source,
            })
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub fn run(self) -> Result<(), ServeError> {
        self.run_until(termination())
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
