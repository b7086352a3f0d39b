//! `/v1/indexes`: the served indexes, and re-opening one after it was
//! rebuilt in place.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::api::{IndexInfo, IndexList};
use crate::error::{ApiError, ErrorBody};
use crate::state::Shared;

/// Every served index: documents, dimensions, model, modes.
#[utoipa::path(get, path = "/v1/indexes", responses((status = 200, body = IndexList)))]
pub async fn list_indexes(State(state): Shared) -> Json<IndexList> {
    Json(IndexList {
        indexes: state
            .catalog
            .slots()
            .iter()
            .map(|s| IndexInfo::new(&s.name, s.current().info()))
            .collect(),
    })
}

/// Re-opens an index's folder after it was rebuilt in place.
#[utoipa::path(
    post,
    path = "/v1/indexes/{name}/reload",
    params(("name" = String, Path, description = "An index name")),
    responses(
        (status = 200, description = "The index now served", body = IndexInfo),
        (status = 404, body = ErrorBody),
        (status = 500, description = "The folder did not open; the previous index is still served", body = ErrorBody),
    )
)]
pub async fn reload(
    State(state): Shared,
    Path(name): Path<String>,
) -> Result<Json<IndexInfo>, ApiError> {
    let slot = state.slot(&name)?;
    let fresh = slot.reload().await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload_failed",
            format!("{e}; still serving the index opened before"),
        )
    })?;
    Ok(Json(IndexInfo::new(&slot.name, fresh.info())))
}
