//! Asks ENS where to upload and prints the answer as one JSON object.
//!
//! ```text
//! prepare_upload --bucket NAME [--client-ip IP] [--endpoint URL] [--profile NAME] [--emulator]
//!                [--emulator-data-dir DIR] [--emulator-fault NAME[=ARG][:COUNT]]...
//!                [--file PATH|- [--size N] [--key KEY] [--checkpoint PATH] [--region REGION]
//!                 [--oss-signature v1|v4] [--allow-upload-host HOST]...
//!                 [--limit-rate BYTES_PER_S] [--traffic-limit BITS_PER_S]
//!                 [--meta NAME=VALUE]... [--tag KEY=VALUE]... [--content-type TYPE]
//!                 [--content-disposition VALUE] [--cache-control VALUE]
//!                 [--storage-class CLASS] [--forbid-overwrite] [--part-size BYTES]
//!                 [--threads N] [--max-part-size BYTES] [--max-threads N]]
//!                [--signature rpc-v1|acs3] [-v | --verbose]...
//! ```
//!
//! `--meta` (repeatable) stores user metadata (`x-oss-meta-NAME`), `--tag`
//! (repeatable) a tag; `--content-type` overrides the type guessed from the
//! key's extension; `--storage-class` is one of Standard, IA, Archive,
//! ColdArchive, DeepColdArchive; `--forbid-overwrite` refuses to replace an
//! object already stored under the key (OSS's 409 `FileAlreadyExists`).
//! Part size and threads are chosen from the file's size unless given;
//! `--max-part-size` and `--max-threads` cap them (sizes in bytes, or with
//! K, M or G).
//!
//! `--allow-upload-host HOST` (repeatable: `host`, `host:port`, `*.domain`)
//! lets the upload go to a host the PrepareUpload answer names beyond the
//! default policy (`*.aliyuncs.com` for Alibaba Cloud, else the ENS
//! endpoint's own origin).
//! `--region` names the bucket's region (`cn-hangzhou`), so the upload
//! signs with OSS signature V4, which accounts and buckets created since
//! 2025 require; `--oss-signature` forces one. `--signature` chooses how
//! the ENS call is signed (RPC 1.0 by default, or ACS3-HMAC-SHA256).
//!
//! With `--file`, it then uploads the file to the bucket and endpoint it was
//! given (as `KEY`, by default the file's name) and prints the upload's
//! result instead, as one JSON object. With `--checkpoint`, an interrupted
//! upload resumes when run again. When stderr is a terminal, a progress
//! line (percent, time left, sizes, rate, bar; as much as fits) is redrawn
//! on it, and Ctrl-C cancels the upload, saying what was stored and how to
//! resume (exit status 130).
//!
//! `--file -` uploads standard input (`--key` is then required): with
//! `--size N` it streams exactly N bytes as they come (parts buffered in
//! memory; no `--checkpoint`); without it, standard input is first
//! buffered to a temporary file (removed afterwards), since the size must
//! be known before the upload starts. `--limit-rate` caps the upload at
//! that many bytes per second on this side (all its threads together);
//! `--traffic-limit` asks OSS to throttle each data request to that many
//! bits per second (819200 to 838860800).
//!
//! Credentials come from the default chain (environment, credentials file,
//! `~/.aliyun/config.json`). With `--emulator`, or when no endpoint was given
//! and the chain finds nothing, it starts the bundled emulator in-process and
//! asks it instead (build with `--features emulator`). That emulator keeps
//! nothing after the run, unless `--emulator-data-dir DIR` (which implies
//! `--emulator`) keeps its objects and unfinished uploads, and its port, in
//! DIR: then an upload with `--checkpoint` interrupted by Ctrl-C resumes
//! on the next run. `--emulator-fault` plays one of the emulator's faults
//! (see `docs/emulator.md`), to see how the client copes.
//!
//! `-v` logs the library's decisions on stderr (`-vv` each request attempt);
//! without it, `RUST_LOG` (`debug`, `ens_upload=debug`) sets the level.
//!
//! Exit status: 0 on success, 1 on an error (printed on stderr), 2 on a usage error.

mod interrupt;
mod log;
mod object;
mod progress;
mod stdin;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ens_upload::{
    Client, Credentials, Error, OssSignature, PrepareUploadRequest, ProgressAction, Signature,
    UploadOptions,
};

