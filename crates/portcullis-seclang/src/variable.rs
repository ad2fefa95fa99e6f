//! Rule targets: `ARGS|!ARGS:foo|&TX:x|REQUEST_COOKIES:/^_ga/|XML:/*`.

use portcullis_rules::{Diagnostic, Span};

use crate::lex::Word;
use crate::suggest::did_you_mean;

macro_rules! variables {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $collection:literal, $response:literal; )*) => {
        /// A variable ModSecurity v3 defines (every one CRS v4 reads, and the rest of v3's
        /// list, so a rule set for another engine gets a precise error later, not a parse
        /// error now). Names are case-insensitive in SecLang.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum VariableKind {
            $( $(#[$doc])* #[doc = concat!("`", $name, "`")] $variant, )*
        }

        impl VariableKind {
            /// Every variable, in declaration order.
            pub const ALL: &'static [VariableKind] = &[$(VariableKind::$variant),*];

            /// The name as ModSecurity spells it.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(VariableKind::$variant => $name,)* }
            }

            /// Whether it is a collection, read whole or through a selector (`ARGS:foo`).
            #[must_use]
            pub fn is_collection(self) -> bool {
                match self { $(VariableKind::$variant => $collection,)* }
            }

            /// Whether it is only known once the response is (phases 3 and 4).
            #[must_use]
            pub fn is_response(self) -> bool {
                match self { $(VariableKind::$variant => $response,)* }
            }
        }
    };
}

