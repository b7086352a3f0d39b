//! Kernels against naive references, and the AVX-512 path against the
//! portable one on the same data (where the CPU has AVX-512).

use crate::block;
use crate::encoder::{attention_on, fused_residual_ln_on, linear_on, Heads};
use crate::*;

fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The instruction sets to run: portable always, AVX-512 when present.
fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::portable()];
    if Isa::detect() != Isa::portable() {
        v.push(Isa::detect());
    }
    v
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what} [{i}]: {g} vs {w}"
        );
    }
}

/// Both layouts against a naive product, over tails in every direction,
/// and each row bit-identical whatever the number of rows around it.
#[test]
fn matmul_matches_naive_and_rows_are_independent() {
    for &(m, k, n) in &[
        (1, 1, 1),
        (5, 3, 7),
        (12, 16, 32),
        (13, 17, 33),
        (30, 64, 70),
        (40, 48, 48),
        (25, 32, 96),
        (14, 130, 40),
    ] {
        let a = rand(m * k, (m * k) as u64);
        let b = rand(k * n, (k * n + 1) as u64);
        let want: Vec<f32> = (0..m * n)
            .map(|ij| {
                (0..k)
                    .map(|kk| a[ij / n * k + kk] * b[kk * n + ij % n])
                    .sum()
            })
            .collect();
        for packed in [false, true] {
            let rhs = Rhs::with_layout(&b, k, n, n, 1, packed);
            let mut c = vec![f32::NAN; m * n];
            let mut pack = Vec::new();
            matmul(m, &a, &rhs, &mut c, &mut pack);
            assert_close(
                &c,
                &want,
                1e-5 * k as f32,
                &format!("{m}x{k}x{n} packed={packed}"),
            );
            if packed {
                for i in 0..m {
                    let mut one = vec![0f32; n];
                    matmul(1, &a[i * k..(i + 1) * k], &rhs, &mut one, &mut pack);
                    assert_eq!(
                        one,
                        c[i * n..(i + 1) * n],
                        "{m}x{k}x{n}: row {i} depends on its block"
                    );
                }
            }
        }
    }
}

#[test]
fn strided_rhs_is_the_transpose() {
    let (m, k, n) = (7, 20, 9);
    let a = rand(m * k, 5);
    let bt = rand(n * k, 6); // n x k
    let rhs = Rhs::new(&bt, k, n, 1, k);
    let mut c = vec![0f32; m * n];
    matmul(m, &a, &rhs, &mut c, &mut Vec::new());
    for i in 0..m {
        for j in 0..n {
            let want: f32 = (0..k).map(|kk| a[i * k + kk] * bt[j * k + kk]).sum();
            assert!((c[i * n + j] - want).abs() < 1e-4);
        }
    }
}