struct Args {
    bucket: String,
    client_ip: Option<String>,
    endpoint: Option<String>,
    profile: Option<String>,
    emulator: bool,
    emulator_data_dir: Option<PathBuf>,
    /// `--emulator-fault` specs, checked when the emulator starts.
    emulator_faults: Vec<String>,
    file: Option<PathBuf>,
    key: Option<String>,
    checkpoint: Option<PathBuf>,
    verbose: u8,
    signature: Signature,
    region: Option<String>,
    oss_signature: Option<OssSignature>,
    allow_upload_hosts: Vec<String>,
    /// `--size`: the exact length of standard input (`--file -`).
    size: Option<u64>,
    limit_rate: Option<u64>,
    traffic_limit: Option<u64>,
    /// What the object is created with, and how it is cut.
    object: object::ObjectFlags,
}

const USAGE: &str = "usage: prepare_upload --bucket NAME [--client-ip IP] [--endpoint URL] [--profile NAME] [--emulator]
                      [--emulator-data-dir DIR] [--emulator-fault NAME[=ARG][:COUNT]]...
                      [--file PATH|- [--size N] [--key KEY] [--checkpoint PATH] [--region REGION]
                       [--oss-signature v1|v4] [--allow-upload-host HOST]...
                       [--limit-rate BYTES_PER_S] [--traffic-limit BITS_PER_S] OBJECT-FLAGS]
                      [--signature rpc-v1|acs3] [-v | --verbose]...
--file - reads standard input (needs --key): exactly N bytes with --size N, streamed;
without --size it is buffered to a temporary file first (the size must be known).
--limit-rate caps the upload in bytes per second on this side (all threads together);
--traffic-limit asks OSS to throttle each data request (819200 to 838860800 bit/s).
OBJECT-FLAGS (with --file): ";

