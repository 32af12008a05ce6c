//! Plugin-supplied text on its way into logs, run records and the audit
//! log.
//!
//! Threat: a plugin forging the host's own lines (`[easel] run succeeded`)
//! with newlines, or steering an admin's terminal with ANSI/OSC escapes,
//! and a plugin filling the database with one huge denial reason. Every
//! line is escaped so control characters show as visible `\n`, `\u{1b}`;
//! long text is cut and the rest replaced by its digest.

use sha2::{Digest, Sha256};

/// `s` with every control character (C0, DEL, C1) and the Unicode line and
/// paragraph separators written as a visible escape.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` if it fits in `max` bytes; otherwise its first bytes and the length
/// and sha256 of the whole, so the record stays small and still identifies
/// what was cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let digest = hex::encode(Sha256::digest(s.as_bytes()));
    format!(
        "{}… [{} bytes in all, sha256 {}]",
        &s[..end],
        s.len(),
        &digest[..16]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_escapes_become_visible() {
        let forged = "done\n[easel] run succeeded\u{1b}]0;owned\u{7}\u{1b}[2J";
        let e = escape(forged);
        assert!(!e.contains('\n') && !e.contains('\u{1b}') && !e.contains('\u{7}'));
        assert!(
            e.contains("\\n[easel] run succeeded\\u{1b}]0;owned\\u{7}"),
            "{e}"
        );
    }

    #[test]
    fn long_text_is_cut_with_its_digest() {
        let long = "x".repeat(10_000);
        let b = bounded(&long, 100);
        assert!(b.len() < 200, "{}", b.len());
        assert!(b.contains("10000 bytes in all, sha256 "), "{b}");
        assert_eq!(bounded("short", 100), "short");
    }
}
