//! A binned axis: fixed or variable bin edges, ROOT's 1-based bin numbering.

use serde::Serialize;

/// One axis. Bin 0 is the underflow, bins 1..=nbins the range, nbins+1 the overflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    pub nbins: usize,
    pub min: f64,
    pub max: f64,
    /// Variable edges (nbins+1 of them), or `None` for equal bins.
    pub variable: Option<Vec<f64>>,
    pub title: String,
}

impl Axis {
    /// Equal bins on [min, max).
    pub fn fixed(nbins: usize, min: f64, max: f64) -> Self {
        assert!(nbins >= 1, "an axis needs at least one bin");
        assert!(max > min, "axis range [{min}, {max}) is empty");
        Axis { nbins, min, max, variable: None, title: String::new() }
    }

    /// Variable bins from increasing edges.
    pub fn variable(edges: Vec<f64>) -> Self {
        assert!(edges.len() >= 2, "an axis needs at least two edges");
        assert!(edges.windows(2).all(|w| w[1] > w[0]), "edges must increase");
        Axis { nbins: edges.len() - 1, min: edges[0], max: edges[edges.len() - 1], variable: Some(edges), title: String::new() }
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    fn width_fixed(&self) -> f64 {
        (self.max - self.min) / self.nbins as f64
    }

    /// Low edge of bin `i` (1-based; `i = nbins+1` gives the upper edge), as ROOT's
    /// TAxis::GetBinLowEdge.
    pub fn low_edge(&self, i: usize) -> f64 {
        match &self.variable {
            Some(e) if (1..=self.nbins + 1).contains(&i) => e[i - 1],
            _ if i == self.nbins + 1 => self.max,
            _ => self.min + (i as f64 - 1.0) * self.width_fixed(),
        }
    }

    /// Centre of bin `i` (1-based), as ROOT's TAxis::GetBinCenter.
    pub fn center(&self, i: usize) -> f64 {
        match &self.variable {
            Some(e) if (1..=self.nbins).contains(&i) => 0.5 * (e[i - 1] + e[i]),
            _ => self.min + (i as f64 - 0.5) * self.width_fixed(),
        }
    }

    pub fn width(&self, i: usize) -> f64 {
        match &self.variable {
            Some(e) if (1..=self.nbins).contains(&i) => e[i] - e[i - 1],
            _ => self.width_fixed(),
        }
    }

    /// The nbins+1 edges, without flow.
    pub fn edges(&self) -> Vec<f64> {
        (1..=self.nbins + 1).map(|i| self.low_edge(i)).collect()
    }

    /// The bin holding `x`, as ROOT's TAxis::FindFixBin: 0 below, nbins+1 at or above max.
    pub fn find_bin(&self, x: f64) -> usize {
        if x.is_nan() {
            // ROOT puts NaN in the overflow for fixed bins.
            return self.nbins + 1;
        }
        if x < self.min {
            return 0;
        }
        if x >= self.max {
            return self.nbins + 1;
        }
        match &self.variable {
            None => {
                let b = 1 + (self.nbins as f64 * (x - self.min) / (self.max - self.min)) as usize;
                b.min(self.nbins)
            }
            Some(e) => {
                // Largest i with e[i] <= x, then 1-based.
                let i = e.partition_point(|&edge| edge <= x);
                i.clamp(1, self.nbins)
            }
        }
    }

    /// Same bins as `other` (what `hadd` requires); edges compared to 1e-10 relative.
    pub fn same_binning(&self, other: &Axis) -> bool {
        if self.nbins != other.nbins {
            return false;
        }
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-10 * a.abs().max(b.abs()).max(1e-300);
        (1..=self.nbins + 1).all(|i| close(self.low_edge(i), other.low_edge(i)))
    }

    pub fn describe(&self) -> String {
        match &self.variable {
            None => format!("{} bins on [{}, {})", self.nbins, self.min, self.max),
            Some(_) => format!("{} variable bins on [{}, {})", self.nbins, self.min, self.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_bin_follows_root() {
        let a = Axis::fixed(10, 0.0, 1.0);
        assert_eq!(a.find_bin(-0.1), 0);
        assert_eq!(a.find_bin(0.0), 1);
        assert_eq!(a.find_bin(0.05), 1);
        assert_eq!(a.find_bin(0.1), 2);
        assert_eq!(a.find_bin(0.999_999), 10);
        assert_eq!(a.find_bin(1.0), 11);
        let v = Axis::variable(vec![0.0, 1.0, 3.0, 10.0]);
        assert_eq!(v.find_bin(0.5), 1);
        assert_eq!(v.find_bin(1.0), 2);
        assert_eq!(v.find_bin(9.99), 3);
        assert_eq!(v.find_bin(10.0), 4);
        assert_eq!(v.center(2), 2.0);
        assert_eq!(v.width(3), 7.0);
    }

    #[test]
    fn edges_end_exactly_at_max() {
        let a = Axis::fixed(3, -3.0, 3.0);
        assert_eq!(a.edges(), vec![-3.0, -1.0, 1.0, 3.0]);
        assert!(a.same_binning(&Axis::variable(vec![-3.0, -1.0, 1.0, 3.0])));
        assert!(!a.same_binning(&Axis::fixed(3, -3.0, 3.1)));
    }
}
