//! wsclient: a WebSocket client (RFC 6455) for C and every language with an
//! FFI, with the blocking, integer-handle API of WinCC OA's `webSocketOpen` /
//! `webSocketWrite` / `webSocketRead` / `webSocketClose`.
//!
//! Layering: `ffi` (exports, raw pointers) -> `guard` / `registry` /
//! `options` / `error` -> `conn` / `connect` / `handshake` / `tls` ->
//! `proto` (framing) / `transport` / `sys` (system calls). The C documentation
//! is in `ffi.rs` and, generated from it, `include/wsclient.h`.

mod conn;
mod connect;
mod error;
mod events;
pub mod ffi;
mod global;
mod guard;
mod handshake;
mod options;
mod pool;
mod proto;
mod reactor;
mod registry;
mod socket;
mod sys;
mod tls;
mod tls_config;
mod tls_verify;
mod transport;

pub use ffi::*;

/// Internal pieces exposed for the micro-benchmarks in `benches/` only; not a
/// stable Rust API (the product is the C API).
#[doc(hidden)]
pub mod internals {
    pub use crate::options::parse_options;
    pub use crate::proto::{encode_frame, Event, Reader};
}
