//! Resources: the HTTP endpoints.

pub mod apiv1;