fn parse_args() -> Result<Args, String> {
    // OsString: a path need not be UTF-8; every other value must be.
    let mut args = std::env::args_os().skip(1);
    let (mut bucket, mut client_ip, mut endpoint, mut profile, mut emulator) =
        (None, None, None, None, false);
    let (mut file, mut key, mut checkpoint) = (None, None, None);
    let (mut emulator_data_dir, mut emulator_faults) = (None, Vec::new());
    let mut verbose = 0u8;
    let mut signature = Signature::RpcV1;
    let (mut region, mut oss_signature) = (None, None);
    let mut allow_upload_hosts = Vec::new();
    let (mut size, mut limit_rate, mut traffic_limit) = (None, None, None);
    let number = |name: &str, v: String| {
        v.parse::<u64>()
            .map_err(|_| format!("{name} must be a whole number, not {v:?}"))
    };
    let mut object = object::ObjectFlags::default();
    while let Some(arg) = args.next() {
        let mut value_os = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let mut value = |name: &str| {
            value_os(name)?
                .into_string()
                .map_err(|_| format!("{name} must be UTF-8 text"))
        };
        let arg = arg
            .to_str()
            .ok_or_else(|| format!("unknown argument {arg:?}"))?
            .to_owned();
        match arg.as_str() {
            "--bucket" => bucket = Some(value("--bucket")?),
            "--client-ip" => client_ip = Some(value("--client-ip")?),
            "--endpoint" => endpoint = Some(value("--endpoint")?),
            "--profile" => profile = Some(value("--profile")?),
            "--emulator" => emulator = true,
            "--emulator-data-dir" => {
                emulator_data_dir = Some(PathBuf::from(value_os("--emulator-data-dir")?));
                emulator = true;
            }
            "--emulator-fault" => emulator_faults.push(value("--emulator-fault")?),
            "--file" => file = Some(PathBuf::from(value_os("--file")?)),
            "--key" => key = Some(value("--key")?),
            "--size" => size = Some(number("--size", value("--size")?)?),
            "--limit-rate" => limit_rate = Some(number("--limit-rate", value("--limit-rate")?)?),
            "--traffic-limit" => {
                traffic_limit = Some(number("--traffic-limit", value("--traffic-limit")?)?);
            }
            "--checkpoint" => checkpoint = Some(PathBuf::from(value_os("--checkpoint")?)),
            "--signature" => {
                signature = match value("--signature")?.as_str() {
                    "rpc-v1" => Signature::RpcV1,
                    "acs3" => Signature::Acs3HmacSha256,
                    other => {
                        return Err(format!("--signature must be rpc-v1 or acs3, not {other:?}"))
                    }
                }
            }
            "--region" => region = Some(value("--region")?),
            "--allow-upload-host" => allow_upload_hosts.push(value("--allow-upload-host")?),
            "--oss-signature" => {
                oss_signature = Some(match value("--oss-signature")?.as_str() {
                    "v1" => OssSignature::V1,
                    "v4" => OssSignature::V4,
                    other => {
                        return Err(format!("--oss-signature must be v1 or v4, not {other:?}"))
                    }
                })
            }
            "-v" | "--verbose" => verbose = verbose.saturating_add(1),
            "-vv" => verbose = verbose.saturating_add(2),
            "-vvv" => verbose = verbose.saturating_add(3),
            "-h" | "--help" => return Err(String::new()),
            other => {
                if !object.take(other, &mut value)? {
                    return Err(format!("unknown argument {other:?}"));
                }
            }
        }
    }
    let bucket = bucket.ok_or("--bucket is required")?;
    if emulator && endpoint.is_some() {
        return Err("--emulator and --endpoint exclude each other".into());
    }
    if !emulator && !emulator_faults.is_empty() {
        return Err("--emulator-fault needs --emulator".into());
    }
    if file.is_none()
        && (key.is_some()
            || checkpoint.is_some()
            || region.is_some()
            || oss_signature.is_some()
            || !allow_upload_hosts.is_empty()
            || limit_rate.is_some()
            || traffic_limit.is_some()
            || object.any())
    {
        return Err(
            "--key, --checkpoint, --region, --oss-signature, --allow-upload-host, --limit-rate, \
             --traffic-limit and the object flags (--meta, --tag...) need --file"
                .into(),
        );
    }
    let from_stdin = file.as_deref().is_some_and(stdin::is_stdin);
    if size.is_some() && !from_stdin {
        return Err("--size is for --file - (standard input) only".into());
    }
    if from_stdin && key.is_none() {
        return Err("--file - (standard input) needs --key".into());
    }
    if from_stdin && checkpoint.is_some() {
        return Err(
            "--checkpoint needs a file that can be read again: standard input cannot resume".into(),
        );
    }
    // A URL the client would refuse is a usage error, told before anything
    // else happens (any credentials do for the check).
    if let Some(url) = &endpoint {
        let check = Client::builder()
            .endpoint(url.clone())
            .credentials(Credentials::access_key("check", "check"))
            .no_proxy()
            .build();
        if let Err(e) = check {
            return Err(format!("--endpoint: {e}"));
        }
    }
    Ok(Args {
        bucket,
        client_ip,
        endpoint,
        profile,
        emulator,
        emulator_data_dir,
        emulator_faults,
        file,
        key,
        checkpoint,
        verbose,
        signature,
        region,
        oss_signature,
        allow_upload_hosts,
        size,
        limit_rate,
        traffic_limit,
        object,
    })
}

fn main() {
    interrupt::run_sentinel_if_asked();
    let args = match parse_args() {
        Ok(a) => a,
        Err(problem) => {
            if problem.is_empty() {
                println!("{USAGE}{}", object::USAGE);
                std::process::exit(0);
            }
            eprintln!("prepare_upload: {problem}\n{USAGE}{}", object::USAGE);
            std::process::exit(2);
        }
    };
    log::init(args.verbose);
    // Ctrl-C cancels an upload shown at a terminal (this may re-run the
    // program first: see interrupt.rs).
    let interrupted = if args.file.is_some() && std::io::stderr().is_terminal() {
        interrupt::arm()
    } else {
        None
    };
    match run(&args, interrupted.clone()) {
        Ok(json) => {
            // A broken stdout must not lose the result silently. (A stdout
            // closed before start is /dev/null by then: Rust's runtime
            // reopens closed standard streams there.)
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
                eprintln!("prepare_upload: cannot write the result to standard output: {e}");
                eprintln!("prepare_upload: the result was: {json}");
                std::process::exit(1);
            }
        }
        Err(Error::Cancelled {
            bytes_done, total, ..
        }) if interrupted
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst)) =>
        {
            eprintln!("{}", cancelled_message(&args, bytes_done, total));
            std::process::exit(130);
        }
        Err(e) => {
            eprintln!("prepare_upload: {e}");
            if let Some(api) = e.api() {
                eprintln!("  code:       {}", api.code);
                eprintln!("  message:    {}", api.message);
                eprintln!("  request id: {}", api.request_id);
            }
            std::process::exit(1);
        }
    }
}

