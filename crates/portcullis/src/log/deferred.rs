//! Shadow hits logged after the application answered (the tower layer), with its status.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_decide::{Decision, Request};

use super::{
    logged_path, shadow_hits, AppStatus, Budget, ClientIp, Evidence, Fields, Limits, Table,
};

/// [`super::decision`] for the tower layer: the shadow hits of an allowed request are not
/// logged but returned, to be logged with the application's status once it answered.
/// Refusals never reach the application; theirs are logged at once.
pub(crate) fn decision_deferring_shadow(
    decision: &Decision,
    request: &Request<'_>,
    table: &Arc<Table>,
    limits: &Arc<Limits>,
) -> Option<Box<ShadowHits>> {
    if decision.is_allowed() && decision.shadow_hits().next().is_none() {
        return None;
    }
    if !decision.is_allowed() {
        let budget = Budget { table, limits };
        super::decision(decision, request, budget);
        return None;
    }
    // Only requests with shadow hits pay for these copies: the request's bytes are the
    // application's by the time it answers.
    Some(Box::new(ShadowHits {
        pending: Some(Pending {
            decision: decision.clone(),
            client_ip: request.client_ip,
            method: request.method.to_owned(),
            path: logged_path(request.uri).to_owned(),
            // Computed again on a scratch of its own: only for a subscriber.
            evidence: if tracing::enabled!(target: super::SHADOW_TARGET, tracing::Level::INFO) {
                super::found(decision, request)
            } else {
                Vec::new()
            },
            table: Arc::clone(table),
            limits: Arc::clone(limits),
        }),
    }))
}

/// Shadow hits waiting for the application's answer. Dropped unwritten (the response
/// future was dropped: the client went away), they are written with `app_status =
/// unknown` rather than lost.
pub(crate) struct ShadowHits {
    pending: Option<Pending>,
}

struct Pending {
    decision: Decision,
    client_ip: Option<IpAddr>,
    method: String,
    path: String,
    evidence: Vec<super::Found>,
    // The counters of the policy that decided, even if another is in force by now.
    table: Arc<Table>,
    limits: Arc<Limits>,
}

impl ShadowHits {
    /// Writes the events with the status the application answered (`None`: unknown,
    /// e.g. the inner service failed).
    pub(crate) fn write(mut self, app_status: Option<u16>) {
        self.write_once(AppStatus(app_status));
    }

    fn write_once(&mut self, app_status: AppStatus) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let fields = Fields {
            client_ip: ClientIp(p.client_ip),
            method: &p.method,
            path: &p.path,
            evidence: Evidence::Computed(&p.evidence),
        };
        let budget = Budget {
            table: &p.table,
            limits: &p.limits,
        };
        shadow_hits(&p.decision, &fields, app_status, budget);
    }
}

impl Drop for ShadowHits {
    fn drop(&mut self) {
        self.write_once(AppStatus(None));
    }
}
