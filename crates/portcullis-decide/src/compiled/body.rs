//! A request's body as the compiled evaluator reads it: once per request, on the first
//! rule that reads a body field, into the scratch's reused buffers.

use portcullis_match::body::{BodyArgs, BodyError, BodyKind, BodyLimits};
use portcullis_match::normalize;
use portcullis_rules::OnBodyLimit;

use crate::request::Request;

/// What the body fields (`body.inspected`, `body.truncated`, `body.error`, `body`) say.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BodyFacts {
    pub(super) inspected: bool,
    pub(super) truncated: bool,
    pub(super) error: Option<BodyError>,
    /// Whether `body` has a value (a body was given, and not skipped for its size).
    pub(super) shown: bool,
    /// The processor that read the body (`body.processor`).
    pub(super) processor: Option<BodyKind>,
    /// `files_size`.
    pub(super) files_size: u64,
}

/// `body.processor`: a processor as ModSecurity's `REQBODY_PROCESSOR` names it, `""` for
/// none.
pub(super) fn processor_name(kind: Option<BodyKind>) -> &'static str {
    match kind {
        Some(BodyKind::Form) => "URLENCODED",
        Some(BodyKind::Multipart) => "MULTIPART",
        Some(BodyKind::Json) => "JSON",
        Some(BodyKind::Xml) => "XML",
        None => "",
    }
}

/// How a policy reads bodies.
#[derive(Clone, Copy, Debug)]
pub(super) struct BodyPolicy {
    pub(super) limits: BodyLimits,
    pub(super) on_limit: OnBodyLimit,
}

/// Reads `req`'s body into `args` (its arguments) and says what the body fields are;
/// `tmp` is scratch space.
pub(super) fn read(
    req: &Request<'_>,
    p: &BodyPolicy,
    args: &mut BodyArgs,
    tmp: &mut String,
) -> BodyFacts {
    args.clear();
    let mut types = 0;
    tmp.clear();
    req.headers.for_each("content-type", &mut |v| {
        types += 1;
        normalize::push_bytes_lossy(v, tmp);
    });
    // Two content types: which one the application believes is anyone's guess.
    let named = (types == 1).then(|| BodyKind::of(tmp)).flatten();
    // The processor the type selects, body or not (as ModSecurity sets REQBODY_PROCESSOR
    // from the header before the body).
    let processor = named.map(|(kind, _)| kind);
    let body = match req.body {
        Some(b) if !b.is_empty() => b,
        _ => {
            // No body given: inspected unless the request says it has one.
            return BodyFacts {
                inspected: !announces_body(req, tmp),
                processor,
                ..BodyFacts::default()
            };
        }
    };
    let over = body.len() > p.limits.max_bytes;
    if over && p.on_limit == OnBodyLimit::Allow {
        return BodyFacts {
            truncated: true,
            processor,
            ..BodyFacts::default()
        };
    }
    match named {
        Some((kind, boundary)) => {
            args.parse(kind, boundary, body, &p.limits);
            BodyFacts {
                inspected: args.error.is_none() && !args.truncated,
                truncated: args.truncated,
                error: args.error,
                shown: true,
                processor: Some(kind),
                files_size: args.files_size,
            }
        }
        None => BodyFacts {
            inspected: false,
            truncated: over,
            error: None,
            shown: true,
            processor: None,
            files_size: 0,
        },
    }
}

/// Whether the headers say a body follows: a `Content-Length` other than 0, or a
/// `Transfer-Encoding`.
fn announces_body(req: &Request<'_>, tmp: &mut String) -> bool {
    let mut announced = false;
    req.headers.for_each("content-length", &mut |v| {
        tmp.clear();
        normalize::push_bytes_lossy(v, tmp);
        announced |= tmp != "0";
    });
    req.headers
        .for_each("transfer-encoding", &mut |_| announced = true);
    announced
}

/// The body as text, as `body` shows it: the first `max_bytes`, invalid UTF-8 replaced.
pub(super) fn text(req: &Request<'_>, max_bytes: usize, out: &mut String) {
    if let Some(b) = req.body {
        push_text(b, max_bytes, out);
    }
}

/// A body's first `max_bytes` as text, invalid UTF-8 replaced.
pub(super) fn push_text(b: &[u8], max_bytes: usize, out: &mut String) {
    out.push_str(&String::from_utf8_lossy(b.get(..max_bytes).unwrap_or(b)));
}
