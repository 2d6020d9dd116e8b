//! End-to-end tests of the authz workspace live in `tests/`.
