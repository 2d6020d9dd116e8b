//! Finds the services and tools the example's tests need (see `tests/build/probe.rs`).

include!("../../tests/build/probe.rs");

fn main() {
    probe_setup();
    println!("cargo::rerun-if-changed=../../tests/build/probe.rs");
    probe_service("AUTHZ_TEST_POSTGRES_URL", "authz_postgres");
    probe_service("AUTHZ_TEST_REDIS_URL", "authz_redis");
    watch_python();
    probe_python("requests", "authz_py_requests", "AUTHZ_REQUIRE_PYJWT");
    probe_faults();
    probe_browser();
}
