//! Compile errors of `#[require_auth]`, checked against their `.stderr` files
//! (regenerate with `TRYBUILD=overwrite cargo test -p authz-macros --test ui`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
