//! In-fill gain fit: `G(t) = N (1 - A exp(-t / tau))` fitted to a crystal's summed
//! `laser/inFill` profile by weighted least squares (spec section 4).
//!
//! - Points: the bins whose centre lies in the fit range, with at least the minimum
//!   entries and a positive error (ROOT's profile error of the bin mean). The model is
//!   evaluated at the bin centre: the in-fill laser fires at fixed delays, one per bin.
//! - Starting values: for a grid of tau values the model is linear in N and N*A, so each
//!   grid point is a 2x2 weighted linear least-squares problem; the best grid point
//!   starts the Levenberg-Marquardt fit (rmpfit, analytic derivatives). This start is
//!   independent of the channel's history and cannot be fooled by one noisy bin.
//! - Bounds: N in (0, 10 N0], A in [-1, 1] (a negative sag is reported, not clipped, so
//!   the constants cut can judge it), tau in [0.05, 10 t_max] us.
//! - Errors come from the covariance of the weighted fit (the bin errors as given, not
//!   rescaled by chi2/ndf). A fit that does not converge, that ends on a bound, or whose
//!   covariance is not finite is a failure with its reason; it never panics.

use rmpfit::{MPConfig, MPError, MPFitter, MPPar, MPSide, MPSuccess};

use crate::hist::Profile;

/// Fit range and data requirements (from the cut file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitConfig {
    /// Bins whose centre lies in [t_min, t_max] (us) are fitted.
    pub t_min: f64,
    pub t_max: f64,
    /// A bin is used only with at least this many entries.
    pub min_entries: f64,
    /// Fewer usable bins than this is `low_stats`.
    pub min_points: usize,
}

impl FitConfig {
    /// The standard cut set (spec section 5): [4, 400] us, at least 10 entries per bin.
    pub const STANDARD: FitConfig = FitConfig { t_min: 4.0, t_max: 400.0, min_entries: 10.0, min_points: 10 };
}

/// A converged in-fill gain fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IfgFit {
    pub norm: f64,
    pub norm_err: f64,
    pub amp: f64,
    pub amp_err: f64,
    pub tau_us: f64,
    pub tau_err: f64,
    /// Covariance of A and tau (us).
    pub cov_amp_tau: f64,
    pub chi2: f64,
    pub ndf: u32,
}

impl IfgFit {
    pub fn chi2_ndf(&self) -> f64 {
        self.chi2 / self.ndf as f64
    }
}

/// Why a channel has no in-fill gain constants.
#[derive(Debug, Clone, PartialEq)]
pub enum FitFailure {
    /// The profile has no entries at all (a dead crystal, or no laser).
    NoLaser,
    /// Too few bins with enough entries in the fit range.
    LowStats { points: usize, needed: usize },
    /// The minimiser failed; the reason says how.
    Failed(String),
}

impl FitFailure {
    /// The `status` column value.
    pub fn status(&self) -> &'static str {
        match self {
            FitFailure::NoLaser => "no_laser",
            FitFailure::LowStats { .. } => "low_stats",
            FitFailure::Failed(_) => "fit_failed",
        }
    }
}

impl std::fmt::Display for FitFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitFailure::NoLaser => write!(f, "no laser entries"),
            FitFailure::LowStats { points, needed } => write!(f, "{points} bins with enough entries in the fit range, {needed} needed"),
            FitFailure::Failed(why) => write!(f, "fit failed: {why}"),
        }
    }
}

/// The points of a profile that enter the fit: (t, y, sigma).
pub fn fit_points(p: &Profile, cfg: &FitConfig) -> Vec<(f64, f64, f64)> {
    let axis = &p.axes()[0];
    (1..=axis.nbins)
        .filter_map(|bin| {
            let t = axis.center(bin);
            if !(t >= cfg.t_min && t <= cfg.t_max) || p.bin_entries(bin) < cfg.min_entries {
                return None;
            }
            let (y, e) = (p.bin_content(bin), p.bin_error(bin));
            (e > 0.0 && e.is_finite() && y.is_finite()).then_some((t, y, e))
        })
        .collect()
}

struct Problem<'a> {
    points: &'a [(f64, f64, f64)],
    pars: [MPPar; 3],
    config: MPConfig,
}

