//! The part size and the number of threads of a multipart upload, chosen
//! from the object's size when the caller set none, in the manner of
//! ossutil (which grows the part size so the part count stays in OSS's
//! range and picks its parallelism from the part count); the figures are
//! this library's, sized for devices. The rule is written out in
//! `docs/upload.md`:
//!
//! - part size: the one set with [`UploadOptions::part_size`], else
//!   [`DEFAULT_PART_SIZE`] (8 MiB); grown, in whole MiB, to the smallest
//!   size that keeps the object within [`MAX_PARTS`] (10,000) parts; never
//!   below [`MIN_PART_SIZE`] (100 KiB) nor above [`MAX_PART_SIZE`] (5 GiB).
//!   A cap ([`UploadOptions::max_part_size`]) lowers it; a cap too small
//!   for 10,000 parts is an error naming the smallest cap that works.
//! - threads: the ones set with [`UploadOptions::threads`], else 1 for one
//!   part, 2 up to 15 parts, 3 up to 63, 4 from 64 parts on; never more
//!   than the parts, nor than a cap ([`UploadOptions::max_threads`]).
//!
//! [`UploadOptions::part_size`]: super::UploadOptions::part_size
//! [`UploadOptions::max_part_size`]: super::UploadOptions::max_part_size
//! [`UploadOptions::threads`]: super::UploadOptions::threads
//! [`UploadOptions::max_threads`]: super::UploadOptions::max_threads

use crate::error::{Error, Result};

use super::{DEFAULT_PART_SIZE, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};

const MIB: u64 = 1 << 20;

/// The part size for a `size`-byte object (see the module's doc).
pub(crate) fn part_size_for(size: u64, set: Option<u64>, cap: Option<u64>) -> Result<u64> {
    let needed = size.div_ceil(u64::from(MAX_PARTS)).max(MIN_PART_SIZE);
    let chosen = match set {
        // An explicit size keeps its documented behaviour: it grows just
        // enough for 10,000 parts.
        Some(set) => set.max(needed),
        None => DEFAULT_PART_SIZE.max(needed.div_ceil(MIB) * MIB),
    };
    let cap = cap.unwrap_or(MAX_PART_SIZE).min(MAX_PART_SIZE);
    if needed > cap {
        let what = if cap == MAX_PART_SIZE {
            format!(
                "{size} bytes is more than OSS stores in one object ({MAX_PARTS} parts of {MAX_PART_SIZE} bytes)"
            )
        } else {
            format!(
                "{size} bytes needs parts of at least {needed} bytes to fit in {MAX_PARTS} parts, above the cap of {cap} (raise the maximum part size to {needed} or more)"
            )
        };
        return Err(Error::invalid_input(
            if cap == MAX_PART_SIZE {
                "size"
            } else {
                "max part size"
            },
            what,
        ));
    }
    Ok(chosen.min(cap))
}

/// How many parts go at once for `parts` parts (see the module's doc).
pub(crate) fn threads_for(parts: u64, set: Option<usize>, cap: Option<usize>) -> usize {
    let chosen = set.unwrap_or(match parts {
        0..=1 => 1,
        2..=15 => 2,
        16..=63 => 3,
        _ => 4,
    });
    let most = usize::try_from(parts).unwrap_or(usize::MAX).max(1);
    chosen.min(cap.unwrap_or(usize::MAX)).min(most).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;
    const GB: u64 = 1_000_000_000;

    /// The automatic rule at the sizes the docs quote: part size, part
    /// count, threads.
    #[test]
    fn the_rule_at_the_documented_sizes() {
        let plan = |size: u64| {
            let part = part_size_for(size, None, None).unwrap();
            let parts = size.div_ceil(part).max(1);
            (part, parts, threads_for(parts, None, None))
        };
        assert_eq!(plan(0), (8 * MIB, 1, 1));
        assert_eq!(plan(MB), (8 * MIB, 1, 1));
        assert_eq!(plan(100 * MB), (8 * MIB, 12, 2));
        assert_eq!(plan(10 * GB), (8 * MIB, 1193, 4));
        // 50 GB in 8 MiB parts would be 5961 parts: still fine.
        assert_eq!(plan(50 * GB), (8 * MIB, 5961, 4));
        // 100 GB needs 10 MB parts: grown to whole MiB (10 MiB).
        assert_eq!(plan(100 * GB), (10 * MIB, 9537, 4));
        // The largest object: 10,000 parts of 5 GiB.
        let largest = MAX_PART_SIZE * u64::from(MAX_PARTS);
        assert_eq!(plan(largest).1, u64::from(MAX_PARTS));
        assert!(part_size_for(largest + 1, None, None).is_err());
    }

    #[test]
    fn explicit_settings_and_caps_win() {
        // A set size is kept, grown only as far as 10,000 parts need.
        assert_eq!(
            part_size_for(100 * MB, Some(MIN_PART_SIZE), None).unwrap(),
            MIN_PART_SIZE
        );
        assert_eq!(
            part_size_for(50 * GB, Some(MIN_PART_SIZE), None).unwrap(),
            5 * MB
        );
        // A cap lowers the automatic size.
        assert_eq!(
            part_size_for(10 * GB, None, Some(2 * MIB)).unwrap(),
            2 * MIB
        );
        assert_eq!(part_size_for(MB, Some(16 * MIB), Some(MIB)).unwrap(), MIB);
        // A cap too small for 10,000 parts is a clear error.
        match part_size_for(50 * GB, None, Some(4 * MIB)) {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "max part size");
                assert!(reason.contains("5000000"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(threads_for(1193, Some(8), None), 8);
        assert_eq!(threads_for(1193, None, Some(1)), 1);
        assert_eq!(threads_for(1193, Some(8), Some(3)), 3);
        assert_eq!(threads_for(2, Some(8), None), 2);
        assert_eq!(threads_for(0, None, None), 1);
    }
}
