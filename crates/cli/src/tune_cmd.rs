//! `hypencoder tune`: hybrid settings chosen on the user's own judged
//! queries, printed as a table and recorded in the index (one commit) so
//! that `search`, `serve` and Python use them where a request sets none.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hypencoder_engine::{
    tune, unique_ids, Decision, Metric, Overrides, Qrels, TuneOptions, TuneRow, Tuning, Writer,
    FOLDS, MIN_QUERIES,
};

use crate::common::{open_collection, Bar, FieldArgs, Hinted};

#[derive(clap::Args)]
#[command(
    mut_arg("id_field", |a| a.help("JSON field holding each query's id")),
    mut_arg("text_field", |a| a.help("JSON field holding each query's text"))
)]
pub struct TuneArgs {
    /// Index folder with a lexical part (hybrid search).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Judged queries, JSONL with an id and a text field per line (a dev
    /// split: never the queries the result will be reported on).
    #[arg(long, value_name = "FILE", required_unless_present = "reset")]
    pub queries: Option<PathBuf>,
    /// Their relevance judgments, TREC qrels: `qid iter docid rel`.
    #[arg(long, value_name = "FILE", required_unless_present = "reset")]
    pub qrels: Option<PathBuf>,
    /// The metric maximised: one with a cutoff (mrr@10, ndcg@10, recall@100).
    #[arg(long, value_name = "NAME", default_value = "mrr@10")]
    pub metric: String,
    /// Settings shown, best first (the shipped defaults are always shown).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Print the table but record nothing.
    #[arg(long, conflicts_with = "reset")]
    pub dry_run: bool,
    /// Forget the recorded settings: searches use the shipped defaults.
    #[arg(long, conflicts_with_all = ["queries", "qrels"])]
    pub reset: bool,
    /// Print the whole outcome (every setting's score) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seed of the held-out folds and the bootstrap.
    #[arg(long, value_name = "N", default_value_t = 43)]
    pub seed: u64,
    /// Model folder [default: the one the index was built with].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub fields: FieldArgs,
}

pub fn run(args: &TuneArgs) -> Result<()> {
    if args.reset {
        let generation = Writer::open(&args.index)
            .and_then(|mut w| w.set_search_defaults(Overrides::new()))
            .hinted()?;
        eprintln!(
            "{} searches with the shipped defaults again (generation {generation})",
            args.index.display()
        );
        return Ok(());
    }
    let (queries, qrels) = match (&args.queries, &args.qrels) {
        (Some(q), Some(r)) => (q, r),
        _ => unreachable!("clap requires --queries and --qrels without --reset"),
    };
    let metric = Metric::parse(&args.metric).with_context(|| "--metric")?;
    let records = args.fields.read(queries, true)?;
    let ids = unique_ids(&records, queries)?;
    let queries: Vec<(String, String)> = ids
        .into_iter()
        .zip(records.into_iter().map(|r| r.text))
        .collect();
    let qrels = Qrels::read(qrels)?;
    let collection = open_collection(&args.index, args.model.as_deref(), None)?;
    let options = TuneOptions {
        metric,
        seed: args.seed,
        ..TuneOptions::default()
    };
    let tuning = tune(
        &collection,
        &queries,
        &qrels,
        &options,
        &Bar::counting("passes"),
    )
    .hinted()?;
    drop(collection);
    let recorded = if args.dry_run {
        None
    } else {
        let mut writer = Writer::open(&args.index).hinted()?;
        Some(writer.set_search_defaults(tuning.record()).hinted()?)
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&tuning)?)?;
    } else {
        print_table(&mut out, &tuning, &args.metric, args.top)?;
    }
    eprintln!("{}", verdict(&tuning, args, recorded));
    Ok(())
}

/// The best `top` settings and the shipped defaults, one row each, scored
/// by `metric` (as the user named it).
fn print_table(out: &mut impl Write, tuning: &Tuning, metric: &str, top: usize) -> Result<()> {
    writeln!(
        out,
        "{} settings on {} judged queries ({metric}), {:.1} s",
        tuning.rows.len(),
        tuning.queries,
        tuning.seconds
    )?;
    writeln!(
        out,
        "{:>4}  {:<8} {:>5} {:>5} {:>10} {:>7} {:>6} {:>8} {:>8}",
        "rank", "fusion", "alpha", "rrf_k", "candidates", "bm25_k1", "bm25_b", metric, "gain"
    )?;
    let shipped_rank = tuning
        .rows
        .iter()
        .position(|r| r.setting == tuning.shipped.setting);
    for (rank, row) in tuning.rows.iter().enumerate() {
        let shown = rank < top || Some(rank) == shipped_rank;
        if !shown {
            continue;
        }
        if rank >= top && rank > 0 {
            writeln!(out, "   ...")?;
        }
        let mark = if Some(rank) == shipped_rank {
            "  shipped defaults"
        } else if rank == 0 && tuning.decision == Decision::Tuned {
            "  chosen"
        } else {
            ""
        };
        write_row(out, rank + 1, row, tuning.shipped.score, mark)?;
    }
    Ok(())
}

fn write_row(
    out: &mut impl Write,
    rank: usize,
    row: &TuneRow,
    base: f64,
    mark: &str,
) -> Result<()> {
    let s = &row.setting;
    let opt = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v}"));
    writeln!(
        out,
        "{rank:>4}  {:<8} {:>5} {:>5} {:>10} {:>7} {:>6} {:>8.4} {:>+8.4}{mark}",
        format!("{:?}", s.fusion).to_lowercase(),
        opt(s.alpha),
        opt(s.rrf_k),
        s.candidates,
        s.bm25_k1,
        s.bm25_b,
        row.score,
        row.score - base,
    )?;
    Ok(())
}

/// What was decided and why, and what was recorded.
fn verdict(tuning: &Tuning, args: &TuneArgs, recorded: Option<u64>) -> String {
    let evidence = format!(
        "best {:+.4} over the shipped defaults on these queries, {:+.4} held out ({FOLDS}-fold), paired bootstrap p = {:.3}",
        tuning.gain, tuning.held_out_gain, tuning.p_value
    );
    let why = match tuning.decision {
        Decision::Tuned => "the best setting is chosen".to_string(),
        Decision::ShippedBest => "the shipped defaults were best: kept".to_string(),
        Decision::NoHeldOutGain => {
            "the gain does not hold on held-out folds (it fits these queries): shipped defaults kept".to_string()
        }
        Decision::FewQueries => format!(
            "only {} judged queries (under {MIN_QUERIES}) and the gain is not clear (p >= 0.05): shipped defaults kept; judge more queries",
            tuning.queries
        ),
    };
    let index = args.index.display();
    let what = match recorded {
        None => "dry run: nothing recorded".to_string(),
        Some(generation) if tuning.decision == Decision::Tuned => format!(
            "recorded in {index} (generation {generation}): search, serve and Python use it where a request sets none; `hypencoder tune --index {index} --reset` forgets it"
        ),
        Some(generation) => format!("{index} searches with the shipped defaults (generation {generation})"),
    };
    let unjudged = if tuning.unjudged > 0 {
        format!(
            "\n{} queries have no judgments and were left out",
            tuning.unjudged
        )
    } else {
        String::new()
    };
    format!("{evidence}\n{why}\n{what}{unjudged}")
}
