//! Gives the shared library its SONAME, so that programs linked against
//! `libsweepwatch.so` load `libsweepwatch.so.0` at run time and a future
//! incompatible ABI can be installed beside it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // ELF platforms; Mach-O and PE name their libraries differently.
    if matches!(
        os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "illumos"
            | "solaris"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsweepwatch.so.0");
    }
}
