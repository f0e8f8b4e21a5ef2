//! The two zlib-rs streams the codecs drive (raw deflate, no zlib header),
//! through zlib's C API (`libz-rs-sys`: the same zlib-rs code flate2 uses)
//! because only that API lets the caller allocate the state.
//!
//! Why allocate it ourselves: a codec's state is one block of ~47 KiB
//! (inflate) or ~130-380 KiB (deflate), created when a connection starts
//! compressing and released when it has been idle (see deflate.rs). Through
//! malloc those blocks come from glibc's heaps once its dynamic mmap
//! threshold has risen past their size (it does so on the first free of a
//! mapped block), and a heap gives freed memory in its middle back to the
//! system only on malloc_trim: 2,000 connections that had exchanged
//! messages and then went idle still held 224 KiB each of free heap
//! (measured with mallinfo2 by examples-c/scale_bench.c), so releasing a
//! codec saved nothing in resident memory. Here every block is its own
//! anonymous mapping, unmapped when the stream ends: released state leaves
//! the process at once, whatever allocator the host runs. The cost, a
//! mapping and its page faults per codec created, is paid at most once per
//! idle period of a connection, never per message of a busy one.
//!
//! Elsewhere than on Unix the blocks come from zlib-rs's default allocator.
#![allow(unsafe_code)]

use libz_rs_sys as z;
use std::ffi::{c_int, c_uint, c_void, CStr};

/// What one call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub consumed: usize,
    pub produced: usize,
    /// The stream ended (inflate: a final block; deflate: never, as we
    /// never finish a stream).
    pub ended: bool,
}

