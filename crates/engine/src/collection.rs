//! An index opened for reading with its model and its ids: what every
//! front end searches and looks documents up in.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use hypencoder_index::{
    unknown_fields_warning, Filter, Index, IndexError, Manifest, ModelInfo, Schema, Segment,
};
use hypencoder_model::Model;
use hypencoder_search::{Found, Mode, Overrides, Plan, SearchParams, Searcher};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::model::{check_model, open_model, OpenOptions};

/// A document as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Its id.
    pub id: String,
    /// Its text, when the index keeps texts.
    pub text: Option<String>,
    /// Its fields (none for a document without any).
    pub fields: Map<String, Value>,
}

/// What an open index holds and can answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Info {
    /// Live documents.
    pub documents: usize,
    /// Vector dimensions.
    pub dimensions: usize,
    /// The model folder it was built with.
    pub model: String,
    /// Modes it can answer.
    pub modes: Vec<Mode>,
    /// The mode used when a request names none.
    pub default_mode: Mode,
    /// Whether documents' texts are stored (`include_text`, the documents
    /// endpoint).
    pub has_texts: bool,
    /// Segments it is made of (one until documents are added; merges,
    /// some in the background after a write, bring it down).
    pub segments: usize,
    /// The commit it was opened at (each write and merge makes the next).
    pub generation: u64,
    /// Search settings recorded for it (`hypencoder tune`), used where a
    /// request sets none of its own; empty: the shipped defaults.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub search_defaults: Overrides,
    /// The documents' fields and their types (what a filter can test).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fields: Schema,
}

/// An index (a single folder or a live one's segments) opened read-only,
/// with its model (loaded and checked on first use, or given) and a map
/// from ids to global rows (built on the first lookup).
pub struct Collection {
    index: Index,
    /// The shipped defaults with the index's recorded settings over them.
    defaults: SearchParams,
    options: OpenOptions,
    model: OnceLock<Arc<Model>>,
    rows: OnceLock<HashMap<String, u32>>,
}

impl Collection {
    /// Opens the index in `dir`; its model is loaded when first needed.
    pub fn open(dir: &Path, options: OpenOptions) -> Result<Self> {
        let index = Index::open(dir)?;
        let defaults = SearchParams::DEFAULT
            .with(&index.manifest().search_defaults)
            .map_err(|e| IndexError::Corrupt {
                path: dir.join(Manifest::FILE),
                message: format!("its search_defaults: {e}"),
            })?;
        Ok(Collection {
            index,
            defaults,
            options,
            model: OnceLock::new(),
            rows: OnceLock::new(),
        })
    }

    /// Opens the index in `dir` and loads its model now (a server reports
    /// every error before it listens).
    pub fn open_with_model(dir: &Path, options: OpenOptions) -> Result<Self> {
        let collection = Collection::open(dir, options)?;
        collection.model()?;
        Ok(collection)
    }

    /// The index with `model`, already loaded, as its model (checked to
    /// compute the index's vectors).
    pub fn with_model(self, model: Arc<Model>) -> Result<Self> {
        check_model(self.model_info(), self.dir(), &model)?;
        let collection = Collection {
            model: OnceLock::from(model),
            ..self
        };
        Ok(collection)
    }

    /// The folder opened again at its latest commit, with the same model
    /// (already loaded: not loaded again) and options.
    pub fn reopen(&self) -> Result<Collection> {
        let fresh = Collection::open(self.dir(), self.options.clone())?;
        match self.model.get() {
            Some(model) => fresh.with_model(Arc::clone(model)),
            None => Ok(fresh),
        }
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        self.index.dir()
    }

