//! Scalar math shared by the kernels and by candle glue in
//! `hypencoder-model`: the activations (their config names and their value
//! at one point) and the erf behind GELU.

/// An element-wise activation, named as the official converter and Hugging
/// Face configs name them; `Gelu` is the exact (erf) GELU, as PyTorch's.
/// The model crate re-exports it and applies it to tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// Exact-erf GELU, `0.5 x (1 + erf(x / sqrt 2))`.
    Gelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// `x` for `x >= 0`, else `0.01 x` (PyTorch's default slope).
    LeakyRelu,
}

impl Activation {
    /// The accepted names, for error messages.
    pub const NAMES: &'static str = "relu, gelu, tanh, sigmoid, leaky_relu";

    /// The activation a config names, if known.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "relu" => Activation::Relu,
            "gelu" => Activation::Gelu,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "leaky_relu" => Activation::LeakyRelu,
            _ => return None,
        })
    }

    /// The name configs use for this activation.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::LeakyRelu => "leaky_relu",
        }
    }

    /// The activation of one value. GELU uses [`erf`], accurate to 1.5e-7.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Gelu => gelu(x),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::LeakyRelu => {
                if x >= 0.0 {
                    x
                } else {
                    0.01 * x
                }
            }
        }
    }
}

/// Exact-erf GELU of one value.
#[inline]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf(x) by Abramowitz & Stegun 7.1.26: max absolute error 1.5e-7, below
/// f32 resolution of GELU's output scale. The AVX-512 GELU evaluates the
/// same polynomial.
#[inline]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let sign = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + P * x);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    sign * (1.0 - poly * (-x * x).exp())
}
