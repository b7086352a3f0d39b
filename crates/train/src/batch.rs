//! The data side of a step: the order each epoch visits the examples in,
//! and the positive and negatives each example draws for its step. Every
//! draw comes from a generator seeded by the seed, the epoch and the
//! example alone, so a resumed run draws exactly what an uninterrupted one
//! would.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{LossKind, TrainConfig};
use crate::data::Example;

/// A shuffled order of the examples for one epoch, from the seed alone.
pub(crate) fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

/// One step's examples: a positive and `negatives` negatives each.
pub(crate) struct Batch {
    /// Positions of the batch's examples in the training data.
    pub(crate) examples: Vec<usize>,
    /// Index rows, one per example.
    pub(crate) positives: Vec<u32>,
    /// Index rows, (B * n), query-major.
    pub(crate) negatives: Vec<u32>,
    /// (B, 1 + n) teacher scores, when the loss needs them.
    pub(crate) teacher: Option<Vec<f32>>,
}

impl Batch {
    /// Draws each example's positive and negatives for this epoch: the same
    /// (seed, epoch, example) always draws the same. Where an example lists
    /// fewer than `negatives`, random documents of the `num_docs` fill in.
    pub(crate) fn draw(
        config: &TrainConfig,
        examples: &[Example],
        ids: &[usize],
        epoch: u64,
        num_docs: usize,
    ) -> Batch {
        let n = config.negatives;
        let mut batch = Batch {
            examples: ids.to_vec(),
            positives: Vec::new(),
            negatives: Vec::new(),
            teacher: (config.loss == LossKind::MarginMse).then(Vec::new),
        };
        for &i in ids {
            let ex = &examples[i];
            let mut rng = ChaCha8Rng::seed_from_u64(
                config.seed
                    ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
            );
            let p = rng.random_range(0..ex.positives.len());
            batch.positives.push(ex.positives[p]);
            let picked: Vec<usize> = if ex.negatives.len() >= n {
                rand::seq::index::sample(&mut rng, ex.negatives.len(), n).into_vec()
            } else {
                (0..ex.negatives.len()).collect()
            };
            batch
                .negatives
                .extend(picked.iter().map(|&k| ex.negatives[k]));
            let mut filled = picked.len();
            while filled < n {
                let doc = rng.random_range(0..num_docs) as u32;
                if !ex.positives.contains(&doc) && !ex.negatives.contains(&doc) {
                    batch.negatives.push(doc);
                    filled += 1;
                }
            }
            if let Some(t) = &mut batch.teacher {
                let (tp, tn) = ex.teacher.as_ref().expect("checked");
                t.push(tp[p]);
                t.extend(picked.iter().map(|&k| tn[k]));
            }
        }
        batch
    }
}
