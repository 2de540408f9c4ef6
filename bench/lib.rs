//! Nothing here: the crate exists for its benchmarks (`benches/`) and the
//! hyper peer (`examples/hyper_hello.rs`), kept out of tether's own build.
