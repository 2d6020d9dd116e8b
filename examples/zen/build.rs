//! Finds the tools the example's tests need (see `tests/build/probe.rs`).

include!("../../tests/build/probe.rs");

fn main() {
    probe_setup();
    println!("cargo::rerun-if-changed=../../tests/build/probe.rs");
    watch_python();
    probe_python(
        "jwt, cryptography, requests",
        "authz_pyjwt",
        "AUTHZ_REQUIRE_PYJWT",
    );
}
