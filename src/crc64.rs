//! CRC-64/ECMA-182 as OSS computes it (`x-oss-hash-crc64ecma`): the
//! reflected ECMA-182 polynomial with all-ones init and final xor, also
//! known as CRC-64/XZ. Slicing-by-8 tables are built at compile time.

/// The reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

const fn make_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
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
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static TABLES: [[u64; 256]; 8] = make_tables();

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
        let mut crc = self.state;
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let v = crc ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            crc = TABLES[7][(v & 0xff) as usize]
                ^ TABLES[6][((v >> 8) & 0xff) as usize]
                ^ TABLES[5][((v >> 16) & 0xff) as usize]
                ^ TABLES[4][((v >> 24) & 0xff) as usize]
                ^ TABLES[3][((v >> 32) & 0xff) as usize]
                ^ TABLES[2][((v >> 40) & 0xff) as usize]
                ^ TABLES[1][((v >> 48) & 0xff) as usize]
                ^ TABLES[0][(v >> 56) as usize];
        }
        for &b in chunks.remainder() {
            crc = TABLES[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.state = crc;
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
}
