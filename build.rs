fn main() {
    gst_plugin_version_helper::info();
    // Where the plugin looks for ONNX Runtime when neither the ort-library property nor
    // ORT_DYLIB_PATH says: IMSM_ORT_DYLIB at build time, else the copy scripts/setup.sh
    // installs into the source tree.
    println!("cargo:rerun-if-env-changed=IMSM_ORT_DYLIB");
    let default = std::env::var("IMSM_ORT_DYLIB").unwrap_or_else(|_| {
        format!("{}/.ort/libonnxruntime.so.1.31.1", env!("CARGO_MANIFEST_DIR"))
    });
    println!("cargo:rustc-env=IMSM_ORT_DYLIB_DEFAULT={default}");
}
