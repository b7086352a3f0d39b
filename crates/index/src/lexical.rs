//! The lexical part of an index: a tantivy index in `lexical/` over the
//! document texts, one tantivy document per vector row, so BM25 and the
//! vectors name documents the same way.
//!
//! Analysis (the same for documents and queries): tantivy's simple
//! tokenizer (splits on anything not alphanumeric), tokens over 40 bytes
//! dropped, lowercasing, English stop words, Snowball English stemmer.
//! Queries are analysed into terms, never parsed: quotes, colons,
//! parentheses, `-` and `*` are text like any other, and a query with no
//! term left matches nothing.
//!
//! Scoring is BM25 computed here on tantivy's postings and stored document
//! lengths, with the k1 and b the manifest records ([`K1`], [`B`] by
//! default): tantivy fixes k1 1.2, b 0.75, which cost 0.016 MRR@10 against
//! the best setting on debian-pkg dev (`bench/bm25/README.md`). Each query
//! term scores every document holding it (term at a time into one score per
//! row), so the scores of any documents, not only the top k, are at hand
//! for fusion with neural scores.
//!
//! The folder is built under `lexical.tmp/`, fsynced and renamed into
//! place; its files are listed with size and CRC32 in the manifest like
//! every other file, so a damaged one is refused when the index opens.
//! Each tantivy document holds its row in the fast field `row`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use tantivy::postings::Postings;
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{doc, DocSet, ReloadPolicy, Searcher, Term, TERMINATED};

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
/// BM25's k1 for new lexical parts, chosen on debian-pkg dev: every k1 in
/// 0.3-0.7 with b in 0.75-0.9 was within 0.005 MRR@10 of the best.
pub const K1: f32 = 0.5;
/// BM25's b for new lexical parts (see [`K1`]).
pub const B: f32 = 0.75;
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
        k1: K1,
        b: B,
    };
    Ok((files, info))
}

/// Adds (or rebuilds) the lexical part of the index in `dir` from its
/// stored texts, then replaces the manifest atomically.
pub fn write_lexical(dir: &Path) -> Result<()> {
    let mut manifest = Manifest::read(dir)?;
    if !manifest.has_texts {
        return Err(IndexError::NoTexts {
            path: dir.to_path_buf(),
        });
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
    searcher: Searcher,
    text: tantivy::schema::Field,
    /// Per tantivy segment, the vector row of each of its documents.
    rows: Vec<Vec<u32>>,
    count: usize,
    /// Mean document length in tokens (BM25's length normalisation).
    /// Tokens over all documents (for the mean document length).
    tokens: u64,
    k1: f32,
    b: f32,
}

impl std::fmt::Debug for Lexical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexical").field("path", &self.path).finish()
    }
}

impl Lexical {
    /// Opens `dir/lexical/` (its files already checked against the manifest)
    /// and checks it holds each of the `count` rows once.
    pub(crate) fn open(dir: &Path, count: usize, info: &LexicalInfo) -> Result<Self> {
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
        let searcher: Searcher = reader.searcher();
        let rows = segment_rows(&searcher, count).map_err(|e| lexical_error(&path, e))?;
        let mut tokens = 0u64;
        for segment in searcher.segment_readers() {
            let inverted = segment
                .inverted_index(text)
                .map_err(|e| lexical_error(&path, e))?;
            tokens += inverted.total_num_tokens();
        }
        Ok(Lexical {
            path,
            searcher,
            text,
            rows,
            count,
            tokens,
            k1: info.k1,
            b: info.b,
        })
    }

    /// The BM25 score of every row for `query` (0 where no query term
    /// occurs). A term repeated in the query counts each time.
    pub fn scores(&self, query: &str) -> Result<Vec<f32>> {
        let terms = analyze(query);
        let stats = self.stats(&terms)?;
        self.scores_with(&terms, &stats, self.params())
    }

    /// This part's collection statistics for `terms` (analysed query
    /// terms): what BM25's idf and length normalisation need. Parts of one
    /// index add theirs up ([`Bm25Stats::add`]) so each scores with the
    /// whole index's.
    pub fn stats(&self, terms: &[String]) -> Result<Bm25Stats> {
        let err = |e: &dyn std::fmt::Display| lexical_error(&self.path, e);
        let mut df = HashMap::with_capacity(terms.len());
        for term in terms {
            let t = Term::from_field_text(self.text, term);
            df.insert(
                term.clone(),
                self.searcher.doc_freq(&t).map_err(|e| err(&e))?,
            );
        }
        Ok(Bm25Stats {
            docs: self.searcher.num_docs(),
            tokens: self.tokens,
            df,
        })
    }

