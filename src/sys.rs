//! The few system calls std does not offer: poll(2) on one descriptor and
//! send/recv with per-call flags. This is the only module besides `ffi/`
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
        let mut p = libc::pollfd { fd, events, revents: 0 };
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
        let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
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

/// One blocking recv(2) that returns EINTR to the caller, so that a signal
/// lets it look at its deadline again (SO_RCVTIMEO restarts at every call).
pub fn recv_once(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid writable slice for buf.len() bytes.
    let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if r >= 0 {
        return Ok(r as usize);
    }
    Err(io::Error::last_os_error())
}

/// One recvmsg(2) into two buffers in order (`a` fills first, then `b`),
/// so one call takes the rest of a frame and what follows it. EINTR is
/// returned to the caller, as by [`recv_once`]; `nonblocking` adds
/// MSG_DONTWAIT.
pub fn recv2(fd: RawFd, a: &mut [u8], b: &mut [u8], nonblocking: bool) -> io::Result<usize> {
    let mut iov = [
        libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: a.len() },
        libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() },
    ];
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    // SAFETY: msg points at two iovecs that describe the writable slices
    // `a` and `b`, all of which outlive the call.
    let r = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    if r >= 0 {
        return Ok(r as usize);
    }
    Err(io::Error::last_os_error())
}

/// Busy polling (the `busyPoll` option): repeats the non-blocking attempt `f`
/// until it gives anything but WouldBlock, `budget` has passed or `deadline`
/// has come. None when nothing came; the caller then sleeps as usual. Spinning
/// keeps the thread on its CPU, so data that arrives within the budget is
/// picked up without a sleep/wake-up round (tens of microseconds on a virtual
/// machine), at the price of that CPU time. Between attempts the thread
/// yields (sched_yield), so a peer that shares the CPU, e.g. a local server,
/// runs first instead of being held up by the spin.
pub fn spin<T>(
    budget: Duration,
    deadline: Option<Instant>,
    mut f: impl FnMut() -> io::Result<T>,
) -> Option<io::Result<T>> {
    if budget.is_zero() {
        return None;
    }
    let start = Instant::now();
    let end = deadline.map_or(start + budget, |d| d.min(start + budget));
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            r => return Some(r),
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::yield_now();
    }
}

/// SO_RCVTIMEO: a blocking recv(2) on `fd` gives up after `d` (EAGAIN).
pub fn set_rcvtimeo(fd: RawFd, d: Duration) -> io::Result<()> {
    socket2::SockRef::from(&borrow(fd)).set_read_timeout(Some(d.max(Duration::from_micros(1))))
}

/// shutdown(2) both directions: wakes every thread blocked on the socket.
/// Errors (ENOTCONN: already down) are harmless.
pub fn shutdown(fd: RawFd) {
    let _ = socket2::SockRef::from(&borrow(fd)).shutdown(std::net::Shutdown::Both);
}

/// Time left until `deadline`, None for no deadline.
pub fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The background thread's readiness wait on every socket, on the
/// `polling` crate (epoll on Linux, kqueue on the BSDs and macOS, IOCP on
/// Windows), in one-shot mode: a socket reports once and is watched again
/// only when re-armed. Keys are connection tokens.
pub struct Poller {
    p: polling::Poller,
}

/// The waiting thread's buffer for `Poller::wait`.
pub struct PollEvents(polling::Events);

impl PollEvents {
    pub fn new() -> PollEvents {
        PollEvents(polling::Events::new())
    }
}

/// What a socket reported.
#[derive(Clone, Copy)]
pub struct Ready {
    pub key: u64,
    pub writable: bool,
}

fn borrow(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: every caller passes the descriptor of a live connection that
    // it holds for the duration of the call (the Poller never keeps it).
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        Ok(Poller { p: polling::Poller::new()? })
    }

    fn interest(key: u64, writable: bool) -> polling::Event {
        polling::Event::new(key as usize, true, writable)
    }

    /// Starts watching `fd` (readable, and writable when asked).
    pub fn add(&self, fd: RawFd, key: u64, writable: bool) -> io::Result<()> {
        // SAFETY: the descriptor stays open until `delete` (reactor.rs
        // deregisters a connection before it can be closed).
        unsafe { self.p.add(fd, Self::interest(key, writable)) }
    }

    /// Re-arms `fd` (one-shot mode).
    pub fn modify(&self, fd: RawFd, key: u64, writable: bool) -> io::Result<()> {
        self.p.modify(borrow(fd), Self::interest(key, writable))
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.p.delete(borrow(fd))
    }

    /// Wakes a `wait` in progress (or the next one).
    pub fn notify(&self) -> io::Result<()> {
        self.p.notify()
    }

    /// Waits until a socket is ready, `notify`, or `deadline`; fills `out`.
    /// Other threads may add, modify, delete and notify meanwhile.
    pub fn wait(&self, buf: &mut PollEvents, out: &mut Vec<Ready>, deadline: Option<Instant>) -> io::Result<()> {
        buf.0.clear();
        out.clear();
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.p.wait(&mut buf.0, timeout)?;
        out.extend(buf.0.iter().map(|e| Ready { key: e.key as u64, writable: e.writable }));
        Ok(())
    }
}

/// Monotonic microseconds since the first call in this process (event
/// timestamps, keepalive bookkeeping in atomics).
pub fn now_us() -> u64 {
    static START: once_cell::sync::Lazy<Instant> = once_cell::sync::Lazy::new(Instant::now);
    START.elapsed().as_micros() as u64
}

/// A new reference to an `Arc` published with `Arc::into_raw` (see
/// `global.rs`): `p` came from `Arc::into_raw` and its published reference
/// is still held, so the count is at least one.
pub fn arc_clone_raw<T>(p: *const T) -> std::sync::Arc<T> {
    // SAFETY: per the contract above, `p` points to a live Arc allocation.
    unsafe {
        std::sync::Arc::increment_strong_count(p);
        std::sync::Arc::from_raw(p)
    }
}

/// Takes back the reference published with `Arc::into_raw` (once).
pub fn arc_from_raw<T>(p: *const T) -> std::sync::Arc<T> {
    // SAFETY: `p` came from `Arc::into_raw` and the caller unpublished it, so
    // this reference is reclaimed exactly once.
    unsafe { std::sync::Arc::from_raw(p) }
}

/// Registers `f` to run in the child after every fork() (pthread_atfork).
pub fn at_fork_child(f: extern "C" fn()) {
    // SAFETY: registers a plain function pointer; no prepare/parent handlers.
    unsafe {
        libc::pthread_atfork(None, None, Some(f));
    }
}

/// Waits until one of `fds` is ready for `events` or `deadline` passes
/// (None: no limit), like `poll_fd` for several descriptors (Happy
/// Eyeballs' parallel connects). Fills `revents` (same length as `fds`);
/// returns how many are ready (0 on timeout).
pub fn poll_many(fds: &[RawFd], events: i16, deadline: Option<Instant>, revents: &mut Vec<i16>) -> io::Result<usize> {
    let mut set: Vec<libc::pollfd> = fds.iter().map(|&fd| libc::pollfd { fd, events, revents: 0 }).collect();
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let now = Instant::now();
                if d <= now {
                    0
                } else {
                    (d - now).as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
                }
            }
        };
        // SAFETY: `set` is a valid array of `set.len()` pollfds we own.
        let r = unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 && timeout_ms != 0 && deadline.is_some_and(|d| Instant::now() < d) {
            continue;
        }
        revents.clear();
        revents.extend(set.iter().map(|p| p.revents));
        return Ok(r as usize);
    }
}
