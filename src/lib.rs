//! wsclient: a WebSocket client (RFC 6455) for C and every language with an
//! FFI, with the blocking, integer-handle API of WinCC OA's `webSocketOpen` /
//! `webSocketWrite` / `webSocketRead` / `webSocketClose`.
//!
//! Layering: `ffi` (exports, raw pointers) -> `guard` / `registry` /
//! `options` / `error` -> `conn` / `connect` / `handshake` / `tls` ->
//! `proto` (framing) / `transport` / `sys` (system calls). The C documentation
//! is in `ffi/` and, generated from it, `include/wsclient.h`.

mod conn;
mod connect;
mod deflate;
mod dial;
mod error;
mod events;
pub mod ffi;
mod fuzzing;
mod global;
mod guard;
mod handshake;
mod options;
mod pool;
mod proto;
mod proxy;
mod reactor;
mod redirect;
mod registry;
mod resolve;
mod socket;
mod sys;
mod testhooks;
mod tls;
mod transport;

pub use ffi::*;

/// Internal pieces exposed for the micro-benchmarks in `benches/`, the fuzz
/// targets in `fuzz/` and their corpus replay (`tests/fuzz_corpus.rs`) only;
/// not a stable Rust API (the product is the C API).
#[doc(hidden)]
pub mod internals {
    pub use crate::options::parse_options;
    pub use crate::proto::{encode_frame, Event, Reader};
    pub use crate::resolve::{lookups_started, set_test_host};

    /// What the permessage-deflate codecs of socket `sock`'s current
    /// connection hold: (a compressor is held, bytes the decompressor holds:
    /// its ~47 KiB state while live plus the history context takeover
    /// keeps). None: no such socket or no connection now.
    pub fn codec_memory(sock: i32) -> Option<(bool, usize)> {
        match crate::registry::conn_or_socket(sock) {
            Ok(Ok(conn)) => Some(conn.codec_memory()),
            _ => None,
        }
    }

    /// Bytes of permessage-deflate codec state mapped from the system right
    /// now, process-wide (each codec's state is its own mapping, unmapped
    /// when the codec is released; see `src/deflate/zstream.rs`).
    pub fn codec_mapped_bytes() -> usize {
        crate::deflate::mapped_bytes()
    }

    /// Pause points for tests that force an interleaving (see
    /// `src/testhooks.rs`).
    pub mod hooks {
        pub use crate::testhooks::{clear, set, Point};
    }

    /// The fuzz harnesses: arbitrary bytes in, invariants checked (a broken
    /// one panics). See `src/fuzzing.rs`.
    pub mod fuzz {
        pub use crate::fuzzing::{frame_reader, options, pem, upgrade_response, url};
    }
}
