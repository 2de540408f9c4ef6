//! Conversions to and from the `http` crate's types (feature `http`), for
//! code that already speaks them: middleware, clients, tests.

use std::fmt;

use bytes::Bytes;

use super::request::{Request, Version};
use super::response::{IntoBytes, InvalidHeader, InvalidStatus, Response};

/// Why an `http::Response` could not become a [`Response`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FromHttpError {
    /// Not a final status tether sends (a 1xx).
    Status(InvalidStatus),
    /// A header tether refuses. `http` checks names and values as strictly
    /// today; this keeps tether's own check in force should it ever not.
    Header(InvalidHeader),
}

impl fmt::Display for FromHttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromHttpError::Status(err) => err.fmt(f),
            FromHttpError::Header(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for FromHttpError {}

impl Request {
    /// The head as `http` request parts: method, target (as the URI),
    /// version and headers. Fails only where `http` is stricter than the
    /// parser that accepted the request.
    ///
    /// ```
    /// # fn main() -> Result<(), http::Error> {
    /// let parts = tether::Request::default().to_http_parts();
    /// assert!(parts.is_err(), "an empty request has no method");
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_http_parts(&self) -> Result<http::request::Parts, http::Error> {
        let mut builder = http::Request::builder()
            .method(self.method())
            .uri(self.target())
            .version(match self.version() {
                Version::Http10 => http::Version::HTTP_10,
                Version::Http11 => http::Version::HTTP_11,
            });
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        Ok(builder.body(())?.into_parts().0)
    }

    /// The whole request as an `http::Request`, the body copied.
    pub fn to_http(&self) -> Result<http::Request<Bytes>, http::Error> {
        let parts = self.to_http_parts()?;
        Ok(http::Request::from_parts(
            parts,
            Bytes::copy_from_slice(self.body()),
        ))
    }
}

impl Response {
    /// This response as an `http::Response`, the body copied.
    pub fn to_http(&self) -> Result<http::Response<Bytes>, http::Error> {
        let mut builder = http::Response::builder().status(self.status());
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        builder.body(Bytes::copy_from_slice(self.body()))
    }
}

impl<B: IntoBytes> TryFrom<http::Response<B>> for Response {
    type Error = FromHttpError;

    /// Status, headers and body, each checked as tether checks its own.
    fn try_from(response: http::Response<B>) -> Result<Self, Self::Error> {
        let (parts, body) = response.into_parts();
        let mut out = Response::try_new(parts.status.as_u16()).map_err(FromHttpError::Status)?;
        for (name, value) in &parts.headers {
            let value = value.as_bytes().to_vec();
            out = out
                .try_with_header(name.as_str().to_owned(), value)
                .map_err(FromHttpError::Header)?;
        }
        Ok(out.with_body(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse::parse_head;

    #[test]
    fn a_parsed_request_becomes_http_parts() {
        let raw =
            b"POST /jobs?x=1 HTTP/1.0\r\nHost: a\r\nX-Trace: t1\r\nContent-Length: 2\r\n\r\nhi";
        let mut req = Request::default();
        let (used, _) = parse_head(raw, 16, &mut req).unwrap().unwrap();
        req.body = raw[used..].to_vec();
        let http = req.to_http().unwrap();
        assert_eq!(http.method(), http::Method::POST);
        assert_eq!(http.uri().path(), "/jobs");
        assert_eq!(http.uri().query(), Some("x=1"));
        assert_eq!(http.version(), http::Version::HTTP_10);
        assert_eq!(http.headers()["x-trace"], "t1");
        assert_eq!(http.body().as_ref(), b"hi");
    }

    #[test]
    fn responses_go_both_ways_and_bad_ones_are_refused() {
        let ours = Response::text(201, "made").with_header("Location", "/jobs/1");
        let theirs = ours.to_http().unwrap();
        assert_eq!(theirs.status(), http::StatusCode::CREATED);
        assert_eq!(theirs.headers()["location"], "/jobs/1");
        let back = Response::try_from(theirs.map(Vec::from)).unwrap();
        assert_eq!(back.status(), 201);
        assert_eq!(back.header("location"), Some(&b"/jobs/1"[..]));
        assert_eq!(back.body(), b"made");

        let informational = http::Response::builder().status(103).body(Vec::new());
        let refused = Response::try_from(informational.unwrap());
        assert_eq!(
            refused.unwrap_err(),
            FromHttpError::Status(InvalidStatus(103))
        );
    }
}
