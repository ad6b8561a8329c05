//! CRC-64/ECMA-182 as OSS computes it (`x-oss-hash-crc64ecma`): the
//! reflected ECMA-182 polynomial with all-ones init and final xor, also
//! known as CRC-64/XZ.
//!
//! Every uploaded byte goes through it, so the bulk runs in `crc64fast`:
//! carry-less multiplication (PCLMULQDQ on x86_64, PMULL on aarch64, both
//! detected at run time) and a slicing-by-16 table elsewhere (armv7, or a
//! CPU without them). Its `unsafe` SIMD code stays out of this crate.
//! `combine` is ours.

/// The reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

/// One byte at a time, for updates shorter than a register.
const fn make_table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

static TABLE: [u64; 256] = make_table();

/// A running CRC-64/ECMA-182 over streamed data.
///
/// ```
/// let mut crc = ens_upload::crc64::Crc64::new();
/// crc.update(b"1234");
/// crc.update(b"56789");
/// assert_eq!(crc.value(), 0x995D_C9BB_DF19_39FA);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc64 {
    /// The register, kept inverted between updates.
    state: u64,
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

impl Crc64 {
    /// The CRC of nothing (0).
    pub fn new() -> Crc64 {
        Crc64 { state: !0 }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        let Some((head, rest)) = data.split_first_chunk::<8>() else {
            for &b in data {
                self.state =
                    TABLE[((self.state ^ u64::from(b)) & 0xff) as usize] ^ (self.state >> 8);
            }
            return;
        };
        // crc64fast always starts from the initial register (all ones). The
        // register is 64 bits and reflected, so after 8 bytes it depends
        // only on `register ^ those bytes` (little-endian): going on from
        // our register is starting afresh with the first 8 bytes xored by
        // `register ^ !0`.
        let first = u64::from_le_bytes(*head) ^ self.state ^ !0;
        let mut digest = crc64fast::Digest::new();
        digest.write(&first.to_le_bytes());
        digest.write(rest);
        self.state = !digest.sum64();
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u64 {
        !self.state
    }
}

/// The CRC of `data` in one go.
pub fn checksum(data: &[u8]) -> u64 {
    let mut c = Crc64::new();
    c.update(data);
    c.value()
}

/// The CRC of `A ++ B` from `crc(A)`, `crc(B)` and `len(B)`, without the
/// data (zlib's GF(2) matrix method). Multipart uploads use it to get the
/// whole object's CRC from the parts' CRCs, in any order of completion.
///
/// ```
/// use ens_upload::crc64::{checksum, combine};
/// let whole = checksum(b"hello, world");
/// assert_eq!(combine(checksum(b"hello"), checksum(b", world"), 7), whole);
/// ```
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    if len_b == 0 {
        return crc_a;
    }
    // odd: the operator for one zero bit; even: for two zero bits.
    let mut odd = [0u64; 64];
    odd[0] = POLY;
    let mut row = 1u64;
    for slot in odd.iter_mut().skip(1) {
        *slot = row;
        row <<= 1;
    }
    let mut even = [0u64; 64];
    gf2_square(&mut even, &odd); // two zero bits
    gf2_square(&mut odd, &even); // four zero bits

    let mut crc = crc_a;
    let mut len = len_b;
    // Apply len_b zero bytes to crc_a, one squaring per bit of len_b.
    loop {
        gf2_square(&mut even, &odd);
        if len & 1 == 1 {
            crc = gf2_times(&even, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
        gf2_square(&mut odd, &even);
        if len & 1 == 1 {
            crc = gf2_times(&odd, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
    }
    crc ^ crc_b
}

fn gf2_times(mat: &[u64; 64], mut vec: u64) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 == 1 {
            sum ^= mat[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn gf2_square(square: &mut [u64; 64], mat: &[u64; 64]) {
    for n in 0..64 {
        square[n] = gf2_times(mat, mat[n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference, independent of the tables.
    fn reference(data: &[u8]) -> u64 {
        let mut crc = !0u64;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn known_values() {
        assert_eq!(checksum(b""), 0);
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        assert_eq!(checksum(&data), reference(&data));
        for cut in [0, 1, 7, 8, 9, 4999, 10_000] {
            let mut c = Crc64::new();
            c.update(&data[..cut]);
            c.update(&data[cut..]);
            assert_eq!(c.value(), reference(&data), "cut {cut}");
            assert_eq!(
                combine(
                    checksum(&data[..cut]),
                    checksum(&data[cut..]),
                    (data.len() - cut) as u64
                ),
                reference(&data),
                "combine at {cut}"
            );
        }
    }

    /// The SIMD path (blocks of 128 bytes at any alignment), the table path
    /// (short inputs) and the register carried between updates of every
    /// length all agree with the bit-at-a-time reference.
    #[test]
    fn any_alignment_and_split_matches_reference() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 131 + i / 7) as u8).collect();
        for start in 0..17 {
            for len in (0..300).chain([511, 512, 513, 1024, 4096, 4983 - start]) {
                let slice = &data[start..start + len];
                let want = reference(slice);
                assert_eq!(checksum(slice), want, "start {start} len {len}");
                for step in [1, 3, 7, 8, 9, 64, 129] {
                    let mut c = Crc64::new();
                    for piece in slice.chunks(step) {
                        c.update(piece);
                    }
                    assert_eq!(c.value(), want, "start {start} len {len} step {step}");
                }
            }
        }
    }
}
