//! The API's JSON shapes with their OpenAPI schemas, and the strict
//! parsing of request bodies and query strings. A search request embeds
//! the engine's [`SearchParams`], whose field names are the CLI's flags
//! (`--rrf-k` is `rrf_k`), so a request reads like the command that would
//! answer it.

use std::sync::Arc;

use hypencoder_engine::{Collection, Filter, Info, Mode, Overrides, SearchParams, Tuning};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::ServeConfig;
use crate::error::ApiError;

/// `POST /v1/indexes/{name}/search`: one `query` or a batch of `queries`,
/// and beside them every setting of the engine's `SearchParams` under its
/// own name (absent ones take its defaults). `GET .../search?q=...` takes
/// the same fields as parameters, with `q` for `query`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SearchRequest {
    /// One query's text (`q` in a query string).
    #[serde(alias = "q")]
    pub query: Option<String>,
    /// Several queries, answered in input order under `results`: each a
    /// text, or `{"query": text, "filter": {...}}` with a filter of its
    /// own (in place of the request's).
    #[schema(value_type = Option<Vec<Object>>)]
    pub queries: Option<Vec<serde_json::Value>>,
    /// Only documents whose fields match (docs/filters.md): JSON in a body,
    /// its JSON text in a query string.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// Add each hit's stored text.
    #[serde(default)]
    pub include_text: bool,
    /// Add each hit's fields: `true` for all, or a list of names (in a
    /// query string: `true` or names separated by commas).
    #[schema(value_type = Option<Object>)]
    pub include_fields: Option<serde_json::Value>,
    /// The search settings.
    #[serde(flatten)]
    pub params: SearchParams,
    /// The settings the request gave, by name: laid over the index's own
    /// (`hypencoder tune` records some) when it is answered.
    #[serde(skip)]
    pub given: Overrides,
}

/// The request's own fields; the rest of a body or query string are
/// [`SearchParams`]'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(alias = "q")]
    query: Option<String>,
    queries: Option<Vec<serde_json::Value>>,
    filter: Option<serde_json::Value>,
    #[serde(default)]
    include_text: bool,
    include_fields: Option<serde_json::Value>,
}

/// The names [`Envelope`] takes.
const ENVELOPE: [&str; 6] = [
    "query",
    "q",
    "queries",
    "filter",
    "include_text",
    "include_fields",
];

impl SearchRequest {
    fn join<'n>(
        envelope: Envelope,
        params: SearchParams,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Self {
        SearchRequest {
            query: envelope.query,
            queries: envelope.queries,
            filter: envelope.filter,
            include_text: envelope.include_text,
            include_fields: envelope.include_fields,
            given: params.overrides(names),
            params,
        }
    }

    /// The request's settings laid over `defaults` (the index's), checked.
    pub fn over(mut self, defaults: &Collection) -> Result<Self, ApiError> {
        self.params = defaults
            .params(&self.given)
            .map_err(|e| ApiError::from_search(&e))?;
        Ok(self)
    }

    /// Parses a JSON body strictly: the request's fields and the search
    /// settings each by their own rules, so an unknown or mistyped field
    /// is named.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("request body: {e}"),
            )
        })?;
        let serde_json::Value::Object(all) = value else {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_field",
                "request body: expected a JSON object",
            ));
        };
        let (own, rest): (serde_json::Map<_, _>, serde_json::Map<_, _>) = all
            .into_iter()
            .partition(|(key, _)| ENVELOPE.contains(&key.as_str()));
        let envelope = parse_json(&serde_json::to_vec(&own).expect("a map serialises"))?;
        let params = parse_json(&serde_json::to_vec(&rest).expect("a map serialises"))?;
        Ok(SearchRequest::join(
            envelope,
            params,
            rest.keys().map(String::as_str),
        ))
    }

    /// Parses a query string strictly, as [`Self::from_json`].
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut own = form_urlencoded::Serializer::new(String::new());
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let side = if ENVELOPE.contains(&key.as_ref()) {
                &mut own
            } else {
                &mut rest
            };
            side.append_pair(&key, &value);
        }
        let mut envelope: Envelope = parse_query(&own.finish())?;
        if let Some(serde_json::Value::String(text)) = &envelope.filter {
            envelope.filter =
                Some(serde_json::from_str(text).map_err(|e| {
                    ApiError::field("filter", format!("filter at $: not JSON: {e}"))
                })?);
        }
        if let Some(serde_json::Value::String(text)) = &envelope.include_fields {
            envelope.include_fields = Some(match text.as_str() {
                "true" => serde_json::Value::Bool(true),
                "false" => serde_json::Value::Bool(false),
                names => names
                    .split(',')
                    .map(|n| serde_json::Value::String(n.trim().to_string()))
                    .collect(),
            });
        }
        let rest = rest.finish();
        let params = parse_query(&rest)?;
        let names: Vec<String> = form_urlencoded::parse(rest.as_bytes())
            .map(|(key, _)| key.into_owned())
            .collect();
        Ok(SearchRequest::join(
            envelope,
            params,
            names.iter().map(String::as_str),
        ))
    }
}

