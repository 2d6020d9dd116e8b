//! Finds the services and tools the end-to-end tests need (see `build/probe.rs`).

include!("build/probe.rs");

fn main() {
    probe_setup();
    println!("cargo::rerun-if-changed=build/probe.rs");
    probe_service("AUTHZ_TEST_POSTGRES_URL", "authz_postgres");
    probe_service("AUTHZ_TEST_REDIS_URL", "authz_redis");
    probe_program("redis-server", "authz_redis_server");
    watch_python();
    probe_python("jwt, cryptography", "authz_pyjwt", "AUTHZ_REQUIRE_PYJWT");
}
