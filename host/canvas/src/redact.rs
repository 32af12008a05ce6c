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

/// `body` with every form of `token` and every `Authorization`/`Bearer`
/// value replaced by [`REDACTED`]. Returns the body unchanged (no copy)
/// when there is nothing to redact.
pub(crate) fn redact(body: Bytes, token: &Token) -> Bytes {
    let secret = token.expose();
    // The common case, nothing to redact, reads the body once per form and
    // copies nothing.
    let found: Vec<Vec<u8>> = if secret.is_empty() {
        Vec::new()
    } else {
        forms(secret)
            .into_iter()
            .filter(|f| memchr::memmem::find(&body, f).is_some())
            .collect()
    };
    let echo = HEADER_ECHO.as_ref().filter(|re| re.is_match(&body));
    if found.is_empty() && echo.is_none() {
        return body;
    }
    let mut text = body.to_vec();
    let mut changed = false;
    for form in &found {
        changed |= replace_all(&mut text, form);
    }
    if let Some(re) = echo
        && re.is_match(&text)
    {
        let replaced = re.replace_all(&text, |c: &regex::bytes::Captures<'_>| {
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
        text = replaced.into_owned();
        changed = true;
    }
    if changed { Bytes::from(text) } else { body }
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
    fn an_ordinary_body_is_untouched() {
        let body = Bytes::from_static(br#"[{"id":1,"name":"Biology"}]"#);
        assert_eq!(redact(body.clone(), &token()), body);
    }
}
