//! The one error shape every endpoint answers with:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`, with the
//! status that says whose fault it is (4xx: the request's).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hypencoder_engine::{Error, ErrorKind, FilterError, SearchError};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer: its status, a stable code for programs, a message for
/// people and, where one field is at fault, its name.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds to wait before retrying (503).
    pub retry_after: Option<u32>,
    /// Say `Connection: close` (the body was not read to its end, so the
    /// connection cannot carry another request).
    pub close: bool,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_field`, `unknown_index`.
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A 400 naming the field at fault.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_field",
            message: message.into(),
            field: Some(field.to_string()),
            retry_after: None,
            close: false,
        }
    }

    /// A filter that cannot be read or does not suit the index's fields:
    /// `at` is where the filter was given (`filter`, `queries[2].filter`),
    /// the message names the path inside it.
    pub fn filter(at: &str, err: &FilterError) -> Self {
        ApiError {
            code: "invalid_filter",
            ..ApiError::field(at, err.to_string())
        }
    }

    /// Any status and code, no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            close: false,
        }
    }

    /// The same error with `field` named.
    pub fn at(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    /// A 500: a fault of the server's, not the request's.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            err.to_string(),
        )
    }

    /// A failed search: a mode the index lacks the part for or a setting
    /// out of range is the request's fault; the rest the server's.
    pub fn from_search(err: &Error) -> Self {
        match err {
            Error::Search(SearchError::Invalid { field, message }) => {
                ApiError::field(field, message.clone())
            }
            Error::Search(SearchError::Filter(e)) => ApiError::filter("filter", e),
            _ if err.kind() == ErrorKind::Unsupported => {
                ApiError::new(StatusCode::BAD_REQUEST, "unsupported_mode", err.to_string())
                    .at("mode")
            }
            _ => ApiError::internal(err),
        }
    }

    /// A failed tune: judgments that match no query, a metric without a
    /// cutoff, an index without a lexical part are the request's fault;
    /// the rest the server's.
    pub fn from_tune(err: &Error) -> Self {
        match err {
            Error::Invalid { field, message } => ApiError::field(field, message.clone()),
            _ if err.kind() == ErrorKind::Unsupported => {
                ApiError::new(StatusCode::BAD_REQUEST, "unsupported", err.to_string())
            }
            _ => ApiError::from_search(err),
        }
    }

    /// A failed write: a held lock is a conflict, bad documents the
    /// request's fault, the rest the server's.
    pub fn from_write(err: &Error) -> Self {
        match err.kind() {
            ErrorKind::Locked => ApiError::new(StatusCode::CONFLICT, "locked", err.to_string()),
            ErrorKind::InvalidInput | ErrorKind::Conflict => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_documents",
                err.to_string(),
            )
            .at("documents"),
            _ => ApiError::internal(err),
        }
    }

    /// A 404 for an index name the server was not started with.
    pub fn unknown_index(name: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_index",
            format!("no index named '{name}' is served"),
        )
        .at("name")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
