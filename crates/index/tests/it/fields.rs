//! Document fields: read from a corpus with their types checked (errors
//! name the file, line and field), stored in a segment's columns and read
//! back as written, checksummed; and filters, whose every operator keeps
//! exactly the rows a plain reading of the documents' JSON keeps.

use std::path::Path;

use hypencoder_index::{
    read_jsonl, Dtype, FieldType, Fields, Filter, IndexError, RowSet, Segment, SegmentWriter,
    Stored,
};
use hypencoder_test_support::{Rng, Scratch};
use serde_json::{json, Map, Value};

use crate::index::config;

fn object(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// A segment of `docs` (each document's fields), 3 documents per chunk so
/// fields cross chunk boundaries.
fn segment_of(out: &Path, docs: &[Map<String, Value>]) -> Segment {
    let mut w = SegmentWriter::create(out, config(Dtype::F32, 3)).unwrap();
    for (i, fields) in docs.iter().enumerate() {
        w.add_with_fields(&format!("d{i}"), "text", &[i as f32; 4], false, fields)
            .unwrap();
    }
    w.finish().unwrap();
    Segment::open(out).unwrap()
}

fn corpus_fields<'a>(stored: Stored<'a>) -> Fields<'a> {
    Fields {
        id: "id",
        text: "text",
        require_id: true,
        stored,
    }
}

