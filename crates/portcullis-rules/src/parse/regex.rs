//! Regex syntax checks shared by the parser, list loading and the lints.

/// Checks that a regex parses, nests groups and repetitions at most `nest_limit` deep
/// ([`LoadOptions::max_regex_nesting`](crate::LoadOptions::max_regex_nesting)), and would
/// run in linear time (no look-around, no back-references: the syntax has neither).
pub(crate) fn check_regex(pattern: &str, nest_limit: u32) -> Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .nest_limit(nest_limit)
        .build()
        .parse(pattern)
        .map(|_| ())
        .map_err(|e| {
            // The crate's message spans several lines; keep the last, which says what is wrong.
            e.to_string()
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ")
                .to_string()
        })
}
