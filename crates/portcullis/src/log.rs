//! The decision log: one structured `tracing` event per refusal and per shadow hit.

use std::net::IpAddr;

use portcullis_decide::{Decision, Request};

/// Target of refusal events.
pub(crate) const DECISION_TARGET: &str = "portcullis::decision";
/// Target of shadow-hit events (`log` rules and rules in shadow mode).
pub(crate) const SHADOW_TARGET: &str = "portcullis::shadow";

/// Longest path written to the log; longer ones are cut at a character boundary.
const MAX_LOGGED_PATH: usize = 512;

/// Logs a decision. Allowed requests without shadow hits, the common case, cost one
/// branch: nothing is formatted.
pub(crate) fn decision(decision: &Decision, request: &Request<'_>) {
    let mut shadow = decision.shadow_hits().peekable();
    if decision.is_allowed() && shadow.peek().is_none() {
        return;
    }
    let path = logged_path(request.uri);
    let client_ip = ClientIp(request.client_ip);
    let request_id = decision.request_id().as_str();
    let verdict = decision.verdict().name();
    let status = decision.status();
    if !decision.is_allowed() {
        tracing::info!(
            target: DECISION_TARGET,
            request_id,
            rule = decision.rule_id().unwrap_or("(default)"),
            verdict,
            status,
            reason = decision.reason().unwrap_or(""),
            client_ip = %client_ip,
            // Method and path come from the client: `?` quotes and escapes them so they
            // cannot forge log lines.
            method = ?request.method,
            path = ?path,
            "request refused"
        );
    }
    for (rule, action) in shadow {
        tracing::info!(
            target: SHADOW_TARGET,
            request_id,
            rule = rule.id.as_str(),
            action = action.name(),
            verdict,
            status,
            reason = rule.reason.as_deref().unwrap_or(""),
            client_ip = %client_ip,
            method = ?request.method,
            path = ?path,
            "shadow hit"
        );
    }
}

/// The path of a request target, without its query (which may carry secrets), bounded.
fn logged_path(uri: &str) -> &str {
    let path = uri.split(['?', '#']).next().unwrap_or("");
    if path.len() <= MAX_LOGGED_PATH {
        return path;
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

struct ClientIp(Option<IpAddr>);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn logged_path_drops_query_and_bounds_length() {
        assert_eq!(logged_path("/a/b?token=secret"), "/a/b");
        assert_eq!(logged_path("/a#frag"), "/a");
        let long = format!("/{}", "é".repeat(600));
        let cut = logged_path(&long);
        assert!(cut.len() <= super::MAX_LOGGED_PATH && long.starts_with(cut));
    }
}
