//! The HTTP surface: handlers (each annotated for the OpenAPI document),
//! the bearer-key check, the metrics middleware and the router that joins
//! them. Handlers parse and check, queue the work and wait for its answer
//! with a deadline; they never compute.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hypencoder_index::IndexError;
use hypencoder_search::{add_documents, Mode, SearchError};

use crate::api::{
    openapi_json, parse_json, parse_query, ApiHit, BatchResponse, Checked, DeleteDocuments,
    Document, Health, IndexList, ModeName, PutDocuments, QueryHits, SearchRequest, SearchResponse,
    WriteResponse,
};
use crate::batcher::Job;
use crate::catalog::{Catalog, Slot, WriteError};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::Metrics;
use crate::ServeConfig;

/// What every handler shares.
pub struct AppState {
    pub catalog: Catalog,
    pub metrics: Arc<Metrics>,
    pub config: ServeConfig,
}

type Shared = State<Arc<AppState>>;

/// The search page, embedded in the binary.
const PAGE: &str = include_str!("page.html");

/// Every route, behind the key check and the metrics middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/indexes", get(list_indexes))
        .route(
            "/v1/indexes/{name}/search",
            post(search_post).get(search_get),
        )
        .route("/v1/indexes/{name}/documents/{id}", get(get_document))
        .route("/v1/indexes/{name}/reload", post(reload))
        .route(
            "/v1/indexes/{name}/documents",
            put(put_documents).delete(delete_documents),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            check_key,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Search one index with one query or a batch.
#[utoipa::path(
    post,
    path = "/v1/indexes/{name}/search",
    params(("name" = String, Path, description = "An index name given to `serve --index`")),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "One query's hits (or, for `queries`, a BatchResponse)", body = SearchResponse),
        (status = 400, description = "Bad JSON, unknown field, missing query, k out of range, unsupported mode", body = ErrorBody),
        (status = 404, description = "No such index", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Queue full; retry after Retry-After seconds", body = ErrorBody),
        (status = 504, description = "Not answered within the server's timeout", body = ErrorBody),
    )
)]
pub async fn search_post(
    State(state): Shared,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let body = body_bytes(body, &state)?;
    let request: SearchRequest = parse_json(&body)?;
    search(&state, &name, request, started).await
}

/// Search one index with one query given as URL parameters.
#[utoipa::path(
    get,
    path = "/v1/indexes/{name}/search",
    params(
        ("name" = String, Path, description = "An index name given to `serve --index`"),
        ("q" = String, Query, description = "The query"),
        ("k" = Option<usize>, Query, description = "Results [default: 10]"),
        ("mode" = Option<ModeName>, Query, description = "The mode [default: the index's]"),
        ("include_text" = Option<bool>, Query, description = "Add each hit's text"),
    ),
    responses(
        (status = 200, body = SearchResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
        (status = 504, body = ErrorBody),
    )
)]
pub async fn search_get(
    State(state): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request: SearchRequest = parse_query(query.as_deref().unwrap_or(""))?;
    if request.queries.is_some() {
        return Err(ApiError::field(
            "queries",
            "a batch is POSTed, not in a URL",
        ));
    }
    search(&state, &name, request, started).await
}