#[test]
fn a_corpus_gives_typed_fields_and_names_the_line_of_a_conflict() {
    let s = Scratch::new("fields-read");
    let path = s.join("corpus.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"id": "a", "text": "x", "section": "1", "year": 2020, "tags": ["p", "q"]}"#,
            "\n",
            r#"{"id": "b", "text": "y", "year": 2021.5, "score": null}"#,
            "\n",
        ),
    )
    .unwrap();
    let records = read_jsonl(&path, &corpus_fields(Stored::All)).unwrap();
    assert_eq!(
        records[0].fields,
        object(json!({"section": "1", "year": 2020, "tags": ["p", "q"]}))
    );
    assert_eq!(
        records[1].fields,
        object(json!({"year": 2021.5, "score": null}))
    );
    let only = ["year".to_string()];
    let records = read_jsonl(&path, &corpus_fields(Stored::Only(&only))).unwrap();
    assert_eq!(records[0].fields, object(json!({"year": 2020})));
    let records = read_jsonl(&path, &corpus_fields(Stored::Nothing)).unwrap();
    assert!(records[0].fields.is_empty());

    for (line2, expected) in [
        (
            r#"{"id": "b", "text": "y", "year": "2021"}"#,
            "corpus.jsonl:2: field 'year' is a string here but an integer at ",
        ),
        (
            r#"{"id": "b", "text": "y", "meta": {"a": 1}}"#,
            "corpus.jsonl:2: field 'meta': an object is not a field value",
        ),
        (
            r#"{"id": "b", "text": "y", "tags": ["a", 1]}"#,
            "corpus.jsonl:2: field 'tags': an array mixes a string and an integer",
        ),
        (
            r#"{"id": "b", "text": "y", "tags": [true]}"#,
            "field 'tags': arrays hold strings or numbers",
        ),
    ] {
        std::fs::write(
            &path,
            format!("{{\"id\": \"a\", \"text\": \"x\", \"year\": 2020}}\n{line2}\n"),
        )
        .unwrap();
        let err = read_jsonl(&path, &corpus_fields(Stored::All))
            .err()
            .expect("a conflict is an error")
            .to_string();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn fields_are_stored_in_columns_and_read_back_as_written() {
    let s = Scratch::new("fields-store");
    let docs = vec![
        object(json!({"section": "8", "year": 2020, "tags": ["a", "b"], "ok": true})),
        object(json!({"section": "1", "year": 2021.5, "tags": "c"})),
        Map::new(),
        object(json!({"tags": [], "price": [1, 2.5]})),
        object(json!({"section": "1", "ok": false})),
    ];
    let seg = segment_of(&s.join("idx"), &docs);
    let fields = seg.fields().expect("fields stored");
    let schema = &seg.manifest().fields;
    assert_eq!(
        schema["year"].ty,
        FieldType::Float,
        "integers and floats meet as floats"
    );
    assert!(schema["tags"].array && !schema["section"].array);
    assert_eq!(schema["ok"].ty, FieldType::Bool);
    assert_eq!(
        fields.row(0),
        object(json!({"section": "8", "year": 2020.0, "tags": ["a", "b"], "ok": true}))
    );
    assert_eq!(
        fields.row(1),
        object(json!({"section": "1", "year": 2021.5, "tags": ["c"]}))
    );
    assert!(fields.row(2).is_empty());
    assert_eq!(fields.row(3), object(json!({"price": [1.0, 2.5]})));
    assert_eq!(fields.row(4), object(json!({"section": "1", "ok": false})));

    // A segment without fields has no file and opens as before.
    let plain = segment_of(&s.join("plain"), &[Map::new(), Map::new()]);
    assert!(plain.fields().is_none());
    assert!(!s.join("plain").join("fields.bin").exists());

    // A conflicting type is refused when added, naming both documents.
    let mut w = SegmentWriter::create(&s.join("bad"), config(Dtype::F32, 3)).unwrap();
    w.add_with_fields("x", "t", &[0.0; 4], false, &object(json!({"n": 1})))
        .unwrap();
    let err = w
        .add_with_fields("y", "t", &[0.0; 4], false, &object(json!({"n": "one"})))
        .unwrap_err();
    assert!(matches!(err, IndexError::Fields(_)), "{err}");
    assert!(
        err.to_string()
            .contains("document 'y': field 'n' is a string here but an integer at document 'x'"),
        "{err}"
    );

    // A damaged column is named on open.
    let path = s.join("idx").join("fields.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[30] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let err = Segment::open(&s.join("idx")).err().unwrap();
    assert!(
        matches!(err, IndexError::Corrupt { ref path, .. } if path.ends_with("fields.bin")),
        "{err}"
    );
}

#[test]
fn a_resumed_build_keeps_the_fields_of_its_chunks() {
    let s = Scratch::new("fields-resume");
    let out = s.join("idx");
    let mut w = SegmentWriter::create(&out, config(Dtype::F32, 2)).unwrap();
    for i in 0..5 {
        let f = object(json!({"n": i}));
        w.add_with_fields(&format!("d{i}"), "t", &[0.0; 4], false, &f)
            .unwrap();
    }
    drop(w); // interrupted: two chunks of two written, one document lost
    let mut w = SegmentWriter::create(&out, config(Dtype::F32, 2)).unwrap();
    assert_eq!(w.resumed_docs(), 4);
    w.add_with_fields("d4", "t", &[0.0; 4], false, &object(json!({"n": "four"})))
        .expect_err("the resumed chunks' types still hold");
    w.add_with_fields("d4", "t", &[0.0; 4], false, &object(json!({"n": 4})))
        .unwrap();
    let seg = {
        w.finish().unwrap();
        Segment::open(&out).unwrap()
    };
    let f = seg.fields().unwrap();
    let got: Vec<Value> = (0..5).map(|r| f.row(r)["n"].clone()).collect();
    assert_eq!(got, (0..5).map(|i| json!(i)).collect::<Vec<_>>());
}

#[test]
fn filter_errors_name_the_path_inside_the_filter() {
    let schema = {
        let s = Scratch::new("fields-schema");
        let seg = segment_of(
            &s.join("idx"),
            &[object(
                json!({"section": "1", "year": 2020, "tags": ["a"], "ok": true}),
            )],
        );
        seg.manifest().fields.clone()
    };
    let parse_err = |text: &str| Filter::parse_str(text).unwrap_err().to_string();
    let check_err = |text: &str| {
        Filter::parse_str(text)
            .unwrap()
            .check(&schema)
            .unwrap_err()
            .to_string()
    };
    for (filter, expected) in [
        ("{\"year\": {\"gte\": 1", "filter at $: not JSON"),
        ("[1]", "filter at $: expected an object"),
        (
            r#"{"year": {"between": [1, 2]}}"#,
            "filter at $.year.between: unknown operator 'between'",
        ),
        (
            r#"{"and": {"year": 1}}"#,
            "filter at $.and: 'and' takes a list of filters",
        ),
        (
            r#"{"or": [{"a": 1}, 5]}"#,
            "filter at $.or[1]: expected an object",
        ),
        (
            r#"{"tags": ["a", "b"]}"#,
            "filter at $.tags: a list here is ambiguous",
        ),
        (
            r#"{"ok": {"exists": "yes"}}"#,
            "filter at $.ok.exists: 'exists' takes true or false",
        ),
        (
            r#"{"year": {"gte": "2020"}}"#,
            "filter at $.year.gte: 'gte' takes a number",
        ),
        (
            r#"{"year": {"in": 3}}"#,
            "filter at $.year.in: expected a list of values",
        ),
        (
            r#"{"year": {"not": {"eq": 1}}}"#,
            "filter at $.year.not: 'not' combines filters",
        ),
        (
            r#"{"year": null}"#,
            "filter at $.year: null matches nothing",
        ),
    ] {
        let err = parse_err(filter);
        assert!(err.starts_with(expected), "{filter}: {err}");
    }
    for (filter, expected) in [
        (r#"{"section": {"gt": 1}}"#, "filter at $.section: a range needs a number field; 'section' holds strings"),
        (r#"{"not": {"year": "2020"}}"#, "filter at $.not.year: field 'year' holds integers, compared here with a string"),
        (r#"{"and": [{"ok": true}, {"tags": {"in": ["a", 3]}}]}"#, "filter at $.and[1].tags.in[1]: field 'tags' holds strings, compared here with a number"),
    ] {
        let err = check_err(filter);
        assert!(err.starts_with(expected), "{filter}: {err}");
    }
    let unknown = Filter::parse_str(r#"{"or": [{"colour": "red"}, {"size": 1}, {"year": 1}]}"#)
        .unwrap()
        .check(&schema)
        .unwrap();
    assert_eq!(unknown, ["colour", "size"]);
}

/// What a filter keeps, read off the documents' JSON directly (the
/// language's definition, written apart from the columns).
fn reference(filter: &Value, doc: &Map<String, Value>) -> bool {
    let f = filter.as_object().unwrap();
    f.iter().all(|(key, arg)| match key.as_str() {
        "and" => arg.as_array().unwrap().iter().all(|g| reference(g, doc)),
        "or" => arg.as_array().unwrap().iter().any(|g| reference(g, doc)),
        "not" => !reference(arg, doc),
        field => {
            let values: Vec<&Value> = match doc.get(field) {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v) => vec![v],
            };
            let eq = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => a == b,
            };
            match arg {
                Value::Object(ops) => ops.iter().all(|(op, x)| match op.as_str() {
                    "eq" => values.iter().any(|v| eq(v, x)),
                    "in" => values
                        .iter()
                        .any(|v| x.as_array().unwrap().iter().any(|y| eq(v, y))),
                    "all" => x
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|y| values.iter().any(|v| eq(v, y))),
                    "exists" => values.is_empty() != x.as_bool().unwrap(),
                    "gt" | "gte" | "lt" | "lte" => {
                        // Bounds together: some one value within all of them.
                        values.iter().any(|v| {
                            let Some(v) = v.as_f64() else { return false };
                            ops.iter().all(|(o, b)| {
                                let b = b.as_f64().unwrap();
                                match o.as_str() {
                                    "gt" => v > b,
                                    "gte" => v >= b,
                                    "lt" => v < b,
                                    "lte" => v <= b,
                                    _ => true,
                                }
                            })
                        })
                    }
                    other => panic!("test filter uses {other}"),
                }),
                x => values.iter().any(|v| eq(v, x)),
            }
        }
    })
}

/// Walking `set` from any row finds the next kept one.
fn next_from_agrees_with_the_list(set: &RowSet) {
    let list = set.to_rows();
    for from in [0, 1, 63, 64, 65, 130, 199, 200] {
        let next = list.iter().find(|&&r| r as usize >= from);
        assert_eq!(
            set.next_from(from),
            next.map(|&r| r as usize),
            "next from {from}"
        );
    }
}

/// 200 documents with every kind of field, each present or not at random.
fn random_docs() -> Vec<Map<String, Value>> {
    let mut rng = Rng::new(7);
    let mut pick = |n: u64| (rng.next_u64() >> 33) % n;
    let words = ["a", "b", "c", "d"];
    (0..200)
        .map(|_| {
            let mut d = Map::new();
            if pick(5) > 0 {
                d.insert(
                    "section".into(),
                    json!(["1", "2", "3", "8"][pick(4) as usize]),
                );
            }
            if pick(4) > 0 {
                d.insert("year".into(), json!(2015 + pick(10)));
            }
            if pick(3) > 0 {
                let tags: Vec<&str> = (0..pick(4)).map(|_| words[pick(4) as usize]).collect();
                d.insert("tags".into(), json!(tags));
            }
            if pick(2) > 0 {
                d.insert("size".into(), json!(pick(1000) as f64 / 10.0));
            }
            if pick(3) > 0 {
                d.insert("ok".into(), json!(pick(2) == 1));
            }
            if pick(3) > 0 {
                // Several numbers, one, or none: a range reads each row's
                // values in two ways.
                let scores: Vec<u64> = (0..pick(3)).map(|_| pick(100)).collect();
                d.insert("scores".into(), json!(scores));
            }
            d
        })
        .collect()
}

#[test]
fn every_operator_keeps_what_the_documents_say() {
    let s = Scratch::new("fields-filter");
    let docs = random_docs();
    let seg = segment_of(&s.join("idx"), &docs);
    let filters = [
        json!({"section": "1"}),
        json!({"section": {"eq": "8"}}),
        json!({"section": {"in": ["1", "8", "9"]}}),
        json!({"section": "nowhere"}),
        json!({"year": 2020}),
        json!({"year": {"gte": 2018, "lt": 2022}}),
        json!({"year": {"gt": 2023}}),
        json!({"year": {"lte": 2015.5}}),
        json!({"size": {"gt": 50, "lte": 75.5}}),
        json!({"size": {"in": [10, 20.5]}}),
        json!({"scores": {"gte": 40, "lt": 60}}),
        json!({"scores": {"gt": 90}}),
        json!({"tags": "a"}),
        json!({"tags": {"all": ["a", "b"]}}),
        json!({"tags": {"all": ["a", "zzz"]}}),
        json!({"tags": {"in": ["c", "d"]}}),
        json!({"tags": {"exists": true}}),
        json!({"tags": {"exists": false}}),
        json!({"ok": true}),
        json!({"ok": {"exists": false}}),
        json!({"nothere": {"exists": false}}),
        json!({"nothere": 1}),
        json!({"not": {"section": "1"}}),
        json!({"section": "1", "ok": true}),
        json!({"and": [{"year": {"gte": 2020}}, {"or": [{"tags": "a"}, {"section": {"in": ["2", "3"]}}]}]}),
        json!({"or": [{"not": {"year": {"exists": true}}}, {"size": {"lt": 10}}]}),
        json!({"and": []}),
        json!({"or": []}),
    ];
    for f in &filters {
        let filter = Filter::parse(f).unwrap();
        filter.check(&seg.manifest().fields).unwrap();
        let got = filter.rows(seg.fields(), seg.len());
        let want = RowSet::from_fn(docs.len(), |r| reference(f, &docs[r]));
        assert_eq!(
            got,
            want,
            "{f}: {} kept, {} expected",
            got.count(),
            want.count()
        );
        next_from_agrees_with_the_list(&got);
    }
}
