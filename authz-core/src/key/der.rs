//! Just enough DER to classify key files and check their size and curve at load time:
//! SubjectPublicKeyInfo, PKCS#1 RSA keys and PKCS#8 private keys. Definite lengths only;
//! anything else is refused. No cryptography happens here.

use crate::error::KeyError;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// rsaEncryption, 1.2.840.113549.1.1.1
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1
pub(crate) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 / P-256, 1.2.840.10045.3.1.7
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 / P-384, 1.3.132.0.34
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 / P-521, 1.3.132.0.35
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A cursor over DER TLVs.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self(input)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads one TLV and returns its tag and contents.
    pub(crate) fn any(&mut self) -> Result<(u8, &'a [u8]), KeyError> {
        let bad = || KeyError::Format("malformed DER".into());
        let (&tag, rest) = self.0.split_first().ok_or_else(bad)?;
        let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(bad());
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return Err(bad());
        }
        let (contents, rest) = rest.split_at(len);
        self.0 = rest;
        Ok((tag, contents))
    }

    /// Reads one TLV that must have `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<&'a [u8], KeyError> {
        match self.any()? {
            (t, contents) if t == tag => Ok(contents),
            _ => Err(KeyError::Format("unexpected DER structure".into())),
        }
    }
}

/// The algorithm of a SubjectPublicKeyInfo or PKCS#8 key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyAlg {
    Rsa,
    Ec(Curve),
    Ed25519,
}

/// The elliptic curves we can meet in key files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }
}

fn algorithm_identifier(contents: &[u8]) -> Result<KeyAlg, KeyError> {
    let mut r = Reader::new(contents);
    let oid = r.expect(TAG_OID)?;
    if oid == OID_RSA {
        return Ok(KeyAlg::Rsa);
    }
    if oid == OID_ED25519 {
        return Ok(KeyAlg::Ed25519);
    }
    if oid == OID_EC {
        let curve = r.expect(TAG_OID)?;
        return match curve {
            c if c == OID_P256 => Ok(KeyAlg::Ec(Curve::P256)),
            c if c == OID_P384 => Ok(KeyAlg::Ec(Curve::P384)),
            c if c == OID_P521 => Ok(KeyAlg::Ec(Curve::P521)),
            _ => Err(KeyError::Format("unsupported elliptic curve".into())),
        };
    }
    Err(KeyError::Format(
        "unsupported key algorithm (RSA, EC P-256/P-384 and Ed25519 are)".into(),
    ))
}

/// A parsed SubjectPublicKeyInfo: the algorithm and the raw public key bits.
pub(crate) fn parse_spki(der: &[u8]) -> Result<(KeyAlg, &[u8]), KeyError> {
    let mut outer = Reader::new(der);
    let mut spki = Reader::new(outer.expect(TAG_SEQUENCE)?);
    if !outer.is_empty() {
        return Err(KeyError::Format("trailing data after the key".into()));
    }
    let alg = algorithm_identifier(spki.expect(TAG_SEQUENCE)?)?;
    let bits = spki.expect(TAG_BIT_STRING)?;
    match bits.split_first() {
        Some((0, key)) => Ok((alg, key)),
        _ => Err(KeyError::Format("malformed public key bit string".into())),
    }
}

/// A parsed PKCS#8 PrivateKeyInfo: the algorithm and the inner private key.
pub(crate) fn parse_pkcs8(der: &[u8]) -> Result<(KeyAlg, &[u8]), KeyError> {
    let mut outer = Reader::new(der);
    let mut info = Reader::new(outer.expect(TAG_SEQUENCE)?);
    let _version = info.expect(TAG_INTEGER)?;
    let alg = algorithm_identifier(info.expect(TAG_SEQUENCE)?)?;
    let private = info.expect(TAG_OCTET_STRING)?;
    Ok((alg, private))
}

