//! Redacting the credential from what Canvas (or a proxy in front of it)
//! answers.
//!
//! Threat: an upstream that echoes request headers in a body (a debugging
//! proxy, a misconfigured load balancer, an error page) hands the token to
//! the plugin, the run log and the database. Every body is scrubbed here,
//! inside the only crate that holds the token, before anything else sees
//! it: the token raw, percent-encoded, JSON-escaped, in hex and in base64
//! (alone or as `Bearer <token>`, at any alignment), and any
//! `Authorization` or `Bearer` value.

use std::sync::LazyLock;

use base64::Engine;
use bytes::Bytes;
use regex::bytes::Regex;

use crate::token::Token;

/// What a redacted secret is replaced by.
pub const REDACTED: &str = "[redacted by easel]";

static HEADER_ECHO: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(authorization)(["']?\s*[:=]\s*["']?)(?:bearer\s+)?[^\s"',;}<>&]+|(bearer)(\s+)[A-Za-z0-9~._+/=-]+"#,
    )
    .ok()
});

/// The forms of `secret` that could appear in a body.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![secret.as_bytes().to_vec()];
    let pct: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    out.push(pct.into_bytes());
    if let Ok(json) = serde_json::to_string(secret) {
        out.push(json.trim_matches('"').as_bytes().to_vec());
    }
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    out.push(hex.to_uppercase().into_bytes());
    out.push(hex.into_bytes());
    for plain in [secret.to_owned(), format!("Bearer {secret}")] {
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            // The secret at each of the three alignments inside a longer
            // base64 text: drop the characters shared with its neighbours.
            for pad in 0..3usize {
                let mut input = vec![0u8; pad];
                input.extend_from_slice(plain.as_bytes());
                let encoded = engine.encode(&input);
                let skip = if pad == 0 { 0 } else { (pad * 8).div_ceil(6) };
                let core = encoded.trim_end_matches('=');
                let keep = core.len().saturating_sub(2);
                if keep > skip + 8 {
                    out.push(core.as_bytes()[skip..keep].to_vec());
                }
            }
        }
    }
    out.retain(|f| f.len() >= 8);
    out.sort();
    out.dedup();
    out
}

/// What a body that hides the credential in a form easel cannot cut out
/// cleanly (escaped character by character, split across lines) becomes.
pub const WITHHELD: &str =
    "{\"errors\":[{\"message\":\"easel withheld this response: it contained the credential\"}]}";

/// A response with its body and its `Link` and `Location` headers (the
/// header values easel passes on) redacted with every token it was sent
/// with.
pub(crate) fn redact_response(
    resp: http::Response<Bytes>,
    tokens: &[&Token],
) -> http::Response<Bytes> {
    // The forms of each token are worked out once for the body and both
    // headers.
    let secrets: Vec<Secret> = tokens.iter().map(|t| Secret::of(t)).collect();
    let scrub = |mut bytes: Bytes| {
        for secret in &secrets {
            bytes = secret.redact(bytes);
        }
        bytes
    };
    let (mut parts, body) = resp.into_parts();
    let body = scrub(body);
    for name in [http::header::LINK, http::header::LOCATION] {
        let Some(value) = parts.headers.get(&name) else {
            continue;
        };
        let bytes = scrub(Bytes::copy_from_slice(value.as_bytes()));
        if bytes.as_ref() != value.as_bytes() {
            match http::HeaderValue::from_bytes(&bytes) {
                Ok(v) => {
                    parts.headers.insert(name, v);
                }
                Err(_) => {
                    parts.headers.remove(name);
                }
            }
        }
    }
    http::Response::from_parts(parts, body)
}

/// One token's searchable forms: exact ones to cut out, and normalised
/// ones (letters and digits) to find a hidden copy.
struct Secret {
    exact: Vec<Vec<u8>>,
    normalised: Vec<Vec<u8>>,
}

impl Secret {
    fn of(token: &Token) -> Self {
        let secret = token.expose();
        if secret.is_empty() {
            return Self {
                exact: Vec::new(),
                normalised: Vec::new(),
            };
        }
        let exact = forms(secret);
        let normalised = exact
            .iter()
            .map(|f| normalise(f))
            .filter(|n| n.len() >= 16)
            .collect();
        Self { exact, normalised }
    }

