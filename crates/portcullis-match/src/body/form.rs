//! `application/x-www-form-urlencoded`: `name=value` pairs split on `&`, each side
//! percent-decoded with `+` as a space, as query strings are; empty pairs skipped.

use super::{ArgKind, BodyArgs, BodyLimits};
use crate::normalize::percent_decode_into;

pub(super) fn parse(body: &[u8], limits: &BodyLimits, out: &mut BodyArgs) {
    let text = String::from_utf8_lossy(body);
    for pair in text.split('&') {
        if pair.is_empty() {
            continue;
        }
        if !out.room(limits) {
            return;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push(
            ArgKind::Field,
            |t| percent_decode_into(k, true, t),
            |t| percent_decode_into(v, true, t),
        );
    }
}
