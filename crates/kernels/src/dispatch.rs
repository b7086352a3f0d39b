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
    /// AVX2 and FMA (every AVX-512 CPU has them too).
    avx2: bool,
    /// AVX512_BF16 beside AVX-512F (`vdpbf16ps`).
    bf16: bool,
    /// AVX512-VNNI and AVX-512BW beside AVX-512F (`vpdpbusd`).
    vnni: bool,
}

impl Isa {
    /// The best instruction set of this CPU (AVX-512F on x86-64 when
    /// present, else AVX2 with FMA, else portable code); detected once,
    /// then cached. `HYPENCODER_ISA=avx2` or `=portable` caps it (to
    /// compare paths on one machine, or to rule a kernel out); it can only
    /// take features away. `=avx512` keeps AVX-512F without its BF16 and VNNI
    /// extensions.
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let avx512 = avx512_present();
            let native = Isa {
                avx512,
                avx2: avx2_present(),
                bf16: avx512 && bf16_present(),
                vnni: avx512 && vnni_present(),
            };
            match std::env::var("HYPENCODER_ISA").as_deref() {
                Ok("portable") => Isa::portable(),
                Ok("avx2") => native.without_avx512(),
                Ok("avx512") => Isa {
                    bf16: false,
                    vnni: false,
                    ..native
                },
                _ => native,
            }
        })
    }

    /// Portable code only (valid on every CPU); tests compare it with
    /// [`Isa::detect`].
    pub fn portable() -> Isa {
        Isa {
            avx512: false,
            avx2: false,
            bf16: false,
            vnni: false,
        }
    }

    /// This instruction set without AVX-512: the AVX2 kernels where the CPU
    /// has AVX2 and FMA, else portable code. Tests run the AVX2 path with it
    /// on AVX-512 CPUs (taking features away keeps the invariant).
    pub fn without_avx512(self) -> Isa {
        Isa {
            avx512: false,
            avx2: self.avx2,
            bf16: false,
            vnni: false,
        }
    }

    /// Whether SIMD kernels run (AVX-512F, or AVX2 with FMA) rather than
    /// portable scalar code. Callers that have a slower path of their own
    /// (candle ops) use this to choose it.
    pub fn is_simd(self) -> bool {
        self.avx512 || self.avx2
    }

    /// Whether the AVX2 kernels run (AVX2 and FMA, no AVX-512F).
    pub(crate) fn is_avx2(self) -> bool {
        self.avx2 && !self.avx512
    }

    /// Whether the CPU has AVX2 and FMA, AVX-512 or not: the int8 product
    /// on pairs has only an AVX2 kernel, which AVX-512 CPUs without VNNI run
    /// too.
    pub(crate) fn has_avx2(self) -> bool {
        self.avx2
    }

    /// Whether the AVX-512 kernels run.
    pub fn is_avx512(self) -> bool {
        self.avx512
    }

    /// Whether the bf16 products run on `vdpbf16ps` (AVX512_BF16);
    /// otherwise they run portable code, which is correct but slow.
    pub fn has_bf16(self) -> bool {
        self.bf16
    }

    /// Whether the int8 products run on `vpdpbusd` (AVX512-VNNI, with
    /// AVX-512BW), on weights packed in quads.
    pub fn has_vnni(self) -> bool {
        self.vnni
    }
}

fn vnni_present() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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

fn avx2_present() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
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
