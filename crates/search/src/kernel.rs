//! Single-threaded dense kernels: one block of documents is scored on one
//! core, blocks run in parallel. (Nested GEMM threading would fight rayon's
//! pool over the same two cores.)

/// `c (m x n, row-major) = [c +] a (m x k, row-major) . b`, where `b` is
/// addressed by strides: element (kk, j) at `b[kk * b_rs + j * b_cs]`.
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(a.len() >= m * k && c.len() >= m * n, "sgemm: buffers too small");
    assert!(k == 0 || n == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs, "sgemm: b too small");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above bound every index the kernel touches; the
    // three slices are distinct borrows.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Parameter-free LayerNorm of one row, in place (two-pass variance).
#[inline]
pub fn layer_norm(row: &mut [f32], eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for v in row.iter_mut() {
        *v = (*v - mean) * inv;
    }
}

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight accumulators let the compiler vectorise without reassociating.
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        s += a[i] * b[i];
    }
    s
}