variables! {
    Args = "ARGS", true, false;
    ArgsNames = "ARGS_NAMES", true, false;
    ArgsGet = "ARGS_GET", true, false;
    ArgsGetNames = "ARGS_GET_NAMES", true, false;
    ArgsPost = "ARGS_POST", true, false;
    ArgsPostNames = "ARGS_POST_NAMES", true, false;
    ArgsCombinedSize = "ARGS_COMBINED_SIZE", false, false;
    AuthType = "AUTH_TYPE", false, false;
    Duration = "DURATION", false, false;
    Env = "ENV", true, false;
    Files = "FILES", true, false;
    FilesCombinedSize = "FILES_COMBINED_SIZE", false, false;
    FilesNames = "FILES_NAMES", true, false;
    FilesSizes = "FILES_SIZES", true, false;
    FilesTmpNames = "FILES_TMPNAMES", true, false;
    FilesTmpContent = "FILES_TMP_CONTENT", true, false;
    FullRequest = "FULL_REQUEST", false, false;
    FullRequestLength = "FULL_REQUEST_LENGTH", false, false;
    Geo = "GEO", true, false;
    Global = "GLOBAL", true, false;
    HighestSeverity = "HIGHEST_SEVERITY", false, false;
    InboundDataError = "INBOUND_DATA_ERROR", false, false;
    Ip = "IP", true, false;
    MatchedVar = "MATCHED_VAR", false, false;
    MatchedVarName = "MATCHED_VAR_NAME", false, false;
    MatchedVars = "MATCHED_VARS", true, false;
    MatchedVarsNames = "MATCHED_VARS_NAMES", true, false;
    ModsecBuild = "MODSEC_BUILD", false, false;
    MultipartBoundaryQuoted = "MULTIPART_BOUNDARY_QUOTED", false, false;
    MultipartBoundaryWhitespace = "MULTIPART_BOUNDARY_WHITESPACE", false, false;
    MultipartCrlfLfLines = "MULTIPART_CRLF_LF_LINES", false, false;
    MultipartDataAfter = "MULTIPART_DATA_AFTER", false, false;
    MultipartDataBefore = "MULTIPART_DATA_BEFORE", false, false;
    MultipartFileLimitExceeded = "MULTIPART_FILE_LIMIT_EXCEEDED", false, false;
    MultipartFilename = "MULTIPART_FILENAME", true, false;
    MultipartHeaderFolding = "MULTIPART_HEADER_FOLDING", false, false;
    MultipartInvalidHeaderFolding = "MULTIPART_INVALID_HEADER_FOLDING", false, false;
    MultipartInvalidPart = "MULTIPART_INVALID_PART", false, false;
    MultipartInvalidQuoting = "MULTIPART_INVALID_QUOTING", false, false;
    MultipartLfLine = "MULTIPART_LF_LINE", false, false;
    MultipartMissingSemicolon = "MULTIPART_MISSING_SEMICOLON", false, false;
    MultipartName = "MULTIPART_NAME", true, false;
    MultipartPartHeaders = "MULTIPART_PART_HEADERS", true, false;
    MultipartSemicolonMissing = "MULTIPART_SEMICOLON_MISSING", false, false;
    MultipartStrictError = "MULTIPART_STRICT_ERROR", false, false;
    MultipartUnmatchedBoundary = "MULTIPART_UNMATCHED_BOUNDARY", false, false;
    OutboundDataError = "OUTBOUND_DATA_ERROR", false, true;
    PathInfo = "PATH_INFO", false, false;
    QueryString = "QUERY_STRING", false, false;
    RemoteAddr = "REMOTE_ADDR", false, false;
    RemoteHost = "REMOTE_HOST", false, false;
    RemotePort = "REMOTE_PORT", false, false;
    RemoteUser = "REMOTE_USER", false, false;
    ReqbodyError = "REQBODY_ERROR", false, false;
    ReqbodyErrorMsg = "REQBODY_ERROR_MSG", false, false;
    ReqbodyProcessor = "REQBODY_PROCESSOR", false, false;
    ReqbodyProcessorError = "REQBODY_PROCESSOR_ERROR", false, false;
    ReqbodyProcessorErrorMsg = "REQBODY_PROCESSOR_ERROR_MSG", false, false;
    RequestBasename = "REQUEST_BASENAME", false, false;
    RequestBody = "REQUEST_BODY", false, false;
    RequestBodyLength = "REQUEST_BODY_LENGTH", false, false;
    RequestCookies = "REQUEST_COOKIES", true, false;
    RequestCookiesNames = "REQUEST_COOKIES_NAMES", true, false;
    RequestFilename = "REQUEST_FILENAME", false, false;
    RequestHeaders = "REQUEST_HEADERS", true, false;
    RequestHeadersNames = "REQUEST_HEADERS_NAMES", true, false;
    RequestLine = "REQUEST_LINE", false, false;
    RequestMethod = "REQUEST_METHOD", false, false;
    RequestProtocol = "REQUEST_PROTOCOL", false, false;
    RequestUri = "REQUEST_URI", false, false;
    RequestUriRaw = "REQUEST_URI_RAW", false, false;
    Resource = "RESOURCE", true, false;
    ResponseBody = "RESPONSE_BODY", false, true;
    ResponseContentLength = "RESPONSE_CONTENT_LENGTH", false, true;
    ResponseContentType = "RESPONSE_CONTENT_TYPE", false, true;
    ResponseHeaders = "RESPONSE_HEADERS", true, true;
    ResponseHeadersNames = "RESPONSE_HEADERS_NAMES", true, true;
    ResponseProtocol = "RESPONSE_PROTOCOL", false, true;
    ResponseStatus = "RESPONSE_STATUS", false, true;
    /// The rule's own actions, for macros such as `%{rule.id}`.
    Rule = "RULE", true, false;
    ServerAddr = "SERVER_ADDR", false, false;
    ServerName = "SERVER_NAME", false, false;
    ServerPort = "SERVER_PORT", false, false;
    Session = "SESSION", true, false;
    SessionId = "SESSIONID", false, false;
    Status = "STATUS", false, true;
    StatusLine = "STATUS_LINE", false, true;
    Time = "TIME", false, false;
    TimeDay = "TIME_DAY", false, false;
    TimeEpoch = "TIME_EPOCH", false, false;
    TimeHour = "TIME_HOUR", false, false;
    TimeMin = "TIME_MIN", false, false;
    TimeMon = "TIME_MON", false, false;
    TimeSec = "TIME_SEC", false, false;
    TimeWday = "TIME_WDAY", false, false;
    TimeYear = "TIME_YEAR", false, false;
    Tx = "TX", true, false;
    UniqueId = "UNIQUE_ID", false, false;
    UrlencodedError = "URLENCODED_ERROR", false, false;
    User = "USER", true, false;
    UserId = "USERID", false, false;
    WebAppId = "WEBAPPID", false, false;
    WebserverErrorLog = "WEBSERVER_ERROR_LOG", false, false;
    /// The XML body; its selector is an XPath expression, not a key.
    Xml = "XML", true, false;
}

impl VariableKind {
    /// The variable named `name`, ignoring ASCII case.
    #[must_use]
    pub fn from_name(name: &str) -> Option<VariableKind> {
        VariableKind::ALL
            .iter()
            .copied()
            .find(|v| v.name().eq_ignore_ascii_case(name))
    }

    /// A "did you mean" hint for an unknown name.
    pub(crate) fn hint(name: &str) -> String {
        did_you_mean(name, VariableKind::ALL.iter().map(|v| v.name()))
            .unwrap_or_else(|| "see ModSecurity v3's list of variables".to_string())
    }
}

