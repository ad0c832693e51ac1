//! The placement score: ComputeMarket's bid weights, in integers with floor division.
//!
//! ```text
//! priceScore   = (max_price - price) * 10000 // max_price
//! loadScore    = (max_jobs - running) * 10000 // max_jobs
//! latencyScore = 10000 if max_latency_ms == 0 else (max_latency_ms - latency_ms) * 10000 // max_latency_ms
//! score        = 40 * priceScore + 30 * reputation + 20 * loadScore + 10 * latencyScore
//! ```
//!
//! The callers only score feasible nodes (`price <= max_price`, `running < max_jobs`,
//! `latency_ms <= max_latency_ms` when there is a limit), so every difference is non-negative.

/// The scale of each partial score (basis points).
pub const SCALE: u64 = 10_000;

/// `floor(part * 10000 / whole)` for many `part`s and one `whole` (a job's max price or
/// latency limit), exact for every `u128`, without a 128-bit division per call.
///
/// Placement computes this for every feasible (job, node) pair, and a 128-bit division is the
/// slowest step there. Instead, a floating-point estimate (off by at most one: its relative
/// error is below 2^-49 and the result at most 10000) is corrected with exact integer
/// multiplications: the result `q` is the one with `q * whole <= part * 10000 < (q + 1) * whole`.
#[derive(Debug, Clone, Copy)]
pub struct Scaled {
    whole: u128,
    factor: f64,
}

/// `value` as a float, within two units in the last place (the estimate needs far less).
///
/// From the two 64-bit halves: `value as f64` would call the slow 128-bit conversion routine,
/// even for values that fit in 64 bits.
pub(crate) fn to_f64(value: u128) -> f64 {
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    let (high, low) = ((value >> 64) as u64, value as u64);
    high as f64 * TWO_64 + low as f64
}

impl Scaled {
    /// The ratio to `whole`.
    pub fn new(whole: u128) -> Self {
        let factor = if whole == 0 { 0.0 } else { SCALE as f64 / to_f64(whole) };
        Self { whole, factor }
    }

    /// An estimate of [`Scaled::of`]: never more than 1 away from it.
    pub fn estimate(&self, part: u128) -> u64 {
        let part = part.min(self.whole);
        // `as` saturates (and maps NaN to 0); the result is at most SCALE since part <= whole.
        ((to_f64(part) * self.factor) as u64).min(SCALE)
    }

    /// `floor(min(part, whole) * 10000 / whole)`; 0 if `whole == 0`.
    pub fn of(&self, part: u128) -> u64 {
        if self.whole == 0 {
            return 0;
        }
        let part = part.min(self.whole);
        let Some(product) = part.checked_mul(u128::from(SCALE)) else {
            return u64::try_from(wide_basis_points(part, self.whole)).unwrap_or(SCALE);
        };
        let mut q = self.estimate(part);
        // q * whole <= product, checked (an overflowing product exceeds `product`).
        let fits = |q: u64| u128::from(q).checked_mul(self.whole).is_some_and(|m| m <= product);
        while q > 0 && !fits(q) {
            q -= 1;
        }
        while q < SCALE && fits(q + 1) {
            q += 1;
        }
        q
    }
}

/// `floor(part * 10000 / whole)` for `part <= whole`; 0 if `whole == 0`. Exact for every
/// `u128` (see [`Scaled`]).
pub fn basis_points(part: u128, whole: u128) -> u64 {
    Scaled::new(whole).of(part)
}

/// `floor(part * 10000 / whole)` by schoolbook binary division of the 256-bit product.
fn wide_basis_points(part: u128, whole: u128) -> u128 {
    const LOW: u128 = u64::MAX as u128;
    let scale = u128::from(SCALE);
    // part * SCALE = high * 2^128 + low, from the two 64-bit halves of `part` (each product
    // of a half and SCALE is below 2^78, so nothing overflows).
    let upper = (part >> 64) * scale;
    let lower = (part & LOW) * scale;
    let shifted = (upper & LOW) << 64;
    let low = shifted.wrapping_add(lower);
    let high = (upper >> 64) + u128::from(low < shifted);
    // high < whole (the quotient is at most SCALE), so the remainder starts below `whole`.
    let mut remainder = high;
    let mut quotient: u128 = 0;
    for bit in (0..128).rev() {
        let carry = remainder >> 127;
        remainder = (remainder << 1) | ((low >> bit) & 1);
        quotient <<= 1;
        if carry == 1 || remainder >= whole {
            remainder = remainder.wrapping_sub(whole);
            quotient |= 1;
        }
    }
    quotient
}

