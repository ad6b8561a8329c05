//! The flags that say what the uploaded object is created with (metadata,
//! tags, storage class, headers, forbid-overwrite) and how it is cut
//! (part size, threads and their caps), kept apart from the other flags.

use ens_upload::{StorageClass, UploadOptions};

/// How these flags read in the usage text.
pub const USAGE: &str = "[--meta NAME=VALUE]... [--tag KEY=VALUE]... [--content-type TYPE]
                       [--content-disposition VALUE] [--cache-control VALUE]
                       [--storage-class Standard|IA|Archive|ColdArchive|DeepColdArchive]
                       [--forbid-overwrite] [--part-size BYTES] [--threads N]
                       [--max-part-size BYTES] [--max-threads N]";

/// The values given, applied to the upload's options.
#[derive(Default)]
pub struct ObjectFlags {
    metadata: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    content_type: Option<String>,
    content_disposition: Option<String>,
    cache_control: Option<String>,
    storage_class: Option<StorageClass>,
    forbid_overwrite: bool,
    part_size: Option<u64>,
    threads: Option<usize>,
    max_part_size: Option<u64>,
    max_threads: Option<usize>,
}

impl ObjectFlags {
    /// Takes `flag` when it is one of these, reading its value with
    /// `value`; `Ok(false)` when it is not.
    pub fn take(
        &mut self,
        flag: &str,
        value: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<bool, String> {
        match flag {
            "--meta" => self.metadata.push(pair(flag, value(flag)?)?),
            "--tag" => self.tags.push(pair(flag, value(flag)?)?),
            "--content-type" => self.content_type = Some(value(flag)?),
            "--content-disposition" => self.content_disposition = Some(value(flag)?),
            "--cache-control" => self.cache_control = Some(value(flag)?),
            "--storage-class" => {
                let v = value(flag)?;
                self.storage_class = Some(v.parse().map_err(|e| format!("{flag}: {e}"))?);
            }
            "--forbid-overwrite" => self.forbid_overwrite = true,
            "--part-size" => self.part_size = Some(bytes(flag, &value(flag)?)?),
            "--max-part-size" => self.max_part_size = Some(bytes(flag, &value(flag)?)?),
            "--threads" => self.threads = Some(number(flag, &value(flag)?)?),
            "--max-threads" => self.max_threads = Some(number(flag, &value(flag)?)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether any was given (they all need `--file`).
    pub fn any(&self) -> bool {
        !self.metadata.is_empty()
            || !self.tags.is_empty()
            || self.content_type.is_some()
            || self.content_disposition.is_some()
            || self.cache_control.is_some()
            || self.storage_class.is_some()
            || self.forbid_overwrite
            || self.part_size.is_some()
            || self.threads.is_some()
            || self.max_part_size.is_some()
            || self.max_threads.is_some()
    }

    /// `options` with these values set.
    pub fn apply(&self, mut o: UploadOptions) -> UploadOptions {
        for (name, value) in &self.metadata {
            o = o.metadata(name.clone(), value.clone());
        }
        for (key, value) in &self.tags {
            o = o.tag(key.clone(), value.clone());
        }
        if let Some(v) = &self.content_type {
            o = o.content_type(v.clone());
        }
        if let Some(v) = &self.content_disposition {
            o = o.content_disposition(v.clone());
        }
        if let Some(v) = &self.cache_control {
            o = o.cache_control(v.clone());
        }
        if let Some(c) = self.storage_class {
            o = o.storage_class(c);
        }
        if self.forbid_overwrite {
            o = o.forbid_overwrite(true);
        }
        if let Some(n) = self.part_size {
            o = o.part_size(n);
        }
        if let Some(n) = self.threads {
            o = o.threads(n);
        }
        if let Some(n) = self.max_part_size {
            o = o.max_part_size(n);
        }
        if let Some(n) = self.max_threads {
            o = o.max_threads(n);
        }
        o
    }
}

/// `NAME=VALUE` (the value may hold `=`).
fn pair(flag: &str, text: String) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{flag} needs NAME=VALUE, not {text:?}")),
    }
}

/// A byte count: digits, optionally followed by K, M or G (KiB, MiB, GiB).
fn bytes(flag: &str, text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.trim_end_matches(['B', 'b', 'i']).char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => {
            return Err(format!(
                "{flag}: {text:?} is not a size (bytes, or with K, M or G)"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{flag}: {text:?} is not a size (bytes, or with K, M or G)"))
}

fn number(flag: &str, text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a number"))
}
