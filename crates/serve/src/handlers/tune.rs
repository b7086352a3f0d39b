//! `/v1/indexes/{name}/tune`: the index's hybrid settings chosen on judged
//! queries in the body and, unless a dry run, recorded with the index's
//! writer, so every search after it uses them where it sets none.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::Json;
use hypencoder_engine::{tune, Committed, Metric, Overrides, Qrels, Quiet, TuneOptions};

use super::body_bytes;
use crate::api::{parse_json, TuneRequest, TuneResponse};
use crate::catalog::{on_pool, Change};
use crate::error::{ApiError, ErrorBody};
use crate::state::Shared;

/// Chooses the index's hybrid settings on the judged queries given.
#[utoipa::path(
    post,
    path = "/v1/indexes/{name}/tune",
    params(("name" = String, Path, description = "An index name")),
    request_body = TuneRequest,
    responses(
        (status = 200, body = TuneResponse),
        (status = 400, description = "No query judged, a metric without a cutoff, an index without a lexical part", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Another process holds the index's write lock", body = ErrorBody),
    )
)]
pub async fn tune_index(
    State(state): Shared,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TuneResponse>, ApiError> {
    let slot = state.slot(&name)?;
    let request: TuneRequest = parse_json(&body_bytes(body, &state)?)?;
    let metric = Metric::parse(request.metric.as_deref().unwrap_or("mrr@10"))
        .map_err(|e| ApiError::field("metric", e.to_string()))?;
    let mut qrels = Qrels::new();
    for (qid, docs) in &request.qrels {
        for (doc, &grade) in docs {
            qrels.insert(qid, doc, grade);
        }
    }
    let queries: Vec<(String, String)> = request.queries.into_iter().collect();
    let index = slot.current();
    let options = TuneOptions {
        metric,
        ..TuneOptions::default()
    };
    let tuning = on_pool(move || tune(&index, &queries, &qrels, &options, &Quiet))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::from_tune(&e))?;
    let record = tuning.record();
    let generation = if request.dry_run {
        None
    } else {
        let settings = record.clone();
        let change: Change = Box::new(move |writer, _| {
            let generation = writer.set_search_defaults(settings)?;
            Ok(Committed {
                generation,
                ..Committed::default()
            })
        });
        let (committed, _) = slot.write(change).await.map_err(|e| e.to_api())?;
        Some(committed.generation)
    };
    let search_defaults: Overrides = slot.current().info().search_defaults;
    Ok(Json(TuneResponse {
        tuning,
        generation,
        search_defaults,
    }))
}