#[test]
fn packed_linear_matches_naive() {
    for isa in isas() {
        for &(m, k, n) in &[(1, 3, 5), (13, 17, 40), (100, 64, 96), (25, 8, 33)] {
            let x = rand(m * k, 1);
            let w = rand(n * k, 2);
            let b = rand(n, 3);
            let res = rand(m * n, 4);
            let packed = Rhs::linear(&w, Some(&b), n, k);
            for epi in [
                Epilogue::None,
                Epilogue::Act(Activation::Gelu),
                Epilogue::Act(Activation::Relu),
                Epilogue::Residual(&res),
            ] {
                let mut out = vec![0f32; m * n];
                linear_on(isa, &x, m, &packed, &mut out, epi);
                let want: Vec<f32> = (0..m * n)
                    .map(|ij| {
                        let (i, j) = (ij / n, ij % n);
                        let v = b[j] + (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f32>();
                        match epi {
                            Epilogue::None => v,
                            Epilogue::Act(a) => a.apply(v),
                            Epilogue::Residual(r) => v + r[ij],
                        }
                    })
                    .collect();
                assert_close(&out, &want, 1e-5, &format!("{isa:?} {m}x{k}x{n} {epi:?}"));
            }
        }
    }
}

/// The BERT steps on both instruction sets agree (float tolerance: the
/// portable path rounds without fused multiply-add).
#[test]
fn avx512_and_portable_agree() {
    if !Isa::detect().is_avx512() {
        return;
    }
    let (avx, port) = (Isa::detect(), Isa::portable());
    let (h, inter, heads, b, l) = (64, 96, 2, 3, 70);
    let m = b * l;
    let x = rand(m * h, 11);
    let w1 = Rhs::linear(&rand(inter * h, 12), Some(&rand(inter, 13)), inter, h);
    let w2 = Rhs::linear(&rand(h * inter, 14), Some(&rand(h, 15)), h, inter);
    let (gamma, beta) = (rand(h, 16), rand(h, 17));
    let norm = Norm {
        gamma: &gamma,
        beta: &beta,
        eps: 1e-12,
    };
    let run = |isa| {
        let mut y = x.clone();
        fused_residual_ln_on(
            isa,
            &mut y,
            None,
            24,
            Some((&w1, Activation::Gelu)),
            &w2,
            &norm,
        );
        y
    };
    assert_close(&run(avx), &run(port), 1e-4, "fused feed-forward");

    let qkv = rand(m * 3 * h, 18);
    let lens = [l, 33, 0];
    let shape = Heads { b, l, h, heads };
    let run = |isa| {
        let mut ctx = vec![0f32; m * h];
        attention_on(isa, &qkv, shape, &lens, &mut ctx);
        ctx
    };
    assert_close(&run(avx), &run(port), 1e-5, "attention");

    let row = rand(300, 19);
    let (mut sa, mut sp) = (row.clone(), row.clone());
    block::softmax_row(avx, &mut sa);
    block::softmax_row(port, &mut sp);
    assert_close(&sa, &sp, 1e-5, "softmax");
}

/// Attention against a naive reference (per item, head and query row).
#[test]
fn attention_matches_naive() {
    let (h, heads, b, l) = (64, 2, 2, 40);
    let hd = h / heads;
    let qkv = rand(b * l * 3 * h, 21);
    let lens = [17, 0];
    for isa in isas() {
        let mut ctx = vec![0f32; b * l * h];
        attention_on(isa, &qkv, Heads { b, l, h, heads }, &lens, &mut ctx);
        for bi in 0..b {
            let len = if lens[bi] == 0 { l } else { lens[bi] };
            let row = |j: usize| &qkv[(bi * l + j) * 3 * h..(bi * l + j + 1) * 3 * h];
            for head in 0..heads {
                for i in 0..l {
                    let q = &row(i)[head * hd..(head + 1) * hd];
                    let s: Vec<f32> = (0..len)
                        .map(|j| dot(q, &row(j)[h + head * hd..h + (head + 1) * hd]))
                        .collect();
                    let mx = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let e: Vec<f32> = s.iter().map(|v| (v - mx).exp()).collect();
                    let sum: f32 = e.iter().sum();
                    for d in 0..hd {
                        let want: f32 = (0..len)
                            .map(|j| e[j] / sum * row(j)[2 * h + head * hd + d])
                            .sum();
                        let got = ctx[(bi * l + i) * h + head * hd + d];
                        assert!(
                            (got - want).abs() < 1e-5,
                            "{isa:?} ({bi},{head},{i},{d}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn vector_exp_and_gelu_are_accurate() {
    if !Isa::detect().is_avx512() {
        return;
    }
    let xs: Vec<f32> = (0..4000).map(|i| (i as f32 - 3000.0) * 0.03).collect();
    let mut row = xs.clone();
    block::softmax_row(Isa::detect(), &mut row);
    let mx = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = xs.iter().map(|&x| ((x - mx) as f64).exp()).sum();
    for (x, p) in xs.iter().zip(&row) {
        let want = ((x - mx) as f64).exp() / sum;
        assert!(
            (want - *p as f64).abs() <= 1e-6 * want + 1e-30,
            "softmax {x}: {p} vs {want}"
        );
    }
    let mut out = vec![0f32; 16];
    for chunk in xs.chunks_exact(16) {
        // SAFETY: AVX-512F is present (checked above); both pointers
        // address 16 values.
        unsafe {
            use std::arch::x86_64::*;
            _mm512_storeu_ps(
                out.as_mut_ptr(),
                crate::avx512::gelu(_mm512_loadu_ps(chunk.as_ptr())),
            );
        }
        for (x, g) in chunk.iter().zip(&out) {
            let want = Activation::Gelu.apply(*x);
            assert!(
                (want - g).abs() <= 2e-6 * want.abs().max(1.0),
                "gelu {x}: {g} vs {want}"
            );
        }
    }
}

/// bf16 rounding: ties to even, exact values kept, NaN kept.
#[test]
fn bf16_rounds_to_nearest_even() {
    for x in [0.0f32, 1.0, -2.5, 3.0e38, 1.0e-30] {
        let h = to_bf16(x);
        assert_eq!(
            to_bf16(from_bf16(h)),
            h,
            "{x}: a bf16 value rounds to itself"
        );
    }
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to even (1).
    assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
    // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to even.
    assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
    assert_eq!(from_bf16(to_bf16(1.0 + 1.1 / 256.0)), 1.0 + 2.0 / 256.0);
    assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
}

/// The bf16 product against a naive f32 product of the bf16-rounded
/// operands, on every instruction set, over tails in every direction (odd
/// k, partial panels, short row groups, several k chunks); rows do not
/// depend on the rows around them; the AVX512_BF16 path agrees with the
/// portable one.
#[test]
fn matmul_bf16_matches_rounded_naive_on_every_isa() {
    let round = |v: &[f32]| v.iter().map(|&x| from_bf16(to_bf16(x))).collect::<Vec<_>>();
    let mut isas = vec![Isa::portable()];
    if Isa::detect().has_bf16() {
        isas.push(Isa::detect());
    }
    for &(m, k, n) in &[
        (1, 1, 1),
        (5, 3, 7),
        (12, 16, 32),
        (13, 17, 33),
        (30, 130, 70),
        (25, 384, 96),
        (7, 200, 16),
    ] {
        let a = rand(m * k, (m * k + 3) as u64);
        let b = rand(k * n, (k * n + 5) as u64);
        let (ar, br) = (round(&a), round(&b));
        let want: Vec<f32> = (0..m * n)
            .map(|ij| {
                (0..k)
                    .map(|kk| ar[ij / n * k + kk] as f64 * br[kk * n + ij % n] as f64)
                    .sum::<f64>() as f32
            })
            .collect();
        let rhs = Bf16Rhs::new(&b, k, n, n, 1);
        let mut outs = Vec::new();
        for &isa in &isas {
            let (mut c, mut pack) = (vec![0f32; m * n], Vec::new());
            crate::bf16::matmul_bf16_on(isa, m, &a, &rhs, &mut c, &mut pack);
            assert_close(
                &c,
                &want,
                1e-5 * (k as f32).sqrt(),
                &format!("{isa:?} {m}x{k}x{n}"),
            );
            // The last row alone comes out bit-identical.
            let mut one = vec![0f32; n];
            crate::bf16::matmul_bf16_on(isa, 1, &a[(m - 1) * k..], &rhs, &mut one, &mut pack);
            assert_eq!(
                one[..],
                c[(m - 1) * n..],
                "{isa:?}: a row depends on its neighbours"
            );
            outs.push(c);
        }
        if let [portable, fast] = &outs[..] {
            assert_close(
                fast,
                portable,
                1e-5 * (k as f32).sqrt(),
                "avx512_bf16 vs portable",
            );
        }
    }
}

/// Scoring rows in place agrees with a naive sum for rows in any order
/// (repeats included), and each row's score is the same wherever the row
/// sits in the list.
#[test]
fn dots_at_matches_naive_per_row() {
    for dim in [1, 15, 16, 33, 64, 100, 384] {
        let n = 50;
        let table = rand(n * dim, dim as u64);
        let query = rand(dim, 7);
        let rows: Vec<u32> = vec![49, 0, 17, 17, 3, 48, 25];
        let mut got = vec![0.0; rows.len()];
        dots_at(&table, dim, &rows, &query, &mut got);
        let naive: Vec<f32> = rows
            .iter()
            .map(|&r| {
                (0..dim)
                    .map(|j| table[r as usize * dim + j] * query[j])
                    .sum()
            })
            .collect();
        assert_close(&got, &naive, 1e-5, "dots_at");
        assert_eq!(got[2], got[3], "dim {dim}: a repeated row");
        for (i, &r) in rows.iter().enumerate() {
            let mut one = [0.0];
            dots_at(&table, dim, &[r], &query, &mut one);
            assert_eq!(one[0], got[i], "dim {dim}: row {r} alone");
        }
    }
}
