//! `hypencoder serve`: serve indexes over HTTP (a JSON API, a search page,
//! metrics) until SIGTERM or Ctrl-C; see the `hypencoder-serve` crate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use hypencoder_serve::{ServeConfig, Server};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// An index to serve, as NAME=DIR or DIR (named after its folder).
    /// Repeat for several.
    #[arg(long, value_name = "[NAME=]DIR", required = true)]
    pub index: Vec<String>,
    /// Address to listen on (loopback unless told otherwise; port 0 picks
    /// a free one).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Most queries encoded and scored together in one pass.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_batch: usize,
    /// How long a batch waits for more queries after its first (0: take
    /// only what is already waiting; batches still grow under load).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub batch_wait_ms: u64,
    /// Requests waiting per index before new ones get 503 (Retry-After).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_queue: usize,
    /// A request not answered within this gets 504.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Largest k a request may ask for.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_k: usize,
    /// Longest query, in characters.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_query_chars: usize,
    /// Most queries in one batch request.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_queries: usize,
    /// Largest request body in bytes (413 above).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Require `Authorization: Bearer KEY` on every endpoint but /healthz.
    #[arg(
        long,
        value_name = "KEY",
        env = "HYPENCODER_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Queries are truncated to this many tokens [default: the model's].
    #[arg(long, value_name = "N")]
    pub query_max_length: Option<usize>,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let indexes = args
        .index
        .iter()
        .map(|spec| named_index(spec))
        .collect::<Result<Vec<_>>>()?;
    let config = ServeConfig {
        indexes,
        addr: args.addr,
        max_batch: args.max_batch,
        batch_wait: Duration::from_millis(args.batch_wait_ms),
        max_queue: args.max_queue,
        timeout: Duration::from_millis(args.timeout_ms),
        max_k: args.max_k,
        max_query_chars: args.max_query_chars,
        max_queries: args.max_queries,
        max_body_bytes: args.max_body_bytes,
        api_key: args.api_key.clone().filter(|k| !k.is_empty()),
        query_max_length: args.query_max_length,
    };
    let names: Vec<String> = config.indexes.iter().map(|(n, _)| n.clone()).collect();
    eprintln!("loading {} ...", names.join(", "));
    let server = Server::start(config)?;
    let url = format!("http://{}", server.local_addr());
    // stdout, flushed: scripts and tests read the address from here.
    println!("listening on {url}");
    eprintln!(
        "search page: {url}/   API: {url}/v1/indexes/{}/search   OpenAPI: {url}/openapi.json",
        names[0]
    );
    server.run()?;
    eprintln!("stopped");
    Ok(())
}

/// `NAME=DIR`, or `DIR` named after its last component.
fn named_index(spec: &str) -> Result<(String, PathBuf)> {
    let (name, dir) = match spec.split_once('=') {
        Some((name, dir)) => (name.to_string(), PathBuf::from(dir)),
        None => {
            let dir = PathBuf::from(spec);
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, dir)
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || !name.chars().all(valid) {
        bail!(
            "--index {spec}: the name '{name}' must be letters, digits, '-', '_' or '.'; \
             give one as NAME=DIR"
        );
    }
    Ok((name, dir))
}
