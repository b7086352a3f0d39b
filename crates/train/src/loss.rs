//! The paper's losses, from ops that record gradients.

use candle_core::{DType, Tensor, D};

use crate::error::Result;

/// Mean cross-entropy of `logits` (B, C) against target column `targets[i]`
/// for row i: -log softmax(logits)[i, targets[i]].
pub fn cross_entropy(logits: &Tensor, targets: &[usize]) -> Result<Tensor> {
    let (b, c) = logits.dims2()?;
    // The row max only steadies exp(); its gradient cancels, so detach it.
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let mut one_hot = vec![0f32; b * c];
    for (i, &t) in targets.iter().enumerate() {
        one_hot[i * c + t] = 1.0;
    }
    let one_hot = Tensor::from_vec(one_hot, (b, c), logits.device())?.to_dtype(logits.dtype())?;
    let picked = (shifted * one_hot)?.sum_keepdim(D::Minus1)?;
    Ok((log_sum - picked)?.mean_all()?)
}

/// Margin-MSE (Hofstätter et al.): the student's margins between each
/// query's positive and its negatives should equal the teacher's.
/// `student`, `teacher`: (B, 1 + n), positive in column 0.
pub fn margin_mse(student: &Tensor, teacher: &Tensor) -> Result<Tensor> {
    let n = student.dim(1)? - 1;
    let margins = |s: &Tensor| -> candle_core::Result<Tensor> {
        s.narrow(1, 0, 1)?.broadcast_sub(&s.narrow(1, 1, n)?)
    };
    let teacher = teacher.to_dtype(student.dtype())?;
    let diff = (margins(student)? - margins(&teacher)?)?;
    Ok(diff.sqr()?.mean_all()?)
}

/// A scalar loss as f64.
pub fn value(loss: &Tensor) -> Result<f64> {
    Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn cross_entropy_matches_its_definition() {
        let rows = [[1.0f64, 2.0, 3.0], [1000.0, -5.0, 999.0]];
        let logits = Tensor::new(&rows, &Device::Cpu).unwrap();
        let got = value(&cross_entropy(&logits, &[2, 0]).unwrap()).unwrap();
        let lse = |r: &[f64; 3]| {
            let m = r.iter().cloned().fold(f64::MIN, f64::max);
            m + r.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
        };
        let want = ((lse(&rows[0]) - 3.0) + (lse(&rows[1]) - 1000.0)) / 2.0;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn margin_mse_is_zero_when_margins_agree() {
        let dev = Device::Cpu;
        let s = Tensor::new(&[[5.0f64, 3.0, 1.0]], &dev).unwrap();
        let t = Tensor::new(&[[10.0f64, 8.0, 6.0]], &dev).unwrap();
        assert_eq!(value(&margin_mse(&s, &t).unwrap()).unwrap(), 0.0);
        let t = Tensor::new(&[[10.0f64, 9.0, 6.0]], &dev).unwrap();
        // margins (2, 4) vs (1, 4): mean of (1, 0) squared.
        assert!((value(&margin_mse(&s, &t).unwrap()).unwrap() - 0.5).abs() < 1e-12);
    }
}
