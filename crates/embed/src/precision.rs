//! The arithmetic the fused encoder's dense layers run in: FP32, bf16 or int8.
//!
//! The dense layers (QKV, attention output, the two feed-forward matrices) are nearly all of an
//! encoder's arithmetic. In int8 (AVX512-VNNI) each instruction does four times the
//! multiply-adds of FP32, in bf16 (AVX512-BF16) twice; attention, GELU and LayerNorm stay FP32.
//! The vectors stay within the quality conditions of `tests/embed_parity.rs` (cosine ≥ 0.995 to
//! the reference), so they count as the same model's vectors: a store may hold both, and
//! `embed --all` rewrites every vector in the precision that runs now.

use serde::Serialize;

use crate::error::{EmbedError, Result};
use paperscout_linalg::low_precision;

/// The precision a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The fastest this CPU runs: int8 with AVX512-VNNI, FP32 without.
    #[default]
    Auto,
    /// Single precision throughout: the reference.
    Fp32,
    /// bf16 weights and activations in the dense layers, f32 sums (AVX512-BF16).
    Bf16,
    /// int8 weights (per output) and activations (per token) in the dense layers, int32 sums
    /// (AVX512-VNNI).
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = EmbedError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "fp32" | "f32" => Ok(Self::Fp32),
            "bf16" => Ok(Self::Bf16),
            "int8" | "i8" => Ok(Self::Int8),
            _ => Err(EmbedError::BadPrecisionName(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Int8 => "int8",
        })
    }
}

impl Precision {
    /// The precision that runs for this request on this CPU (never `Auto`), or why the one
    /// asked for cannot. `fused` says whether the fused CPU encoder runs: the other engines are
    /// FP32 only.
    pub fn resolve(self, fused: bool) -> Result<Self> {
        match self {
            Self::Auto if fused && low_precision::int8_available() => Ok(Self::Int8),
            Self::Auto | Self::Fp32 => Ok(Self::Fp32),
            Self::Int8 | Self::Bf16 if !fused => Err(EmbedError::PrecisionUnsupported {
                precision: self,
                why: "only the fused CPU engine runs reduced precision; use --engine auto or \
                      fused on the CPU, or --precision fp32"
                    .into(),
            }),
            Self::Int8 if !low_precision::int8_available() => {
                Err(EmbedError::PrecisionUnsupported {
                    precision: self,
                    why: "this CPU has no AVX512-VNNI; use --precision auto or fp32".into(),
                })
            }
            Self::Bf16 if !low_precision::bf16_available() => {
                Err(EmbedError::PrecisionUnsupported {
                    precision: self,
                    why: "this CPU has no AVX512-BF16; use --precision auto or fp32".into(),
                })
            }
            Self::Int8 | Self::Bf16 => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for precision in [
            Precision::Auto,
            Precision::Fp32,
            Precision::Bf16,
            Precision::Int8,
        ] {
            assert_eq!(
                precision.to_string().parse::<Precision>().ok(),
                Some(precision)
            );
        }
        assert!(matches!(
            "int4".parse::<Precision>(),
            Err(EmbedError::BadPrecisionName(_))
        ));
    }

    #[test]
    fn auto_resolves_to_what_the_cpu_runs_and_other_engines_stay_fp32() {
        let expected = if low_precision::int8_available() {
            Precision::Int8
        } else {
            Precision::Fp32
        };
        assert_eq!(Precision::Auto.resolve(true).ok(), Some(expected));
        assert_eq!(Precision::Auto.resolve(false).ok(), Some(Precision::Fp32));
        assert!(Precision::Int8.resolve(false).is_err());
        assert!(Precision::Bf16.resolve(false).is_err());
    }
}
