//! Strict base64url decoding (RFC 4648 §5, no padding) for the token segments on the
//! request path: the URL-safe alphabet only, no `=`, no whitespace, and canonical trailing bits
//! (the unused low bits of the last character must be zero), so that one token has exactly one
//! text. The `base64` crate's `URL_SAFE_NO_PAD` accepts and refuses exactly the same inputs
//! (a test compares the two); this one decodes four characters per step without a branch
//! per character, which is what a verifier does most.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A byte outside the alphabet, in the tables below: a bit no valid character sets.
const INVALID: u32 = 1 << 31;

/// For each position in a group of four characters, each byte's 6-bit value already shifted
/// into place in the group's 24 bits, or [`INVALID`]: a group is four lookups and three ORs.
static PLACED: [[u32; 256]; 4] = {
    let mut tables = [[INVALID; 256]; 4];
    let mut position = 0;
    while position < 4 {
        let mut i = 0;
        while i < 64 {
            tables[position][ALPHABET[i] as usize] = (i as u32) << (18 - 6 * position);
            i += 1;
        }
        position += 1;
    }
    tables
};

/// Why a segment is not strict base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidBase64;

/// The decoded length of `len` characters, or `None` for a length no encoding has.
pub(crate) fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        rem => Some(len / 4 * 3 + rem.saturating_sub(1)),
    }
}

/// Decodes `input` into the front of `out` and returns the decoded length.
///
/// # Errors
///
/// A byte outside the alphabet, a length of 4n + 1, non-zero trailing bits, or an `out`
/// shorter than [`decoded_len`].
pub(crate) fn decode_to_slice(input: &[u8], out: &mut [u8]) -> Result<usize, InvalidBase64> {
    let len = decoded_len(input.len()).ok_or(InvalidBase64)?;
    let out = out.get_mut(..len).ok_or(InvalidBase64)?;
    let placed = |position: usize, b: u8| PLACED[position][usize::from(b)];
    let mut seen = 0u32;
    let mut quads = input.chunks_exact(4);
    let mut triples = out.chunks_exact_mut(3);
    for (quad, triple) in (&mut quads).zip(&mut triples) {
        let bits =
            placed(0, quad[0]) | placed(1, quad[1]) | placed(2, quad[2]) | placed(3, quad[3]);
        seen |= bits;
        triple.copy_from_slice(&bits.to_be_bytes()[1..]);
    }
    let tail = triples.into_remainder();
    match *quads.remainder() {
        [] => {}
        [a, b] => {
            // 12 bits carry one byte: the last 4 must be zero.
            let bits = placed(0, a) | placed(1, b);
            seen |= bits | (u32::from(bits & 0x0000_f000 != 0) << 31);
            tail[0] = (bits >> 16) as u8;
        }
        [a, b, c] => {
            // 18 bits carry two bytes: the last 2 must be zero.
            let bits = placed(0, a) | placed(1, b) | placed(2, c);
            seen |= bits | (u32::from(bits & 0x0000_00c0 != 0) << 31);
            tail[..2].copy_from_slice(&bits.to_be_bytes()[1..3]);
        }
        _ => return Err(InvalidBase64),
    }
    if seen & INVALID == 0 {
        Ok(len)
    } else {
        Err(InvalidBase64)
    }
}

/// Decodes `input` into `out`, replacing what it held.
///
/// # Errors
///
/// As [`decode_to_slice`]; `out` is then left empty.
pub(crate) fn decode_into_vec(input: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidBase64> {
    out.clear();
    let len = decoded_len(input.len()).ok_or(InvalidBase64)?;
    out.resize(len, 0);
    match decode_to_slice(input, out) {
        Ok(_) => Ok(()),
        Err(e) => {
            out.clear();
            Err(e)
        }
    }
}

/// Decodes `input` into a new vector.
///
/// # Errors
///
/// As [`decode_to_slice`].
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, InvalidBase64> {
    let mut out = Vec::new();
    decode_into_vec(input, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// The reference: the `base64` crate's strict unpadded URL-safe engine.
    fn reference(input: &[u8]) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(input).ok()
    }

    fn ours(input: &[u8]) -> Option<Vec<u8>> {
        decode(input).ok()
    }

    #[test]
    fn known_values_and_refusals() {
        assert_eq!(ours(b"").unwrap(), b"");
        assert_eq!(ours(b"Zg").unwrap(), b"f");
        assert_eq!(ours(b"Zm8").unwrap(), b"fo");
        assert_eq!(ours(b"Zm9v").unwrap(), b"foo");
        assert_eq!(ours(b"-_-_").unwrap(), [0xfb, 0xff, 0xbf]);
        for bad in [
            &b"Zh"[..],     // non-zero trailing bits
            b"Zm9",         // ditto
            b"Z",           // 4n + 1
            b"Zm9v=",       // padding
            b"Zm8=",        // padding
            b"Zm+v",        // standard alphabet
            b"Zm/v",        // standard alphabet
            b"Zm v",        // whitespace
            b"Zm9v\n",      // newline
            b"Zm9\xc3\xa9", // non-ASCII
            b"Zm9.",        // dot
        ] {
            assert_eq!(ours(bad), None, "{:?}", String::from_utf8_lossy(bad));
            assert_eq!(reference(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let mut short = [0u8; 2];
        assert_eq!(decode_to_slice(b"Zm9v", &mut short), Err(InvalidBase64));
    }

    /// Every input of up to 3 characters over a mixed alphabet, then random longer ones with
    /// a few bytes that are not base64url: both decoders agree on every one.
    #[test]
    fn agrees_with_the_base64_crate() {
        let symbols: Vec<u8> = (b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(*b"-_+/= .\n\0\x80\xff")
            .collect();
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        for &a in &symbols {
            inputs.push(vec![a]);
            for &b in &symbols {
                inputs.push(vec![a, b]);
                for &c in &symbols {
                    inputs.push(vec![a, b, c]);
                }
            }
        }
        // A small deterministic generator (xorshift): the same cases on every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 70) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 97 == 0 {
                        symbols[(r >> 8) as usize % symbols.len()]
                    } else {
                        symbols[(r >> 8) as usize % 64]
                    }
                })
                .collect();
            inputs.push(input);
        }
        for input in &inputs {
            assert_eq!(
                ours(input),
                reference(input),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn failed_decodes_leave_the_buffer_empty() {
        let mut out = b"old".to_vec();
        assert!(decode_into_vec(b"Zm9v", &mut out).is_ok());
        assert_eq!(out, b"foo");
        assert!(decode_into_vec(b"Zh", &mut out).is_err());
        assert!(out.is_empty());
    }
}
