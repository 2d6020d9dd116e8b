//! The `#[require_auth(...)]` attribute for [authz](https://docs.rs/authz-axum).
//!
//! Not yet implemented: this crate is laid out in the workspace and gains the macro in the
//! AuthLayer/macro issue. Depend on `authz-axum`, which will re-export it.
