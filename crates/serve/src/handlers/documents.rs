//! `/v1/indexes/{name}/documents`: a document by id; documents added,
//! replaced and deleted, each change answered once it is durable.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hypencoder_engine::{Committed, Docs, Quiet};

use super::body_bytes;
use crate::api::{parse_json, DeleteDocuments, Document, PutDocuments, WriteResponse};
use crate::catalog::{Change, WriteError};
use crate::error::{ApiError, ErrorBody};
use crate::state::Shared;

/// Documents per forward pass when a write encodes.
const BATCH_SIZE: usize = 32;

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
    let index = state.slot(&name)?.current();
    let document = index.document(&id).map_err(|e| ApiError::internal(&e))?;
    let document = document.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_document",
            format!("index '{name}' holds no document '{id}'"),
        )
        .at("id")
    })?;
    Ok(Json(Document {
        id: document.id,
        text: document.text,
        fields: document.fields,
    }))
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
    let slot = state.slot(&name)?;
    let request: PutDocuments = parse_json(&body_bytes(body, &state)?)?;
    request.check(&state.config)?;
    let any_fields = request.documents.iter().any(|d| !d.fields.is_empty());
    let mut ids = Vec::with_capacity(request.documents.len());
    let mut texts = Vec::with_capacity(request.documents.len());
    let mut fields = Vec::new();
    for d in request.documents {
        ids.push(d.id);
        texts.push(d.text);
        if any_fields {
            fields.push(d.fields);
        }
    }
    let change: Change = Box::new(move |writer, model| {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let docs = Docs::new(&ids, &texts).with_fields(&fields);
        writer.add(model, docs, BATCH_SIZE, false, &Quiet)
    });
    answer(slot.write(change).await, started)
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
    let slot = state.slot(&name)?;
    let request: DeleteDocuments = parse_json(&body_bytes(body, &state)?)?;
    if request.ids.is_empty() {
        return Err(ApiError::field("ids", "is empty"));
    }
    let ids = request.ids;
    let change: Change = Box::new(move |writer, _| writer.delete(&ids, false));
    answer(slot.write(change).await, started)
}

/// A write's answer: what it did, or its error (a held lock is a
/// conflict, bad documents the request's fault, the rest the server's).
fn answer(
    written: Result<(Committed, usize), WriteError>,
    started: Instant,
) -> Result<Json<WriteResponse>, ApiError> {
    let (committed, documents) = written.map_err(|e| e.to_api())?;
    Ok(Json(WriteResponse {
        added: committed.added,
        replaced: committed.replaced,
        deleted: committed.deleted,
        unknown: committed.unknown,
        generation: committed.generation,
        documents,
        took_ms: started.elapsed().as_secs_f64() * 1e3,
    }))
}
