//! A format-neutral document tree with a span on every value, read from TOML or JSON.
//!
//! Walking this tree (rather than deserializing with serde) lets the schema reader report
//! every error of a file, each at its place, instead of stopping at the first.

use crate::diag::Diagnostic;
use crate::source::Span;

/// A value and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    /// Floats are valid TOML and JSON, but no setting takes one.
    Float,
    Bool(bool),
    Array(Vec<Node>),
    /// Entries in source order, with each key's span.
    Table(Vec<(String, Span, Node)>),
    /// A TOML datetime: valid TOML, never valid in a rule file.
    Other,
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float => "a float",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
            Value::Other => "a datetime",
        }
    }
}

/// Parses TOML into a tree, collecting every syntax error.
pub(crate) fn parse_toml(file: u32, text: &str, errors: &mut Vec<Diagnostic>) -> Option<Node> {
    let (doc, errs) = toml::de::DeTable::parse_recoverable(text);
    if !errs.is_empty() {
        for e in errs {
            let span = e.span().map(|r| Span::new(file, r));
            errors.push(
                Diagnostic::error(span, format!("invalid TOML: {}", e.message().trim()))
                    .hint("see https://toml.io for the syntax of TOML files"),
            );
        }
        return None;
    }
    let span = Span::new(file, doc.span());
    Some(Node {
        span,
        value: toml_table(file, doc.into_inner()),
    })
}

fn toml_table(file: u32, table: toml::de::DeTable<'_>) -> Value {
    Value::Table(
        table
            .into_iter()
            .map(|(k, v)| {
                let kspan = Span::new(file, k.span());
                (k.into_inner().into_owned(), kspan, toml_node(file, v))
            })
            .collect(),
    )
}

fn toml_node(file: u32, v: toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let span = Span::new(file, v.span());
    let value = match v.into_inner() {
        DeValue::String(s) => Value::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let digits: String = i.as_str().chars().filter(|&c| c != '_').collect();
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Value::Int(n),
                Err(_) => Value::Other,
            }
        }
        DeValue::Float(_) => Value::Float,
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(_) => Value::Other,
        DeValue::Array(a) => Value::Array(a.into_iter().map(|v| toml_node(file, v)).collect()),
        DeValue::Table(t) => toml_table(file, t),
    };
    Node { span, value }
}

/// Parses JSON into a tree, arrays and objects nested at most `max_depth` deep. JSON has
/// no recovery: the first syntax error is reported.
pub(crate) fn parse_json(
    file: u32,
    text: &str,
    max_depth: usize,
    errors: &mut Vec<Diagnostic>,
) -> Option<Node> {
    let mut p = Json {
        file,
        max_depth,
        text: text.as_bytes(),
        src: text,
        pos: 0,
    };
    let result = p.value(0).and_then(|node| {
        p.ws();
        if p.pos < p.text.len() {
            Err(p.err("trailing characters after the JSON value"))
        } else {
            Ok(node)
        }
    });
    match result {
        Ok(node) => Some(node),
        Err(d) => {
            errors.push(d);
            None
        }
    }
}

struct Json<'a> {
    file: u32,
    max_depth: usize,
    text: &'a [u8],
    src: &'a str,
    pos: usize,
}

impl Json<'_> {
    fn err(&self, msg: &str) -> Diagnostic {
        let end = (self.pos + 1).min(self.text.len());
        Diagnostic::error(
            Span::new(self.file, self.pos..end.max(self.pos)),
            format!("invalid JSON: {msg}"),
        )
        .hint("JSON rule files use the same schema as TOML ones; see docs/rules.md")
    }

    fn ws(&mut self) {
        while matches!(self.text.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.text[self.pos.min(self.text.len())..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, Diagnostic> {
        if depth > self.max_depth {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        let start = self.pos;
        let value = match self.text.get(self.pos) {
            None => return Err(self.err("unexpected end of input")),
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.ws();
                if !self.eat("}") {
                    loop {
                        self.ws();
                        let kstart = self.pos;
                        if self.text.get(self.pos) != Some(&b'"') {
                            return Err(self.err("expected a string key"));
                        }
                        let key = self.string()?;
                        let kspan = Span::new(self.file, kstart..self.pos);
                        // A repeated key would let a later value silently win (the
                        // second `"action"` of a rule, say): refused, as TOML does.
                        if entries.iter().any(|(k, _, _)| *k == key) {
                            return Err(Diagnostic::error(
                                kspan,
                                format!("invalid JSON: key `{key}` appears twice in this object"),
                            )
                            .hint("remove one of them: which one applies would be a guess"));
                        }
                        self.ws();
                        if !self.eat(":") {
                            return Err(self.err("expected `:`"));
                        }
                        let v = self.value(depth + 1)?;
                        entries.push((key, kspan, v));
                        self.ws();
                        if self.eat(",") {
                            continue;
                        }
                        if self.eat("}") {
                            break;
                        }
                        return Err(self.err("expected `,` or `}`"));
                    }
                }
                Value::Table(entries)
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if !self.eat("]") {
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        if self.eat(",") {
                            continue;
                        }
                        if self.eat("]") {
                            break;
                        }
                        return Err(self.err("expected `,` or `]`"));
                    }
                }
                Value::Array(items)
            }
            Some(b'"') => Value::Str(self.string()?),
            Some(b't') if self.eat("true") => Value::Bool(true),
            Some(b'f') if self.eat("false") => Value::Bool(false),
            Some(b'n') if self.eat("null") => Value::Other,
            Some(b'-' | b'0'..=b'9') => {
                while matches!(
                    self.text.get(self.pos),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                let s = self.src.get(start..self.pos).unwrap_or("");
                if let Ok(n) = s.parse::<i64>() {
                    Value::Int(n)
                } else if s.parse::<f64>().is_ok() {
                    Value::Float
                } else {
                    self.pos = start;
                    return Err(self.err("invalid number"));
                }
            }
            Some(_) => return Err(self.err("expected a value")),
        };
        Ok(Node {
            span: Span::new(self.file, start..self.pos),
            value,
        })
    }

    /// Reads a string starting at the opening quote.
    fn string(&mut self) -> Result<String, Diagnostic> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(&b) = self.text.get(self.pos) else {
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let esc = self.text.get(self.pos).copied();
                    self.pos += 1;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) && self.eat("\\u") {
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("invalid escape"));
                        }
                    }
                }
                0..=0x1F => return Err(self.err("control character in string")),
                _ => {
                    // Copy one whole UTF-8 character (the input is a &str).
                    let rest = self.src.get(self.pos..).unwrap_or("");
                    let c = rest.chars().next().unwrap_or('\u{FFFD}');
                    out.push(c);
                    self.pos += c.len_utf8().max(1);
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Diagnostic> {
        let s = self
            .src
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }
}
