//! Controllers: what the API does, independent of HTTP.

pub mod apiv1;
