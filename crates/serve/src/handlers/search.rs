//! `/v1/indexes/{name}/search`: a query (GET or POST) or a batch (POST),
//! checked, queued on the index's batching worker and awaited until the
//! deadline.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hypencoder_engine::Mode;

use super::body_bytes;
use crate::api::{BatchResponse, Checked, QueryHits, SearchRequest, SearchResponse};
use crate::batcher::Job;
use crate::catalog::Slot;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Shared};

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
    let request = SearchRequest::from_json(&body)?;
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
        ("mode" = Option<Mode>, Query, description = "The mode [default: the index's]"),
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
    let request = SearchRequest::from_query(query.as_deref().unwrap_or(""))?;
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
    let slot = state.slot(name)?;
    let checked = request.over(&slot.current())?.check(&state.config)?;
    check_mode(slot, &checked)?;
    check_filters(slot, &checked)?;
    let Checked {
        queries,
        filters,
        shared: _,
        batch,
        params,
        include_text,
        include_fields,
    } = checked;
    let deadline = started + state.config.timeout;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        queries,
        filters,
        params,
        include_text,
        include_fields,
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
    Ok(if batch {
        Json(BatchResponse {
            results: hits,
            took_ms,
            mode,
        })
        .into_response()
    } else {
        let QueryHits { hits, warnings } = hits.pop().expect("one query's answer");
        Json(SearchResponse {
            hits,
            took_ms,
            mode,
            warnings,
        })
        .into_response()
    })
}

/// Each filter must suit the index's fields (a range on a string field is
/// refused here, naming where the filter was given and the path inside
/// it), before the request is queued.
fn check_filters(slot: &Slot, checked: &Checked) -> Result<(), ApiError> {
    let schema = slot
        .current()
        .schema()
        .map_err(|e| ApiError::internal(&e))?;
    for (i, filter) in checked.filters.iter().enumerate() {
        let Some(filter) = filter else { continue };
        if let Err(e) = filter.check(&schema) {
            let shared = checked
                .shared
                .as_ref()
                .is_some_and(|f| Arc::ptr_eq(f, filter));
            let at = if shared {
                "filter".to_string()
            } else {
                format!("queries[{i}].filter")
            };
            return Err(ApiError::filter(&at, &e));
        }
    }
    Ok(())
}

/// A mode the index cannot answer is refused before it is queued.
fn check_mode(slot: &Slot, checked: &Checked) -> Result<(), ApiError> {
    let Some(mode) = checked.params.mode else {
        return Ok(());
    };
    if slot.current().info().modes.contains(&mode) {
        return Ok(());
    }
    let needs = if mode.needs_graph() {
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
