//! Parity with the official implementation on every checkpoint in
//! ../shared/fixtures: token ids exact; hidden states, q-net weights, biases
//! and passage embeddings within 1e-5; scores within `score_tolerance`.
//!
//! The score tolerance and why the deep fixtures need a relative term are
//! documented at `hypencoder_test_support::score_tolerance`.

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use hypencoder_model::{Model, QNetBatch, QueryRepresentation};
use hypencoder_test_support::{fixture, fixtures, minilm, score_tolerance, strings};

const CHECKPOINTS: [&str; 3] = ["tiny-2layer", "tiny-6layer-bin", "tiny-mean-unshared"];

/// A fixture's reference tensors and its `expected.json`.
type Expected = (HashMap<String, Tensor>, serde_json::Value);

fn check_checkpoint(name: &str) {
    let (want, meta) = expected(name);
    let model = Model::load(&fixture(name)).expect("checkpoint loads");
    let queries = strings(&meta, "queries");
    let passages = strings(&meta, "passages");
    let q: Vec<&str> = queries.iter().map(String::as_str).collect();
    let p: Vec<&str> = passages.iter().map(String::as_str).collect();
    check_token_ids(name, &model, &want, &q, &p);
    check_hidden_states(name, &model, &want, &q);
    let QueryRepresentation::QNets(qnets) = model.encode_queries(&q).unwrap() else {
        panic!("{name}: a Hypencoder must give q-nets");
    };
    check_qnets(name, &qnets, &want);
    check_batch_invariance(name, &model, &qnets, &q);
    let docs = model.encode_docs(&p).unwrap();
    assert_close(
        &docs,
        &want["passage_embeddings"],
        1e-5,
        &format!("{name}: passage embeddings"),
    );
    let scores = model
        .score(&QueryRepresentation::QNets(qnets), &docs)
        .unwrap();
    check_scores(name, &scores, &want["scores"], (q.len(), p.len()));
}

/// Each query's q-net is the same, bit for bit, alone as in the batch of
/// every query (padded to the longest), so a server that batches whatever
/// arrives together answers each query as the CLI does.
fn check_batch_invariance(name: &str, model: &Model, batch: &QNetBatch, q: &[&str]) {
    let batch = batch.split().unwrap();
    for (i, text) in q.iter().enumerate() {
        let QueryRepresentation::QNets(alone) = model.encode_queries(&[text]).unwrap() else {
            unreachable!("a Hypencoder gives q-nets");
        };
        let alone = alone.split().unwrap().remove(0);
        let pairs = alone.weights.iter().zip(&batch[i].weights);
        let pairs = pairs.chain(alone.biases.iter().zip(&batch[i].biases));
        for (layer, (a, b)) in pairs.enumerate() {
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(
                a == b,
                "{name}: query {i}, tensor {layer} differs alone and in a batch (by up to {worst:e})"
            );
        }
    }
}

/// Query and passage token ids, exactly.
fn check_token_ids(
    name: &str,
    model: &Model,
    want: &HashMap<String, Tensor>,
    q: &[&str],
    p: &[&str],
) {
    for (i, text) in q.iter().enumerate() {
        let want_ids = ids_row(&want["query_input_ids"], &want["query_attention_mask"], i);
        assert_eq!(
            model.query_tokenizer().ids(text).unwrap(),
            want_ids,
            "{name}: query {i} ids"
        );
    }
    for (i, text) in p.iter().enumerate() {
        let want_ids = ids_row(
            &want["passage_input_ids"],
            &want["passage_attention_mask"],
            i,
        );
        assert_eq!(
            model.doc_tokenizer().ids(text).unwrap(),
            want_ids,
            "{name}: passage {i} ids"
        );
    }
}

/// Query hidden states at real (unpadded) positions.
fn check_hidden_states(name: &str, model: &Model, want: &HashMap<String, Tensor>, q: &[&str]) {
    let (batch, hidden) = model.query_hidden_states(q).unwrap();
    let want_hidden = &want["query_last_hidden_state"];
    for (i, &len) in batch.lengths.iter().enumerate() {
        let got = hidden.get(i).unwrap().narrow(0, 0, len).unwrap();
        let exp = want_hidden.get(i).unwrap().narrow(0, 0, len).unwrap();
        assert_close(
            &got,
            &exp,
            1e-5,
            &format!("{name}: query {i} last hidden state"),
        );
    }
}

/// Every q-net weight and bias, and no layer more or less.
fn check_qnets(name: &str, qnets: &QNetBatch, want: &HashMap<String, Tensor>) {
    for (i, w) in qnets.weights().iter().enumerate() {
        assert_close(
            w,
            &want[&format!("qnet_weight_{i}")],
            1e-5,
            &format!("{name}: q-net weight {i}"),
        );
    }
    for (i, b) in qnets.biases().iter().enumerate() {
        assert_close(
            b,
            &want[&format!("qnet_bias_{i}")],
            1e-5,
            &format!("{name}: q-net bias {i}"),
        );
    }
    assert_eq!(
        qnets.weights().len(),
        want.keys()
            .filter(|k| k.starts_with("qnet_weight_"))
            .count()
    );
}

