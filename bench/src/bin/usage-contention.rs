//! Quota and usage state under two worker threads against one (issue 14, item 7): each
//! operation is what the usage layer does per request — one `QuotaLimiter::check` and one
//! `UsageMeter::record` — for 1 000 distinct callers, on `THREADS` OS threads at once.
//!
//! Two variants of the same code: *one lock* (a limiter and a meter small enough to keep a
//! single shard, as every request took one global mutex before) and *sharded* (the defaults:
//! up to 16 shards). Prints operations per second; run by `bench/usage-contention.sh`.

use std::sync::Arc;
use std::time::Instant;

use authz_core::usage::{Quota, QuotaLimiter, UsageMeter};

fn run(threads: usize, ops: usize, sharded: bool) -> f64 {
    let (limiter, meter) = if sharded {
        (QuotaLimiter::new(), UsageMeter::new())
    } else {
        (
            QuotaLimiter::with_max_keys(4000),
            UsageMeter::with_max_subjects(4000),
        )
    };
    let state = Arc::new((limiter, meter));
    let quota = Quota::rate(1_000_000, 1_000_000.0);
    let keys: Arc<Vec<String>> = Arc::new((0..1000).map(|i| format!("caller-{i}")).collect());
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (state, keys) = (state.clone(), keys.clone());
            std::thread::spawn(move || {
                let (limiter, meter) = &*state;
                for i in 0..ops {
                    let key = &keys[(i * 7 + t * 501) % keys.len()];
                    let now = 1_800_000_000 + (i / 10_000) as u64;
                    std::hint::black_box(limiter.check(key, &quota, now as f64));
                    meter.record(key, "/posts/{id}", "GET", 200, now);
                }
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
    (threads * ops) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let ops: usize = std::env::var("OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!("| state | 1 thread (ops/s) | 2 threads (ops/s) | 2 threads / 1 |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, sharded) in [("one lock", false), ("sharded", true)] {
        // Best of three, to keep other load on the machine out of the figure.
        let best = |threads| {
            (0..3)
                .map(|_| run(threads, ops, sharded))
                .fold(0.0, f64::max)
        };
        let (one, two) = (best(1), best(2));
        println!("| {name} | {one:.0} | {two:.0} | {:.2}× |", two / one);
    }
}