/// Which members of a collection a target reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `ARGS:foo` or `ARGS:'foo'`: the members named `foo`. ModSecurity v3 compares collection
    /// keys ignoring ASCII case (its collections hash and compare keys case-insensitively),
    /// so `REQUEST_HEADERS:user-agent` reads `User-Agent`; the name is kept as written and
    /// [`Selector::folded`] gives the form to compare.
    Key(String),
    /// `ARGS:/^id_/`: the members whose name matches the regex (as written, between the
    /// slashes).
    Regex(String),
    /// `XML:/*`: an XPath expression over the XML body.
    XPath(String),
}

impl Selector {
    /// The key in the case ModSecurity compares it in (ASCII lowercase), for keys.
    #[must_use]
    pub fn folded(&self) -> Option<String> {
        match self {
            Selector::Key(k) => Some(k.to_ascii_lowercase()),
            _ => None,
        }
    }
}

/// One target of a rule: a variable, what of it, and whether it is excluded or counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Which variable.
    pub kind: VariableKind,
    /// Which of its members, if not all.
    pub selector: Option<Selector>,
    /// `!`: removes the selected members from the rule's other targets.
    pub exclude: bool,
    /// `&`: the number of selected members, not their values.
    pub count: bool,
    /// The target as written, `!`/`&` included.
    pub span: Span,
}

impl Variable {
    /// The variable a macro quotes (`%{ARGS._method}`: `ARGS:_method`), at `span`.
    pub(crate) fn quoted(kind: VariableKind, key: Option<&str>, span: Span) -> Variable {
        Variable {
            kind,
            selector: key.map(|k| Selector::Key(k.to_string())),
            exclude: false,
            count: false,
            span,
        }
    }
}

/// Each target of a link that is not an exclusion, with the exclusions of its variable
/// (`REQUEST_HEADERS|!REQUEST_HEADERS:Referer`).
pub(crate) fn with_exclusions(
    vars: &[Variable],
) -> impl Iterator<Item = (&Variable, Vec<&Variable>)> {
    vars.iter().filter(|v| !v.exclude).map(move |v| {
        let excl = vars
            .iter()
            .filter(|e| e.exclude && e.kind == v.kind)
            .collect();
        (v, excl)
    })
}

/// Parses a `|`-separated target list. ModSecurity v3 also accepts `,` between targets.
pub(crate) fn parse_variables(word: &Word, diags: &mut Vec<Diagnostic>) -> Option<Vec<Variable>> {
    let text = word.text.as_str();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut ok = true;
    let mut i = 0;
    if text.trim().is_empty() {
        diags.push(
            Diagnostic::error(word.span(), "expected at least one variable")
                .hint("e.g. `ARGS|REQUEST_HEADERS`"),
        );
        return None;
    }
    while i <= bytes.len() {
        let start = i;
        let mut j = i;
        let (mut exclude, mut count) = (false, false);
        match bytes.get(j) {
            Some(b'!') => {
                exclude = true;
                j += 1;
            }
            Some(b'&') => {
                count = true;
                j += 1;
            }
            _ => {}
        }
        let name_start = j;
        while bytes
            .get(j)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            j += 1;
        }
        let name = text.get(name_start..j).unwrap_or("");
        let kind = VariableKind::from_name(name);
        let mut selector = None;
        let mut sel_span = None;
        if matches!(bytes.get(j), Some(b':' | b'.')) {
            j += 1;
            let sel_start = j;
            let (sel, end) = scan_selector(text, j, kind == Some(VariableKind::Xml));
            match sel {
                Ok(sel) => selector = Some(sel),
                Err(msg) => {
                    diags.push(Diagnostic::error(word.span_of(sel_start..end), msg));
                    ok = false;
                }
            }
            sel_span = Some(word.span_of(sel_start..end));
            j = end;
        }
        let span = word.span_of(start..j);
        match kind {
            None => {
                let shown = if name.is_empty() {
                    text.get(name_start..)
                        .and_then(|t| t.chars().next())
                        .map_or_else(String::new, String::from)
                } else {
                    name.to_string()
                };
                let msg = if name.is_empty() {
                    format!("expected a variable name, found `{shown}`")
                } else {
                    format!("unknown variable `{name}`")
                };
                let end = if name.is_empty() {
                    (name_start + shown.len()).min(text.len())
                } else {
                    j
                };
                diags.push(
                    Diagnostic::error(word.span_of(name_start..end.max(name_start)), msg)
                        .hint(VariableKind::hint(name)),
                );
                ok = false;
            }
            Some(kind) => {
                if selector.is_some() && !kind.is_collection() {
                    diags.push(
                        Diagnostic::error(
                            sel_span.unwrap_or(span),
                            format!(
                                "`{}` is not a collection: it takes no selector",
                                kind.name()
                            ),
                        )
                        .hint(format!("use `{}` alone", kind.name())),
                    );
                    ok = false;
                }
                if exclude && selector.is_none() {
                    diags.push(
                        Diagnostic::error(
                            span,
                            format!(
                                "`!{}` excludes nothing: an exclusion needs a key",
                                kind.name()
                            ),
                        )
                        .hint(format!("e.g. `!{}:name`", kind.name())),
                    );
                    ok = false;
                }
                out.push(Variable {
                    kind,
                    selector,
                    exclude,
                    count,
                    span,
                });
            }
        }
        match bytes.get(j) {
            None => break,
            Some(b'|' | b',') => i = j + 1,
            Some(_) => {
                let c = text.get(j..).and_then(|t| t.chars().next()).unwrap_or(' ');
                diags.push(
                    Diagnostic::error(
                        word.span_of(j..j + c.len_utf8()),
                        format!("unexpected `{c}` in the variable list"),
                    )
                    .hint("variables are separated by `|`, e.g. `ARGS|ARGS_NAMES`"),
                );
                return None;
            }
        }
    }
    ok.then_some(out)
}

