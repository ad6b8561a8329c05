//! `SignatureNonce` values: unique per request, across threads and forks.

/// A `SignatureNonce` that no other request of this process, or of any other
/// process, sends: 64 bits that differ per process (OS-seeded randomness
/// mixed with the process id, so a child `fork`ed from a process that has
/// already signed does not repeat its parent's nonces) followed by a
/// per-process counter passed through a bijection, so two nonces of one
/// process can never be equal.
pub(crate) fn new_nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(d.as_nanos());
        }
        h.finish()
    });
    // A forked child inherits the seed and the counter; its pid differs.
    let process = mix(seed ^ u64::from(std::process::id()));
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Odd multiplier and xor-shift are both invertible: distinct counts stay distinct.
    let mut x = count.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ process;
    x ^= x >> 31;
    let mut out = String::with_capacity(32);
    push_hex(&mut out, process);
    push_hex(&mut out, x);
    out
}

/// The splitmix64 finalizer: a bijection that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Appends `v` as 16 lowercase hex digits.
fn push_hex(out: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(HEX[((v >> (shift * 4)) & 0xf) as usize]));
    }
}