/// What Ctrl-C did, and how to go on.
fn cancelled_message(args: &Args, stored: u64, total: u64) -> String {
    let mut text = format!(
        "prepare_upload: cancelled (Ctrl-C) with {} of {} stored.",
        progress::size(stored, total),
        progress::size(total, total)
    );
    match &args.checkpoint {
        None => text.push_str(
            "\n  Without --checkpoint nothing is kept (the upload was aborted): add --checkpoint PATH to make the next run resumable.",
        ),
        Some(_) if args.emulator && args.emulator_data_dir.is_none() => text.push_str(
            "\n  The bundled emulator forgot the upload when it stopped: add --emulator-data-dir DIR to resume against it.",
        ),
        Some(c) => text.push_str(&format!(
            "\n  Run the same command again to resume: the parts {} lists are not sent again.",
            c.display()
        )),
    }
    text
}

/// Does the job and returns the JSON object to print.
fn run(args: &Args, interrupted: Option<Arc<AtomicBool>>) -> Result<serde_json::Value, Error> {
    // Keeps the emulator alive until the call is done.
    let mut _emulator = None;
    let client = if args.emulator {
        if args.checkpoint.is_some() && args.emulator_data_dir.is_none() {
            eprintln!(
                "prepare_upload: note: the bundled emulator keeps nothing after this run, so --checkpoint resumes against it only with --emulator-data-dir DIR"
            );
        }
        let (emu, creds) = start_emulator(args)?;
        match &args.emulator_data_dir {
            Some(dir) => eprintln!(
                "prepare_upload: using the bundled emulator at {}, its data kept in {}",
                emu.0,
                dir.display()
            ),
            None => eprintln!("prepare_upload: using the bundled emulator at {}", emu.0),
        }
        let client = emulator_client(args, &emu.0, creds)?;
        _emulator = Some(emu);
        client
    } else {
        // The whole default chain: environment, OIDC, the aliyun CLI
        // profile, the credentials file, the ECS RAM role, a credentials
        // URI; the ones with expiring credentials are refreshed.
        let mut builder = Client::builder().signature(args.signature);
        if let Some(p) = &args.profile {
            builder = builder.profile(p.clone());
        }
        if let Some(url) = &args.endpoint {
            builder = builder.endpoint(url.clone());
        }
        // A chain ending on the network (ECS, a URI) is asked now, so
        // that "nothing found" is known before anything else is done.
        let found = builder
            .build()
            .and_then(|c| c.current_credentials().map(|_| c));
        match (found, &args.endpoint) {
            (Ok(c), _) => {
                ::log::info!("credentials from {}", c.credentials_source());
                c
            }
            (Err(Error::NoCredentials { looked_in, .. }), None) => {
                // An upload into a store that vanishes with this process
                // must never look like a success: only when asked for.
                if args.file.is_some() {
                    return Err(Error::credentials(format!(
                        "no cloud credentials found (looked in: {}), and an upload goes to the bundled emulator only when asked: set credentials (ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or a profile) or add --emulator",
                        looked_in.join("; ")
                    )));
                }
                ::log::info!("credentials looked for in: {}", looked_in.join("; "));
                let (emu, creds) = start_emulator(args)?;
                eprintln!(
                    "prepare_upload: no cloud credentials found, so the bundled emulator at {} answers (add --emulator to choose it; -v shows where credentials were looked for)",
                    emu.0
                );
                let client = emulator_client(args, &emu.0, creds)?;
                _emulator = Some(emu);
                client
            }
            (Err(e), _) => return Err(e),
        }
    };

    let mut request = PrepareUploadRequest::new(args.bucket.clone());
    if let Some(ip) = &args.client_ip {
        request = request.client_ip(ip.clone());
    }
    let mut json = match &args.file {
        Some(file) => upload(&client, &request, file, args, interrupted)?,
        None => {
            let out = client.prepare_upload(&request)?;
            serde_json::json!({
                "RequestId": out.request_id,
                "BucketName": out.bucket_name,
                "Endpoint": out.endpoint,
            })
        }
    };
    // Never a stand-in's answer passed off as the real service's.
    if _emulator.is_some() {
        json["Emulator"] = serde_json::Value::Bool(true);
    }
    Ok(json)
}