/// The (queries, passages) score matrix within `score_tolerance`.
fn check_scores(name: &str, scores: &Tensor, reference: &Tensor, shape: (usize, usize)) {
    let got = scores.to_vec2::<f32>().unwrap();
    let reference = reference.to_vec2::<f32>().unwrap();
    assert_eq!(
        (got.len(), got[0].len()),
        shape,
        "{name}: score matrix shape"
    );
    for (i, (row, want_row)) in got.iter().zip(&reference).enumerate() {
        for (j, (&s, &w)) in row.iter().zip(want_row).enumerate() {
            let tol = score_tolerance(name, f64::from(w)) as f32;
            assert!(
                (s - w).abs() <= tol,
                "{name}: score[{i}][{j}] = {s}, reference {w}, tolerance {tol:e}"
            );
        }
    }
}

#[test]
fn tiny_2layer_matches_reference() {
    check_checkpoint(CHECKPOINTS[0]);
}

#[test]
fn tiny_6layer_pytorch_bin_matches_reference() {
    check_checkpoint(CHECKPOINTS[1]);
}

#[test]
fn tiny_mean_unshared_matches_reference() {
    check_checkpoint(CHECKPOINTS[2]);
}

#[test]
fn batched_documents_match_one_at_a_time() {
    // Length-grouped batches must not change any vector.
    let (_, meta) = expected("tiny-mean-unshared");
    let model = Model::load(&fixture("tiny-mean-unshared")).unwrap();
    let passages = strings(&meta, "passages");
    let p: Vec<&str> = passages.iter().map(String::as_str).collect();
    let batched = model.encode_docs_batched(&p, 5).unwrap();
    for (i, text) in p.iter().enumerate() {
        let alone = model.encode_docs(&[text]).unwrap().squeeze(0).unwrap();
        let got = Tensor::new(batched[i].as_slice(), &Device::Cpu).unwrap();
        assert_close(&got, &alone, 1e-5, &format!("passage {i}"));
    }
}

#[test]
fn minilm_matches_sentence_transformers() {
    let (want, meta) = expected("minilm-reference");
    let mut model = Model::load(&minilm()).expect("all-MiniLM-L6-v2 loads");
    model.set_doc_max_length(256).unwrap();
    let texts = strings(&meta, "texts");
    let t: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (i, text) in t.iter().enumerate() {
        let want_ids = ids_row(&want["input_ids"], &want["attention_mask"], i);
        assert_eq!(
            model.doc_tokenizer().ids(text).unwrap(),
            want_ids,
            "MiniLM text {i} ids"
        );
    }
    let embeddings = model.encode_docs(&t).unwrap();
    assert_close(
        &embeddings,
        &want["mean_normalized"],
        1e-5,
        "MiniLM sentence embedding",
    );

    // The same transformer pooled other ways, through the public encoder API.
    let (batch, hidden) = model.query_hidden_states(&t[..1]).unwrap();
    let cls = hidden.narrow(1, 0, 1).unwrap().squeeze(1).unwrap();
    assert_close(
        &cls,
        &want["cls"].narrow(0, 0, 1).unwrap(),
        1e-5,
        "MiniLM [CLS]",
    );
    let n = batch.lengths[0];
    let mean = hidden.narrow(1, 0, n).unwrap().mean(1).unwrap();
    assert_close(
        &mean,
        &want["mean"].narrow(0, 0, 1).unwrap(),
        1e-5,
        "MiniLM mean",
    );
    let norms = embeddings
        .sqr()
        .unwrap()
        .sum(D::Minus1)
        .unwrap()
        .sqrt()
        .unwrap();
    let ones = norms.ones_like().unwrap();
    assert_close(&norms, &ones, 1e-5, "MiniLM embeddings are unit length");
}

fn expected(name: &str) -> Expected {
    let dir = fixtures().join(name);
    let tensors = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu)
        .expect("expected.safetensors loads");
    (tensors, hypencoder_test_support::expected_json(name))
}

/// Largest absolute difference; panics with `what` if shapes differ.
fn max_abs_diff(a: &Tensor, b: &Tensor, what: &str) -> f32 {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn assert_close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
    let d = max_abs_diff(a, b, what);
    assert!(d <= tol, "{what}: max abs difference {d:e} exceeds {tol:e}");
}

/// Row `i` of an (N, L) i64 id tensor, cut at its mask's length.
fn ids_row(ids: &Tensor, mask: &Tensor, i: usize) -> Vec<u32> {
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
