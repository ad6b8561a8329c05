//! The percent-encoding every signature shares: RFC 3986 unreserved bytes
//! (`A-Z a-z 0-9 - _ . ~`) stay, every other UTF-8 byte is `%XX`, uppercase.

/// Percent-encodes `input` as signature 1.0 wants: every UTF-8 byte except
/// `A-Z a-z 0-9 - _ . ~` becomes `%XX` with uppercase hex.
///
/// ```
/// assert_eq!(ens_upload::sign::percent_encode("a b*c~"), "a%20b%2Ac~");
/// ```
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len() * 3 / 2);
    percent_encode_into(&mut out, input);
    out
}

/// Every byte but `A-Z a-z 0-9 - _ . ~` is encoded.
pub(crate) const ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Appends the percent-encoding of `input` to `out` (see [`percent_encode`]).
pub(crate) fn percent_encode_into(out: &mut String, input: &str) {
    out.extend(percent_encoding::utf8_percent_encode(input, ENCODED));
}

/// Which bytes stay as they are: `A-Z a-z 0-9 - _ . ~` (the same set as
/// [`ENCODED`] leaves, as a table for the signer's one-pass double encoding).
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' || c == b'~';
        b += 1;
    }
    t
};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `input` percent-encoded to `once`, and encoded twice to `twice`.
pub(crate) fn encode_twice(once: &mut Vec<u8>, twice: &mut Vec<u8>, input: &[u8]) {
    let mut rest = input;
    while !rest.is_empty() {
        let run = rest
            .iter()
            .position(|&b| !UNRESERVED[usize::from(b)])
            .unwrap_or(rest.len());
        once.extend_from_slice(&rest[..run]);
        twice.extend_from_slice(&rest[..run]);
        let Some(&b) = rest.get(run) else { break };
        let (hi, lo) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]);
        once.extend_from_slice(&[b'%', hi, lo]);
        twice.extend_from_slice(&[b'%', b'2', b'5', hi, lo]);
        rest = &rest[run + 1..];
    }
}

/// Lowercase hex of `bytes`, as V3 and OSS V4 write hashes and signatures.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`), as a server
/// reading a query or form body does. Invalid escapes are kept literally.
/// Returns `None` when the decoded bytes are not UTF-8.
pub fn percent_decode(input: &str, plus_is_space: bool) -> Option<String> {
    let spaced;
    let input = if plus_is_space && input.contains('+') {
        spaced = input.replace('+', " ");
        spaced.as_str()
    } else {
        input
    };
    percent_encoding::percent_decode_str(input)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}