/// The modulus and exponent of a PKCS#1 RSAPublicKey.
pub(crate) fn parse_rsa_public(der: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let mut outer = Reader::new(der);
    let mut seq = Reader::new(outer.expect(TAG_SEQUENCE)?);
    let n = seq.expect(TAG_INTEGER)?;
    let e = seq.expect(TAG_INTEGER)?;
    if !seq.is_empty() || !outer.is_empty() {
        return Err(KeyError::Format("not a PKCS#1 RSA public key".into()));
    }
    Ok((strip_zeros(n), strip_zeros(e)))
}

/// The modulus of a PKCS#1 RSAPrivateKey.
pub(crate) fn parse_rsa_private_modulus(der: &[u8]) -> Result<&[u8], KeyError> {
    let mut outer = Reader::new(der);
    let mut seq = Reader::new(outer.expect(TAG_SEQUENCE)?);
    let _version = seq.expect(TAG_INTEGER)?;
    Ok(strip_zeros(seq.expect(TAG_INTEGER)?))
}

/// The number of significant bits in a big-endian unsigned integer.
pub(crate) fn bit_len(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    match n.first() {
        Some(&top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

pub(crate) fn strip_zeros(n: &[u8]) -> &[u8] {
    let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
    &n[start..]
}

/// Appends one TLV.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

fn write_unsigned(out: &mut Vec<u8>, n: &[u8]) {
    let n = strip_zeros(n);
    let mut contents = Vec::with_capacity(n.len() + 1);
    if n.first().is_none_or(|&b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(n);
    write_tlv(out, TAG_INTEGER, &contents);
}

/// A PKCS#1 RSAPublicKey from its modulus and exponent.
pub(crate) fn rsa_public_pkcs1(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut seq = Vec::with_capacity(n.len() + e.len() + 16);
    write_unsigned(&mut seq, n);
    write_unsigned(&mut seq, e);
    let mut out = Vec::with_capacity(seq.len() + 4);
    write_tlv(&mut out, TAG_SEQUENCE, &seq);
    out
}

/// A SubjectPublicKeyInfo for `alg` around the raw public key.
pub(crate) fn spki(alg: KeyAlg, key: &[u8]) -> Vec<u8> {
    let mut alg_id = Vec::new();
    match alg {
        KeyAlg::Rsa => {
            write_tlv(&mut alg_id, TAG_OID, OID_RSA);
            write_tlv(&mut alg_id, TAG_NULL, &[]);
        }
        KeyAlg::Ec(curve) => {
            write_tlv(&mut alg_id, TAG_OID, OID_EC);
            let oid = match curve {
                Curve::P256 => OID_P256,
                Curve::P384 => OID_P384,
                Curve::P521 => OID_P521,
            };
            write_tlv(&mut alg_id, TAG_OID, oid);
        }
        KeyAlg::Ed25519 => write_tlv(&mut alg_id, TAG_OID, OID_ED25519),
    }
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    let mut seq = Vec::new();
    write_tlv(&mut seq, TAG_SEQUENCE, &alg_id);
    write_tlv(&mut seq, TAG_BIT_STRING, &bits);
    let mut out = Vec::with_capacity(seq.len() + 4);
    write_tlv(&mut out, TAG_SEQUENCE, &seq);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_public_round_trip() {
        let n = [0xc5u8; 256];
        let der = rsa_public_pkcs1(&n, &[1, 0, 1]);
        let (n2, e2) = parse_rsa_public(&der).unwrap();
        assert_eq!(n2, &n[..]);
        assert_eq!(e2, &[1, 0, 1]);
        assert_eq!(bit_len(n2), 2048);
    }

    #[test]
    fn spki_round_trip() {
        let point = [4u8; 65];
        let der = spki(KeyAlg::Ec(Curve::P256), &point);
        let (alg, key) = parse_spki(&der).unwrap();
        assert_eq!(alg, KeyAlg::Ec(Curve::P256));
        assert_eq!(key, &point[..]);
    }

    #[test]
    fn truncated_der_is_refused_not_panicking() {
        let der = spki(KeyAlg::Ed25519, &[7u8; 32]);
        for cut in 0..der.len() {
            assert!(parse_spki(&der[..cut]).is_err());
        }
        assert!(
            Reader::new(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff])
                .any()
                .is_err()
        );
    }
}
