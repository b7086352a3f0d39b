//! One handler file per resource: `search`, `documents`, `indexes`, `tune`, and
//! `operations` (health, readiness, metrics, fallbacks). Handlers parse
//! and check, queue the work or hand it to the rayon pool, and answer;
//! they never compute.

pub mod documents;
pub mod indexes;
pub mod operations;
pub mod search;
pub mod tune;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::state::AppState;

/// A request body, or the answer to one too large or unreadable.
pub(crate) fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    state: &AppState,
) -> Result<Bytes, ApiError> {
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
