//! The lexical part of an index: a tantivy index in `lexical/` over the
//! document texts, one tantivy document per vector row, so BM25 and the
//! vectors name documents the same way.
//!
//! Analysis (the same for documents and queries): tantivy's simple
//! tokenizer (splits on anything not alphanumeric), tokens over 40 bytes
//! dropped, lowercasing, English stop words, Snowball English stemmer.
//! Scoring is tantivy's BM25 (k1 1.2, b 0.75). Queries are analysed into
//! terms and OR-ed, never parsed: quotes, colons, parentheses, `-` and `*`
//! are text like any other, and a query with no term left matches nothing.
//!
//! The folder is built under `lexical.tmp/`, fsynced and renamed into
//! place; its files are listed with size and CRC32 in the manifest like
//! every other file, so a damaged one is refused when the index opens.
//! Each tantivy document holds its row in the fast field `row`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{doc, IndexReader, ReloadPolicy, Term};

use crate::error::{IndexError, IoContext, Result};
use crate::format::{map_file, sync_dir, FileEntry};
use crate::manifest::{LexicalInfo, Manifest};
use crate::strings::StringTable;

/// The folder of the lexical part inside an index folder.
pub const LEXICAL_DIR: &str = "lexical";
/// The analyzer's name in the manifest and in tantivy's registry.
pub const ANALYZER: &str = "en_stem_stop";
const TEXT_FIELD: &str = "text";
const ROW_FIELD: &str = "row";
/// tantivy's indexing memory budget (one thread).
const WRITER_BUDGET: usize = 64 << 20;

/// The analysis pipeline the module doc describes.
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::English).expect("tantivy has English stop words"))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The terms `text` leaves after analysis, in order (repeats kept).
pub fn analyze(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while stream.advance() {
        terms.push(stream.token().text.clone());
    }
    terms
}

fn lexical_error(path: &Path, e: impl std::fmt::Display) -> IndexError {
    IndexError::Corrupt {
        path: path.to_path_buf(),
        message: format!("lexical index: {e}"),
    }
}

/// Builds `dir/lexical/` from the documents' texts in row order, replacing
/// any earlier one, and returns its files keyed as the manifest lists them
/// (`lexical/<name>`). The caller writes the manifest.
pub(crate) fn build<'a>(
    dir: &Path,
    texts: impl Iterator<Item = &'a str>,
) -> Result<(BTreeMap<String, FileEntry>, LexicalInfo)> {
    let tmp = dir.join(format!("{LEXICAL_DIR}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).at(&tmp)?;
    }
    fs::create_dir_all(&tmp).at(&tmp)?;
    write_tantivy(&tmp, texts)?;
    let files = list_files(&tmp)?;
    sync_dir(&tmp)?;
    let path = dir.join(LEXICAL_DIR);
    if path.exists() {
        fs::remove_dir_all(&path).at(&path)?;
    }
    fs::rename(&tmp, &path).at(&path)?;
    sync_dir(dir)?;
    let info = LexicalInfo {
        analyzer: ANALYZER.into(),
        scoring: "bm25(k1=1.2,b=0.75)".into(),
    };
    Ok((files, info))
}

/// Adds (or rebuilds) the lexical part of the index in `dir` from its
/// stored texts, then replaces the manifest atomically.
pub fn write_lexical(dir: &Path) -> Result<()> {
    let mut manifest = Manifest::read(dir)?;
    if !manifest.has_texts {
        return Err(IndexError::Invalid(format!(
            "{} holds no document texts, and the lexical part is built from them",
            dir.display()
        )));
    }
    let texts = StringTable::open(&dir.join("texts.bin"))?;
    let texts = (0..texts.len())
        .map(|i| texts.get(i))
        .collect::<Result<Vec<_>>>()?;
    let (files, info) = build(dir, texts.into_iter())?;
    let prefix = format!("{LEXICAL_DIR}/");
    manifest.files.retain(|name, _| !name.starts_with(&prefix));
    manifest.files.extend(files);
    manifest.lexical = Some(info);
    manifest.write(dir)
}

fn write_tantivy<'a>(tmp: &Path, texts: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut schema = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = schema.add_text_field(
        TEXT_FIELD,
        TextOptions::default().set_indexing_options(indexing),
    );
    let row = schema.add_u64_field(ROW_FIELD, FAST);
    let index =
        tantivy::Index::create_in_dir(tmp, schema.build()).map_err(|e| lexical_error(tmp, e))?;
    index.tokenizers().register(ANALYZER, analyzer());
    // One thread: documents keep row order inside each segment, and the
    // build is the same on every machine.
    let mut writer = index
        .writer_with_num_threads::<tantivy::TantivyDocument>(1, WRITER_BUDGET)
        .map_err(|e| lexical_error(tmp, e))?;
    for (i, t) in texts.enumerate() {
        writer
            .add_document(doc!(text => t, row => i as u64))
            .map_err(|e| lexical_error(tmp, e))?;
    }
    writer.commit().map_err(|e| lexical_error(tmp, e))?;
    writer
        .wait_merging_threads()
        .map_err(|e| lexical_error(tmp, e))?;
    Ok(())
}

