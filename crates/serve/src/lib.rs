//! `hypencoder serve`: a long-running search service over open indexes.
//!
//! Modules depend one way: `error` <- `api` (the JSON shapes, their OpenAPI
//! schemas and their conversion to the library's [`SearchParams`]) <-
//! `catalog` (each index open with its model, reloadable) <- `batcher` (one
//! worker per index that encodes and scores whatever queries are waiting in
//! one pass, on the rayon pool) <- `routes` (axum handlers, auth, metrics
//! middleware, the OpenAPI document, the search page), with `metrics` (the
//! Prometheus registry) beside them. tokio only moves bytes: every model and
//! index operation runs on the process's one rayon pool.
//!
//! [`SearchParams`]: hypencoder_search::SearchParams

mod api;
mod batcher;
mod catalog;
mod error;
mod metrics;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use api::openapi_json;
pub use catalog::CatalogError;

/// Everything `serve` is told on its command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The indexes served, by name (names come only from here, never from a
    /// request).
    pub indexes: Vec<(String, PathBuf)>,
    /// Where to listen.
    pub addr: SocketAddr,
    /// Most queries encoded and scored together in one pass.
    pub max_batch: usize,
    /// How long a batch waits for more queries after its first.
    pub batch_wait: Duration,
    /// Most requests waiting per index before new ones get 503.
    pub max_queue: usize,
    /// A request not answered within this gets 504.
    pub timeout: Duration,
    /// Largest `k` a request may ask for.
    pub max_k: usize,
    /// Longest query, in characters.
    pub max_query_chars: usize,
    /// Most queries in one batch request.
    pub max_queries: usize,
    /// Largest request body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// When set, every endpoint but `/healthz` needs `Authorization: Bearer
    /// <key>`.
    pub api_key: Option<String>,
    /// Queries are truncated to this many tokens (`None`: the model's
    /// setting).
    pub query_max_length: Option<usize>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            indexes: Vec::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_batch: 64,
            batch_wait: Duration::ZERO,
            max_queue: 1024,
            timeout: Duration::from_secs(30),
            max_k: 1000,
            max_query_chars: 4096,
            max_queries: 1024,
            max_body_bytes: 1 << 20,
            api_key: None,
            query_max_length: None,
        }
    }
}

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
        let app = routes::router(Arc::new(routes::AppState {
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