impl MPFitter for Problem<'_> {
    fn eval(&mut self, params: &[f64], deviates: &mut [f64]) -> Result<(), MPError> {
        let (n, a, tau) = (params[0], params[1], params[2]);
        for (d, &(t, y, e)) in deviates.iter_mut().zip(self.points) {
            *d = (y - n * (1.0 - a * (-t / tau).exp())) / e;
        }
        Ok(())
    }

    fn jacobian(&mut self, params: &[f64], deviates: &mut [f64], derivs: &mut [Option<Vec<f64>>]) -> Result<(), MPError> {
        let (n, a, tau) = (params[0], params[1], params[2]);
        for (i, (d, &(t, y, e))) in deviates.iter_mut().zip(self.points).enumerate() {
            let x = (-t / tau).exp();
            *d = (y - n * (1.0 - a * x)) / e;
            // d(deviate)/dp = -(df/dp) / e
            if let Some(c) = &mut derivs[0] {
                c[i] = -(1.0 - a * x) / e;
            }
            if let Some(c) = &mut derivs[1] {
                c[i] = n * x / e;
            }
            if let Some(c) = &mut derivs[2] {
                c[i] = n * a * x * t / (tau * tau) / e;
            }
        }
        Ok(())
    }

    fn number_of_points(&self) -> usize {
        self.points.len()
    }

    fn config(&self) -> &MPConfig {
        &self.config
    }

    fn parameters(&self) -> &[MPPar] {
        &self.pars
    }
}

