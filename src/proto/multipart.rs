//! `multipart/x-mixed-replace` encoding, for MJPEG and other "replace the
//! previous part" streams.

use std::io::Write as _;

use super::response::Response;

/// Encodes parts of a `multipart/x-mixed-replace` body. Each part is one
/// buffer, so a stream in [`Backlog::KeepNewest`](crate::Backlog::KeepNewest)
/// mode replaces whole parts, never a torn one.
///
/// ```
/// let mjpeg = tether::Multipart::new("frame").unwrap();
/// let head = mjpeg.head(200);
/// assert_eq!(
///     head.header("content-type"),
///     Some(&b"multipart/x-mixed-replace; boundary=frame"[..])
/// );
/// let part = mjpeg.part("image/jpeg", b"JPEG");
/// assert_eq!(
///     part,
///     b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\nJPEG\r\n"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Multipart {
    boundary: String,
}

impl Multipart {
    /// A writer with `boundary`: 1 to 70 characters from RFC 2046's safe
    /// set (letters, digits, `'()+_,-./:=?`). `None` otherwise.
    pub fn new(boundary: &str) -> Option<Multipart> {
        let safe = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=?".contains(c);
        if boundary.is_empty() || boundary.len() > 70 || !boundary.chars().all(safe) {
            return None;
        }
        Some(Multipart {
            boundary: boundary.to_string(),
        })
    }

    /// The boundary.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// A response head announcing the stream (no caching).
    pub fn head(&self, status: u16) -> Response {
        Response::new(status)
            .with_header(
                "Content-Type",
                format!("multipart/x-mixed-replace; boundary={}", self.boundary).into_bytes(),
            )
            .with_header("Cache-Control", "no-cache, no-store")
    }

    /// One whole part: boundary, `Content-Type`, exact `Content-Length`, body.
    pub fn part(&self, content_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(body.len() + self.boundary.len() + content_type.len() + 64);
        let _ = write!(
            out,
            "--{}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            self.boundary,
            content_type.trim(),
            body.len()
        );
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The closing delimiter, sent before finishing the stream.
    pub fn end(&self) -> Vec<u8> {
        format!("--{}--\r\n", self.boundary).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_boundaries_are_refused() {
        for bad in ["", "has space", "semi;colon", &"x".repeat(71), "new\nline"] {
            assert!(Multipart::new(bad).is_none(), "{bad:?}");
        }
        assert!(Multipart::new("tether-frame_01").is_some());
    }

    #[test]
    fn the_end_delimiter_closes_the_body() {
        assert_eq!(Multipart::new("b").unwrap().end(), b"--b--\r\n");
    }
}
