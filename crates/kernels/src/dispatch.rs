//! The one runtime CPU check. Every kernel entry point takes its
//! instruction set from here, so no safe function runs AVX-512 code on a
//! CPU that lacks it.

use std::sync::OnceLock;

/// An instruction set the running CPU supports, chosen once per process.
///
/// The field is private to this module: an `Isa` that says AVX-512 can only
/// come from [`Isa::detect`], which checked the CPU. The kernels rely on
/// that invariant for soundness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa {
    avx512: bool,
    /// AVX512_BF16 beside AVX-512F (`vdpbf16ps`).
    bf16: bool,
}

impl Isa {
    /// The best instruction set of this CPU (AVX-512F on x86-64 when
    /// present, else portable code); detected once, then cached.
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let avx512 = avx512_present();
            Isa {
                avx512,
                bf16: avx512 && bf16_present(),
            }
        })
    }

    /// Portable code only (valid on every CPU); tests compare it with
    /// [`Isa::detect`].
    pub fn portable() -> Isa {
        Isa {
            avx512: false,
            bf16: false,
        }
    }

    /// Whether the AVX-512 kernels run. Callers that have a slower path of
    /// their own (candle ops, the `gemm` crate) use this to choose it.
    pub fn is_avx512(self) -> bool {
        self.avx512
    }

    /// Whether the bf16 products run on `vdpbf16ps` (AVX512_BF16);
    /// otherwise they run portable code, which is correct but slow.
    pub fn has_bf16(self) -> bool {
        self.bf16
    }
}

fn bf16_present() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn avx512_present() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
