//! The application's response, as a host hands it over to be judged by the rules on
//! `response.*` (ModSecurity's response phases).

use crate::request::{header_into, HeaderSource, NO_HEADERS};

/// What the application answered, as a host hands it over for the rules on `response.*`
/// (ModSecurity's response phases: data leakage and web shell detection in OWASP CRS).
#[derive(Clone, Copy)]
pub struct AppResponse<'a> {
    /// The status code.
    pub status: u16,
    /// Headers.
    pub headers: &'a dyn HeaderSource,
    /// The body as far as the host read it (see `max_body_bytes`); `None` when it was
    /// not read (a type that is not text, or a stream).
    pub body: Option<&'a [u8]>,
}

impl<'a> AppResponse<'a> {
    /// A response with a status only.
    #[must_use]
    pub fn new(status: u16) -> AppResponse<'a> {
        AppResponse {
            status,
            headers: &NO_HEADERS,
            body: None,
        }
    }

    /// Sets the headers.
    #[must_use]
    pub fn headers(mut self, headers: &'a dyn HeaderSource) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }

    /// A response header's values joined as a request header's are ([`header_into`]).
    pub(crate) fn header_into(&self, name: &str, out: &mut String) -> bool {
        header_into(self.headers, name, out)
    }
}

/// An owned [`AppResponse`].
#[derive(Clone, Debug, Default)]
pub struct OwnedAppResponse {
    /// The status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<Vec<u8>>,
}

impl OwnedAppResponse {
    /// The borrowed view.
    #[must_use]
    pub fn view(&self) -> AppResponse<'_> {
        AppResponse {
            status: self.status,
            headers: &self.headers,
            body: self.body.as_deref(),
        }
    }
}