/// A request checked against the server's limits: its queries (and whether
/// it was a batch), each one's filter, and the library's settings.
#[derive(Debug, Clone)]
pub struct Checked {
    pub queries: Vec<String>,
    /// Each query's filter: its own, or the request's `filter`.
    pub filters: Vec<Option<Arc<Filter>>>,
    /// The request's `filter`, if given.
    pub shared: Option<Arc<Filter>>,
    pub batch: bool,
    pub params: SearchParams,
    pub include_text: bool,
    pub include_fields: IncludeFields,
}

/// Which of a hit's fields an answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeFields {
    /// None.
    Nothing,
    /// Every one it has.
    All,
    /// These, where it has them.
    Only(Vec<String>),
}

impl IncludeFields {
    fn parse(value: Option<serde_json::Value>) -> Result<Self, ApiError> {
        match value {
            None | Some(serde_json::Value::Bool(false)) => Ok(IncludeFields::Nothing),
            Some(serde_json::Value::Bool(true)) => Ok(IncludeFields::All),
            Some(serde_json::Value::Array(names)) => names
                .into_iter()
                .enumerate()
                .map(|(i, n)| match n {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(ApiError::field(
                        &format!("include_fields[{i}]"),
                        "expected a field's name",
                    )),
                })
                .collect::<Result<_, _>>()
                .map(IncludeFields::Only),
            Some(_) => Err(ApiError::field(
                "include_fields",
                "expected true, false or a list of field names",
            )),
        }
    }

    /// A document's fields as this asks for them.
    pub fn pick(
        &self,
        mut fields: serde_json::Map<String, serde_json::Value>,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        match self {
            IncludeFields::Nothing => None,
            IncludeFields::All => Some(fields),
            IncludeFields::Only(names) => {
                fields.retain(|k, _| names.contains(k));
                Some(fields)
            }
        }
    }
}

/// A filter given at `at` (`filter`, `queries[1].filter`), parsed.
fn parse_filter(value: &serde_json::Value, at: &str) -> Result<Arc<Filter>, ApiError> {
    Filter::parse(value)
        .map(Arc::new)
        .map_err(|e| ApiError::filter(at, &e))
}

/// One entry of `queries`: a text, or a text with its own filter.
fn batch_query(
    value: serde_json::Value,
    i: usize,
) -> Result<(String, Option<Arc<Filter>>), ApiError> {
    let at = format!("queries[{i}]");
    match value {
        serde_json::Value::String(text) => Ok((text, None)),
        serde_json::Value::Object(mut object) => {
            let text = match object.remove("query") {
                Some(serde_json::Value::String(text)) => text,
                _ => {
                    return Err(ApiError::field(
                        &format!("{at}.query"),
                        "expected the query's text",
                    ))
                }
            };
            let filter = object
                .remove("filter")
                .map(|f| parse_filter(&f, &format!("{at}.filter")))
                .transpose()?;
            if let Some(key) = object.keys().next() {
                return Err(ApiError::field(
                    &format!("{at}.{key}"),
                    "unknown field: a query takes query and filter",
                ));
            }
            Ok((text, filter))
        }
        _ => Err(ApiError::field(
            &at,
            "expected a text or {\"query\": text, \"filter\": {...}}",
        )),
    }
}