/// Bytes of codec state mapped right now, process-wide (for the memory
/// tests and the benchmark's report).
#[cfg(unix)]
static MAPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(all(test, unix))]
thread_local! {
    /// Mapped minus unmapped on this thread (tests run in parallel threads).
    static HERE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// Mapped minus unmapped bytes on the calling thread (unit tests).
#[cfg(test)]
pub(super) fn mapped_here() -> isize {
    #[cfg(unix)]
    {
        HERE.with(|h| h.get())
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Bytes of codec state mapped right now (0 where the default allocator
/// is used).
pub fn mapped_bytes() -> usize {
    #[cfg(unix)]
    {
        MAPPED.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Room in front of every block for its length (64 keeps the 64-byte
/// alignment zlib-rs asks for, although it realigns blocks itself).
#[cfg(unix)]
const HEADER: usize = 64;

/// zlib's allocation callback: a fresh anonymous mapping (zero-filled, as
/// zlib-rs's own calloc path would give) holding its length in front.
///
/// # Safety
/// Called by zlib-rs only, with any `items`/`size`; never dereferences
/// `opaque`.
#[cfg(unix)]
unsafe extern "C" fn map_block(_opaque: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    let Some(len) = (items as usize).checked_mul(size as usize).and_then(|n| n.checked_add(HEADER)) else {
        return std::ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    // SAFETY: the mapping is `len` >= HEADER bytes, page aligned, writable.
    unsafe { p.cast::<usize>().write(len) };
    MAPPED.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
    #[cfg(test)]
    HERE.with(|h| h.set(h.get() + len as isize));
    // SAFETY: HEADER < len, so the result is inside the mapping.
    unsafe { p.cast::<u8>().add(HEADER).cast() }
}

/// zlib's free callback for [`map_block`]'s blocks.
///
/// # Safety
/// `ptr` is null or a pointer [`map_block`] returned and not freed since.
#[cfg(unix)]
unsafe extern "C" fn unmap_block(_opaque: *mut c_void, ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: per the contract, `ptr` is HEADER bytes into a mapping whose
    // first word is its length.
    unsafe {
        let base = ptr.cast::<u8>().sub(HEADER).cast::<c_void>();
        let len = base.cast::<usize>().read();
        MAPPED.fetch_sub(len, std::sync::atomic::Ordering::Relaxed);
        #[cfg(test)]
        HERE.with(|h| h.set(h.get() - len as isize));
        libc::munmap(base, len);
    }
}

/// A z_stream set up with our allocator. Boxed: zlib-rs's state points
/// back at its stream and checks that pointer on every call, so the stream
/// must not move.
fn new_stream() -> Box<z::z_stream> {
    #[allow(unused_mut)]
    let mut s = Box::<z::z_stream>::default();
    #[cfg(unix)]
    {
        s.zalloc = Some(map_block);
        s.zfree = Some(unmap_block);
    }
    s
}

/// Clamps a buffer length to what one zlib call takes.
fn avail(n: usize) -> c_uint {
    n.min(c_uint::MAX as usize) as c_uint
}

/// The stream's error text (zlib's `msg`), else the return code's.
fn message(s: &z::z_stream, code: c_int) -> String {
    if !s.msg.is_null() {
        // SAFETY: zlib-rs sets msg to a static NUL-terminated string.
        return unsafe { CStr::from_ptr(s.msg) }.to_string_lossy().into_owned();
    }
    // SAFETY: zError returns a static NUL-terminated string for any code.
    unsafe { CStr::from_ptr(z::zError(code)) }.to_string_lossy().into_owned()
}

fn version() -> *const std::ffi::c_char {
    z::zlibVersion()
}

const STREAM_SIZE: c_int = std::mem::size_of::<z::z_stream>() as c_int;

/// Runs `f` (deflate or inflate) over `input` into `out` and reports the
/// bytes it took and wrote.
fn run(
    s: &mut z::z_stream,
    input: &[u8],
    out: &mut [u8],
    f: impl FnOnce(&mut z::z_stream) -> c_int,
) -> (c_int, usize, usize) {
    let (n_in, n_out) = (avail(input.len()), avail(out.len()));
    s.next_in = input.as_ptr();
    s.avail_in = n_in;
    s.next_out = out.as_mut_ptr();
    s.avail_out = n_out;
    let r = f(s);
    let consumed = (n_in - s.avail_in) as usize;
    let produced = (n_out - s.avail_out) as usize;
    // no pointer into the caller's buffers outlives the call
    s.next_in = std::ptr::null();
    s.avail_in = 0;
    s.next_out = std::ptr::null_mut();
    s.avail_out = 0;
    (r, consumed, produced)
}

/// A raw-deflate compressor.
pub struct RawDeflate {
    s: Box<z::z_stream>,
}

// SAFETY: the stream is owned exclusively (all access goes through &mut
// self), points into no thread-local data, and its allocator callbacks are
// thread-safe (mmap/munmap, or zlib-rs's default allocator).
unsafe impl Send for RawDeflate {}

impl RawDeflate {
    /// `bits` 9..=15, `level` 0..=9, `mem_level` 1..=9.
    pub fn new(level: u8, bits: u8, mem_level: u8) -> Result<RawDeflate, String> {
        let mut s = new_stream();
        // SAFETY: `s` is a default-initialised stream with valid allocator
        // fields; version and size are this library's own.
        let r = unsafe {
            z::deflateInit2_(
                &mut *s,
                c_int::from(level),
                z::Z_DEFLATED,
                -c_int::from(bits),
                c_int::from(mem_level),
                z::Z_DEFAULT_STRATEGY,
                version(),
                STREAM_SIZE,
            )
        };
        if r != z::Z_OK {
            return Err(format!("creating the compressor failed: {}", message(&s, r)));
        }
        Ok(RawDeflate { s })
    }

    /// Compresses from `input` into `out`; `sync`: end with a sync flush
    /// (once all input is in and there is room).
    pub fn compress(&mut self, input: &[u8], out: &mut [u8], sync: bool) -> Result<Progress, String> {
        let flush = if sync { z::Z_SYNC_FLUSH } else { z::Z_NO_FLUSH };
        // SAFETY: the stream was initialised by deflateInit2_ and is not
        // ended; `run` points it at live buffers for this call only.
        let (r, consumed, produced) = run(&mut self.s, input, out, |s| unsafe { z::deflate(s, flush) });
        match r {
            // Z_BUF_ERROR: no progress was possible (e.g. a second sync
            // flush with no new input), not an error
            z::Z_OK | z::Z_STREAM_END | z::Z_BUF_ERROR => Ok(Progress { consumed, produced, ended: false }),
            _ => Err(message(&self.s, r)),
        }
    }

    /// Starts a new stream without context (keeps the allocation).
    pub fn reset(&mut self) {
        // SAFETY: an initialised, not ended stream.
        unsafe { z::deflateReset(&mut *self.s) };
    }
}

impl Drop for RawDeflate {
    fn drop(&mut self) {
        // SAFETY: initialised by deflateInit2_; ended exactly once.
        unsafe { z::deflateEnd(&mut *self.s) };
    }
}

/// A raw-inflate decompressor.
pub struct RawInflate {
    s: Box<z::z_stream>,
}

// SAFETY: as for RawDeflate.
unsafe impl Send for RawInflate {}

impl RawInflate {
    /// `bits` 9..=15.
    pub fn new(bits: u8) -> Result<RawInflate, String> {
        let mut s = new_stream();
        // SAFETY: as in RawDeflate::new.
        let r = unsafe { z::inflateInit2_(&mut *s, -c_int::from(bits), version(), STREAM_SIZE) };
        if r != z::Z_OK {
            return Err(format!("creating the decompressor failed: {}", message(&s, r)));
        }
        Ok(RawInflate { s })
    }

    /// Inflates from `input` into `out` with a sync flush (everything
    /// decodable so far is written). What the call took and wrote is
    /// reported also when the data turned out corrupt (the bytes before the
    /// bad data are valid output).
    pub fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> (Progress, Result<(), String>) {
        // SAFETY: the stream was initialised by inflateInit2_ and is not
        // ended; `run` points it at live buffers for this call only.
        let (r, consumed, produced) = run(&mut self.s, input, out, |s| unsafe { z::inflate(s, z::Z_SYNC_FLUSH) });
        let p = Progress { consumed, produced, ended: r == z::Z_STREAM_END };
        match r {
            z::Z_OK | z::Z_BUF_ERROR | z::Z_STREAM_END => (p, Ok(())),
            // a raw stream has no dictionary id: Z_NEED_DICT cannot happen,
            // and is reported like any other failure if it does
            _ => (p, Err(message(&self.s, r))),
        }
    }

    /// Starts a new stream (keeps the allocation, forgets the window).
    pub fn reset(&mut self) {
        // SAFETY: an initialised, not ended stream.
        unsafe { z::inflateReset(&mut *self.s) };
    }

    /// Primes the window with `dict` (the history of earlier messages).
    pub fn set_dictionary(&mut self, dict: &[u8]) -> Result<(), String> {
        // SAFETY: an initialised stream; `dict` is a live slice of the
        // given length (zlib-rs copies it).
        let r = unsafe { z::inflateSetDictionary(&mut *self.s, dict.as_ptr(), avail(dict.len())) };
        if r != z::Z_OK {
            return Err(message(&self.s, r));
        }
        Ok(())
    }
}

impl Drop for RawInflate {
    fn drop(&mut self) {
        // SAFETY: initialised by inflateInit2_; ended exactly once.
        unsafe { z::inflateEnd(&mut *self.s) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_block_is_unmapped() {
        let here = mapped_here;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 ^ (i / 977) as u8).collect();
        let mut d = RawDeflate::new(6, 15, 8).unwrap();
        let mut inf = RawInflate::new(15).unwrap();
        #[cfg(unix)]
        assert!(here() > 300 << 10, "both states are mapped: {}", here());
        let mut packed = vec![0u8; data.len() + 1024];
        let p = d.compress(&data, &mut packed, true).unwrap();
        assert_eq!(p.consumed, data.len());
        packed.truncate(p.produced);
        let mut out = vec![0u8; data.len()];
        let (q, r) = inf.decompress(&packed, &mut out);
        r.unwrap();
        assert_eq!((q.consumed, q.produced), (packed.len(), data.len()));
        assert_eq!(out, data);
        drop(d);
        drop(inf);
        #[cfg(unix)]
        assert_eq!(here(), 0, "every mapping was unmapped");
    }

    #[test]
    fn corrupt_input_reports_zlibs_reason() {
        let mut inf = RawInflate::new(15).unwrap();
        let mut out = [0u8; 64];
        // block type 3 is reserved
        let e = inf.decompress(&[0xff, 0xff, 0xff], &mut out).1.unwrap_err();
        assert_eq!(e, "invalid block type");
    }
}
