//! The little XML that OSS speaks, read and written by hand: flat elements
//! with text, and the five predefined entities. Enough for the multipart
//! bodies and error answers; not a general parser. Every function runs in
//! time linear in its input, whatever a server sends (a body of `&` or of
//! `<Errorx` once cost seconds per request).

/// Escapes text for an element's content (`&`, `<`, `>`; quotes may stay,
/// as OSS's own SDKs send `<ETag>"..."</ETag>`).
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes the five predefined entities and numeric character references;
/// anything else after `&` is kept as written.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        // An entity is short: look for its `;` in the next few bytes only.
        let near = &tail.as_bytes()[..tail.len().min(11)];
        let decoded = near.iter().position(|&b| b == b';').and_then(|end| {
            let entity = &tail[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let num = entity.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The raw (still escaped) content of every `<tag>...</tag>` in `xml`, in
/// order; `<tag/>` counts as empty. Nested elements of the same name are not
/// supported (OSS never nests them).
pub(crate) fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(pos) = rest.find(&open) {
        let after = &rest[pos + open.len()..];
        // `<PartNumber>` must not match `<Part`: the name ends at `>`, `/`
        // or a space, which the next character tells without a scan.
        if !after.starts_with(|c: char| c == '>' || c == '/' || c.is_ascii_whitespace()) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let attrs = &after[..gt];
        if attrs.ends_with('/') {
            out.push("");
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// The unescaped text of the first `<tag>`, if there is one.
pub(crate) fn text(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).first().map(|raw| unescape(raw.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_unescapes() {
        assert_eq!(escape_text("a<b>&\"c\""), "a&lt;b&gt;&amp;\"c\"");
        for s in ["plain", "a & b", "<x>", "\"q\" 'a'", "&amp;", "日本"] {
            assert_eq!(unescape(&escape_text(s)), s);
        }
        assert_eq!(
            unescape("&quot;E&quot; &apos; &#65;&#x42; &bogus; &"),
            "\"E\" ' AB &bogus; &"
        );
    }

    #[test]
    fn finds_elements() {
        let xml = "<?xml version=\"1.0\"?><R><Part><PartNumber>1</PartNumber><ETag>&quot;A&quot;</ETag></Part>\
                   <Part><PartNumber>2</PartNumber><ETag>\"B\"</ETag></Part><Empty/><UploadId> u </UploadId></R>";
        let parts = elements(xml, "Part");
        assert_eq!(parts.len(), 2);
        assert_eq!(text(parts[0], "PartNumber").as_deref(), Some("1"));
        assert_eq!(text(parts[0], "ETag").as_deref(), Some("\"A\""));
        assert_eq!(text(parts[1], "ETag").as_deref(), Some("\"B\""));
        assert_eq!(text(xml, "Empty").as_deref(), Some(""));
        assert_eq!(text(xml, "UploadId").as_deref(), Some("u"));
        assert_eq!(text(xml, "Missing"), None);
        assert_eq!(text("<a><b>unclosed", "b"), None);
    }

    #[test]
    fn hostile_bodies_take_linear_time() {
        // ~1 MiB of `&` and of `<Errorx`: seconds each when quadratic.
        let amps = "&".repeat(1 << 20);
        let started = std::time::Instant::now();
        assert_eq!(unescape(&amps).len(), 1 << 20);
        let tags = "<Errorx".repeat(150_000);
        assert!(elements(&tags, "Error").is_empty());
        let opens = "<Error>".repeat(150_000);
        assert_eq!(elements(&opens, "Error").len(), 0);
        let message = format!("<Error><Message>{amps}</Message></Error>");
        assert_eq!(text(&message, "Message").map(|m| m.len()), Some(1 << 20));
        // Generous: linear work on 1 MiB takes milliseconds even in debug
        // builds on a loaded machine; quadratic took tens of seconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
