//! Canvas `Link` headers (RFC 8288): find the `next` page.
//!
//! A header is a comma-separated list of link-values, each
//! `<URI-Reference>` followed by `;`-separated parameters. The target may
//! hold commas and may be relative (resolved against the request URL by
//! the client, RFC 3986). `rel` holds one or more space-separated relation
//! types, compared case-insensitively, and its value may be quoted.

/// The `next` target of a `Link` header value, as written (possibly
/// relative), if any. Malformed link-values are skipped.
pub fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        let after_open = rest.strip_prefix('<')?;
        let close = after_open.find('>')?;
        let target = &after_open[..close];
        let (params, next) = params_of(&after_open[close + 1..]);
        if params.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("rel")
                && value
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        }) {
            return Some(target);
        }
        rest = next;
    }
}

/// The parameters after a link's `>`, up to the comma that ends the
/// link-value (commas inside quoted values do not end it), and the rest.
fn params_of(s: &str) -> (Vec<(&str, &str)>, &str) {
    let mut params = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        match rest.chars().next() {
            Some(';') => rest = &rest[1..],
            Some(',') | None => return (params, rest),
            // Not a parameter: skip to the next link-value.
            Some(_) => {
                let end = rest.find(',').unwrap_or(rest.len());
                return (params, &rest[end..]);
            }
        }
        rest = rest.trim_start();
        let name_end = rest
            .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = rest[name_end..].trim_start();
        let value = if let Some(after_eq) = rest.strip_prefix('=') {
            let after_eq = after_eq.trim_start();
            if let Some(quoted) = after_eq.strip_prefix('"') {
                let Some(end) = quoted.find('"') else {
                    return (params, "");
                };
                rest = &quoted[end + 1..];
                &quoted[..end]
            } else {
                let end = after_eq.find([';', ',']).unwrap_or(after_eq.len());
                rest = &after_eq[end..];
                after_eq[..end].trim_end()
            }
        } else {
            ""
        };
        if !name.is_empty() {
            params.push((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn finds_next_among_canvas_rels() {
        let h = "<https://c.example/api/v1/courses?page=1&per_page=10>; rel=\"current\",<https://c.example/api/v1/courses?page=2&per_page=10>; rel=\"next\",<https://c.example/api/v1/courses?page=1&per_page=10>; rel=\"first\"";
        assert_eq!(
            next_link(h),
            Some("https://c.example/api/v1/courses?page=2&per_page=10")
        );
    }

    #[test]
    fn no_next_on_the_last_page() {
        let h = "<https://c.example/a?page=3>; rel=\"current\",<https://c.example/a?page=2>; rel=\"prev\"";
        assert_eq!(next_link(h), None);
    }

    #[test]
    fn bookmark_links_are_opaque() {
        let h = "<https://c.example/api/v1/courses/1/enrollments?page=bookmark:WzEwXQ&per_page=100>; rel=\"next\"";
        assert_eq!(
            next_link(h),
            Some(
                "https://c.example/api/v1/courses/1/enrollments?page=bookmark:WzEwXQ&per_page=100"
            )
        );
    }

    #[test]
    fn rfc_8288_forms_are_read() {
        for (h, want) in [
            // Relative targets, returned as written for the client to resolve.
            (
                "</api/v1/accounts/1/courses?page=2&per_page=100>; rel=\"next\"",
                Some("/api/v1/accounts/1/courses?page=2&per_page=100"),
            ),
            // Several relation types, any case, unquoted, spaces.
            ("<a?page=2> ; REL = \"last Next\"", Some("a?page=2")),
            ("<a?page=2>;rel=next", Some("a?page=2")),
            // A comma inside the target or a quoted parameter.
            (
                "<x?ids=1,2>; title=\"a, b\"; rel=\"next\"",
                Some("x?ids=1,2"),
            ),
            ("<p>; title=\"rel=next, x\", <q>; rel=\"next\"", Some("q")),
            // `rel` of another link, a parameter that only contains next.
            ("<p>; rel=\"prev\", <q>; foo=\"next\"", None),
            ("<p>; rel=\"nextpage\"", None),
            // Malformed link-values.
            ("p; rel=\"next\"", None),
            ("<p; rel=\"next\"", None),
            ("<p>; rel=\"next", None),
            ("", None),
        ] {
            assert_eq!(next_link(h), want, "{h}");
        }
    }
}
