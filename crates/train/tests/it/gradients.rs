//! Backpropagation through the hyper-head and the q-net, checked against
//! central finite differences in f64.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use hypencoder_model::hyperhead::HyperHead;
use hypencoder_model::{Activation, QNetConfig};
use hypencoder_test_support::Rng;
use hypencoder_train::init::{init_hyper_head, InitStyle};
use hypencoder_train::loss::{cross_entropy, margin_mse, value};

const MODEL_DIM: usize = 8;
const D: usize = 6;

fn qnet() -> QNetConfig {
    QNetConfig {
        vector_dimensions: vec![D, D, D, 1],
        activation: Activation::Relu,
        do_layer_norm: true,
        do_residual: true,
        do_residual_on_last: false,
        layer_norm_before_residual: true,
    }
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    Rng::new(seed).f64s(n)
}

struct Problem {
    params: Vec<(String, Var)>,
    /// (B, L, H) query states, second query padded after 3 tokens.
    hidden: Tensor,
    mask: Tensor,
    /// (B, N, D) documents per query, a variable too (the q-net's input).
    docs: Var,
}

impl Problem {
    fn new() -> Self {
        let dev = Device::Cpu;
        // The official init makes attention nearly one-hot (query rows of
        // std 10); soften it so every path carries gradient worth checking.
        let params = init_hyper_head(
            &qnet(),
            MODEL_DIM,
            7,
            InitStyle::Official,
            1.0,
            DType::F64,
            &dev,
        )
        .unwrap()
        .into_iter()
        .map(|(n, t)| {
            let t = if n.contains("query_embeddings") {
                (t * 0.05).unwrap()
            } else if n.contains("hyper_projection") && n.ends_with("weight") {
                (Tensor::from_vec(values(t.elem_count(), 11), t.shape(), &dev).unwrap() * 0.3)
                    .unwrap()
            } else {
                t
            };
            (n, Var::from_tensor(&t).unwrap())
        })
        .collect();
        let (b, l) = (2, 5);
        let hidden =
            Tensor::from_vec(values(b * l * MODEL_DIM, 3), (b, l, MODEL_DIM), &dev).unwrap();
        let mask = Tensor::new(&[[1f64, 1., 1., 1., 1.], [1., 1., 1., 0., 0.]], &dev).unwrap();
        let docs = Var::from_vec(values(b * 4 * D, 5), (b, 4, D), &dev).unwrap();
        Problem {
            params,
            hidden,
            mask,
            docs,
        }
    }

    /// Cross-entropy (positive in column 0) plus margin-MSE against fixed
    /// teacher scores: both losses' paths are in the graph.
    fn loss(&self) -> Tensor {
        let map: HashMap<String, Tensor> = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let vb = VarBuilder::from_tensors(map, DType::F64, &Device::Cpu);
        let head = HyperHead::load(vb, &qnet(), MODEL_DIM).unwrap();
        let qnets = head.forward(&self.hidden, &self.mask).unwrap();
        let scores = qnets.score_per_query(self.docs.as_tensor()).unwrap();
        let teacher = Tensor::new(&[[3f64, 1., 0., -1.], [2., 2.5, 0., 1.]], &Device::Cpu).unwrap();
        let ce = cross_entropy(&scores, &[0, 0]).unwrap();
        let mse = margin_mse(&scores, &teacher).unwrap();
        (ce + mse).unwrap()
    }
}

fn nudge(var: &Var, flat: usize, by: f64) {
    let t = var.as_tensor();
    let mut v = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    v[flat] += by;
    var.set(&Tensor::from_vec(v, t.shape(), t.device()).unwrap())
        .unwrap();
}

fn check(
    problem: &Problem,
    name: &str,
    var: &Var,
    grads: &candle_core::backprop::GradStore,
) -> usize {
    let grad = grads
        .get(var.as_tensor())
        .unwrap_or_else(|| panic!("no gradient reached {name}"))
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let n = grad.len();
    let eps = 1e-6;
    let mut checked = 0;
    for k in [0, n / 3, n / 2, n - 1] {
        nudge(var, k, eps);
        let up = value(&problem.loss()).unwrap();
        nudge(var, k, -2.0 * eps);
        let down = value(&problem.loss()).unwrap();
        nudge(var, k, eps);
        let numeric = (up - down) / (2.0 * eps);
        let err = (numeric - grad[k]).abs();
        assert!(
            err <= 1e-6 + 1e-4 * numeric.abs(),
            "{name}[{k}]: backprop {} vs finite difference {numeric}",
            grad[k]
        );
        checked += 1;
    }
    checked
}

#[test]
fn hyper_head_and_qnet_gradients_match_finite_differences() {
    let problem = Problem::new();
    let loss = problem.loss();
    let grads = loss.backward().unwrap();
    let mut checked = 0;
    for (name, var) in &problem.params {
        checked += check(&problem, name, var, &grads);
    }
    checked += check(&problem, "documents", &problem.docs, &grads);
    // 3 weight + 2 bias generators of 5 tensors each... every tensor checked.
    assert_eq!(checked, 4 * (problem.params.len() + 1));
    assert!(problem.params.len() >= 30);
}