/// Uploads `file` and returns the result as one JSON object.
fn upload(
    client: &Client,
    request: &PrepareUploadRequest,
    file: &std::path::Path,
    args: &Args,
    interrupted: Option<Arc<AtomicBool>>,
) -> Result<serde_json::Value, Error> {
    let key = match &args.key {
        Some(k) => k.clone(),
        None => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::config(format!("{} has no file name; give --key", file.display()))
            })?,
    };
    let mut options = UploadOptions::new();
    if let Some(c) = &args.checkpoint {
        options = options.checkpoint(c.clone());
    }
    if let Some(r) = &args.region {
        options = options.region(r.clone());
    }
    if let Some(s) = args.oss_signature {
        options = options.oss_signature(s);
    }
    for host in &args.allow_upload_hosts {
        options = options.allow_upload_host(host.clone());
    }
    if let Some(rate) = args.limit_rate {
        options = options.limit_rate(rate);
    }
    if let Some(bits) = args.traffic_limit {
        options = options.traffic_limit(bits);
    }
    options = args.object.apply(options);
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| Arc::new(Mutex::new(progress::Bar::new(progress::terminal_columns()))));
    if let Some(bar) = &bar {
        let bar = Arc::clone(bar);
        options = options.on_progress(move |done, total| {
            bar.lock()
                .unwrap_or_else(|p| p.into_inner())
                .update(done, total);
            // Ctrl-C (see interrupt.rs) cancels at the next count.
            match &interrupted {
                Some(flag) if flag.load(Ordering::SeqCst) => ProgressAction::Cancel,
                _ => ProgressAction::Continue,
            }
        });
    }
    let result = if stdin::is_stdin(file) {
        stdin::upload(client, request, &key, args.size, &options)
    } else {
        client.upload_file(request, &key, file, &options)
    };
    if let Some(bar) = &bar {
        bar.lock().unwrap_or_else(|p| p.into_inner()).finish();
    }
    let out = result?;
    let json = serde_json::json!({
        "Bucket": out.bucket,
        "Endpoint": out.endpoint,
        "Key": out.key,
        "Url": out.url,
        "Size": out.size,
        "ETag": out.etag,
        "Crc64": out.crc64.to_string(),
        "PrepareRequestId": out.prepare_request_id,
        "RequestId": out.request_id,
        "UploadId": out.upload_id,
        "Parts": out.parts,
        "ResumedParts": out.resumed_parts,
    });
    Ok(json)
}

#[cfg(feature = "emulator")]
type RunningEmulator = (String, ens_upload::emulator::Emulator);
#[cfg(not(feature = "emulator"))]
type RunningEmulator = (String, ());

/// A client for the bundled emulator at `endpoint`, with its keys.
fn emulator_client(args: &Args, endpoint: &str, creds: Credentials) -> Result<Client, Error> {
    Client::builder()
        .endpoint(endpoint.to_owned())
        .credentials(creds)
        .signature(args.signature)
        .build()
}

#[cfg(feature = "emulator")]
fn start_emulator(args: &Args) -> Result<(RunningEmulator, Credentials), Error> {
    use ens_upload::emulator::{Emulator, Fault};
    let mut builder = Emulator::builder();
    if let Some(dir) = &args.emulator_data_dir {
        builder = builder.data_dir(dir);
    }
    let emu = builder
        .start()
        .map_err(|e| Error::config(format!("cannot start the emulator: {e}")))?;
    for spec in &args.emulator_faults {
        // NAME[=ARG][:COUNT], as the emulator example's --fault.
        // `sts:internal-error` has a `:` but no COUNT.
        let (name, count) = match spec.rsplit_once(':') {
            Some((n, c)) if c.bytes().next().is_some_and(|b| b.is_ascii_digit()) => {
                (n, c.parse().ok())
            }
            _ => (spec.as_str(), Some(1)),
        };
        let fault = name
            .parse::<Fault>()
            .map_err(|e| Error::config(format!("--emulator-fault {spec}: {e}")))?;
        let count = count.ok_or_else(|| {
            Error::config(format!("--emulator-fault {spec}: COUNT must be a number"))
        })?;
        emu.inject(fault, count);
    }
    let creds = emu.credentials();
    Ok(((emu.endpoint(), emu), creds))
}

#[cfg(not(feature = "emulator"))]
fn start_emulator(_: &Args) -> Result<(RunningEmulator, Credentials), Error> {
    Err(Error::config(
        "this build has no emulator; run with --features emulator",
    ))
}
