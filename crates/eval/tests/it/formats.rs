//! Reading and writing qrels and runs: errors name file:line, writing round-trips.

use hypencoder_eval::{EvalError, Qrels, Run, RunWriter};
use hypencoder_test_support::Scratch;

fn qrels_error(text: &str) -> String {
    Qrels::from_reader(text.as_bytes(), "judged.qrels")
        .unwrap_err()
        .to_string()
}

fn run_error(text: &str) -> String {
    Run::from_reader(text.as_bytes(), "system.run")
        .unwrap_err()
        .to_string()
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "'{message}' lacks '{part}'");
    }
}

#[test]
fn qrels_reads_grades_and_skips_blank_and_comment_lines() {
    let text = "# header\nq1 0 a 2\n\n  q1 0 b 0\nq1 Q0 c -1\r\nq2\t0\ta\t1\n";
    let qrels = Qrels::from_reader(text.as_bytes(), "judged.qrels").unwrap();
    assert_eq!(qrels.len(), 2);
    let q1 = qrels.judgments("q1").unwrap();
    assert_eq!((q1["a"], q1["b"], q1["c"]), (2, 0, -1));
    assert_eq!(qrels.judgments("q2").unwrap()["a"], 1);
    assert!(qrels.judgments("q3").is_none());
}

#[test]
fn qrels_column_count_errors_name_file_and_line() {
    let message = qrels_error("q1 0 a 1\n# note\nq1 0 b\n");
    assert_contains(
        &message,
        &["judged.qrels:3:", "expected 4 columns", "found 3"],
    );
    let message = qrels_error("q1 0 a 1 extra\n");
    assert_contains(&message, &["judged.qrels:1:", "found 5"]);
}

#[test]
fn qrels_non_integer_relevance_is_an_error() {
    for bad in ["1.5", "x", "1e3", ""] {
        let message = qrels_error(&format!("q1 0 a 1\nq1 0 b 1\nq1 0 c {bad} \n"));
        if bad.is_empty() {
            assert_contains(&message, &["judged.qrels:3:", "found 3"]);
        } else {
            assert_contains(
                &message,
                &["judged.qrels:3:", &format!("'{bad}' is not an integer")],
            );
        }
    }
}

#[test]
fn qrels_duplicate_names_both_lines() {
    let error = Qrels::from_reader(
        "q1 0 a 1\nq2 0 a 1\n\nq1 0 a 0\n".as_bytes(),
        "judged.qrels",
    )
    .unwrap_err();
    assert!(matches!(
        error,
        EvalError::Duplicate {
            line: 4,
            first_line: 1,
            ..
        }
    ));
    assert_contains(
        &error.to_string(),
        &["judged.qrels:4:", "judged.qrels:1", "'q1'", "'a'"],
    );
}

#[test]
fn run_reads_only_qid_docid_and_score() {
    let text = "q1 Q0 a 7 1.5 tagA\n# comment\n\nq1 0 b 1 2 tagB\nq2 Q0 a 1 -3e2 t\n";
    let run = Run::from_reader(text.as_bytes(), "system.run").unwrap();
    let q1: Vec<(&str, f64)> = run
        .ranking("q1")
        .unwrap()
        .iter()
        .map(|d| (d.docid.as_str(), d.score))
        .collect();
    assert_eq!(q1, [("b", 2.0), ("a", 1.5)]);
    assert_eq!(run.ranking("q2").unwrap()[0].score, -300.0);
    assert_eq!(run.len(), 2);
}

#[test]
fn run_column_count_errors_name_file_and_line() {
    let message = run_error("q1 Q0 a 1 1.0 t\nq1 Q0 b 2 1.0\n");
    assert_contains(
        &message,
        &["system.run:2:", "expected 6 columns", "found 5"],
    );
    let message = run_error("q1 Q0 a 1 1.0 t extra\n");
    assert_contains(&message, &["system.run:1:", "found 7"]);
}

#[test]
fn run_bad_scores_are_errors() {
    for bad in ["abc", "NaN", "nan", "1.0x", "1,5"] {
        let message = run_error(&format!("q1 Q0 a 1 1.0 t\nq1 Q0 b 2 {bad} t\n"));
        assert_contains(
            &message,
            &["system.run:2:", &format!("score '{bad}' is not a number")],
        );
    }
}

#[test]
fn run_duplicate_names_both_lines() {
    let error = run_error("q1 Q0 a 1 3 t\nq1 Q0 b 2 2 t\nq2 Q0 a 1 1 t\nq1 Q0 a 3 1 t\n");
    assert_contains(&error, &["system.run:4:", "system.run:1", "'q1'", "'a'"]);
}

#[test]
fn reading_files_names_the_path() {
    let scratch = Scratch::new("eval-formats");
    let path = scratch.write("bad-line.run", "q1 Q0 a 1 1 t\nq1 Q0 b\n");
    let message = Run::read(&path).unwrap_err().to_string();
    assert_contains(&message, &[&format!("{}:2:", path.display())]);

    let path = scratch.write("bad-line.qrels", "q1 0 a 1\nq1 0 b 1\nq1 0 c one\n");
    let message = Qrels::read(&path).unwrap_err().to_string();
    assert_contains(&message, &[&format!("{}:3:", path.display())]);

    let missing = scratch.join("no-such.qrels");
    let error = Qrels::read(&missing).unwrap_err();
    assert!(matches!(error, EvalError::Io { .. }));
    assert_contains(&error.to_string(), &["no-such.qrels"]);
}

