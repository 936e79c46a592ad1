//! A small, versioned random-number generator and the distributions the simulator
//! needs. Owned here (not from a crate) so that a seed gives the same dataset for as
//! long as this file does not change, whatever crate versions the build resolves.
//!
//! Generator: SplitMix64 to seed, xoshiro256++ to draw (Blackman & Vigna).
//! Normal: Marsaglia's polar method. Poisson: multiplication (Knuth) below mean 30,
//! Hörmann's PTRS transformed rejection above (as numpy does).

/// xoshiro256++.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed` and a stream label: different labels give independent
    /// streams (one per subrun file, so files do not depend on the order of work).
    pub fn new(seed: u64, stream: &[u64]) -> Self {
        let mut x = seed;
        for &s in stream {
            x = splitmix(&mut x) ^ s.wrapping_mul(0xD1B5_4A32_D192_ED03);
        }
        let s = [splitmix(&mut x), splitmix(&mut x), splitmix(&mut x), splitmix(&mut x)];
        Rng { s, spare_normal: None }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform on [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare_normal = Some(v * f);
                return u * f;
            }
        }
    }

    pub fn gauss(&mut self, mean: f64, sigma: f64) -> f64 {
        mean + sigma * self.normal()
    }

    /// Poisson with mean `lam` (0 for lam <= 0).
    pub fn poisson(&mut self, lam: f64) -> u64 {
        if lam <= 0.0 {
            return 0;
        }
        if lam < 30.0 {
            let limit = (-lam).exp();
            let mut k = 0;
            let mut p = self.uniform();
            while p > limit {
                k += 1;
                p *= self.uniform();
            }
            return k;
        }
        let slam = lam.sqrt();
        let loglam = lam.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let invalpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lam + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            if v.ln() + invalpha.ln() - (a / (us * us) + b).ln() <= -lam + k * loglam - ln_gamma(k + 1.0) {
                return k as u64;
            }
        }
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang (shape < 1 by the u^(1/shape) boost).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape <= 0.0 {
            return 0.0;
        }
        if shape < 1.0 {
            let u = self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Chi-square with `k` degrees of freedom (0 for k = 0).
    pub fn chi_square(&mut self, k: u64) -> f64 {
        2.0 * self.gamma(k as f64 / 2.0)
    }

    /// Picks `k` distinct indices from 0..n (partial Fisher-Yates), in draw order.
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }
}

/// ln Γ(x) for x > 0: Stirling's series after shifting x above 7.
pub fn ln_gamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 7.0 {
        shift -= x.ln();
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    let series = ((((-1.0 / 1680.0) * x2 + 1.0 / 1260.0) * x2 - 1.0 / 360.0) * x2 + 1.0 / 12.0) / x;
    shift + (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0))
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..5).map({ let mut r = Rng::new(7, &[1, 2]); move |_| r.next_u64() }).collect();
        let b: Vec<u64> = (0..5).map({ let mut r = Rng::new(7, &[1, 2]); move |_| r.next_u64() }).collect();
        let c: Vec<u64> = (0..5).map({ let mut r = Rng::new(7, &[1, 3]); move |_| r.next_u64() }).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        // ln(n!) by direct summation.
        for n in [1u32, 2, 5, 10, 30, 100] {
            let direct: f64 = (1..=n).map(|k| f64::from(k).ln()).sum();
            assert!((ln_gamma(f64::from(n) + 1.0) - direct).abs() < 1e-10, "n = {n}");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-10);
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut r = Rng::new(1, &[]);
        let n = 200_000;
        let (m, v) = moments(&(0..n).map(|_| r.normal()).collect::<Vec<_>>());
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "normal {m} {v}");
        for lam in [0.5, 4.0, 29.0, 31.0, 250.0, 5000.0] {
            let (m, v) = moments(&(0..n).map(|_| r.poisson(lam) as f64).collect::<Vec<_>>());
            // Standard errors: sqrt(lam/n) for the mean, ~lam*sqrt(2/n) for the variance.
            assert!((m - lam).abs() < 5.0 * (lam / n as f64).sqrt(), "poisson({lam}) mean {m}");
            assert!((v - lam).abs() < 5.0 * lam * (2.0 / n as f64).sqrt() + 0.01, "poisson({lam}) var {v}");
        }
        let (m, _) = moments(&(0..n).map(|_| r.uniform()).collect::<Vec<_>>());
        assert!((m - 0.5).abs() < 0.005);
        let picks = r.choose(10, 4);
        let mut s = picks.clone();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 4);
    }
}
