//! Gives the shared library a versioned SONAME, `libwsclient.so.<major>`
//! (the major number of the package version in Cargo.toml), so that
//! programs linked against it record that name rather than the path they
//! were linked from, and a future incompatible release can be installed
//! next to this one.
//!
//! cargo itself writes the library as `libwsclient.so`. So that a program
//! linked straight against cargo's output (`-L target/release -lwsclient`)
//! finds `libwsclient.so.<major>` at run time, a symbolic link of that name
//! to `libwsclient.so` is made in the output directory (best effort: it is
//! a convenience for builds without CMake; CMake builds make it too, and
//! `cmake --install` installs the real file under its versioned name).
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        let soname = format!("libwsclient.so.{major}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
        link_next_to_library(&soname);
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// OUT_DIR is `<target>/<profile>/build/wsclient-<hash>/out`; the library
/// lands in `<target>/<profile>`.
#[cfg(unix)]
fn link_next_to_library(soname: &str) {
    let Some(out) = std::env::var_os("OUT_DIR") else { return };
    let out = std::path::PathBuf::from(out);
    let Some(build) = out.parent().and_then(|p| p.parent()) else { return };
    if build.file_name().is_none_or(|n| n != "build") {
        return; // not the layout described above: leave it alone
    }
    let Some(profile_dir) = build.parent() else { return };
    let link = profile_dir.join(soname);
    if std::fs::symlink_metadata(&link).is_err() {
        let _ = std::os::unix::fs::symlink("libwsclient.so", &link);
    }
}

#[cfg(not(unix))]
fn link_next_to_library(_soname: &str) {}
