//! The HTTP benchmark's server lives in `src/bin/bench-server.rs`; `bench/http.sh` runs it.
