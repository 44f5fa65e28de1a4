//! Exact time math: frame rates as rationals, frame instants from integer counters.
//!
//! Every timestamp is computed as `origin + n * den * 1e9 / num` with 128-bit
//! intermediates, so no error accumulates however long a stream runs.

pub const NSECONDS_PER_SECOND: u64 = 1_000_000_000;

/// `a * b / c` rounded down, saturating at `u64::MAX`. `c` must not be zero.
pub fn mul_div_floor(a: u64, b: u64, c: u64) -> u64 {
    let v = (a as u128 * b as u128) / c as u128;
    v.min(u64::MAX as u128) as u64
}

/// `a * b / c` rounded to nearest (halves up), saturating at `u64::MAX`.
pub fn mul_div_round(a: u64, b: u64, c: u64) -> u64 {
    let v = (a as u128 * b as u128 + c as u128 / 2) / c as u128;
    v.min(u64::MAX as u128) as u64
}

pub fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A positive frame rate `num / den` frames per second, kept reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    num: u64,
    den: u64,
}

impl Rate {
    /// `None` for zero, negative or undefined rates (variable frame rate is not a grid).
    pub fn new(num: i64, den: i64) -> Option<Self> {
        if num <= 0 || den <= 0 {
            return None;
        }
        let g = gcd(num as u64, den as u64);
        Some(Self { num: num as u64 / g, den: den as u64 / g })
    }

    pub fn num(self) -> u64 {
        self.num
    }

    pub fn den(self) -> u64 {
        self.den
    }

    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Nanoseconds from the origin to frame `n` (rounded down).
    pub fn frame_time(self, n: u64) -> u64 {
        mul_div_floor(n, self.den * NSECONDS_PER_SECOND, self.num)
    }

    /// Duration of frame `n`: the gap to the next instant, so durations tile exactly.
    pub fn frame_duration(self, n: u64) -> u64 {
        self.frame_time(n + 1) - self.frame_time(n)
    }

    /// The frame index whose instant is nearest to `t` nanoseconds after the origin.
    pub fn nearest_frame(self, t: u64) -> u64 {
        mul_div_round(t, self.num, self.den * NSECONDS_PER_SECOND)
    }

    /// Length of one frame interval in nanoseconds, rounded up (for latency reporting).
    pub fn interval_ceil(self) -> u64 {
        let n = self.den as u128 * NSECONDS_PER_SECOND as u128;
        n.div_ceil(self.num as u128).min(u64::MAX as u128) as u64
    }
}

/// An exact positive ratio `num / den` (e.g. input frames per output frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    /// `a / b` for two rates: how many frames of `a` fall in one frame of `b`.
    pub fn of_rates(a: Rate, b: Rate) -> Self {
        let num = a.num as u128 * b.den as u128;
        let den = a.den as u128 * b.num as u128;
        let g = gcd_u128(num, den);
        let (num, den) = (num / g, den / g);
        // Rates come from 32-bit caps fractions, so the reduced product always fits.
        Self { num: num as u64, den: den as u64 }
    }

    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_rejects_non_positive() {
        assert!(Rate::new(0, 1).is_none());
        assert!(Rate::new(30, 0).is_none());
        assert!(Rate::new(-30, 1).is_none());
        assert_eq!(Rate::new(60, 2), Rate::new(30, 1));
    }

    #[test]
    fn ntsc_frame_times_are_exact() {
        let r = Rate::new(30000, 1001).unwrap();
        assert_eq!(r.frame_time(0), 0);
        assert_eq!(r.frame_time(1), 33_366_666);
        assert_eq!(r.frame_time(30000), 1001 * NSECONDS_PER_SECOND);
        // Durations tile: their sum is exactly the instant of the last frame.
        let total: u64 = (0..30000).map(|n| r.frame_duration(n)).sum();
        assert_eq!(total, r.frame_time(30000));
    }

    #[test]
    fn nearest_frame_inverts_frame_time() {
        for rate in [(60, 1), (24000, 1001), (30000, 1001), (25, 1), (7, 3)] {
            let r = Rate::new(rate.0, rate.1).unwrap();
            for n in [0u64, 1, 2, 999, 123_456, 5_000_000] {
                assert_eq!(r.nearest_frame(r.frame_time(n)), n, "{rate:?} {n}");
                assert_eq!(r.nearest_frame(r.frame_time(n) + 1_000), n);
            }
        }
    }

    #[test]
    fn ratio_of_rates_is_reduced() {
        let r = Ratio::of_rates(Rate::new(60, 1).unwrap(), Rate::new(24, 1).unwrap());
        assert_eq!((r.num, r.den), (5, 2));
        let r = Ratio::of_rates(Rate::new(30000, 1001).unwrap(), Rate::new(24000, 1001).unwrap());
        assert_eq!((r.num, r.den), (5, 4));
        let r = Ratio::of_rates(Rate::new(24, 1).unwrap(), Rate::new(60000, 1001).unwrap());
        assert_eq!((r.num, r.den), (1001, 2500));
    }

    #[test]
    fn mul_div_saturates_and_rounds() {
        assert_eq!(mul_div_floor(u64::MAX, 2, 1), u64::MAX);
        assert_eq!(mul_div_floor(7, 3, 2), 10);
        assert_eq!(mul_div_round(7, 3, 2), 11);
        assert_eq!(mul_div_round(5, 1, 2), 3);
    }
}
