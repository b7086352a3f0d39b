//! Paths to the shared parity fixtures and the real MiniLM model.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};

pub fn fixtures() -> PathBuf {
    if let Ok(dir) = std::env::var("HYPENCODER_FIXTURES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// all-MiniLM-L6-v2 as a Hugging Face folder: `$HYPENCODER_MINILM`, or where
/// `scripts/fetch-minilm` puts it.
pub fn minilm() -> PathBuf {
    let dir = std::env::var("HYPENCODER_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("config.json").is_file(),
        "all-MiniLM-L6-v2 not found at {}: run scripts/fetch-minilm (or set HYPENCODER_MINILM)",
        dir.display()
    );
    dir
}

pub fn expected(name: &str) -> (HashMap<String, Tensor>, serde_json::Value) {
    let dir = fixtures().join(name);
    let tensors = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu)
        .expect("expected.safetensors loads");
    let json = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json reads");
    (
        tensors,
        serde_json::from_str(&json).expect("expected.json parses"),
    )
}

pub fn strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("expected.json has no list '{key}'"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Largest absolute difference; panics with `what` if shapes differ.
pub fn max_abs_diff(a: &Tensor, b: &Tensor, what: &str) -> f32 {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn assert_close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
    let d = max_abs_diff(a, b, what);
    assert!(d <= tol, "{what}: max abs difference {d:e} exceeds {tol:e}");
}

/// Row `i` of an (N, L) i64 id tensor, cut at its mask's length.
pub fn ids_row(ids: &Tensor, mask: &Tensor, i: usize) -> Vec<u32> {
    let ids = ids.get(i).unwrap().to_vec1::<i64>().unwrap();
    let n = mask
        .get(i)
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
        .iter()
        .sum::<i64>() as usize;
    ids[..n].iter().map(|&x| x as u32).collect()
}
