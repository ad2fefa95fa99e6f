//! The application behind the WAF in CRS's test setup: go-ftw's backend, albedo. Its
//! answer is what the response rules (CRS's phases 3 and 4) read, so each stage's
//! request carries the response albedo would give it.
//!
//! `/reflect` answers with what the request's JSON body describes (`status`, `headers`,
//! `body`, or `encodedBody` in base64), which is how CRS's response tests put a leak in
//! a response; every other target gets `200` with an empty body.

use portcullis_decide::{OwnedAppResponse, OwnedRequest};
use serde::Deserialize;

/// `POST /reflect`'s body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reflect {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    encoded_body: Option<String>,
}

/// What albedo answers to `req`.
#[must_use]
pub fn answer(req: &OwnedRequest) -> OwnedAppResponse {
    let path = req.uri.split('?').next().unwrap_or_default();
    if path != "/reflect" {
        return OwnedAppResponse {
            status: 200,
            headers: Vec::new(),
            body: Some(Vec::new()),
        };
    }
    let spec = req
        .body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Reflect>(b).ok());
    let Some(spec) = spec else {
        return OwnedAppResponse {
            status: 400,
            headers: Vec::new(),
            body: Some(b"invalid reflection request".to_vec()),
        };
    };
    let body = match (spec.encoded_body, spec.body) {
        (Some(b64), _) => super::request::decode_base64(&b64).unwrap_or_default(),
        (None, Some(text)) => text.into_bytes(),
        (None, None) => Vec::new(),
    };
    OwnedAppResponse {
        status: spec.status.unwrap_or(200),
        headers: spec.headers.into_iter().collect(),
        body: Some(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(uri: &str, body: &str) -> OwnedRequest {
        OwnedRequest {
            method: "POST".into(),
            uri: uri.into(),
            body: Some(body.as_bytes().to_vec()),
            ..OwnedRequest::default()
        }
    }

    #[test]
    fn reflect_answers_as_described_and_other_targets_with_an_empty_200() {
        let r = answer(&post(
            "/reflect",
            r#"{"status": 503, "headers": {"Content-Encoding": "gzip"}, "body": "ORA-00933"}"#,
        ));
        assert_eq!(r.status, 503);
        assert_eq!(r.headers, vec![("Content-Encoding".into(), "gzip".into())]);
        assert_eq!(r.body.as_deref(), Some(&b"ORA-00933"[..]));
        let r = answer(&post("/reflect", r#"{"encodedBody": "PD9waHA="}"#));
        assert_eq!((r.status, r.body.as_deref()), (200, Some(&b"<?php"[..])));
        assert_eq!(answer(&post("/reflect", "not json")).status, 400);
        let r = answer(&post("/get?a=/reflect", "{}"));
        assert_eq!((r.status, r.body.as_deref()), (200, Some(&b""[..])));
    }
}
