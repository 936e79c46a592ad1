//! Hand-computed checks of the ROOT formulas. Cross-checks against numbers ROOT itself
//! computed live in tests/root_io.rs (fixtures under data-fixtures/root640).

use super::*;

fn h1() -> Hist {
    let mut h = Hist::new_1d("h", "t", Axis::fixed(4, 0.0, 4.0), ArrayElem::F32);
    for x in [0.5, 1.5, 1.5, 3.5, -1.0, 9.0] {
        h.fill(x, 1.0);
    }
    h
}

#[test]
fn fill_counts_flow_as_entries_but_not_statistics() {
    let h = h1();
    assert_eq!(h.values(true).to_vec(), vec![1.0, 1.0, 2.0, 0.0, 1.0, 1.0]);
    assert_eq!(h.entries(), 6.0);
    // mean of 0.5, 1.5, 1.5, 3.5 = 7/4; variance = (0.25+2.25+2.25+12.25)/4 - (7/4)^2
    assert!((h.mean(1) - 1.75).abs() < 1e-12);
    let var: f64 = 17.0 / 4.0 - 1.75 * 1.75;
    assert!((h.std_dev(1) - var.sqrt()).abs() < 1e-12);
    assert!(!h.has_sumw2());
}

#[test]
fn integral_uses_root_clamping() {
    let h = h1();
    assert_eq!(h.integral(1, 4), 4.0);
    assert_eq!(h.integral(0, 5), 6.0);
    assert_eq!(h.integral(2, 2), 2.0);
    // last < first means "up to the overflow", as TH1::Integral does.
    assert_eq!(h.integral(1, 0), 5.0);
    assert_eq!(h.integral(-3, 100), 6.0);
}

#[test]
fn weighted_fill_turns_on_sumw2_from_the_contents() {
    let mut h = h1();
    h.fill(2.5, 2.0);
    assert!(h.has_sumw2());
    let v = h.variances_flat();
    assert_eq!(v[3], 4.0); // 0 before, + 2^2
    assert_eq!(v[2], 2.0); // two unit fills
    assert!((h.bin_error(3) - 2.0).abs() < 1e-12);
}

#[test]
fn mean_from_bin_centres_when_statistics_are_empty() {
    let mut h = Hist::new_1d("h", "", Axis::fixed(2, 0.0, 2.0), ArrayElem::F64);
    h.set_bin(1, 1.0, None);
    h.set_bin(2, 3.0, None);
    h.stats.entries = 4.0;
    // centres 0.5 and 1.5 weighted 1 and 3
    assert!((h.mean(1) - 1.25).abs() < 1e-12);
    // An empty histogram has mean 0, as ROOT.
    let e = Hist::new_1d("e", "", Axis::fixed(2, 0.0, 2.0), ArrayElem::F64);
    assert_eq!(e.mean(1), 0.0);
}

#[test]
fn hist_2d_global_bins_and_integral() {
    let mut h = Hist::new_2d("h2", "", Axis::fixed(2, 0.0, 2.0), Axis::fixed(3, 0.0, 3.0), ArrayElem::F64);
    h.fill_2d(1.5, 2.5, 1.0); // ix 2, iy 3 -> 2 + 4*3 = 14
    h.fill_2d(0.5, 0.5, 1.0); // ix 1, iy 1 -> 5
    assert_eq!(h.values_flat()[14], 1.0);
    assert_eq!(h.values_flat()[5], 1.0);
    assert_eq!(h.values_2d(false)[[2, 1]], 1.0);
    assert_eq!(h.integral_2d(1, 2, 1, 3), 2.0);
    assert_eq!(h.integral_2d(1, 1, 1, 3), 1.0);
    assert!((h.mean(2) - 1.5).abs() < 1e-12);
}

