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
    let d = d.max(Duration::from_micros(1));
    let tv = libc::timeval {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: passes a valid timeval and its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// An epoll instance (the background thread's wait on every socket).
pub struct Epoll {
    fd: RawFd,
}

pub const EP_IN: u32 = libc::EPOLLIN as u32;
pub const EP_OUT: u32 = libc::EPOLLOUT as u32;
pub const EP_ONESHOT: u32 = libc::EPOLLONESHOT as u32;
pub const EP_RDHUP: u32 = libc::EPOLLRDHUP as u32;

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; the descriptor is owned by the returned value.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event on our stack; fd validity is the
        // caller's (a live connection's socket); errors are returned.
        let r = unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits for events; returns (token, events) pairs in `out`.
    pub fn wait(&self, out: &mut Vec<(u64, u32)>, deadline: Option<Instant>) -> io::Result<()> {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
            }
        };
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 256];
        // SAFETY: `evs` is a valid array of 256 epoll_events.
        let n = unsafe { libc::epoll_wait(self.fd, evs.as_mut_ptr(), evs.len() as libc::c_int, timeout_ms) };
        out.clear();
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        for ev in &evs[..n as usize] {
            let (t, e) = (ev.u64, ev.events);
            out.push((t, e));
        }
        Ok(())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// An eventfd used to wake the background thread.
pub struct EventFd {
    fd: RawFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the descriptor is owned by the returned value.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EventFd { fd })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64; EAGAIN (counter full) is fine.
        unsafe {
            libc::write(self.fd, (&one as *const u64).cast(), 8);
        }
    }

    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64; EAGAIN when not signalled.
        unsafe {
            libc::read(self.fd, (&mut v as *mut u64).cast(), 8);
        }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe {
            libc::close(self.fd);
        }
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
