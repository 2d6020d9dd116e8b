//! Finds the tools the CLI's tests need (see `tests/build/probe.rs`): PyJWT, for the tests
//! that check `authz` tokens in PyJWT and PyJWT tokens in `authz`.

include!("../../tests/build/probe.rs");

fn main() {
    probe_setup();
    println!("cargo::rerun-if-changed=../../tests/build/probe.rs");
    watch_python();
    probe_python("jwt, cryptography", "authz_pyjwt", "AUTHZ_REQUIRE_PYJWT");
}