/// Checks a request, queues it on the index's worker and waits for the
/// answer until the deadline.
async fn search(
    state: &AppState,
    name: &str,
    request: SearchRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let slot = slot(state, name)?;
    let checked = request.check(&state.config)?;
    check_mode(slot, &checked)?;
    let Checked {
        queries,
        batch,
        params,
        include_text,
    } = checked;
    let deadline = started + state.config.timeout;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        queries,
        params,
        include_text,
        deadline,
        reply,
    };
    if !slot.queue.submit(job) {
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "index '{name}' has {} requests waiting; retry shortly",
                state.config.max_queue
            ),
        );
        err.retry_after = Some(1);
        return Err(err);
    }
    let timeout = || {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "not answered within {} ms",
                state.config.timeout.as_millis()
            ),
        )
    };
    let (mut hits, mode) = tokio::time::timeout_at(deadline.into(), answer)
        .await
        .map_err(|_| timeout())?
        // The worker drops a job whose deadline passed.
        .map_err(|_| timeout())??;
    let took_ms = started.elapsed().as_secs_f64() * 1e3;
    let mode = ModeName::from(mode);
    Ok(if batch {
        Json(BatchResponse {
            results: hits.into_iter().map(|hits| QueryHits { hits }).collect(),
            took_ms,
            mode,
        })
        .into_response()
    } else {
        let hits: Vec<ApiHit> = hits.pop().unwrap_or_default();
        Json(SearchResponse {
            hits,
            took_ms,
            mode,
        })
        .into_response()
    })
}

/// A mode the index cannot answer is refused before it is queued.
fn check_mode(slot: &Slot, checked: &Checked) -> Result<(), ApiError> {
    let Some(mode) = checked.params.mode else {
        return Ok(());
    };
    let loaded = slot.current();
    if Mode::supported(&loaded.corpus()).contains(&mode) {
        return Ok(());
    }
    let needs = if mode == Mode::Graph {
        "neighbour graph (build one with hypencoder graph)"
    } else {
        "lexical part (add one with hypencoder lexical)"
    };
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "unsupported_mode",
        format!(
            "index '{}' cannot answer mode {}: it has no {needs}",
            slot.name,
            mode.name()
        ),
    )
    .at("mode"))
}

fn slot<'a>(state: &'a AppState, name: &str) -> Result<&'a Slot, ApiError> {
    state
        .catalog
        .get(name)
        .ok_or_else(|| ApiError::unknown_index(name))
}

/// Every served index: documents, dimensions, model, modes.
#[utoipa::path(get, path = "/v1/indexes", responses((status = 200, body = IndexList)))]
pub async fn list_indexes(State(state): Shared) -> Json<IndexList> {
    Json(IndexList {
        indexes: state
            .catalog
            .slots()
            .iter()
            .map(|s| s.current().info(&s.name))
            .collect(),
    })
}

/// One document's stored text.
#[utoipa::path(
    get,
    path = "/v1/indexes/{name}/documents/{id}",
    params(
        ("name" = String, Path, description = "An index name"),
        ("id" = String, Path, description = "A document id (percent-encoded)"),
    ),
    responses((status = 200, body = Document), (status = 404, body = ErrorBody))
)]
pub async fn get_document(
    State(state): Shared,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Document>, ApiError> {
    let loaded = slot(&state, &name)?.current();
    let row = loaded.row(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_document",
            format!("index '{name}' holds no document '{id}'"),
        )
        .at("id")
    })?;
    let text = loaded
        .corpus()
        .text(row)
        .map_err(|e| ApiError::internal(&e))?
        .map(str::to_string);
    Ok(Json(Document { id, text }))
}

/// Re-opens an index's folder after it was rebuilt in place.
#[utoipa::path(
    post,
    path = "/v1/indexes/{name}/reload",
    params(("name" = String, Path, description = "An index name")),
    responses(
        (status = 200, description = "The index now served", body = crate::api::IndexInfo),
        (status = 404, body = ErrorBody),
        (status = 500, description = "The folder did not open; the previous index is still served", body = ErrorBody),
    )
)]
pub async fn reload(
    State(state): Shared,
    Path(name): Path<String>,
) -> Result<Json<crate::api::IndexInfo>, ApiError> {
    let slot = slot(&state, &name)?;
    let fresh = slot.reload().await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload_failed",
            format!("{e}; still serving the index opened before"),
        )
    })?;
    Ok(Json(fresh.info(&slot.name)))
}

