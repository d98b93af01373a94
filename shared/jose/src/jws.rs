//! JWS compact serialization (RFC 7515 §7.1): signing, and decoding with signature
//! verification against a JWKS. `alg: none`, HMAC and any algorithm other than ours are
//! refused; the algorithm is tied to the key's type.

use serde_json::Value;

use crate::set::SetError;
use crate::{Alg, Jwks, KeyError, SigningKey, b64, strict_json};

/// The protected header of a verified JWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwsHeader {
    pub alg: Alg,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// Signs `payload` as a compact JWS with header `{"alg","typ"?,"kid"}`.
pub fn sign_jws(key: &SigningKey, typ: Option<&str>, payload: &[u8]) -> Result<String, KeyError> {
    let mut header = serde_json::Map::new();
    header.insert("alg".into(), Value::from(key.alg().as_str()));
    if let Some(typ) = typ {
        header.insert("typ".into(), Value::from(typ));
    }
    header.insert("kid".into(), Value::from(key.kid()));
    let header = Value::Object(header).to_string();
    sign_with_header(key, &b64::encode(header.as_bytes()), payload)
}

/// Signs with an already encoded header.
pub(crate) fn sign_with_header(
    key: &SigningKey,
    header_b64: &str,
    payload: &[u8],
) -> Result<String, KeyError> {
    let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 360);
    out.push_str(header_b64);
    out.push('.');
    b64::encode_into(payload, &mut out);
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    b64::encode_into(&sig, &mut out);
    Ok(out)
}

/// A compact JWS whose signature verified: its header and payload bytes.
pub(crate) struct Verified {
    pub header: JwsHeader,
    pub payload: Vec<u8>,
}

fn malformed(why: impl Into<String>) -> SetError {
    SetError::Malformed(why.into())
}

/// Decodes a compact JWS and verifies it with a key of `jwks`. `check_header` runs on the
/// decoded header before any signature work (used for `typ`).
pub(crate) fn decode_verified(
    token: &str,
    jwks: &Jwks,
    algorithms: &[Alg],
    check_header: impl FnOnce(&JwsHeader) -> Result<(), SetError>,
) -> Result<Verified, SetError> {
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(
            "not a compact JWS: expected three base64url parts separated by dots",
        ));
    };
    match parts.count() {
        0 => {}
        2 => return Err(malformed("encrypted SETs (JWE) are not accepted")),
        _ => return Err(malformed("not a compact JWS: expected three parts")),
    }
    let header_bytes =
        b64::decode(h64).ok_or_else(|| malformed("the JOSE header is not valid base64url"))?;
    let header = strict_json::from_slice(&header_bytes)
        .map_err(|e| malformed(format!("the JOSE header is not valid JSON: {e}")))?;
    let header = parse_header(&header, algorithms)?;
    check_header(&header)?;
    let sig = b64::decode(s64).ok_or_else(|| malformed("the signature is not valid base64url"))?;
    let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
    verify_with_jwks(&header, jwks, signing_input, &sig)?;
    let payload =
        b64::decode(p64).ok_or_else(|| malformed("the payload is not valid base64url"))?;
    Ok(Verified { header, payload })
}

fn parse_header(header: &Value, algorithms: &[Alg]) -> Result<JwsHeader, SetError> {
    let obj = header
        .as_object()
        .ok_or_else(|| malformed("the JOSE header is not a JSON object"))?;
    let alg_name = match obj.get("alg") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(malformed("the JOSE header `alg` is not a string")),
        None => return Err(malformed("the JOSE header has no `alg`")),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(SetError::Unsecured);
    }
    let alg = Alg::from_name(alg_name)
        .filter(|a| algorithms.contains(a))
        .ok_or_else(|| SetError::AlgorithmNotAccepted(alg_name.to_owned()))?;
    if obj.contains_key("crit") {
        return Err(malformed(
            "the JOSE header has `crit` extensions, none of which are understood",
        ));
    }
    if obj.contains_key("enc") || obj.get("zip").is_some() {
        return Err(malformed("encrypted or compressed SETs are not accepted"));
    }
    let text = |name: &str| -> Result<Option<String>, SetError> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(malformed(format!(
                "the JOSE header `{name}` is not a string"
            ))),
        }
    };
    Ok(JwsHeader {
        alg,
        kid: text("kid")?,
        typ: text("typ")?,
    })
}

fn verify_with_jwks(
    header: &JwsHeader,
    jwks: &Jwks,
    message: &[u8],
    sig: &[u8],
) -> Result<(), SetError> {
    if let Some(kid) = &header.kid {
        let key = jwks
            .find(kid)
            .ok_or_else(|| SetError::UnknownKey(Some(kid.clone())))?;
        if !key.usable_for(header.alg) {
            return Err(SetError::KeyAlgorithmMismatch {
                kid: kid.clone(),
                alg: header.alg,
            });
        }
        return if key.verify(message, sig) {
            Ok(())
        } else {
            Err(SetError::BadSignature)
        };
    }
    // No `kid`: try every key of the right type (JWKS are small).
    let mut candidates = jwks
        .keys
        .iter()
        .filter(|k| k.usable_for(header.alg))
        .peekable();
    if candidates.peek().is_none() {
        return Err(SetError::UnknownKey(None));
    }
    if candidates.any(|k| k.verify(message, sig)) {
        Ok(())
    } else {
        Err(SetError::BadSignature)
    }
}
