//! "Did you mean" hints: the closest known name by edit distance.

pub(super) const FIELDS: &[&str] = &[
    "ip",
    "method",
    "host",
    "path",
    "raw_path",
    "query",
    "protocol",
    "request_line",
    "uri",
    "raw_uri",
    "basename",
    "filename",
    "arg",
    "header",
    "user_agent",
    "cookie",
    "auth.authenticated",
    "auth.subject",
    "auth.roles",
    "auth.scopes",
    "auth.tenant",
    "geo.country",
    "attr",
    "cors.preflight",
    "args",
    "arg_names",
    "query_args",
    "query_arg_names",
    "body_args",
    "body_arg_names",
    "file_fields",
    "body",
    "body.inspected",
    "body.truncated",
    "body.error",
    "body.processor",
    "body.length",
    "files",
    "files_size",
    "part_headers",
    "xml_text",
    "xml_attrs",
    "headers",
    "header_names",
    "cookies",
    "cookie_names",
    "score",
    "labels",
    "response.status",
    "response.header",
    "response.body",
];
pub(super) const FUNCS: &[&str] = &[
    "lower",
    "upper",
    "url_decode",
    "url_decode_uni",
    "html_entity_decode",
    "js_decode",
    "css_decode",
    "base64_decode",
    "hex_decode",
    "escape_seq_decode",
    "hex_encode",
    "sha1",
    "remove_comments_char",
    "remove_nulls",
    "remove_whitespace",
    "compress_whitespace",
    "replace_comments",
    "normalize_path",
    "normalize_path_win",
    "cmd_line",
    "utf8_to_unicode",
    "trim",
    "path_segment",
    "len",
    "count",
    "present",
    "detect_sqli",
    "detect_xss",
];

/// The closest known name, for "did you mean" hints.
pub(crate) fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
