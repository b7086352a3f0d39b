//! What `GET /metrics` reports, in the Prometheus text format (OpenMetrics
//! 1.0, which Prometheus scrapes): requests by endpoint and status, their
//! latency, each index's queue depth and batch sizes, queries by mode and
//! documents scored.

use std::sync::atomic::AtomicU64;

use hypencoder_engine::Mode;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IndexLabels {
    index: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    index: String,
    mode: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The service's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<EndpointLabels>,
    queue_depth: Family<IndexLabels, Gauge<i64>>,
    batch_size: Histograms<IndexLabels>,
    queries: Family<QueryLabels, Counter>,
    scored: Family<IndexLabels, Counter<u64, AtomicU64>>,
}

impl Metrics {
    /// Every metric registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hypencoder");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by endpoint (route pattern), method and status",
            requests.clone(),
        );
        // 0.1 ms to ~6.5 s.
        let latency: Histograms<EndpointLabels> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(1e-4, 2.0, 17)));
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by endpoint",
            latency.clone(),
        );
        let queue_depth = Family::<IndexLabels, Gauge<i64>>::default();
        registry.register(
            "queue_depth",
            "Search requests waiting for their index's worker",
            queue_depth.clone(),
        );
        // 1 to 1024 queries.
        let batch_size: Histograms<IndexLabels> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(1.0, 2.0, 11)));
        registry.register(
            "batch_size_queries",
            "Queries encoded and scored together in one batch",
            batch_size.clone(),
        );
        let queries = Family::<QueryLabels, Counter>::default();
        registry.register(
            "queries",
            "Queries answered, by index and mode",
            queries.clone(),
        );
        let scored = Family::<IndexLabels, Counter<u64, AtomicU64>>::default();
        registry.register(
            "documents_scored",
            "Documents the neural side scored, over all queries",
            scored.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            queue_depth,
            batch_size,
            queries,
            scored,
        }
    }

    /// Counts one answered request.
    pub fn request(&self, endpoint: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .observe(seconds);
    }

    /// Sets `index`'s queue depth.
    pub fn queue_depth(&self, index: &str, depth: usize) {
        self.queue_depth
            .get_or_create(&IndexLabels {
                index: index.to_string(),
            })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Records one batch of `queries` queries.
    pub fn batch(&self, index: &str, queries: usize) {
        self.batch_size
            .get_or_create(&IndexLabels {
                index: index.to_string(),
            })
            .observe(queries as f64);
    }

    /// Records a batch's answered queries and the documents it scored.
    pub fn scored(&self, index: &str, documents: usize, mode: Mode, queries: usize) {
        self.queries
            .get_or_create(&QueryLabels {
                index: index.to_string(),
                mode: mode.name().to_string(),
            })
            .inc_by(queries as u64);
        self.scored
            .get_or_create(&IndexLabels {
                index: index.to_string(),
            })
            .inc_by(documents as u64);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
