//! Every route, behind the key check and the metrics middleware.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;

use crate::handlers::{documents, indexes, operations, search, tune};
use crate::layers;
use crate::openapi::serve_openapi;
use crate::page::page;
use crate::state::AppState;

/// Every route, behind the key check and the metrics middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(operations::healthz))
        .route("/readyz", get(operations::readyz))
        .route("/metrics", get(operations::metrics))
        .route("/openapi.json", get(serve_openapi))
        .route("/v1/indexes", get(indexes::list_indexes))
        .route(
            "/v1/indexes/{name}/search",
            post(search::search_post).get(search::search_get),
        )
        .route(
            "/v1/indexes/{name}/documents/{id}",
            get(documents::get_document),
        )
        .route("/v1/indexes/{name}/reload", post(indexes::reload))
        .route("/v1/indexes/{name}/tune", post(tune::tune_index))
        .route(
            "/v1/indexes/{name}/documents",
            put(documents::put_documents).delete(documents::delete_documents),
        )
        .fallback(operations::not_found)
        .method_not_allowed_fallback(operations::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            layers::check_key,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            layers::observe,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
