//! The one boundary helper every export runs its body in: clears the thread's
//! last error, catches panics (none may cross the ABI), and maps errors to the
//! C return values while recording code and message.
#![deny(unsafe_code)]

use crate::error::{self, Code, Error, Result};
use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

pub(crate) const RET_ERROR: c_int = -1;
pub(crate) const RET_TIMEOUT: c_int = -2;

fn panic_error(p: Box<dyn std::any::Any + Send>) -> Error {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::new(Code::Internal, format!("internal error: {what}"))
}

/// Runs an export returning an int: errors become -1 (-2 for timeouts).
pub fn call(f: impl FnOnce() -> Result<c_int>) -> c_int {
    error::clear_last();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            error::set_last(&e);
            if e.is_timeout() {
                RET_TIMEOUT
            } else {
                RET_ERROR
            }
        }
        Err(p) => {
            error::set_last(&panic_error(p));
            RET_ERROR
        }
    }
}

/// Runs an export returning a string: errors become NULL.
pub fn call_str(f: impl FnOnce() -> Result<*const c_char>) -> *const c_char {
    error::clear_last();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            error::set_last(&e);
            ptr::null()
        }
        Err(p) => {
            error::set_last(&panic_error(p));
            ptr::null()
        }
    }
}
