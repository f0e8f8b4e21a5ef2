//! The few system calls std does not offer: poll(2) on one descriptor and
//! send/recv with per-call flags. This is the only module besides `ffi.rs`
//! with `unsafe` code; each block is a plain libc call on a descriptor the
//! caller owns and a buffer it borrows.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

pub const POLLIN: i16 = libc::POLLIN;
pub const POLLOUT: i16 = libc::POLLOUT;

/// Waits until `fd` is ready for `events` or `deadline` passes (None: no
/// limit). Returns the revents (0 on timeout). POLLERR/POLLHUP count as ready
/// so that the following read or write reports the condition.
pub fn poll_fd(fd: RawFd, events: i16, deadline: Option<Instant>) -> io::Result<i16> {
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let now = Instant::now();
                if d <= now {
                    0
                } else {
                    // round up so that we never wake before the deadline and spin
                    let left = d - now;
                    let ms = left.as_micros().div_ceil(1000);
                    ms.min(i32::MAX as u128) as libc::c_int
                }
            }
        };
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: `p` is a valid pollfd on our stack and we pass a count of 1.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            if timeout_ms != 0 && deadline.is_some_and(|d| Instant::now() < d) {
                continue; // woke early (rounding); wait out the rest
            }
            return Ok(0);
        }
        return Ok(p.revents);
    }
}

/// Non-blocking send that never raises SIGPIPE in the host process.
pub fn send_nb(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a valid readable slice for buf.len() bytes.
        let r = unsafe {
            libc::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// recv(2); `nonblocking` adds MSG_DONTWAIT (the socket itself stays blocking
/// so that a reader with no deadline can sleep in the kernel).
pub fn recv(fd: RawFd, buf: &mut [u8], nonblocking: bool) -> io::Result<usize> {
    let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    loop {
        // SAFETY: buf is a valid writable slice for buf.len() bytes.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// shutdown(2) both directions: wakes every thread blocked on the socket.
pub fn shutdown(fd: RawFd) {
    // SAFETY: plain syscall on a descriptor owned by the connection, which is
    // alive for as long as the caller holds it; errors (ENOTCONN) are harmless.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Time left until `deadline`, None for no deadline.
pub fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}