/// The inputs of one (job, node) score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreInputs {
    /// The job's max price (> 0).
    pub max_price: u128,
    /// The node's price (<= max_price).
    pub price: u128,
    /// The node's job limit (> 0).
    pub max_jobs: u32,
    /// The node's running jobs (< max_jobs).
    pub running: u32,
    /// The job's latency limit (0: none).
    pub max_latency_ms: u32,
    /// The node's latency (<= max_latency_ms when there is a limit).
    pub latency_ms: u32,
    /// The node's reputation (0..=10000).
    pub reputation: u16,
}

/// The score of a feasible node for a job (higher is better).
pub fn score(inputs: &ScoreInputs) -> u64 {
    let price = basis_points(inputs.max_price.saturating_sub(inputs.price), inputs.max_price);
    let latency = latency_score(&Scaled::new(inputs.max_latency_ms.into()), inputs.latency_ms);
    job_part(price, latency) + node_part(inputs.reputation, inputs.max_jobs, inputs.running)
}

/// `30 * reputation + 20 * loadScore`: the part of the score that depends on the node only.
pub(crate) fn node_part(reputation: u16, max_jobs: u32, running: u32) -> u64 {
    let load = basis_points(max_jobs.saturating_sub(running).into(), max_jobs.into());
    30 * u64::from(reputation) + 20 * load
}

/// `40 * priceScore + 10 * latencyScore`: the part that depends on the job and the node.
pub(crate) fn job_part(price_score: u64, latency_score: u64) -> u64 {
    40 * price_score + 10 * latency_score
}

/// The latency score for a job's limit (as a [`Scaled`] of it): 10000 without a limit.
pub(crate) fn latency_score(limit: &Scaled, latency_ms: u32) -> u64 {
    if limit.whole == 0 {
        SCALE
    } else {
        limit.of(limit.whole.saturating_sub(latency_ms.into()))
    }
}

/// A job's side of the estimated score, set up once per job (see [`Estimate::score`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Estimate {
    max_price: f64,
    price_factor: f64,
    max_latency_ms: u32,
    latency_factor: f64,
}

impl Estimate {
    pub(crate) fn new(max_price: u128, max_latency_ms: u32) -> Self {
        let max_price = to_f64(max_price);
        let latency_factor =
            if max_latency_ms == 0 { 0.0 } else { (10 * SCALE) as f64 / f64::from(max_latency_ms) };
        Self {
            max_price,
            price_factor: (40 * SCALE) as f64 / max_price,
            max_latency_ms,
            latency_factor,
        }
    }