impl SearchRequest {
    /// Checks the request against `config`'s limits and turns it into the
    /// library's settings.
    pub fn check(mut self, config: &ServeConfig) -> Result<Checked, ApiError> {
        let shared = self
            .filter
            .take()
            .map(|f| parse_filter(&f, "filter"))
            .transpose()?;
        let (queries, filters, batch, field) = match (self.query.take(), self.queries.take()) {
            (Some(q), None) => (vec![q], vec![shared.clone()], false, "query"),
            (None, Some(qs)) => {
                let (texts, own): (Vec<String>, Vec<Option<Arc<Filter>>>) = qs
                    .into_iter()
                    .enumerate()
                    .map(|(i, q)| batch_query(q, i))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .unzip();
                let filters = own
                    .into_iter()
                    .map(|f| f.or_else(|| shared.clone()))
                    .collect();
                (texts, filters, true, "queries")
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::field(
                    "query",
                    "give either query or queries, not both",
                ))
            }
            (None, None) => {
                return Err(ApiError::field("query", "missing: give query (or queries)"))
            }
        };
        if batch && queries.is_empty() {
            return Err(ApiError::field("queries", "is empty"));
        }
        if queries.len() > config.max_queries {
            return Err(ApiError::field(
                "queries",
                format!(
                    "{} queries; at most {} per request",
                    queries.len(),
                    config.max_queries
                ),
            ));
        }
        for (i, q) in queries.iter().enumerate() {
            let at = if batch {
                format!("queries[{i}]")
            } else {
                field.to_string()
            };
            if q.trim().is_empty() {
                return Err(ApiError::field(&at, "is empty"));
            }
            let chars = q.chars().count();
            if chars > config.max_query_chars {
                return Err(ApiError::field(
                    &at,
                    format!("{chars} characters; at most {}", config.max_query_chars),
                ));
            }
        }
        let s = self;
        let k = s.params.k;
        if k == 0 || k > config.max_k {
            return Err(ApiError::field(
                "k",
                format!("{k} is out of range: 1 to {}", config.max_k),
            ));
        }
        check_work(&s.params, config)?;
        Ok(Checked {
            queries,
            filters,
            shared,
            batch,
            params: s.params,
            include_text: s.include_text,
            include_fields: IncludeFields::parse(s.include_fields)?,
        })
    }
}

/// Settings that size a request's work or memory are bounded, so one
/// request cannot hold the index for minutes.
fn check_work(s: &SearchParams, config: &ServeConfig) -> Result<(), ApiError> {
    let cap = config.max_k.max(SearchParams::DEFAULT.candidates);
    for (field, value, most) in [
        ("candidates", Some(s.candidates), cap),
        ("ef", Some(s.ef), 10 * cap),
        ("entry_points", s.entry_points, 100_000),
        ("ncandidates", Some(s.ncandidates), 10 * cap),
        ("max_iter", Some(s.max_iter), 1000),
        ("expand", s.expand, 1024),
    ] {
        if let Some(v) = value.filter(|&v| v > most) {
            return Err(ApiError::field(
                field,
                format!("{v} is above the limit of {most}"),
            ));
        }
    }
    Ok(())
}

/// One hit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiHit {
    /// The document's id.
    pub id: String,
    /// Its score (the mode's: q-net, dot product, BM25 or fused).
    pub score: f32,
    /// 1-based rank.
    pub rank: usize,
    /// The document's text, when `include_text` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The document's fields, when `include_fields` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The answer to one query.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Best first.
    pub hits: Vec<ApiHit>,
    /// Milliseconds from the request's arrival to its answer.
    pub took_ms: f64,
    /// The mode that answered (the index's default filled in).
    pub mode: Mode,
    /// What the caller should know (a filter's field no document has).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One query's hits in a batch answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueryHits {
    /// Best first.
    pub hits: Vec<ApiHit>,
    /// What the caller should know about this query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The answer to a batch of queries, in input order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchResponse {
    /// One entry per query of `queries`.
    pub results: Vec<QueryHits>,
    /// Milliseconds from the request's arrival to its answer.
    pub took_ms: f64,
    /// The mode that answered.
    pub mode: Mode,
}

/// One served index.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IndexInfo {
    /// Its name (from the command line).
    pub name: String,
    /// What it holds and can answer.
    #[serde(flatten)]
    pub info: Info,
}

/// `GET /v1/indexes`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IndexList {
    /// Every served index, in command-line order.
    pub indexes: Vec<IndexInfo>,
}

/// `GET /v1/indexes/{name}/documents/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Document {
    /// The id.
    pub id: String,
    /// Its stored text (null when the index keeps none).
    pub text: Option<String>,
    /// Its fields (empty when it has none).
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// One document to add or replace.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    /// Its id: a new one is added, an existing one replaced.
    pub id: String,
    /// Its text, encoded with the index's own model.
    pub text: String,
    /// Its fields (strings, numbers, bools, or arrays of strings or of
    /// numbers): returned with its hits and tested by filters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// `PUT /v1/indexes/{name}/documents`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutDocuments {
    /// The documents, each id at most once.
    pub documents: Vec<NewDocument>,
}

