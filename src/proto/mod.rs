//! Pure HTTP/1.1 protocol code: parsing heads, decoding bodies, encoding
//! responses, and the SSE and multipart formats. No sockets, no threads, no
//! shared state: everything here is a function of its input, and is unit
//! tested as such.

pub(crate) mod body;
pub(crate) mod encode;
#[cfg(feature = "http")]
pub(crate) mod http_interop;
pub(crate) mod multipart;
pub(crate) mod parse;
#[cfg(test)]
mod props;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod sse;
