//! Timing shared by the benches (plain std::time, no harness).

use std::time::{Duration, Instant};

/// `f` run `warmups` times untimed, then `iters` times timed: (min, median).
pub fn time<F: FnMut()>(warmups: usize, iters: usize, mut f: F) -> (Duration, Duration) {
    for _ in 0..warmups {
        f();
    }
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2])
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
