//! Dynamic batching: one worker per index takes the first waiting request,
//! then whatever else is already waiting (or arrives within the batch
//! wait), up to `max_batch` queries, and answers all of them with one
//! encoding pass and one pass over the index per group of equal settings
//! (the q-net kernel scores many queries per block of documents). While a
//! batch runs, the next one gathers in the queue, so batches grow with the
//! load by themselves. The queue is bounded: a full one is refused at once
//! (503), never grown. The work runs on the rayon pool; a request whose
//! deadline passed while it waited is dropped unanswered (its handler has
//! already answered 504).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hypencoder_engine::{Collection, Filter, Hit, Mode, SearchParams};
use tokio::sync::oneshot;

use crate::api::{ApiHit, IncludeFields, QueryHits};
use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The index currently served under one name; swapped whole on reload or
/// write, so requests in flight finish on the one they started on.
pub type Current = Arc<RwLock<Arc<Collection>>>;

/// A request's answer: each query's hits (and warnings) and the mode that
/// ran, or the error to answer with.
pub type Answer = Result<(Vec<QueryHits>, Mode), ApiError>;

/// One request waiting to be answered.
pub struct Job {
    pub queries: Vec<String>,
    /// Each query's filter.
    pub filters: Vec<Option<Arc<Filter>>>,
    pub params: SearchParams,
    pub include_text: bool,
    pub include_fields: IncludeFields,
    pub deadline: Instant,
    pub reply: oneshot::Sender<Answer>,
}

/// The sending end of an index's queue.
pub struct Queue {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    index: String,
    metrics: Arc<Metrics>,
}

impl Queue {
    /// Queues `job`; false (and the job dropped) when the queue is full.
    pub fn submit(&self, job: Job) -> bool {
        // Counted before the send so the worker's decrement never
        // underflows.
        let depth = self.depth.fetch_add(1, Ordering::SeqCst) + 1;
        match self.tx.try_send(job) {
            Ok(()) => {
                self.metrics.queue_depth(&self.index, depth);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                false
            }
        }
    }
}

/// Starts `index`'s worker thread; it ends when the queue is dropped.
pub fn start(index: &str, current: Current, config: &ServeConfig, metrics: Arc<Metrics>) -> Queue {
    let (tx, rx) = mpsc::sync_channel(config.max_queue);
    let depth = Arc::new(AtomicUsize::new(0));
    let worker = Worker {
        index: index.to_string(),
        rx,
        depth: Arc::clone(&depth),
        current,
        max_batch: config.max_batch,
        batch_wait: config.batch_wait,
        metrics: Arc::clone(&metrics),
    };
    std::thread::Builder::new()
        .name(format!("batch-{index}"))
        .spawn(move || worker.run())
        .expect("a thread can be started");
    Queue {
        tx,
        depth,
        index: index.to_string(),
        metrics,
    }
}

struct Worker {
    index: String,
    rx: Receiver<Job>,
    depth: Arc<AtomicUsize>,
    current: Current,
    max_batch: usize,
    batch_wait: Duration,
    metrics: Arc<Metrics>,
}

impl Worker {
    fn run(self) {
        while let Some(jobs) = self.next_batch() {
            let left = self.depth.fetch_sub(jobs.len(), Ordering::SeqCst) - jobs.len();
            self.metrics.queue_depth(&self.index, left);
            let now = Instant::now();
            let jobs: Vec<Job> = jobs
                .into_iter()
                .filter(|j| j.deadline > now && !j.reply.is_closed())
                .collect();
            if jobs.is_empty() {
                continue;
            }
            let index = Arc::clone(
                &self
                    .current
                    .read()
                    .expect("no writer panics holding the lock"),
            );
            for group in by_settings(jobs) {
                self.answer(&index, group);
            }
        }
    }

    /// The first waiting job, then what else is waiting (or comes within
    /// the batch wait) up to `max_batch` queries; `None` once the queue is
    /// closed.
    fn next_batch(&self) -> Option<Vec<Job>> {
        let first = self.rx.recv().ok()?;
        let mut queries = first.queries.len();
        let mut jobs = vec![first];
        let until = Instant::now() + self.batch_wait;
        while queries < self.max_batch {
            let wait = until.saturating_duration_since(Instant::now());
            let next = if wait.is_zero() {
                self.rx.try_recv().ok()
            } else {
                self.rx.recv_timeout(wait).ok()
            };
            let Some(job) = next else { break };
            queries += job.queries.len();
            jobs.push(job);
        }
        Some(jobs)
    }

