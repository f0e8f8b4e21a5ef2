//! The byte stream under a connection: plain TCP or TLS over TCP (the TLS
//! backend's stream, `tls::Stream`: OpenSSL's on Linux, native-tls's on the
//! portable path), with non-blocking attempts and deadline-bounded waits
//! built from them.
#![deny(unsafe_code)]

use crate::sys;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

pub enum Transport {
    /// The socket stays in blocking mode; every non-blocking attempt passes
    /// MSG_DONTWAIT, so that a reader without a deadline sleeps in recv(2).
    Plain(TcpStream),
    /// The socket is in non-blocking mode (OpenSSL needs it for retries).
    Tls(Box<crate::tls::Stream>),
    /// TLS to the server inside TLS to an https:// proxy (non-blocking).
    TlsInTls(Box<crate::tls::StreamOver<ProxyTls>>),
}

/// The TLS connection to an https:// proxy as the byte stream under the
/// server's TLS: reads and writes go through the proxy's TLS; readiness is
/// the TCP socket's (a read that would block has drained both layers).
pub struct ProxyTls(pub Box<crate::tls::Stream>);

impl Read for ProxyTls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for ProxyTls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl AsRawFd for ProxyTls {
    fn as_raw_fd(&self) -> RawFd {
        self.0.get_ref().as_raw_fd()
    }
}

impl Transport {
    pub fn fd(&self) -> RawFd {
        match self {
            Transport::Plain(s) => s.as_raw_fd(),
            Transport::Tls(s) => s.get_ref().as_raw_fd(),
            Transport::TlsInTls(s) => s.get_ref().as_raw_fd(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_) | Transport::TlsInTls(_))
    }

    /// Bytes received and decrypted but not yet read (TLS), which neither
    /// epoll nor the parser can see.
    pub fn buffered(&self) -> usize {
        match self {
            Transport::Plain(_) => 0,
            Transport::Tls(s) => crate::tls::pending(s),
            Transport::TlsInTls(s) => crate::tls::pending(s) + crate::tls::pending(&s.get_ref().0),
        }
    }

    /// One read attempt that does not block: WouldBlock when nothing is there.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => sys::recv(s.as_raw_fd(), buf, true),
            Transport::Tls(s) => s.read(buf),
            Transport::TlsInTls(s) => s.read(buf),
        }
    }

    /// One write attempt that does not block.
    pub fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => sys::send_nb(s.as_raw_fd(), buf),
            Transport::Tls(s) => s.write(buf),
            Transport::TlsInTls(s) => s.write(buf),
        }
    }

    /// Writes all of `buf` before `deadline` (connection set-up only).
    pub fn write_all_until(&mut self, mut buf: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        while !buf.is_empty() {
            match self.try_write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if sys::poll_fd(self.fd(), sys::POLLOUT, deadline)? == 0 {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads some bytes before `deadline` (connection set-up only), spinning
    /// `busy_poll` first (`sys::spin`); 0 = EOF.
    pub fn read_until(&mut self, buf: &mut [u8], deadline: Option<Instant>, busy_poll: Duration) -> io::Result<usize> {
        if let Some(r) = sys::spin(busy_poll, deadline, || self.try_read(buf)) {
            return r;
        }
        if let (Transport::Plain(s), None) = (&*self, deadline) {
            return sys::recv(s.as_raw_fd(), buf, false);
        }
        loop {
            match self.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if sys::poll_fd(self.fd(), sys::POLLIN, deadline)? == 0 {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                r => return r,
            }
        }
    }

    /// Best-effort TLS close_notify; nothing to do for plain TCP.
    pub fn tls_shutdown(&mut self) {
        match self {
            Transport::Tls(s) => {
                let _ = s.shutdown();
            }
            Transport::TlsInTls(s) => {
                let _ = s.shutdown();
                let _ = s.get_mut().0.shutdown();
            }
            Transport::Plain(_) => {}
        }
    }
}