/// Adds documents (existing ids are replaced), encoded with the index's
/// model; answers once the change is durable.
#[utoipa::path(
    put,
    path = "/v1/indexes/{name}/documents",
    params(("name" = String, Path, description = "An index name")),
    request_body = PutDocuments,
    responses(
        (status = 200, body = WriteResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Another process holds the index's write lock", body = ErrorBody),
    )
)]
pub async fn put_documents(
    State(state): Shared,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WriteResponse>, ApiError> {
    let started = Instant::now();
    let slot = slot(&state, &name)?;
    let request: PutDocuments = parse_json(&body_bytes(body, &state)?)?;
    request.check(&state.config)?;
    let (ids, texts): (Vec<String>, Vec<String>) = request
        .documents
        .into_iter()
        .map(|d| (d.id, d.text))
        .unzip();
    let (report, generation, documents) = slot
        .write(Box::new(move |writer, model| {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            add_documents(writer, model, &ids, &texts, 32, false, &|_| {})
        }))
        .await
        .map_err(write_error)?;
    Ok(Json(WriteResponse {
        added: report.added,
        replaced: report.replaced,
        deleted: 0,
        unknown: Vec::new(),
        generation,
        documents,
        took_ms: started.elapsed().as_secs_f64() * 1e3,
    }))
}

/// Deletes documents by id; answers once the change is durable.
#[utoipa::path(
    delete,
    path = "/v1/indexes/{name}/documents",
    params(("name" = String, Path, description = "An index name")),
    request_body = DeleteDocuments,
    responses(
        (status = 200, body = WriteResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    )
)]
pub async fn delete_documents(
    State(state): Shared,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WriteResponse>, ApiError> {
    let started = Instant::now();
    let slot = slot(&state, &name)?;
    let request: DeleteDocuments = parse_json(&body_bytes(body, &state)?)?;
    if request.ids.is_empty() {
        return Err(ApiError::field("ids", "is empty"));
    }
    let ids = request.ids;
    let (report, generation, documents) = slot
        .write(Box::new(move |writer, _| Ok(writer.delete(&ids))))
        .await
        .map_err(write_error)?;
    Ok(Json(WriteResponse {
        added: 0,
        replaced: 0,
        deleted: report.deleted,
        unknown: report.unknown,
        generation,
        documents,
        took_ms: started.elapsed().as_secs_f64() * 1e3,
    }))
}

/// A failed write as an answer: a held lock is a conflict; bad input
/// the request's fault; the rest the server's.
fn write_error(err: WriteError) -> ApiError {
    match &err {
        WriteError::Open(IndexError::Invalid(m)) if m.contains("another process") => {
            ApiError::new(StatusCode::CONFLICT, "locked", err.to_string())
        }
        WriteError::Change(SearchError::Index(IndexError::Invalid(m))) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_documents", m.clone()).at("documents")
        }
        _ => ApiError::internal(&err),
    }
}

/// A request body, or the answer to one too large or unreadable.
fn body_bytes(body: Result<Bytes, BytesRejection>, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            let mut err = ApiError::new(
                status,
                "body_too_large",
                format!("the request body is over the limit of {limit} bytes"),
            );
            err.close = true;
            err
        } else {
            ApiError::new(status, "bad_body", e.body_text())
        }
    })
}

/// Alive.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Ready to search: the server binds only after every index is open and
/// its model loaded, so from its first answer on this is 200.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Health)))]
pub async fn readyz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): Shared) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint at {}", request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// With an API key set, every endpoint but `/healthz` needs
/// `Authorization: Bearer <key>`.
async fn check_key(State(state): Shared, request: Request, next: Next) -> Response {
    let Some(key) = &state.config.api_key else {
        return next.run(request).await;
    };
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| same(g.as_bytes(), key.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this server needs an API key: send Authorization: Bearer <key>",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Compares in time that depends only on the lengths, not on where the
/// first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts and times every request by its route pattern (never the raw
/// path, so index names and ids do not grow the label set).
async fn observe(State(state): Shared, request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = request.method().as_str().to_string();
    let response = next.run(request).await;
    state.metrics.request(
        &endpoint,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
