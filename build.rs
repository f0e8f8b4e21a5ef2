//! Gives the shared library an SONAME, so that programs linked against it
//! record the library's name rather than the path it was linked from.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwsclient.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
