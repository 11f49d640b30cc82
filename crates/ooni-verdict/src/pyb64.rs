//! Python's `base64.b64decode(s)` (non-validating mode), as fastpath calls it.
//!
//! Characters outside the base64 alphabet are skipped, a pad sequence ends the input
//! (anything after it is ignored), and a truncated final quantum raises
//! `binascii.Error` ("Incorrect padding"). A `str` argument with non-ASCII characters
//! raises `ValueError` instead, which fastpath does not catch.

/// Why decoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum B64Error {
    /// `binascii.Error`: incorrect padding / invalid length (fastpath catches it for
    /// web_connectivity and scores the measurement as failed).
    Binascii,
    /// `ValueError`: the string has non-ASCII characters (fastpath does not catch it).
    NonAscii,
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes like CPython's `binascii.a2b_base64(s, strict_mode=False)`.
pub(crate) fn b64decode(s: &str) -> Result<Vec<u8>, B64Error> {
    if !s.is_ascii() {
        return Err(B64Error::NonAscii);
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let mut quad_pos = 0u8;
    let mut left: u8 = 0;
    let mut pads = 0u8;
    for &c in s.as_bytes() {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let Some(v) = value(c) else { continue };
        pads = 0;
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((left << 6) | v);
                left = 0;
                quad_pos = 0;
            }
        }
    }
    if quad_pos == 0 {
        Ok(out)
    } else {
        Err(B64Error::Binascii)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_like_python() {
        assert_eq!(b64decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(b64decode("aGVs\nbG8=").unwrap(), b"hello");
        // Data after the padding is ignored.
        assert_eq!(b64decode("QQ==QUJD").unwrap(), b"A");
        // A lone '=' inside a quantum is skipped.
        assert_eq!(b64decode("QQ=QQ=").unwrap(), vec![0x41, 0x04, 0x10]);
        assert_eq!(b64decode("").unwrap(), b"");
    }

    #[test]
    fn padding_errors() {
        assert_eq!(b64decode("aGVsbG8"), Err(B64Error::Binascii));
        assert_eq!(b64decode("a"), Err(B64Error::Binascii));
        assert_eq!(b64decode("QQ="), Err(B64Error::Binascii));
        assert_eq!(b64decode("aGVsbG8=é"), Err(B64Error::NonAscii));
    }
}
