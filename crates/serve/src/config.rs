//! What `serve` is told on its command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