/// Fsyncs every file tantivy wrote (lock files aside) and returns its size
/// and CRC32 under the name the manifest uses.
fn list_files(tmp: &Path) -> Result<BTreeMap<String, FileEntry>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(tmp).at(tmp)? {
        let path = entry.at(tmp)?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if name.starts_with(".tantivy-") || !path.is_file() {
            continue;
        }
        File::open(&path).and_then(|f| f.sync_all()).at(&path)?;
        let map = map_file(&path)?;
        let entry = FileEntry {
            bytes: map.len() as u64,
            crc32: crc32fast::hash(&map),
        };
        files.insert(format!("{LEXICAL_DIR}/{name}"), entry);
    }
    Ok(files)
}

/// One BM25 hit: a vector row and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexicalHit {
    /// The document's row in the index.
    pub row: u32,
    /// Its BM25 score for the query.
    pub score: f32,
}

/// The lexical part of an open index.
pub struct Lexical {
    path: PathBuf,
    reader: IndexReader,
    text: tantivy::schema::Field,
}

impl std::fmt::Debug for Lexical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexical").field("path", &self.path).finish()
    }
}

impl Lexical {
    /// Opens `dir/lexical/` (its files already checked against the manifest)
    /// and checks it holds one document per row.
    pub(crate) fn open(dir: &Path, count: usize) -> Result<Self> {
        let path = dir.join(LEXICAL_DIR);
        let index = tantivy::Index::open_in_dir(&path).map_err(|e| lexical_error(&path, e))?;
        index.tokenizers().register(ANALYZER, analyzer());
        let text = index
            .schema()
            .get_field(TEXT_FIELD)
            .map_err(|e| lexical_error(&path, e))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| lexical_error(&path, e))?;
        let docs = reader.searcher().num_docs();
        if docs != count as u64 {
            return Err(lexical_error(
                &path,
                format!("{docs} documents, the index has {count}"),
            ));
        }
        Ok(Lexical { path, reader, text })
    }

    /// The `k` best documents for `query` by BM25, best first; ties go to the
    /// earlier row. A query with no term left after analysis finds nothing.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<LexicalHit>> {
        let terms = analyze(query);
        if terms.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let term = Term::from_field_text(self.text, t);
                let q: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(k).order_by_score(),
            )
            .map_err(|e| lexical_error(&self.path, e))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let segment = searcher.segment_reader(address.segment_ord);
            let rows = segment
                .fast_fields()
                .u64(ROW_FIELD)
                .map_err(|e| lexical_error(&self.path, e))?;
            let row = rows
                .first(address.doc_id)
                .ok_or_else(|| lexical_error(&self.path, "a document without its row"))?;
            hits.push(LexicalHit {
                row: row as u32,
                score,
            });
        }
        // tantivy breaks ties by document order, which is row order within a
        // segment; across segments, put the earlier row first here too.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        Ok(hits)
    }
}
