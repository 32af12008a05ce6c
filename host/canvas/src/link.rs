//! Canvas `Link` headers: find the `next` page.

/// The `next` URL of a Canvas `Link` header value, if any. Canvas writes
/// `<url>; rel="current",<url>; rel="next",...`; links are treated as opaque.
pub fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then_some(url)
    })
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
}
