//! Nothing here: the demo is the example `demo` (examples/demo/main.rs).