#[test]
fn add_requires_same_binning_and_names_both() {
    let mut a = h1();
    let b = Hist::new_1d("other", "", Axis::fixed(5, 0.0, 4.0), ArrayElem::F32);
    let e = a.add(&b).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("'other'") && msg.contains("'h'") && msg.contains("4 bins") && msg.contains("5 bins"), "{msg}");
    let c = h1();
    a.add(&c).unwrap();
    assert_eq!(a.values(true).to_vec(), vec![2.0, 2.0, 4.0, 0.0, 2.0, 2.0]);
    assert_eq!(a.entries(), 12.0);
    assert!((a.mean(1) - 1.75).abs() < 1e-12);
}

#[test]
fn profile_mean_and_errors_by_hand() {
    let mut p = Profile::new_1d("p", "", Axis::fixed(2, 0.0, 2.0));
    for y in [1.0, 2.0, 3.0, 6.0] {
        p.fill(0.5, y, 1.0);
    }
    // bin 1: n=4, mean 3, E[y^2] = (1+4+9+36)/4 = 12.5, spread^2 = 3.5
    assert_eq!(p.bin_content(1), 3.0);
    assert!((p.bin_error(1) - (3.5f64).sqrt() / 2.0).abs() < 1e-12);
    p.error_mode = ErrorMode::Spread;
    assert!((p.bin_error(1) - (3.5f64).sqrt()).abs() < 1e-12);
    p.error_mode = ErrorMode::SpreadG;
    assert!((p.bin_error(1) - 0.5).abs() < 1e-12);
    assert_eq!(p.bin_content(2), 0.0);
    assert_eq!(p.bin_error(2), 0.0);
    // GetMean(2) of a TProfile is the mean of y.
    assert!((p.mean(2) - 3.0).abs() < 1e-12);
}

#[test]
fn profile_spread_i_for_constant_integer_data() {
    let mut p = Profile::new_1d("p", "", Axis::fixed(1, 0.0, 1.0));
    p.error_mode = ErrorMode::SpreadI;
    for _ in 0..3 {
        p.fill(0.5, 7.0, 1.0);
    }
    assert!((p.bin_error(1) - 1.0 / 36f64.sqrt()).abs() < 1e-12);
}

#[test]
fn profile_add_sums_weights_not_means() {
    let mut a = Profile::new_1d("a", "", Axis::fixed(1, 0.0, 1.0));
    let mut b = a.clone();
    a.fill(0.5, 1.0, 1.0);
    for _ in 0..3 {
        b.fill(0.5, 5.0, 1.0);
    }
    a.add(&b).unwrap();
    // (1 + 15) / 4 = 4, not (1 + 5) / 2
    assert_eq!(a.bin_content(1), 4.0);
    assert_eq!(a.bin_entries(1), 4.0);
}

#[test]
fn weighted_profile_uses_effective_entries() {
    let mut p = Profile::new_1d("p", "", Axis::fixed(1, 0.0, 1.0));
    p.fill(0.5, 1.0, 2.0);
    p.fill(0.5, 3.0, 1.0);
    // sumw 3, sumw2 5, neff = 9/5; mean = (2+3)/3; E[y^2] = (2+9)/3
    let mean = 5.0 / 3.0;
    let spread2: f64 = 11.0 / 3.0 - mean * mean;
    assert!((p.bin_content(1) - mean).abs() < 1e-12);
    assert!((p.bin_error(1) - spread2.sqrt() / (9.0f64 / 5.0).sqrt()).abs() < 1e-12);
}

#[test]
fn raw_round_trip_keeps_everything() {
    let mut h = h1();
    h.fill(2.2, 0.5);
    let back = Hist::from_raw(h.to_raw()).unwrap();
    assert_eq!(back, h);
    let mut p = Profile::new_2d("p2", "", Axis::fixed(2, 0.0, 1.0), Axis::variable(vec![0.0, 1.0, 5.0]));
    p.fill_2d(0.2, 3.0, 4.0, 1.5);
    let back = Profile::from_raw(p.to_raw()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn profile_and_hist_do_not_add() {
    let mut a = Histogram::Hist(h1());
    let b = Histogram::Profile(Profile::new_1d("p", "", Axis::fixed(4, 0.0, 4.0)));
    let e = a.add(&b).unwrap_err().to_string();
    assert!(e.contains("TH1F") && e.contains("TProfile"), "{e}");
}