    /// `body` with every exact form cut out and every `Authorization`/
    /// `Bearer` value replaced by [`REDACTED`]; a body that still holds the
    /// token in an escaped or split form is replaced whole by [`WITHHELD`].
    /// Returns the body unchanged (no copy) when there is nothing to redact.
    fn redact(&self, body: Bytes) -> Bytes {
        let mut body = body;
        // The common case, nothing to redact, reads the body once per form
        // and copies nothing.
        let found: Vec<&Vec<u8>> = self
            .exact
            .iter()
            .filter(|f| memchr::memmem::find(&body, f).is_some())
            .collect();
        if !found.is_empty() {
            let mut text = body.to_vec();
            for form in found {
                replace_all(&mut text, form);
            }
            body = Bytes::from(text);
        }
        // What is left can still hide it: escaped, split, re-cased.
        if self.hidden_in(&body) {
            return Bytes::from_static(WITHHELD.as_bytes());
        }
        redact_header_echo(body)
    }

    /// Does `body` (after the exact forms were cut out) still hold it?
    /// Compared on letters and digits only, so a split or re-cased base64
    /// of it is found too.
    fn hidden_in(&self, body: &[u8]) -> bool {
        if self.normalised.is_empty() {
            return false;
        }
        let text = normalise(body);
        self.normalised
            .iter()
            .any(|n| memchr::memmem::find(&text, n).is_some())
    }
}

/// `body` with `token` redacted (see [`Secret::redact`]).
#[cfg(test)]
fn redact(body: Bytes, token: &Token) -> Bytes {
    Secret::of(token).redact(body)
}

/// Every `Authorization: ...` or `Bearer ...` value replaced by
/// [`REDACTED`], whatever the token.
fn redact_header_echo(body: Bytes) -> Bytes {
    match HEADER_ECHO.as_ref() {
        Some(re) if re.is_match(&body) => {
            let replaced = re.replace_all(&body, |c: &regex::bytes::Captures<'_>| {
                let mut out = Vec::new();
                if let Some(name) = c.get(1) {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(c.get(2).map_or(&b""[..], |m| m.as_bytes()));
                } else {
                    out.extend_from_slice(c.get(3).map_or(&b""[..], |m| m.as_bytes()));
                    out.extend_from_slice(c.get(4).map_or(&b""[..], |m| m.as_bytes()));
                }
                out.extend_from_slice(REDACTED.as_bytes());
                out
            });
            Bytes::from(replaced.into_owned())
        }
        _ => body,
    }
}

/// Letters and digits of `text`, lowercased, after decoding the escapes a
/// reader would decode (`\\uXXXX`, `&#NN;`, `&#xNN;`, `%XX`): a token
/// escaped character by character, split across lines or cased
/// differently is still found here. Every answer from Canvas passes
/// through it, so the bytes between possible escapes are taken a run at a
/// time.
fn normalise(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let plain = memchr::memchr3(b'\\', b'%', b'&', &text[i..]).map_or(text.len(), |p| i + p);
        out.extend(
            text[i..plain]
                .iter()
                .filter(|b| b.is_ascii_alphanumeric())
                .map(u8::to_ascii_lowercase),
        );
        i = plain;
        if i < text.len() {
            let (byte, used) = unescape(&text[i..]);
            if byte.is_ascii_alphanumeric() {
                out.push(byte.to_ascii_lowercase());
            }
            i += used;
        }
    }
    out
}

/// The byte `rest` starts with, decoded if it starts an escape of an ASCII
/// character, and how many bytes that took.
fn unescape(rest: &[u8]) -> (u8, usize) {
    let hex = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let (decoded, used) = if rest.starts_with(b"\\u") && rest.len() >= 6 {
        (hex(&rest[2..6]), 6)
    } else if rest.starts_with(b"%") && rest.len() >= 3 {
        (hex(&rest[1..3]), 3)
    } else if rest.starts_with(b"&#") {
        let end = rest.iter().take(12).position(|b| *b == b';');
        match end {
            Some(e) if rest.get(2) == Some(&b'x') || rest.get(2) == Some(&b'X') => {
                (hex(&rest[3..e]), e + 1)
            }
            Some(e) => (
                std::str::from_utf8(&rest[2..e])
                    .ok()
                    .and_then(|d| d.parse().ok()),
                e + 1,
            ),
            None => (None, 1),
        }
    } else {
        (None, 1)
    };
    match decoded {
        Some(c) if c < 128 => (c as u8, used),
        _ => (rest[0], 1),
    }
}

