//! The behaviour tests, one module per behaviour, built as one crate (one
//! link step, not fifty). Helpers are in `tests/util/`. What must be alone
//! in its process keeps a binary of its own beside this one: the attacks
//! and the soak (long, and they measure a process), descriptor exhaustion
//! (exhausts this process's descriptors), the silent peers (network
//! namespaces), the allocation count (a global allocator) and the ping
//! flood (this process's resident memory).

#[path = "../util/mod.rs"]
mod util;

mod abandoned;
mod async_handles;
mod async_worker;
mod bad_clients;
mod bodies;
mod broker_engines;
mod chunk_wraparound;
#[cfg(feature = "redis")]
mod cluster_demo;
mod conformance;
mod connection_close;
mod connection_states;
mod delivery;
mod demo;
mod demo_ack;
mod demo_page;
mod demo_streams;
mod demo_tls;
mod demo_websocket;
mod disconnect;
mod exchange_deadline;
mod feed_engines;
mod group_engines;
mod half_close;
mod handler_factory;
mod header_injection;
mod keep_alive;
mod lifecycle;
mod limits;
mod long_poll;
mod memory_budget;
mod metrics;
mod never_timeouts;
mod nothing_lost;
mod panics;
mod pipelining;
mod reactor_health;
mod reactor_thread_sends;
mod reactors;
mod route_metrics;
mod routing;
mod service;
mod shutdown;
mod slow_body;
mod stale_handle;
mod statuses;
mod streaming;
mod tcp_keepalive;
mod timeouts;
mod tls;
mod unanswered;
mod upgrade_state;
mod upload;
mod websocket;
mod workers_with;
mod ws_backpressure;
mod ws_broadcast;
mod ws_events_bounded;
mod ws_liveness;
