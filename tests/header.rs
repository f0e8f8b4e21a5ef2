//! The committed C header must be exactly what cbindgen generates from
//! src/ffi/. Regenerate: WSCLIENT_UPDATE_HEADER=1 cargo test --test header

use std::path::PathBuf;

#[test]
fn header_matches_cbindgen_output() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    let generated = String::from_utf8(out).unwrap();
    let path = root.join("include/wsclient.h");
    if std::env::var_os("WSCLIENT_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/wsclient.h is out of date: regenerate with WSCLIENT_UPDATE_HEADER=1 cargo test --test header"
    );
}