/// The selector starting at `i` (after the `:`) and where it ends.
fn scan_selector(text: &str, i: usize, xml: bool) -> (Result<Selector, String>, usize) {
    let bytes = text.as_bytes();
    let until_sep = |from: usize| {
        text.get(from..)
            .and_then(|t| t.find(['|', ',']))
            .map_or(text.len(), |k| from + k)
    };
    if xml {
        let end = until_sep(i);
        let path = text.get(i..end).unwrap_or("");
        if path.is_empty() {
            return (Err("empty XPath selector".to_string()), end);
        }
        return (Ok(Selector::XPath(path.to_string())), end);
    }
    match bytes.get(i) {
        Some(b'\'') => {
            // A quoted key or a quoted regex (`'/a|b/'`, which may hold `|`).
            let Some(close) = text.get(i + 1..).and_then(|t| t.find('\'')) else {
                return (Err("unterminated quoted selector".to_string()), text.len());
            };
            let inner = text.get(i + 1..i + 1 + close).unwrap_or("");
            let end = i + close + 2;
            if inner.len() >= 2 && inner.starts_with('/') && inner.ends_with('/') {
                let re = inner.get(1..inner.len() - 1).unwrap_or("");
                return (Ok(Selector::Regex(re.to_string())), end);
            }
            if inner.is_empty() {
                return (Err("empty selector".to_string()), end);
            }
            (Ok(Selector::Key(inner.to_string())), end)
        }
        Some(b'/') => {
            // The regex ends at an unescaped `/` followed by the end or a separator, so a
            // `|` inside a group does not split the target list.
            let mut k = i + 1;
            while k < bytes.len() {
                match bytes.get(k) {
                    Some(b'\\') => k += 2,
                    Some(b'/') if matches!(bytes.get(k + 1), None | Some(b'|' | b',')) => {
                        let re = text.get(i + 1..k).unwrap_or("");
                        if re.is_empty() {
                            return (Err("empty regex selector".to_string()), k + 1);
                        }
                        return (Ok(Selector::Regex(re.to_string())), k + 1);
                    }
                    _ => k += 1,
                }
            }
            (
                Err("unterminated regex selector: expected a closing `/`".to_string()),
                text.len(),
            )
        }
        _ => {
            let end = until_sep(i);
            let key = text.get(i..end).unwrap_or("");
            if key.is_empty() {
                return (Err("empty selector after `:`".to_string()), end);
            }
            (Ok(Selector::Key(key.to_string())), end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Option<Vec<Variable>>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let v = parse_variables(&Word::verbatim(0, s, 0), &mut d);
        (v, d)
    }

    #[test]
    fn targets() {
        let (v, d) =
            parse("ARGS|!REQUEST_COOKIES:/^_ga(?:_\\w+|x)?$/|&TX:foo|XML://@*|args_names:'a|b'");
        assert!(d.is_empty(), "{d:?}");
        let v = v.unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(
            v[1].selector,
            Some(Selector::Regex("^_ga(?:_\\w+|x)?$".into()))
        );
        assert!(v[1].exclude && v[2].count);
        assert_eq!(v[3].selector, Some(Selector::XPath("//@*".into())));
        assert_eq!(v[4].kind, VariableKind::ArgsNames);
        assert_eq!(v[4].selector, Some(Selector::Key("a|b".into())));
    }

    #[test]
    fn errors() {
        assert!(parse("ARGZ").1[0].hint_text().unwrap().contains("ARGS"));
        assert!(parse("REQUEST_METHOD:x").0.is_none());
        assert!(parse("!ARGS").0.is_none());
        assert!(parse("ARGS:/abc").0.is_none());
        assert!(parse("").0.is_none());
    }
}
