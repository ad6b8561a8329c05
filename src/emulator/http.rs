//! The emulator's HTTP/1.1 wire: request heads parsed with `httparse`,
//! bodies read to a bound, answers written with `Content-Length`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1 << 20;
/// The most header lines a request may have (more: 431).
const MAX_HEADERS: usize = 128;

/// A parsed HTTP/1.1 request. The body is read after the head, by whoever
/// serves it: the RPC API reads it whole (at most 1 MiB), the OSS side
/// streams it.
pub(super) struct HttpRequest {
    pub(super) method: String,
    pub(super) target: String,
    /// Names lowercased, values trimmed, in order.
    pub(super) headers: Vec<(String, String)>,
    /// `Content-Length` (0 when absent).
    pub(super) content_length: u64,
    pub(super) body: Vec<u8>,
    pub(super) keep_alive: bool,
}

impl HttpRequest {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer to send.
pub(super) struct HttpResponse {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    /// Headers named at run time (an object's `x-oss-meta-*`).
    pub(super) object_headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

/// Writes `n` bytes of JSON-harmless spaces, stopping at the first error.
pub(super) fn write_filler(w: &mut TcpStream, n: usize) -> io::Result<()> {
    let chunk = [b' '; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        w.write_all(&chunk[..k])?;
        left -= k;
    }
    w.flush()
}

/// Reads the body of an RPC request (at most 1 MiB) into `request.body`.
pub(super) fn read_small_body(
    reader: &mut BufReader<TcpStream>,
    request: &mut HttpRequest,
) -> Result<(), u16> {
    if request.content_length > MAX_BODY_BYTES as u64 {
        return Err(413);
    }
    request.body = vec![0; request.content_length as usize];
    reader.read_exact(&mut request.body).map_err(|_| 400u16)
}

/// Reads one request head. `Ok(None)` on a clean close; `Err(status)` on a
/// request that cannot be served.
pub(super) fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Option<HttpRequest>, u16> {
    let Some(head) = read_head_bytes(reader)? else {
        return Ok(None);
    };
    parse_head(&head).map(Some)
}

/// The bytes of one head, up to and with its blank line, read line by line
/// so the body stays in `reader`. Bounded in size.
fn read_head_bytes(reader: &mut BufReader<TcpStream>) -> Result<Option<Vec<u8>>, u16> {
    let mut head = Vec::new();
    loop {
        // A request starts with its method's letters. Anything else (a TLS
        // ClientHello, starting 0x16, from a client told https://) is
        // answered 400 at once, as a plain-HTTP server does, so the client
        // fails fast instead of waiting for a line that never comes.
        if head.is_empty() {
            match reader.fill_buf().map_err(|_| 400u16)?.first() {
                None => return Ok(None),
                Some(b) if !b.is_ascii_alphabetic() && *b != b'\r' && *b != b'\n' => {
                    return Err(400)
                }
                Some(_) => {}
            }
        }
        let mut line = Vec::new();
        let room = MAX_HEAD_BYTES.saturating_sub(head.len()) as u64 + 1;
        let n = reader
            .by_ref()
            .take(room)
            .read_until(b'\n', &mut line)
            .map_err(|_| 400u16)?;
        if n == 0 {
            return if head.is_empty() { Ok(None) } else { Err(400) };
        }
        if head.len() + line.len() > MAX_HEAD_BYTES {
            return Err(431);
        }
        let blank = line == b"\r\n" || line == b"\n";
        if blank && head.is_empty() {
            continue; // tolerate stray CRLF between requests
        }
        head.extend_from_slice(&line);
        if blank {
            return Ok(Some(head));
        }
    }
}

/// Parses a complete head (request line, headers, blank line).
fn parse_head(head: &[u8]) -> Result<HttpRequest, u16> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(400),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(httparse::Error::Version) => return Err(505),
        Err(_) => return Err(400),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(400);
    };
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| 400u16)?;
        headers.push((h.name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some() {
        return Err(501);
    }
    let content_length = match get("content-length") {
        Some(v) => v.parse::<u64>().map_err(|_| 400u16)?,
        None => 0,
    };
    let connection = get("connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if minor == 0 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let target = match absolute_form(target) {
        Some((authority, origin)) => {
            match headers.iter_mut().find(|(k, _)| k == "host") {
                Some((_, host)) => *host = authority.to_owned(),
                None => headers.push(("host".to_owned(), authority.to_owned())),
            }
            origin
        }
        None => target.to_owned(),
    };
    Ok(HttpRequest {
        method: method.to_owned(),
        target,
        headers,
        content_length,
        body: Vec::new(),
        keep_alive,
    })
}

/// An absolute-form request target (`http://host[:port]/path?query`, as a
/// client sends it to an HTTP proxy) split into its authority and the
/// origin-form (`/path?query`) the services route on. A server must accept
/// it and take the host from it, not from `Host` (RFC 9112 §3.2.2). That is
/// how a client whose metadata address is fixed (`100.100.100.200`, as in
/// the official credentials libraries) reaches the emulator: through
/// `HTTP_PROXY` pointed at it.
fn absolute_form(target: &str) -> Option<(&str, String)> {
    let scheme_end = target.find("://")?;
    let scheme = &target[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.is_empty() {
        return None;
    }
    let origin = if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    };
    Some((authority, origin))
}

pub(super) fn write_response(
    w: &mut TcpStream,
    r: &HttpResponse,
    keep_alive: bool,
) -> io::Result<()> {
    write_head(w, r, r.body.len(), keep_alive)?;
    w.write_all(&r.body)?;
    w.flush()
}

/// Writes the status line and headers, announcing `content_length` bytes.
pub(super) fn write_head(
    w: &mut TcpStream,
    r: &HttpResponse,
    content_length: usize,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(256);
    write!(out, "HTTP/1.1 {} {}\r\n", r.status, reason(r.status))?;
    for (k, v) in &r.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    for (k, v) in &r.object_headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(
        out,
        "Content-Length: {content_length}\r\nConnection: {}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    )?;
    w.write_all(&out)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        405 => "Method Not Allowed",
        409 => "Conflict",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

pub(super) fn plain_error(status: u16, message: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type", "text/plain".into())],
        object_headers: Vec::new(),
        body: message.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_and_refused_as_the_server_must() {
        let req = parse_head(
            b"PUT /b/k?uploads HTTP/1.1\r\nHost: x\r\nX-Oss-Meta-A:  v \r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap_or_else(|s| panic!("{s}"));
        assert_eq!(
            (req.method.as_str(), req.target.as_str()),
            ("PUT", "/b/k?uploads")
        );
        assert_eq!(req.header("x-oss-meta-a"), Some("v"));
        assert_eq!(req.headers[1].0, "x-oss-meta-a");
        assert_eq!(req.content_length, 5);
        assert!(req.keep_alive);
        let old = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap_or_else(|s| panic!("{s}"));
        assert!(!old.keep_alive);

        let status = |head: &[u8]| parse_head(head).err();
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status(b"GET /\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), Some(400));
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(501)
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Some(431)
        );
    }

    #[test]
    fn an_absolute_form_target_is_served_by_its_path_and_its_host() {
        let target = |head: &[u8]| {
            let req = parse_head(head).unwrap_or_else(|s| panic!("{s}"));
            let host = req.header("host").map(str::to_owned);
            (req.target, host)
        };
        assert_eq!(
            target(b"GET http://100.100.100.200/latest/meta-data/ram/security-credentials/ HTTP/1.1\r\nHost: 100.100.100.200\r\n\r\n"),
            ("/latest/meta-data/ram/security-credentials/".to_owned(), Some("100.100.100.200".to_owned()))
        );
        assert_eq!(
            target(b"GET HTTP://b.oss.example:8080?uploads HTTP/1.1\r\nHost: stale\r\n\r\n"),
            (
                "/?uploads".to_owned(),
                Some("b.oss.example:8080".to_owned())
            )
        );
        assert_eq!(
            target(b"PUT https://h HTTP/1.1\r\n\r\n"),
            ("/".to_owned(), Some("h".to_owned()))
        );
        // Origin-form targets, and a path that merely contains `://`, stay.
        assert_eq!(
            target(b"GET /b/http://k HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("/b/http://k".to_owned(), Some("x".to_owned()))
        );
    }
}
