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
mod transport;

pub use ffi::*;