    /// Runs one group of jobs with equal settings on the rayon pool, one
    /// search per distinct filter among their queries, and replies to each.
    fn answer(&self, index: &Collection, jobs: Vec<Job>) {
        let groups = by_filter(&jobs);
        let total: usize = jobs.iter().map(|j| j.queries.len()).sum();
        self.metrics.batch(&self.index, total);
        let params = &jobs[0].params;
        let mut results: Vec<Vec<Option<Searched>>> =
            jobs.iter().map(|j| vec![None; j.queries.len()]).collect();
        let mut failed: Vec<Option<ApiError>> = vec![None; jobs.len()];
        let mut mode = params.mode.unwrap_or(Mode::Exhaustive);
        for (filter, members) in &groups {
            let texts: Vec<&str> = members
                .iter()
                .map(|&(j, q)| jobs[j].queries[q].as_str())
                .collect();
            let found = rayon::scope(|_| {
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let mode = index.check(params)?;
                    let found = index.search_where(&texts, params, *filter)?;
                    Ok::<_, hypencoder_engine::Error>((found, mode))
                }))
            });
            match found {
                Ok(Ok((found, ran))) => {
                    mode = ran;
                    self.metrics
                        .scored(&self.index, found.scored, ran, texts.len());
                    for (&(j, q), hits) in members.iter().zip(found.hits) {
                        results[j][q] = Some((hits, found.warnings.clone()));
                    }
                }
                Ok(Err(err)) => {
                    for &(j, _) in members {
                        failed[j] = Some(ApiError::from_search(&err));
                    }
                }
                Err(_) => {
                    for &(j, _) in members {
                        failed[j] = Some(ApiError::internal(&"the search panicked"));
                    }
                }
            }
        }
        for ((job, mine), failure) in jobs.into_iter().zip(results).zip(failed) {
            let answer = match failure {
                Some(err) => Err(err),
                None => mine
                    .into_iter()
                    .map(|r| {
                        let (hits, warnings) = r.expect("every query searched");
                        let hits = to_api_hits(index, &hits, &job)?;
                        Ok(QueryHits { hits, warnings })
                    })
                    .collect::<Result<Vec<_>, hypencoder_engine::Error>>()
                    .map(|hits| (hits, mode))
                    .map_err(|e| ApiError::internal(&e)),
            };
            let _ = job.reply.send(answer);
        }
    }
}

/// A query's hits and warnings.
type Searched = (Vec<Hit>, Vec<String>);

/// The queries of a batch that share one filter, each as (job, its place
/// in the job).
type FilterGroup<'j> = (Option<&'j Filter>, Vec<(usize, usize)>);

/// Every query of `jobs` grouped by its filter, in order of first use.
fn by_filter(jobs: &[Job]) -> Vec<FilterGroup<'_>> {
    let mut groups: Vec<FilterGroup> = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for (q, filter) in job.filters.iter().enumerate() {
            let filter = filter.as_deref();
            match groups.iter_mut().find(|(f, _)| *f == filter) {
                Some((_, members)) => members.push((j, q)),
                None => groups.push((filter, vec![(j, q)])),
            }
        }
    }
    groups
}

/// Jobs grouped by equal settings, in arrival order of each group's first.
fn by_settings(jobs: Vec<Job>) -> Vec<Vec<Job>> {
    let mut groups: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        match groups.iter_mut().find(|g| g[0].params == job.params) {
            Some(g) => g.push(job),
            None => groups.push(vec![job]),
        }
    }
    groups
}

/// The engine's hits as API hits: ids (and texts and fields, as `job`
/// asks) read from the index that produced them.
fn to_api_hits(
    index: &Collection,
    hits: &[Hit],
    job: &Job,
) -> hypencoder_engine::Result<Vec<ApiHit>> {
    hits.iter()
        .enumerate()
        .map(|(rank, h)| {
            Ok(ApiHit {
                id: index.id(h.doc)?.to_string(),
                score: h.score,
                rank: rank + 1,
                text: if job.include_text {
                    index.text(h.doc)?.map(str::to_string)
                } else {
                    None
                },
                fields: match job.include_fields {
                    IncludeFields::Nothing => None,
                    _ => job.include_fields.pick(index.fields(h.doc)?),
                },
            })
        })
        .collect()
}