    /// The BM25 score of every row for analysed `terms`, with collection
    /// statistics `stats` (this part's own, or the sum over every part of an
    /// index) and `bm25`'s k1 and b (this part's own: [`Lexical::params`]).
    /// Any k1 and b score on the same postings, so they are a search
    /// setting, not a build one.
    pub fn scores_with(&self, terms: &[String], stats: &Bm25Stats, bm25: Bm25) -> Result<Vec<f32>> {
        let Bm25 { k1, b } = bm25;
        let mut scores = vec![0f32; self.count];
        let n = stats.docs as f32;
        if n == 0.0 {
            return Ok(scores);
        }
        let err = |e: &dyn std::fmt::Display| lexical_error(&self.path, e);
        let avgdl = stats.tokens as f32 / n.max(1.0);
        for term in terms {
            let df = stats.df.get(term).copied().unwrap_or(0) as f32;
            if df == 0.0 {
                continue;
            }
            let term = Term::from_field_text(self.text, term);
            // Lucene's idf, as tantivy's own BM25.
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            let weight = idf * (k1 + 1.0);
            for (segment, rows) in self.searcher.segment_readers().iter().zip(&self.rows) {
                let inverted = segment.inverted_index(self.text).map_err(|e| err(&e))?;
                let Some(mut postings) = inverted
                    .read_postings(&term, IndexRecordOption::WithFreqs)
                    .map_err(|e| err(&e))?
                else {
                    continue;
                };
                let lengths = segment
                    .get_fieldnorms_reader(self.text)
                    .map_err(|e| err(&e))?;
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    let tf = postings.term_freq() as f32;
                    let dl = lengths.fieldnorm(doc) as f32;
                    let norm = k1 * (1.0 - b + b * dl / avgdl);
                    scores[rows[doc as usize] as usize] += weight * tf / (tf + norm);
                    doc = postings.advance();
                }
            }
        }
        Ok(scores)
    }

    /// The `k` best rows for `query` by BM25, best first; equal scores go to
    /// the earlier row. Rows no query term occurs in are never returned, so a
    /// query with no term left after analysis finds nothing.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<LexicalHit>> {
        Ok(Self::top(&self.scores(query)?, k))
    }

    /// The `k` best rows of `scores` (as [`Lexical::scores`] gives them),
    /// best first, ties to the earlier row, rows scoring 0 left out: for a
    /// caller that needs both every row's score and the top rows.
    pub fn top(scores: &[f32], k: usize) -> Vec<LexicalHit> {
        let mut hits: Vec<LexicalHit> = scores
            .iter()
            .enumerate()
            .filter(|(_, &s)| s > 0.0)
            .map(|(row, &score)| LexicalHit {
                row: row as u32,
                score,
            })
            .collect();
        let order =
            |a: &LexicalHit, b: &LexicalHit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
        if hits.len() > k && k > 0 {
            hits.select_nth_unstable_by(k - 1, order);
        }
        hits.truncate(k);
        hits.sort_by(order);
        hits
    }

    /// The k1 and b its manifest records (what it scores with unless a
    /// search sets others).
    pub fn params(&self) -> Bm25 {
        Bm25 {
            k1: self.k1,
            b: self.b,
        }
    }
}

/// BM25's two settings: k1 (how fast a term's weight saturates with its
/// count) and b (how much document length normalises it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    /// Term-frequency saturation, 0 or more.
    pub k1: f32,
    /// Length normalisation, 0 (none) to 1 (full).
    pub b: f32,
}

/// What BM25 needs to know of a collection for some query terms: its
/// document count, token count (for the mean length) and each term's
/// document frequency.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bm25Stats {
    /// Documents.
    pub docs: u64,
    /// Tokens over all documents.
    pub tokens: u64,
    /// Documents containing each term.
    pub df: HashMap<String, u64>,
}

impl Bm25Stats {
    /// Adds another part's statistics to these.
    pub fn add(&mut self, other: &Bm25Stats) {
        self.docs += other.docs;
        self.tokens += other.tokens;
        for (term, n) in &other.df {
            *self.df.entry(term.clone()).or_insert(0) += n;
        }
    }
}

/// Per segment, the row of each document, checking that every row in
/// `0..count` appears exactly once.
fn segment_rows(searcher: &Searcher, count: usize) -> std::result::Result<Vec<Vec<u32>>, String> {
    let mut seen = vec![false; count];
    let mut all = Vec::new();
    for segment in searcher.segment_readers() {
        let column = segment
            .fast_fields()
            .u64(ROW_FIELD)
            .map_err(|e| e.to_string())?;
        let rows = (0..segment.max_doc())
            .map(|doc| match column.first(doc) {
                Some(row) if (row as usize) < count && !seen[row as usize] => {
                    seen[row as usize] = true;
                    Ok(row as u32)
                }
                other => Err(format!(
                    "document {doc} has row {other:?}, not a new row below {count}"
                )),
            })
            .collect::<std::result::Result<Vec<u32>, String>>()?;
        all.push(rows);
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(format!("row {missing} of {count} is missing"));
    }
    Ok(all)
}
