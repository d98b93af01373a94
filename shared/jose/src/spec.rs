//! What kind of key to generate: the algorithm and, for RS256, the modulus size. A tenant
//! chooses one at sign-up and on rotation; its current choice is the spec of its newest key.

use std::fmt;
use std::str::FromStr;

use crate::Alg;

/// The RSA modulus sizes sethub generates (2048 is the floor of every profile it serves).
pub const RSA_BITS: [u32; 2] = [2048, 3072];

/// A key to generate: ES256 (the default), EdDSA, or RS256 with a 2048- or 3072-bit modulus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeySpec {
    #[default]
    Es256,
    EdDsa,
    Rs256 {
        /// 2048 or 3072.
        bits: u32,
    },
}

/// A key spec that sethub does not generate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("unsupported signing algorithm `{0}` (supported: RS256, ES256, EdDSA)")]
    UnknownAlg(String),
    #[error("RSA keys are generated with 2048 or 3072 bits, not {0}")]
    RsaBits(u32),
    #[error("a key size applies to RS256 only, not to {0}")]
    BitsWithoutRsa(Alg),
}

impl KeySpec {
    /// Every spec sethub generates, in the order the console lists them.
    pub const ALL: [KeySpec; 4] = [
        KeySpec::Es256,
        KeySpec::EdDsa,
        KeySpec::Rs256 { bits: 2048 },
        KeySpec::Rs256 { bits: 3072 },
    ];

    /// The spec of `alg` with an optional RSA size (RS256 defaults to 2048 bits).
    pub fn new(alg: Alg, rsa_bits: Option<u32>) -> Result<Self, SpecError> {
        match (alg, rsa_bits) {
            (Alg::Es256, None) => Ok(Self::Es256),
            (Alg::EdDsa, None) => Ok(Self::EdDsa),
            (Alg::Rs256, None) => Ok(Self::Rs256 { bits: 2048 }),
            (Alg::Rs256, Some(bits)) if RSA_BITS.contains(&bits) => Ok(Self::Rs256 { bits }),
            (Alg::Rs256, Some(bits)) => Err(SpecError::RsaBits(bits)),
            (other, Some(_)) => Err(SpecError::BitsWithoutRsa(other)),
        }
    }

    /// The spec of a JOSE algorithm name and an optional RSA size.
    pub fn parse(alg: &str, rsa_bits: Option<u32>) -> Result<Self, SpecError> {
        let alg = Alg::from_name(alg).ok_or_else(|| SpecError::UnknownAlg(alg.to_owned()))?;
        Self::new(alg, rsa_bits)
    }

    /// What a request names, either part optional: nothing is `None` (keep the current
    /// kind); a key size alone is an RSA key's, so RS256.
    pub fn from_options(
        alg: Option<&str>,
        rsa_bits: Option<u32>,
    ) -> Result<Option<Self>, SpecError> {
        match (alg, rsa_bits) {
            (None, None) => Ok(None),
            (None, Some(bits)) => Self::new(Alg::Rs256, Some(bits)).map(Some),
            (Some(alg), bits) => Self::parse(alg, bits).map(Some),
        }
    }

    /// The JWS algorithm.
    pub fn alg(self) -> Alg {
        match self {
            Self::Es256 => Alg::Es256,
            Self::EdDsa => Alg::EdDsa,
            Self::Rs256 { .. } => Alg::Rs256,
        }
    }

    /// The RSA modulus size, for RS256.
    pub fn rsa_bits(self) -> Option<u32> {
        match self {
            Self::Rs256 { bits } => Some(bits),
            _ => None,
        }
    }

    /// A short stable name: `ES256`, `EdDSA`, `RS256-2048`, `RS256-3072` (forms and the CLI).
    pub fn name(self) -> String {
        match self {
            Self::Rs256 { bits } => format!("RS256-{bits}"),
            other => other.alg().as_str().to_owned(),
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Parses [`KeySpec::name`]'s forms, and a bare `RS256` (2048 bits).
impl FromStr for KeySpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('-') {
            Some(("RS256", bits)) => {
                let bits = bits
                    .parse()
                    .map_err(|_| SpecError::UnknownAlg(s.to_owned()))?;
                Self::new(Alg::Rs256, Some(bits))
            }
            _ => Self::parse(s, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_rs256_defaults_to_2048_bits() {
        for spec in KeySpec::ALL {
            assert_eq!(spec.name().parse::<KeySpec>(), Ok(spec));
        }
        assert_eq!("RS256".parse(), Ok(KeySpec::Rs256 { bits: 2048 }));
        assert_eq!(KeySpec::default(), KeySpec::Es256);
    }

    #[test]
    fn sizes_other_than_2048_and_3072_and_sizes_on_other_algs_are_refused() {
        assert_eq!(
            KeySpec::new(Alg::Rs256, Some(1024)),
            Err(SpecError::RsaBits(1024))
        );
        assert_eq!(
            KeySpec::new(Alg::Es256, Some(2048)),
            Err(SpecError::BitsWithoutRsa(Alg::Es256))
        );
        assert!("HS256".parse::<KeySpec>().is_err());
        assert!("RS256-4096".parse::<KeySpec>().is_err());
        assert!("es256".parse::<KeySpec>().is_err());
    }
}
