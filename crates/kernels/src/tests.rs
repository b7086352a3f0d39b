//! Kernels against naive references, and the SIMD paths (AVX-512, AVX2)
//! against the portable one on the same data (where the CPU has them).

use crate::block;
use crate::encoder::{attention_on, fused_residual_ln_on, linear_on, Heads};
use crate::int8::Packing;
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

/// The instruction sets to run: portable always, then AVX2 and AVX-512
/// where the CPU has them.
fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::portable()];
    for isa in [Isa::detect().without_avx512(), Isa::detect()] {
        if !v.contains(&isa) {
            v.push(isa);
        }
    }
    v
}

/// The SIMD instruction sets of this CPU (none, AVX2, or AVX2 and AVX-512).
fn simd_isas() -> Vec<Isa> {
    isas().into_iter().filter(|i| i.is_simd()).collect()
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

/// The BERT steps on every instruction set agree (float tolerance: the
/// portable path rounds without fused multiply-add).
#[test]
fn simd_and_portable_agree() {
    for avx in simd_isas() {
        simd_and_portable_agree_on(avx);
    }
}

fn simd_and_portable_agree_on(avx: Isa) {
    let port = Isa::portable();
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
    assert_close(
        &run(avx),
        &run(port),
        1e-4,
        &format!("{avx:?} fused feed-forward"),
    );

    let qkv = rand(m * 3 * h, 18);
    let lens = [l, 33, 0];
    let shape = Heads { b, l, h, heads };
    let run = |isa| {
        let mut ctx = vec![0f32; m * h];
        attention_on(isa, &qkv, shape, &lens, &mut ctx);
        ctx
    };
    assert_close(&run(avx), &run(port), 1e-5, &format!("{avx:?} attention"));

    let row = rand(300, 19);
    let (mut sa, mut sp) = (row.clone(), row.clone());
    block::softmax_row(avx, &mut sa);
    block::softmax_row(port, &mut sp);
    assert_close(&sa, &sp, 1e-5, &format!("{avx:?} softmax"));
    let (mut ga, mut gp) = (vec![0f32; 300], vec![0f32; 300]);
    let u: Vec<f32> = row.iter().map(|v| 4.0 * v).collect();
    block::gelu_rows(avx, &u, &mut ga);
    block::gelu_rows(port, &u, &mut gp);
    assert_close(&ga, &gp, 2e-6, &format!("{avx:?} gelu"));
    let (mut da, mut dp) = (vec![0f32; 300], vec![0f32; 300]);
    block::gelu_backward_rows(avx, &u, &row, &mut da);
    block::gelu_backward_rows(port, &u, &row, &mut dp);
    assert_close(&da, &dp, 2e-6, &format!("{avx:?} gelu backward"));
    let (mut la, mut lp) = (vec![0f32; 300], vec![0f32; 300]);
    block::layer_norm_row(avx, &u, &mut la, &gamma_long(300), &row, 1e-6);
    block::layer_norm_row(port, &u, &mut lp, &gamma_long(300), &row, 1e-6);
    assert_close(&la, &lp, 1e-5, &format!("{avx:?} layer norm"));
}

fn gamma_long(n: usize) -> Vec<f32> {
    rand(n, 23).iter().map(|v| 1.0 + v).collect()
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

/// The vector exp (through softmax) and GELU of every SIMD path against
/// f64 and scalar references, over the range where they clamp.
#[test]
fn vector_exp_and_gelu_are_accurate() {
    let xs: Vec<f32> = (0..4000).map(|i| (i as f32 - 3000.0) * 0.03).collect();
    for isa in simd_isas() {
        let mut row = xs.clone();
        block::softmax_row(isa, &mut row);
        let mx = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = xs.iter().map(|&x| ((x - mx) as f64).exp()).sum();
        for (x, p) in xs.iter().zip(&row) {
            let want = ((x - mx) as f64).exp() / sum;
            assert!(
                (want - *p as f64).abs() <= 1e-6 * want + 1e-30,
                "{isa:?} softmax {x}: {p} vs {want}"
            );
        }
        let mut out = vec![0f32; xs.len()];
        block::gelu_rows(isa, &xs, &mut out);
        for (x, g) in xs.iter().zip(&out) {
            let want = Activation::Gelu.apply(*x);
            assert!(
                (want - g).abs() <= 2e-6 * want.abs().max(1.0),
                "{isa:?} gelu {x}: {g} vs {want}"
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

/// Quantising a row: the SIMD path gives the portable path's integers (the
/// same rounding), values within half a step of the row's own, and a zero
/// row a zero scale.
#[test]
fn int8_rows_quantise_alike_on_every_isa() {
    for k in [1, 7, 16, 33, 384, 1537] {
        let row: Vec<f32> = rand(k, k as u64).iter().map(|v| v * 3.0).collect();
        let kp = k.div_ceil(2);
        let mut want = vec![0u32; kp];
        let scale = crate::int8::quantize_row(&row, &mut want);
        for (i, &v) in row.iter().enumerate() {
            let (lo, hi) = crate::int8::halves(want[i / 2]);
            let q = if i % 2 == 0 { lo } else { hi };
            assert!(q.abs() <= 127 && (q as f32 * scale - v).abs() <= 0.5 * scale * 1.0001);
        }
        // Quads hold the same integers plus 128, and 128 past the row's end.
        let want_quads: Vec<u32> = (0..k.div_ceil(4))
            .map(|j| {
                (0..4).fold(0u32, |w, i| {
                    let kk = 4 * j + i;
                    let (lo, hi) = crate::int8::halves(*want.get(kk / 2).unwrap_or(&0));
                    let q = if kk >= k {
                        0
                    } else if kk % 2 == 0 {
                        lo
                    } else {
                        hi
                    };
                    w | (((q + 128) as u32) << (8 * i))
                })
            })
            .collect();
        for isa in isas() {
            for (packing, want) in [(Packing::Pairs, &want), (Packing::Quads, &want_quads)] {
                let mut got = vec![0u32; packing.words(k)];
                assert_eq!(
                    block::quantize_row(isa, packing, &row, &mut got),
                    scale,
                    "{isa:?} {packing:?} k {k}"
                );
                assert_eq!(&got, want, "{isa:?} {packing:?} k {k}");
            }
        }
    }
    let mut words = vec![1u32; 3];
    assert_eq!(crate::int8::quantize_row(&[0.0; 5], &mut words), 0.0);
    assert_eq!(words, [0, 0, 0]);
    assert_eq!(
        crate::int8::quantize_row_quads(&[0.0; 5], &mut words[..2]),
        0.0
    );
    assert_eq!(words[..2], [0x8080_8080; 2]);
}

/// `epi(x W^T + bias)` summed naively: `x` is (m, k), `w` (n, k).
fn naive_linear(
    (x, w, bias): (&[f32], &[f32], &[f32]),
    (m, k, n): (usize, usize, usize),
    epi: Epilogue,
) -> Vec<f32> {
    (0..m * n)
        .map(|ij| {
            let (i, j) = (ij / n, ij % n);
            let v = bias[j] + (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f32>();
            match epi {
                Epilogue::None => v,
                Epilogue::Act(a) => a.apply(v),
                Epilogue::Residual(r) => v + r[ij],
            }
        })
        .collect()
}

/// Every row of `got` (rows of `n`) at cosine > 0.999 to `exact`'s.
fn assert_rows_aligned(got: &[f32], exact: &[f32], n: usize, what: &str) {
    for (g, f) in got.chunks_exact(n).zip(exact.chunks_exact(n)) {
        let cos = dot(g, f) / (dot(g, g) * dot(f, f)).sqrt();
        assert!(cos > 0.999, "{what}: cosine {cos} to f32");
    }
}

/// The int8 linear step against a naive product of the dequantised
/// operands (every ISA, tails in every direction, each finish), and close
/// to the f32 product (cosine per row).
#[test]
fn int8_linear_matches_dequantised_naive() {
    for &(m, k, n) in &[
        (1, 1, 1),
        (5, 3, 7),
        (13, 17, 33),
        (30, 64, 70),
        (7, 384, 48),
    ] {
        let x = rand(m * k, (m * k) as u64 + 5);
        let w = rand(n * k, (n * k) as u64 + 6);
        let bias = rand(n, 7);
        let res = rand(m * n, 8);
        let deq = |v: &[f32], rows: usize, len: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(rows * len);
            let mut words = vec![0u32; len.div_ceil(2)];
            for row in v.chunks_exact(len) {
                let s = crate::int8::quantize_row(row, &mut words);
                out.extend((0..len).map(|i| {
                    let (lo, hi) = crate::int8::halves(words[i / 2]);
                    (if i % 2 == 0 { lo } else { hi }) as f32 * s
                }));
            }
            out
        };
        let (xq, wq) = (deq(&x, m, k), deq(&w, n, k));
        // Both packings (quads only where the CPU has VNNI), each on every
        // ISA: a kernel that cannot read a packing falls back to portable.
        let packed: Vec<Rhs> = [Isa::portable(), Isa::detect()]
            .iter()
            .filter(|isa| **isa == Isa::portable() || isa.has_vnni())
            .map(|&isa| Rhs::linear_int8_for(isa, &w, Some(&bias), n, k))
            .collect();
        let f32_rhs = Rhs::linear(&w, Some(&bias), n, k);
        for epi in [
            Epilogue::None,
            Epilogue::Act(Activation::Gelu),
            Epilogue::Residual(&res),
        ] {
            let want = naive_linear((&xq, &wq, &bias), (m, k, n), epi);
            let mut exact = vec![0f32; m * n];
            linear_on(Isa::detect(), &x, m, &f32_rhs, &mut exact, epi);
            for (isa, rhs) in isas()
                .into_iter()
                .flat_map(|i| packed.iter().map(move |r| (i, r)))
            {
                let mut out = vec![0f32; m * n];
                linear_on(isa, &x, m, rhs, &mut out, epi);
                assert_close(
                    &out,
                    &want,
                    1e-4,
                    &format!("{isa:?} int8 {m}x{k}x{n} {epi:?}"),
                );
                if k >= 64 {
                    assert_rows_aligned(&out, &exact, n, &format!("{isa:?} int8 {m}x{k}x{n}"));
                }
            }
        }
    }
}

/// The bf16 linear step against a naive product of the bf16-rounded
/// operands (every ISA, tails in every direction, each finish), and close
/// to the f32 product (cosine per row).
#[test]
fn bf16_linear_matches_rounded_naive() {
    let round = |v: &[f32]| v.iter().map(|&x| from_bf16(to_bf16(x))).collect::<Vec<_>>();
    for &(m, k, n) in &[
        (1, 1, 1),
        (5, 3, 7),
        (13, 17, 33),
        (30, 64, 70),
        (7, 384, 48),
    ] {
        let x = rand(m * k, (m * k) as u64 + 15);
        let w = rand(n * k, (n * k) as u64 + 16);
        let (bias, res) = (rand(n, 17), rand(m * n, 18));
        let (xr, wr) = (round(&x), round(&w));
        let rhs = Rhs::linear_bf16(&w, Some(&bias), n, k);
        let f32_rhs = Rhs::linear(&w, Some(&bias), n, k);
        for epi in [
            Epilogue::None,
            Epilogue::Act(Activation::Gelu),
            Epilogue::Residual(&res),
        ] {
            let want = naive_linear((&xr, &wr, &bias), (m, k, n), epi);
            let mut exact = vec![0f32; m * n];
            linear_on(Isa::detect(), &x, m, &f32_rhs, &mut exact, epi);
            for isa in isas() {
                let mut out = vec![0f32; m * n];
                linear_on(isa, &x, m, &rhs, &mut out, epi);
                let what = format!("{isa:?} bf16 {m}x{k}x{n} {epi:?}");
                assert_close(&out, &want, 1e-4, &what);
                if k >= 64 {
                    assert_rows_aligned(&out, &exact, n, &what);
                }
            }
        }
    }
}

/// The widest-register dot product against an f64 sum, over every tail.
#[test]
fn dot_wide_matches_naive() {
    for n in (0..70).chain([384, 768, 1001]) {
        let (a, b) = (rand(n, n as u64 + 31), rand(n, n as u64 + 32));
        let want: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
        let got = dot_wide(&a, &b) as f64;
        assert!(
            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "n {n}: {got} vs {want}"
        );
    }
}

#[test]
fn codes_round_trip_within_half_a_step_and_dot_exactly() {
    let x = rand(300, 41);
    let mut codes = vec![0i8; x.len()];
    let scale = quantize_codes(&x, &mut codes);
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!((scale - max / 127.0).abs() < 1e-9, "scale {scale}");
    for (&c, &v) in codes.iter().zip(&x) {
        assert!(c > -128, "codes stay within +-127");
        assert!(
            (f32::from(c) * scale - v).abs() <= scale * 0.5 + 1e-6,
            "{c} for {v}"
        );
    }
    assert_eq!(quantize_codes(&[0.0; 4], &mut [1; 4]), 0.0);
    assert!(quantize_codes(&[1.0, f32::NAN], &mut [0; 2]).is_nan());
    // Extremes (every product 127 x +-127) and every length across the
    // 64-, 32- and scalar steps.
    for n in [0, 1, 31, 32, 33, 63, 64, 65, 100, 384, 385] {
        let a: Vec<i8> = (0..n)
            .map(|i| if i % 3 == 0 { -127 } else { 127 })
            .collect();
        let b: Vec<i8> = (0..n)
            .map(|i| if i % 2 == 0 { -127 } else { 127 })
            .collect();
        let r: Vec<i8> = (0..n)
            .map(|i| ((i * 37 + 11) % 255) as i8)
            .map(|c| c.max(-127))
            .collect();
        for (p, q) in [(&a, &b), (&a, &r), (&r, &r), (&b, &b)] {
            let want: i32 = p
                .iter()
                .zip(q)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            assert_eq!(dot_codes(p, q), want, "length {n}");
        }
    }
}