    /// The index as opened.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The index as search reads it.
    pub fn searcher(&self) -> Searcher<'_> {
        Searcher::live(&self.index)
    }

    /// The model the index records.
    pub fn model_info(&self) -> &ModelInfo {
        &self.index.manifest().model
    }

    /// The index's model, loaded and checked on the first call.
    pub fn model(&self) -> Result<&Arc<Model>> {
        if let Some(model) = self.model.get() {
            return Ok(model);
        }
        let model = open_model(self.model_info(), self.dir(), &self.options)?;
        Ok(self.model.get_or_init(|| Arc::new(model)))
    }

    /// The settings a search uses where a request sets none: the shipped
    /// defaults ([`SearchParams::DEFAULT`]) with the index's recorded ones
    /// over them.
    pub fn defaults(&self) -> &SearchParams {
        &self.defaults
    }

    /// The settings of a request that set `overrides` (by name) and left
    /// the rest to the index: an unknown name or a mistyped value is an
    /// error naming it.
    pub fn params(&self, overrides: &Overrides) -> Result<SearchParams> {
        Ok(self.defaults.with(overrides)?)
    }

    /// Checks `params` against what the index holds (a graph, a lexical
    /// part, settings in range) without searching; the mode that would
    /// answer.
    pub fn check(&self, params: &SearchParams) -> Result<Mode> {
        let searcher = self.searcher();
        Ok(Plan::new(&searcher, params)?.mode())
    }

    /// The top `params.k` hits of each query (global rows: [`Self::id`],
    /// [`Self::text`]), loading the model if the mode needs it.
    pub fn search(&self, queries: &[&str], params: &SearchParams) -> Result<Found> {
        self.search_where(queries, params, None)
    }

    /// [`Self::search`] among the documents `filter` keeps (in every
    /// mode). A filter field no document has matches nothing, and says so
    /// in [`Found::warnings`].
    pub fn search_where(
        &self,
        queries: &[&str],
        params: &SearchParams,
        filter: Option<&Filter>,
    ) -> Result<Found> {
        let searcher = self.searcher();
        let mut plan = Plan::new(&searcher, params)?;
        let mut warnings = Vec::new();
        if let Some(filter) = filter {
            warnings.extend(unknown_fields_warning(&plan.filter(filter)?));
        }
        let model = if plan.needs_model() {
            Some(self.model()?.as_ref())
        } else {
            None
        };
        let mut found = plan.search(model, queries)?;
        found.warnings = warnings;
        Ok(found)
    }

    /// The fields of every segment together: what a filter can test.
    pub fn schema(&self) -> Result<Schema> {
        Ok(self.searcher().schema()?)
    }

    /// The fields of global row `row` (empty if it has none).
    pub fn fields(&self, row: u32) -> Result<Map<String, Value>> {
        let (segment, row) = self.locate(row)?;
        Ok(segment.fields().map(|f| f.row(row)).unwrap_or_default())
    }

    /// The id of global row `row`.
    pub fn id(&self, row: u32) -> Result<&str> {
        let (segment, row) = self.locate(row)?;
        Ok(segment.id(row)?)
    }

    /// The stored text of global row `row`, if texts are kept.
    pub fn text(&self, row: u32) -> Result<Option<&str>> {
        let (segment, row) = self.locate(row)?;
        Ok(segment.text(row)?)
    }

    /// The segment holding global row `row` (segments in order, as the
    /// searcher numbers them), and the row within it; called per hit, so
    /// it walks the segments instead of building a searcher.
    fn locate(&self, global: u32) -> Result<(&Segment, usize)> {
        let mut row = global as usize;
        for live in self.index.segments() {
            if row < live.segment.len() {
                return Ok((&live.segment, row));
            }
            row -= live.segment.len();
        }
        Err(IndexError::Contract(format!(
            "row {global} is beyond {}'s documents",
            self.dir().display()
        ))
        .into())
    }

    /// The global row of live document `id`, if the index holds it.
    pub fn row(&self, id: &str) -> Result<Option<u32>> {
        if let Some(rows) = self.rows.get() {
            return Ok(rows.get(id).copied());
        }
        let searcher = self.searcher();
        let mut rows = HashMap::with_capacity(self.index.live_docs());
        for row in searcher.live_rows() {
            rows.insert(searcher.id(row)?.to_string(), row);
        }
        Ok(self.rows.get_or_init(|| rows).get(id).copied())
    }

    /// Live document `id`, if the index holds it.
    pub fn document(&self, id: &str) -> Result<Option<Document>> {
        let Some(row) = self.row(id)? else {
            return Ok(None);
        };
        Ok(Some(Document {
            id: id.to_string(),
            text: self.text(row)?.map(str::to_string),
            fields: self.fields(row)?,
        }))
    }

    /// The ids of the live documents, in index order.
    pub fn ids(&self) -> Result<Vec<String>> {
        let searcher = self.searcher();
        searcher
            .live_rows()
            .map(|row| Ok(searcher.id(row)?.to_string()))
            .collect()
    }

    /// Live documents.
    pub fn len(&self) -> usize {
        self.index.live_docs()
    }

    /// Whether it holds no live document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What it holds and can answer.
    pub fn info(&self) -> Info {
        let manifest = self.index.manifest();
        let searcher = self.searcher();
        Info {
            documents: self.index.live_docs(),
            dimensions: manifest.dim,
            model: manifest.model.path.clone(),
            modes: searcher.modes(),
            default_mode: searcher.default_mode(),
            has_texts: manifest.has_texts,
            segments: self.index.segments().len(),
            generation: manifest.generation,
            search_defaults: manifest.search_defaults.clone(),
            fields: searcher.schema().unwrap_or_default(),
        }
    }
}