#[test]
fn invalid_utf8_names_the_line() {
    let message = Run::from_reader(&b"q1 Q0 a 1 1 t\nq1 Q0 \xff 1 1 t\n"[..], "system.run")
        .unwrap_err()
        .to_string();
    assert_contains(&message, &["system.run:2:"]);
}

#[test]
fn written_f32_scores_read_back_exactly() {
    let scores: [f32; 8] = [
        f32::MAX,
        1.0 / 3.0,
        0.1,
        0.1,
        1e-7,
        f32::MIN_POSITIVE,
        -0.0,
        -2.5e38,
    ];
    let ranking: Vec<(String, f32)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (format!("doc{i}"), s))
        .collect();
    let mut writer = RunWriter::new(Vec::new(), "hype");
    writer
        .write_query("q7", ranking.iter().map(|(d, s)| (d, *s)))
        .unwrap();
    writer
        .write_query("q1", [("x", 2.0f32), ("y", 1.0)])
        .unwrap();
    let bytes = writer.finish().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("q7 Q0 doc0 1 "), "{text}");
    assert!(text.contains("q7 Q0 doc1 2 0.33333334 hype\n"), "{text}");
    assert!(text.contains("q1 Q0 y 2 1 hype\n"), "{text}");

    let run = Run::from_reader(text.as_bytes(), "written").unwrap();
    let back = run.ranking("q7").unwrap();
    assert_eq!(back.len(), scores.len());
    for (docid, score) in &ranking {
        let read = back.iter().find(|d| &d.docid == docid).unwrap();
        assert_eq!((read.score as f32).to_bits(), score.to_bits(), "{docid}");
    }
    // The tie between doc2 and doc3 is broken by decreasing docid.
    let order: Vec<&str> = back.iter().map(|d| d.docid.as_str()).collect();
    assert_eq!(
        order,
        ["doc0", "doc1", "doc3", "doc2", "doc4", "doc5", "doc6", "doc7"]
    );
}

#[test]
fn whole_runs_round_trip_through_a_file() {
    let mut run = Run::new();
    run.add_query("b", [("d1", 0.5), ("d2", 0.75), ("d3", 0.5)])
        .unwrap();
    run.add_query("a", [("d9", 1e-300), ("d8", -1.0)]).unwrap();
    run.add_query("empty", Vec::<(String, f64)>::new()).unwrap();
    let scratch = Scratch::new("eval-round-trip");
    let path = scratch.join("round-trip.run");
    let mut writer = RunWriter::create(&path, "rt").unwrap();
    writer.write_run(&run).unwrap();
    writer.finish().unwrap();
    assert_eq!(Run::read(&path).unwrap(), run);
    assert!(run.ranking("empty").is_none());
}

#[test]
fn writer_rejects_what_it_could_not_read_back() {
    // (query id, tag, ranking, expected reason)
    let cases = [
        (
            "q1",
            "t",
            vec![("a", 1.0), ("b", 2.0)],
            "above the document before it",
        ),
        ("q1", "t", vec![("a", f32::NAN)], "NaN"),
        ("q1", "t", vec![("a", 2.0), ("a", 1.0)], "retrieved twice"),
        ("q1", "t", vec![("a b", 1.0)], "document id 'a b'"),
        ("q 1", "t", vec![("a", 1.0)], "query id 'q 1'"),
        ("q1", "", vec![("a", 1.0)], "tag ''"),
    ];
    for (qid, tag, docs, reason) in cases {
        let mut writer = RunWriter::new(Vec::new(), tag);
        let error = writer.write_query(qid, docs).unwrap_err();
        assert!(matches!(error, EvalError::InvalidRanking { .. }));
        assert_contains(&error.to_string(), &[reason]);
        assert!(
            writer.finish().unwrap().is_empty(),
            "nothing written for {reason}"
        );
    }
}

#[test]
fn add_query_rejects_duplicates_and_nan_without_changing_the_run() {
    let mut run = Run::new();
    run.add_query("q", [("a", 1.0), ("b", 3.0)]).unwrap();
    let before = run.clone();
    assert!(run.add_query("q", [("c", 2.0), ("a", 0.0)]).is_err());
    assert!(run.add_query("q", [("c", f64::NAN)]).is_err());
    assert!(run.add_query("q", [("c", 2.0), ("c", 1.0)]).is_err());
    assert_eq!(run, before);
    run.add_query("q", [("c", 2.0f32)]).unwrap();
    let order: Vec<&str> = run
        .ranking("q")
        .unwrap()
        .iter()
        .map(|d| d.docid.as_str())
        .collect();
    assert_eq!(order, ["b", "c", "a"]);
}

#[test]
fn scores_compare_as_f64_like_current_trec_eval() {
    // Equal as f32, different as f64. trec_eval >= 9.0.8 (usnistgov/trec_eval
    // PR #38) reads scores as double, so "a" ranks first; pytrec_eval and
    // trec_eval <= 9.0.7 store floats, see a tie and put "b" first.
    let run = Run::from_reader(
        "q Q0 a 1 0.10000000149011612 t\nq Q0 b 2 0.1 t\n".as_bytes(),
        "precise.run",
    )
    .unwrap();
    assert_eq!(run.ranking("q").unwrap()[0].docid, "a");
}
