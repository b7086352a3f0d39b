//! `SearchParams` is one set of names with one set of defaults: what its
//! JSON form carries is exactly `SearchParams::NAMES`, absent fields take
//! the defaults, unknown ones are refused by name.

use hypencoder_engine::{FusionMethod, Mode, SearchParams, Walk};

#[test]
fn the_json_form_has_every_name_and_only_those() {
    let json = serde_json::to_value(SearchParams::DEFAULT).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut names = SearchParams::NAMES.to_vec();
    keys.sort_unstable();
    names.sort_unstable();
    assert_eq!(keys, names);
}

#[test]
fn absent_fields_take_the_defaults_and_unknown_ones_are_named() {
    let empty: SearchParams = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, SearchParams::default());
    let some: SearchParams = serde_json::from_str(
        r#"{"k": 3, "mode": "graph", "fusion": "rrf", "algorithm": "paper", "rrf_k": 10}"#,
    )
    .unwrap();
    assert_eq!(some.k, 3);
    assert_eq!(some.mode, Some(Mode::Graph));
    assert_eq!(some.fusion, FusionMethod::Rrf);
    assert_eq!(some.algorithm, Walk::Paper);
    assert_eq!(some.ef, SearchParams::DEFAULT.ef);
    let err = serde_json::from_str::<SearchParams>(r#"{"eff": 3}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `eff`"), "{err}");
    let err = serde_json::from_str::<SearchParams>(r#"{"mode": "fast"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `fast`"), "{err}");
}