    /// The score without the floors, in floating point, for a feasible node (given its price
    /// as a float, its latency and its [`node_part`]).
    ///
    /// The exact score is never above it (the floors only lower it) by more than the float
    /// error, which is far below 1e-6 (relative errors of a few 2^-53 on values below 10^6);
    /// it is below it by less than 50 (40 for the price floor, 10 for the latency one). So a
    /// node whose estimate is more than 1 below the best exact score so far cannot win or tie.
    pub(crate) fn score(&self, price: f64, latency_ms: u32, node_part: f64) -> f64 {
        let latency = if self.max_latency_ms == 0 {
            (10 * SCALE) as f64
        } else {
            f64::from(self.max_latency_ms.saturating_sub(latency_ms)) * self.latency_factor
        };
        (self.max_price - price) * self.price_factor + latency + node_part
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x * k` (k < 2^64) as a 256-bit (high, low) pair: an oracle independent of the division.
    fn mul_wide(x: u128, k: u128) -> (u128, u128) {
        const LOW: u128 = u64::MAX as u128;
        let upper = (x >> 64) * k;
        let lower = (x & LOW) * k;
        let shifted = (upper & LOW) << 64;
        let low = shifted.wrapping_add(lower);
        ((upper >> 64) + u128::from(low < shifted), low)
    }

    /// `q == floor(part * 10000 / whole)`, checked as `q * whole <= part * 10000 < (q + 1) * whole`.
    fn is_floor(q: u64, part: u128, whole: u128) -> bool {
        let product = mul_wide(part, 10_000);
        mul_wide(whole, u128::from(q)) <= product && product < mul_wide(whole, u128::from(q) + 1)
    }

    proptest::proptest! {
        #[test]
        fn estimate_bounds_the_exact_score(
            a: u128,
            b: u128,
            wide in proptest::bool::ANY,
            max_jobs in 1u32..1000,
            running in 0u32..1000,
            limit in 0u32..1000,
            latency in 0u32..1000,
            reputation in 0u16..=10_000,
        ) {
            let (a, b) = if wide { (a, b) } else { (a >> 60, b >> 60) };
            let (price, max_price) = if a <= b { (a, b) } else { (b, a) };
            proptest::prop_assume!(max_price > 0 && running < max_jobs);
            let latency_ms = if limit == 0 { latency } else { latency.min(limit) };
            let inputs = ScoreInputs {
                max_price, price, max_jobs, running, max_latency_ms: limit, latency_ms, reputation,
            };
            let exact = score(&inputs) as f64;
            let node = node_part(reputation, max_jobs, running) as f64;
            let estimate = Estimate::new(max_price, limit).score(to_f64(price), latency_ms, node);
            proptest::prop_assert!(exact <= estimate + 1e-6, "{exact} {estimate}");
            proptest::prop_assert!(estimate < exact + 50.0 + 1e-6, "{exact} {estimate}");
        }

        #[test]
        fn basis_points_is_the_floor(a: u128, b: u128) {
            let (part, whole) = if a <= b { (a, b) } else { (b, a) };
            proptest::prop_assume!(whole > 0);
            proptest::prop_assert!(is_floor(basis_points(part, whole), part, whole));
            proptest::prop_assert!(is_floor(u64::try_from(wide_basis_points(part, whole)).unwrap(), part, whole));
            let scaled = Scaled::new(whole);
            proptest::prop_assert_eq!(scaled.of(part), basis_points(part, whole));
            proptest::prop_assert!(scaled.estimate(part).abs_diff(scaled.of(part)) <= 1);
        }

        #[test]
        fn basis_points_is_the_floor_for_wei_sized_prices(a in 0u128..1 << 100, b in 0u128..1 << 100) {
            let (part, whole) = if a <= b { (a, b) } else { (b, a) };
            proptest::prop_assume!(whole > 0);
            proptest::prop_assert!(is_floor(basis_points(part, whole), part, whole));
            let scaled = Scaled::new(whole);
            proptest::prop_assert!(scaled.estimate(part).abs_diff(scaled.of(part)) <= 1);
        }

        #[test]
        fn basis_points_is_the_floor_for_small_values(a in 0u128..100_000, b in 1u128..100_000) {
            let (part, whole) = if a <= b { (a, b) } else { (b, a) };
            proptest::prop_assert_eq!(basis_points(part, whole), u64::try_from(part * 10_000 / whole).unwrap());
        }
    }

    #[test]
    fn small_values() {
        assert_eq!(basis_points(0, 7), 0);
        assert_eq!(basis_points(7, 7), 10_000);
        assert_eq!(basis_points(1, 3), 3333);
        assert_eq!(basis_points(2, 3), 6666);
        assert_eq!(basis_points(5, 0), 0);
        // Exact quotients (where a float estimate could land just below) and a part above
        // the whole (clamped).
        for whole in 1..=3000u128 {
            for part in [0, 1, whole / 3, whole / 2, whole - 1, whole] {
                assert_eq!(u128::from(basis_points(part, whole)), part * 10_000 / whole);
            }
        }
        assert_eq!(basis_points(9, 3), 10_000);
    }

    #[test]
    fn wide_path_agrees_with_the_narrow_one() {
        for (part, whole) in [(0u128, 1u128), (1, 3), (2, 3), (999, 1000), (12_345, 67_890)] {
            assert_eq!(wide_basis_points(part, whole), part * 10_000 / whole);
        }
        let big = u128::MAX / 10_000;
        assert_eq!(wide_basis_points(big - 1, big), (big - 1) * 10_000 / big);
    }

    #[test]
    fn wide_path_known_answers() {
        // Values computed with Python's integers: (p * 10000) // w.
        assert_eq!(basis_points(u128::MAX, u128::MAX), 10_000);
        assert_eq!(basis_points(u128::MAX - 1, u128::MAX), 9_999);
        assert_eq!(basis_points(u128::MAX / 2, u128::MAX), 4_999);
        assert_eq!(basis_points(1 << 120, (1 << 120) + 1), 9_999);
        assert_eq!(basis_points(1 << 125, 1 << 126), 5_000);
    }

    #[test]
    fn score_weights() {
        let inputs = ScoreInputs {
            max_price: 100,
            price: 50,
            max_jobs: 4,
            running: 1,
            max_latency_ms: 0,
            latency_ms: 30,
            reputation: 5000,
        };
        assert_eq!(score(&inputs), 40 * 5000 + 30 * 5000 + 20 * 7500 + 10 * 10_000);
        let limited = ScoreInputs { max_latency_ms: 40, ..inputs };
        assert_eq!(score(&limited), 40 * 5000 + 30 * 5000 + 20 * 7500 + 10 * 2500);
    }
}