/// `DELETE /v1/indexes/{name}/documents`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteDocuments {
    /// Ids to delete; ones the index does not hold are reported.
    pub ids: Vec<String>,
}

/// The answer to a write, sent once it is durable.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WriteResponse {
    /// Documents with a new id.
    pub added: usize,
    /// Documents that replaced one with the same id.
    pub replaced: usize,
    /// Documents deleted.
    pub deleted: usize,
    /// Ids to delete that the index did not hold.
    pub unknown: Vec<String>,
    /// The commit the change became visible in.
    pub generation: u64,
    /// Live documents now.
    pub documents: usize,
    /// Milliseconds from the request's arrival to its answer.
    pub took_ms: f64,
}

impl PutDocuments {
    /// Checks the batch: not empty, within `config`'s limits, ids unique.
    pub fn check(&self, config: &ServeConfig) -> Result<(), ApiError> {
        if self.documents.is_empty() {
            return Err(ApiError::field("documents", "is empty"));
        }
        if self.documents.len() > config.max_queries {
            return Err(ApiError::field(
                "documents",
                format!(
                    "{} documents; at most {} per request",
                    self.documents.len(),
                    config.max_queries
                ),
            ));
        }
        let mut first = std::collections::HashMap::new();
        for (i, doc) in self.documents.iter().enumerate() {
            if doc.id.is_empty() {
                return Err(ApiError::field(&format!("documents[{i}].id"), "is empty"));
            }
            if let Some(j) = first.insert(doc.id.as_str(), i) {
                return Err(ApiError::field(
                    &format!("documents[{i}].id"),
                    format!("'{}' repeats documents[{j}]", doc.id),
                ));
            }
        }
        Ok(())
    }
}

/// `GET /healthz`, `GET /readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// "ok", or "loading" while an index is not open.
    pub status: String,
}

/// Parses a JSON body strictly, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "malformed_json"
        } else {
            "invalid_field"
        };
        let err = ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            code,
            format!("request body: {inner}"),
        );
        match field_of(&e.path().to_string(), &inner.to_string()) {
            Some(f) if code != "malformed_json" => err.at(&f),
            _ => err,
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("request body: {e}"),
        )
    })?;
    Ok(value)
}

/// Parses a query string strictly, naming the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        let err = ApiError::field("q", format!("query string: {message}"));
        match field_of(&e.path().to_string(), &message) {
            Some(f) => err.at(&f),
            None => err,
        }
    })
}

/// The field an error is about: the path serde_path_to_error reports, or
/// for unknown and missing fields (reported at the parent), the name serde
/// quotes in its message.
fn field_of(path: &str, message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            if let Some(name) = rest.split('`').next() {
                return Some(name.to_string());
            }
        }
    }
    (path != "." && !path.is_empty()).then(|| path.to_string())
}
impl IndexInfo {
    /// What `GET /v1/indexes` says of the index served as `name`.
    pub fn new(name: &str, info: Info) -> Self {
        IndexInfo {
            name: name.to_string(),
            info,
        }
    }
}

/// `POST /v1/indexes/{name}/tune`: judged queries of the index's own, on
/// which `hypencoder tune` chooses its hybrid settings.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TuneRequest {
    /// Query id to text (a dev split: not the queries results will be
    /// reported on).
    pub queries: std::collections::BTreeMap<String, String>,
    /// Query id to document id to grade (pytrec_eval's form); grades of 0
    /// or less are non-relevant.
    pub qrels: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i32>>,
    /// The metric maximised, with a cutoff [default: mrr@10].
    #[serde(default)]
    pub metric: Option<String>,
    /// Score the settings but record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to a tune: every setting's score, the decision and, unless
/// a dry run, the commit that recorded it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TuneResponse {
    /// The outcome.
    #[serde(flatten)]
    pub tuning: Tuning,
    /// The commit that recorded the decision (null for a dry run).
    pub generation: Option<u64>,
    /// The settings searches now use where a request sets none (by name;
    /// empty: the shipped defaults).
    #[schema(value_type = Object)]
    pub search_defaults: Overrides,
}
