//! The worker-side handles: what application threads hold while the reactor
//! owns the connection, and nothing else. Each shares one small cell with
//! the reactor and reaches it only through the reactor's command queue
//! (`crate::channel::notifier`), through their [`context`].
//!
//! - [`exchange`]: a handed-off request and the means to answer it.
//! - [`exchange_shared`]: the cell an exchange shares with its connection.
//! - [`delivery`]: the verdict on a sent response, to learn later.
//! - [`recycle`]: requests and cells returned to the reactor for reuse.
//! - [`stream`]: a streaming response's producer end and queue.
//! - [`parts`]: the byte-budgeted part queue under streams and WebSockets.
//! - [`cell`]: the one shared-cell shape all of them are built on.
//! - [`closure`]: the close reason and watchers every handle shares.
//! - [`context`]: what every handle of one reactor shares.
//! - [`shutdown`]: the server's shutdown signal, for workers to watch.
//! - [`upload`]: a request body streamed to the worker as it arrives.

pub(crate) mod cell;
pub(crate) mod closure;
pub(crate) mod context;
pub(crate) mod delivery;
pub(crate) mod exchange;
pub(crate) mod exchange_shared;
pub(crate) mod parts;
pub(crate) mod recycle;
pub(crate) mod shutdown;
pub(crate) mod stream;
pub(crate) mod upload;