fn replace_all(text: &mut Vec<u8>, needle: &[u8]) -> bool {
    let Some(first) = find(text, needle, 0) else {
        return false;
    };
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    let mut next = Some(first);
    while let Some(i) = next {
        out.extend_from_slice(&text[at..i]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = i + needle.len();
        next = find(text, needle, at);
    }
    out.extend_from_slice(&text[at..]);
    *text = out;
    true
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    /// [`normalise`] as it was, a byte at a time (every byte through
    /// [`unescape`]): what taking plain runs at once must still give.
    fn normalise_byte_by_byte(text: &[u8]) -> Vec<u8> {
        let (mut out, mut i) = (Vec::new(), 0);
        while i < text.len() {
            let (byte, used) = unescape(&text[i..]);
            if byte.is_ascii_alphanumeric() {
                out.push(byte.to_ascii_lowercase());
            }
            i += used;
        }
        out
    }

    /// `normalise` takes the bytes between escapes a run at a time; it
    /// must give what the byte-at-a-time version gave, on inputs dense in
    /// escapes, broken escapes and non-ASCII.
    #[test]
    fn normalising_a_run_at_a_time_gives_what_a_byte_at_a_time_gave() {
        const PIECES: &[&[u8]] = &[
            b"\\",
            b"u",
            b"%",
            b"&",
            b"#",
            b"x",
            b"X",
            b";",
            b"0",
            b"7",
            b"4",
            b"1",
            b"a",
            b"F",
            b"g",
            b"Z",
            b"+",
            b"-",
            b" ",
            b"\n",
            b"\xc3\xa9",
            b"\xff",
            b"\\u0041",
            b"\\u00e9",
            b"%41",
            b"%7E",
            b"&#65;",
            b"&#x4a;",
            b"&#x+4a;",
            b"&#1234567890123;",
            b"Bearer",
            b"7~Canary",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..50_000 {
            let mut text = Vec::new();
            for _ in 0..next(24) {
                text.extend_from_slice(PIECES[next(PIECES.len())]);
            }
            assert_eq!(
                normalise(&text),
                normalise_byte_by_byte(&text),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    fn token() -> Token {
        Token::new(SecretString::from("7~CanaryTokenValue1234567890abcdef"))
    }

    #[test]
    fn every_encoding_of_the_token_is_redacted() {
        let t = token();
        let secret = "7~CanaryTokenValue1234567890abcdef";
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("x:Bearer {secret}"));
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        let body = format!(
            r#"{{"echo":"{secret}","q":"{}","b":"{b64}","h":"{hex}"}}"#,
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
        );
        let out = redact(Bytes::from(body), &t);
        let out = String::from_utf8_lossy(&out);
        assert!(!out.contains("CanaryTokenValue"), "{out}");
        assert!(!out.contains(&hex), "{out}");
        for window in b64.as_bytes().windows(16) {
            assert!(
                !out.contains(std::str::from_utf8(window).unwrap_or("")),
                "{out}"
            );
        }
    }

    #[test]
    fn header_echoes_are_redacted() {
        let body = "headers: Authorization: Bearer sometoken123\nx-auth: bearer other.tok-en\n{\"authorization\":\"Bearer abc\"}";
        let out = redact(Bytes::from(body), &token());
        let out = String::from_utf8_lossy(&out);
        assert!(!out.contains("sometoken123"), "{out}");
        assert!(!out.contains("other.tok-en"), "{out}");
        assert!(!out.contains("abc\""), "{out}");
    }

    #[test]
    fn a_token_escaped_split_or_recased_withholds_the_body() {
        let t = token();
        let secret = "7~CanaryTokenValue1234567890abcdef";
        let escaped: String = secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let split = format!("{}\n{}", &secret[..10], &secret[10..]);
        let entity = secret.replace('~', "&#126;");
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let wrapped = format!("{}\r\n{}", &b64[..20], &b64[20..]);
        for body in [
            format!(r#"{{"echo":"{escaped}"}}"#),
            split,
            format!("Authorization: Bearer {entity}"),
            secret.to_uppercase(),
            wrapped,
        ] {
            let out = redact(Bytes::from(body.clone()), &t);
            assert_eq!(&out[..], WITHHELD.as_bytes(), "{body}");
        }
    }

    #[test]
    fn an_ordinary_body_is_untouched() {
        let body = Bytes::from_static(br#"[{"id":1,"name":"Biology"}]"#);
        assert_eq!(redact(body.clone(), &token()), body);
    }
}