/// For a fixed tau, the weighted linear least squares of y = N - B exp(-t/tau):
/// returns (N, B, chi2), or None when singular.
fn linear_at(points: &[(f64, f64, f64)], tau: f64) -> Option<(f64, f64, f64)> {
    // Normal equations for the basis (1, -x) with weights 1/e^2.
    let (mut s11, mut s12, mut s22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(t, y, e) in points {
        let (w, x) = (1.0 / (e * e), (-t / tau).exp());
        s11 += w;
        s12 -= w * x;
        s22 += w * x * x;
        b1 += w * y;
        b2 -= w * x * y;
    }
    let det = s11 * s22 - s12 * s12;
    // Singular (or NaN) normal equations: no solution at this tau.
    let solvable = det.abs() > 1e-300 * s11 * s22;
    if !solvable {
        return None;
    }
    let n = (b1 * s22 - b2 * s12) / det;
    let b = (s11 * b2 - s12 * b1) / det;
    let chi2 = points.iter().map(|&(t, y, e)| ((y - n + b * (-t / tau).exp()) / e).powi(2)).sum();
    Some((n, b, chi2))
}

/// Starting values (N, A, tau) from the best of a log-spaced grid of tau values.
fn start(points: &[(f64, f64, f64)], cfg: &FitConfig) -> Option<[f64; 3]> {
    const GRID: usize = 40;
    let (lo, hi) = (0.5f64, cfg.t_max.max(10.0));
    let mut best: Option<(f64, [f64; 3])> = None;
    for i in 0..GRID {
        let tau = lo * (hi / lo).powf(i as f64 / (GRID - 1) as f64);
        if let Some((n, b, chi2)) = linear_at(points, tau) {
            if n > 0.0 && chi2.is_finite() && best.is_none_or(|(c, _)| chi2 < c) {
                best = Some((chi2, [n, (b / n).clamp(-0.9, 0.9), tau]));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// Fits one crystal's summed in-fill profile.
pub fn fit_in_fill(p: &Profile, cfg: &FitConfig) -> Result<IfgFit, FitFailure> {
    if p.entries() <= 0.0 {
        return Err(FitFailure::NoLaser);
    }
    let points = fit_points(p, cfg);
    let needed = cfg.min_points.max(4);
    if points.len() < needed {
        return Err(FitFailure::LowStats { points: points.len(), needed });
    }
    fit_points_to_model(&points, cfg)
}

/// The fit itself, on already selected points (at least 4).
pub fn fit_points_to_model(points: &[(f64, f64, f64)], cfg: &FitConfig) -> Result<IfgFit, FitFailure> {
    let mut x = start(points, cfg).ok_or_else(|| FitFailure::Failed("no starting values (singular data)".into()))?;
    let bound = |lo: f64, hi: f64| MPPar { limited_low: true, limited_up: true, limit_low: lo, limit_up: hi, side: MPSide::User, ..MPPar::new() };
    let n_max = 10.0 * x[0];
    let tau_lo = 0.05;
    let tau_hi = 10.0 * cfg.t_max;
    let mut problem = Problem {
        points,
        pars: [bound(0.0, n_max), bound(-1.0, 1.0), bound(tau_lo, tau_hi)],
        config: MPConfig { max_iter: 500, ..MPConfig::new() },
    };
    let status = problem.mpfit(&mut x).map_err(|e| FitFailure::Failed(format!("minimiser error: {}", describe(&e))))?;
    if status.success == MPSuccess::MaxIter || status.success == MPSuccess::NotDone {
        return Err(FitFailure::Failed(format!("no convergence after {} iterations", status.n_iter)));
    }
    let [n, a, tau] = x;
    let at_bound = |v: f64, lo: f64, hi: f64| v <= lo * (1.0 + 1e-9) || v >= hi * (1.0 - 1e-9);
    if at_bound(a, -1.0, 1.0) {
        return Err(FitFailure::Failed(format!("A = {a} ended on its bound")));
    }
    if at_bound(tau, tau_lo, tau_hi) {
        return Err(FitFailure::Failed(format!("tau = {tau} us ended on its bound")));
    }
    if n <= 0.0 || n >= n_max * (1.0 - 1e-9) {
        return Err(FitFailure::Failed(format!("N = {n} ended on its bound")));
    }
    let cov = |i: usize, j: usize| status.covar[i * 3 + j];
    let errs = [cov(0, 0), cov(1, 1), cov(2, 2)];
    if errs.iter().any(|v| !(v.is_finite() && *v > 0.0)) || !status.best_norm.is_finite() {
        return Err(FitFailure::Failed("covariance not positive (parameters not determined by the data)".into()));
    }
    Ok(IfgFit {
        norm: n,
        norm_err: errs[0].sqrt(),
        amp: a,
        amp_err: errs[1].sqrt(),
        tau_us: tau,
        tau_err: errs[2].sqrt(),
        cov_amp_tau: cov(1, 2),
        chi2: status.best_norm,
        ndf: (points.len() - 3) as u32,
    })
}

fn describe(e: &MPError) -> &'static str {
    match e {
        MPError::Input => "bad input",
        MPError::Nan => "model gave a non-finite value",
        MPError::Empty => "no points",
        MPError::NoFree => "no free parameters",
        MPError::InitBounds => "starting values outside the bounds",
        MPError::Bounds => "inconsistent bounds",
        MPError::DoF => "not enough degrees of freedom",
        MPError::Eval => "evaluation failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::{Axis, Profile};

    /// A profile with `n` entries per bin at the bin centre, mean exactly on the curve
    /// and a spread `s` (so the bin error is s / sqrt(n)).
    fn exact_profile(norm: f64, amp: f64, tau: f64, n: f64, s: f64) -> Profile {
        let mut p = Profile::new_1d("p", "", Axis::fixed(200, 0.0, 400.0));
        for bin in 1..=200 {
            let t = p.axes()[0].center(bin);
            let g = norm * (1.0 - amp * (-t / tau).exp());
            p.set_cell(bin, n, n * g, n * (g * g + s * s));
        }
        p.recompute_stats();
        p
    }

    #[test]
    fn recovers_exact_parameters_with_the_expected_errors() {
        let p = exact_profile(1.001, 0.03, 12.0, 100.0, 0.004);
        let f = fit_in_fill(&p, &FitConfig::STANDARD).unwrap();
        assert!((f.amp - 0.03).abs() < 1e-8 && (f.tau_us - 12.0).abs() < 1e-5 && (f.norm - 1.001).abs() < 1e-9, "{f:?}");
        assert!(f.chi2 < 1e-10);
        assert_eq!(f.ndf, 198 - 3);
        // Hand calculation: the error of N when A = 0 would be e/sqrt(points); with A and
        // tau free it can only be larger, and it stays of that order.
        let e = 0.004 / 10.0;
        assert!(f.norm_err > e / 198f64.sqrt() && f.norm_err < 3.0 * e / 198f64.sqrt(), "{f:?}");
        assert!(f.cov_amp_tau.abs() <= f.amp_err * f.tau_err);
    }

    #[test]
    fn failures_are_statuses() {
        let empty = Profile::new_1d("p", "", Axis::fixed(200, 0.0, 400.0));
        assert_eq!(fit_in_fill(&empty, &FitConfig::STANDARD), Err(FitFailure::NoLaser));
        let sparse = exact_profile(1.0, 0.03, 12.0, 5.0, 0.004);
        assert_eq!(fit_in_fill(&sparse, &FitConfig::STANDARD).unwrap_err().status(), "low_stats");
        // A flat profile has no sag: tau is not determined and the fit says so.
        let flat = exact_profile(1.0, 0.0, 12.0, 100.0, 0.004);
        assert_eq!(fit_in_fill(&flat, &FitConfig::STANDARD).unwrap_err().status(), "fit_failed");
    }
}
