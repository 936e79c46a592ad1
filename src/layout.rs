//! The data contract's detector layout and histogram catalogue
//! (`spec/production-data.md` sections 1 and 2): channel numbering and, for every
//! object of a subrun file, its path, class and binning.
//!
//! Everything that writes or reads subrun files (the simulator, the metrics, the
//! tests) takes paths and binnings from here, so the contract lives in one place.

use crate::hist::Axis;

pub const N_CALOS: usize = 24;
pub const XTALS_PER_CALO: usize = 54;
pub const XTAL_COLS: usize = 9;
pub const N_XTALS: usize = N_CALOS * XTALS_PER_CALO;
pub const STATIONS: [u32; 2] = [12, 18];
pub const MODULES_PER_STATION: usize = 8;
pub const STRAWS_PER_MODULE: usize = 128;
pub const N_MODULES: usize = STATIONS.len() * MODULES_PER_STATION;
pub const N_STRAWS: usize = N_MODULES * STRAWS_PER_MODULE;
pub const N_LASERS: usize = 6;
pub const N_KICKERS: usize = 3;

/// Global crystal channel id of calorimeter `calo` (1..=24), crystal `xtal` (0..=53).
pub fn xtal_channel(calo: usize, xtal: usize) -> usize {
    debug_assert!((1..=N_CALOS).contains(&calo) && xtal < XTALS_PER_CALO);
    (calo - 1) * XTALS_PER_CALO + xtal
}

/// (calo 1..=24, xtal 0..=53) of a crystal channel id.
pub fn xtal_of(channel: usize) -> (usize, usize) {
    (channel / XTALS_PER_CALO + 1, channel % XTALS_PER_CALO)
}

/// Row (0..=5) and column (0..=8) of a crystal in its calorimeter.
pub fn xtal_row_col(xtal: usize) -> (usize, usize) {
    (xtal / XTAL_COLS, xtal % XTAL_COLS)
}

/// The laser (1..=6) serving calorimeter `calo`: laser l serves calos 4l-3 ..= 4l.
pub fn laser_of_calo(calo: usize) -> usize {
    (calo - 1) / 4 + 1
}

/// Global straw channel id of station 12 or 18, module 0..=7, straw 0..=127.
pub fn straw_channel(station: u32, module: usize, straw: usize) -> usize {
    debug_assert!(STATIONS.contains(&station) && module < MODULES_PER_STATION && straw < STRAWS_PER_MODULE);
    usize::from(station != 12) * MODULES_PER_STATION * STRAWS_PER_MODULE + module * STRAWS_PER_MODULE + straw
}

/// (station, module, straw) of a straw channel id.
pub fn straw_of(channel: usize) -> (u32, usize, usize) {
    let station = STATIONS[channel / (MODULES_PER_STATION * STRAWS_PER_MODULE)];
    let rest = channel % (MODULES_PER_STATION * STRAWS_PER_MODULE);
    (station, rest / STRAWS_PER_MODULE, rest % STRAWS_PER_MODULE)
}

/// Module index 0..=15 (station index * 8 + module) of a straw channel: the bin
/// numbering of `tracker/hvTrips`, and the group for straw status medians.
pub fn module_index(channel: usize) -> usize {
    channel / STRAWS_PER_MODULE
}

/// Object paths of the contract.
pub mod paths {
    pub const WITH_DQC: &str = "offNearlineWithDQC";
    pub const NO_DQC: &str = "offNearlineNoDQC";
    pub const PEDESTAL_RMS: &str = "calo/pedestalRMS";
    pub const SOURCE_MONITOR: &str = "laser/sourceMonitor";
    pub const OUT_OF_FILL: &str = "laser/outOfFill";
    pub const KICKER_AMPLITUDE: &str = "kicker/amplitude";
    pub const KICKER_TIMING: &str = "kicker/timing";
    pub const KICKER_FWHM: &str = "kicker/fwhm";
    pub const QUAD_STEP1: &str = "quad/step1Voltage";
    pub const QUAD_STEP2: &str = "quad/step2Voltage";
    pub const SINGLES: &str = "losses/singles";
    pub const DOUBLES: &str = "losses/doublesDeltaT";
    pub const STRAW_HITS: &str = "tracker/strawHits";
    pub const DRIFT_TIME: &str = "tracker/driftTime";
    pub const HV_TRIPS: &str = "tracker/hvTrips";
    pub const TIME_TREE: &str = "timeTree";
    /// The four IBMS monitors: (name stem, ...) as in `ibms1xMean`.
    pub const IBMS: [&str; 4] = ["ibms1x", "ibms1y", "ibms2x", "ibms2y"];

    /// `offNearline{WithDQC,NoDQC}/<name>`.
    pub fn nearline(with_dqc: bool, name: &str) -> String {
        format!("{}/{name}", if with_dqc { WITH_DQC } else { NO_DQC })
    }

    pub fn xtal_energy(calo: usize, xtal: usize) -> String {
        format!("calo/calo{calo}/xtal{xtal}Energy")
    }

    pub fn in_fill(calo: usize, xtal: usize) -> String {
        format!("laser/inFill/calo{calo}/xtal{xtal}")
    }
}

/// Class of a contract object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    TH1F,
    TH1D,
    TH2F,
    TProfile,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::TH1F => "TH1F",
            Class::TH1D => "TH1D",
            Class::TH2F => "TH2F",
            Class::TProfile => "TProfile",
        }
    }
}

/// One object of a subrun file: path, class and binning.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSpec {
    pub path: String,
    pub class: Class,
    pub x: Axis,
    pub y: Option<Axis>,
    /// Axis titles with units, as the production job labels them.
    pub title: &'static str,
}

fn spec(path: String, class: Class, x: Axis, title: &'static str) -> ObjectSpec {
    ObjectSpec { path, class, x, y: None, title }
}

/// Every histogram of a subrun file (section 2), in a fixed order. `timeTree` is a
/// TTree and not listed here.
pub fn contract_objects() -> Vec<ObjectSpec> {
    use Class::*;
    let mut v = Vec::with_capacity(2 * N_XTALS + 40);
    for with in [true, false] {
        v.push(spec(paths::nearline(with, "bunch"), TH1D, Axis::fixed(16, 0.0, 16.0).with_title("bunch number"), "fills by bunch"));
        v.push(spec(paths::nearline(with, "nearlineCTag"), TH1D, Axis::fixed(24, 0.5, 24.5).with_title("calorimeter"), "CTAG counts per calorimeter"));
        v.push(spec(paths::nearline(with, "t0"), TH1D, Axis::fixed(1, 0.0, 1.0), "mean T0 counter integral per fill"));
    }
    for m in paths::IBMS {
        v.push(spec(format!("{}/{m}Mean", paths::WITH_DQC), TH1D, Axis::fixed(100, -20.0, 20.0).with_title("centroid [mm]"), "beam centroid per fill"));
        v.push(spec(format!("{}/{m}RMS", paths::WITH_DQC), TH1D, Axis::fixed(100, 0.0, 40.0).with_title("width [mm]"), "beam width per fill"));
    }
    for calo in 1..=N_CALOS {
        for xtal in 0..XTALS_PER_CALO {
            v.push(spec(paths::xtal_energy(calo, xtal), TH1F, Axis::fixed(250, 0.0, 4000.0).with_title("energy [MeV]"), "crystal hit energy"));
        }
    }
    let per_xtal = || Axis::fixed(N_XTALS, -0.5, N_XTALS as f64 - 0.5).with_title("crystal channel");
    v.push(spec(paths::PEDESTAL_RMS.into(), TProfile, per_xtal(), "pedestal RMS [ADC counts]"));
    v.push(spec(paths::SOURCE_MONITOR.into(), TProfile, Axis::fixed(N_LASERS, 0.5, N_LASERS as f64 + 0.5).with_title("laser"), "source monitor amplitude"));
    v.push(spec(paths::OUT_OF_FILL.into(), TProfile, per_xtal(), "out-of-fill laser ratio"));
    for calo in 1..=N_CALOS {
        for xtal in 0..XTALS_PER_CALO {
            v.push(spec(paths::in_fill(calo, xtal), TProfile, Axis::fixed(200, 0.0, 400.0).with_title("time in fill [us]"), "in-fill laser ratio / out-of-fill ratio"));
        }
    }
    let kickers = || Axis::fixed(N_KICKERS, 0.5, N_KICKERS as f64 + 0.5).with_title("kicker");
    v.push(spec(paths::KICKER_AMPLITUDE.into(), TProfile, kickers(), "kicker amplitude [kV]"));
    v.push(spec(paths::KICKER_TIMING.into(), TProfile, kickers(), "kicker timing offset [ns]"));
    v.push(spec(paths::KICKER_FWHM.into(), TProfile, kickers(), "kicker pulse FWHM [ns]"));
    for p in [paths::QUAD_STEP1, paths::QUAD_STEP2] {
        v.push(spec(p.into(), TH1D, Axis::fixed(300, 0.0, 30.0).with_title("voltage [kV]"), "quadrupole voltage per fill"));
    }
    v.push(spec(paths::SINGLES.into(), TH1D, Axis::fixed(100, 30.0, 630.0).with_title("time [us]"), "coincidence level 1 clusters"));
    v.push(spec(paths::DOUBLES.into(), TH1D, Axis::fixed(100, 0.0, 20.0).with_title("delta t [ns]"), "coincidence level 2 time differences"));
    v.push(spec(paths::STRAW_HITS.into(), TH1D, Axis::fixed(N_STRAWS, -0.5, N_STRAWS as f64 - 0.5).with_title("straw channel"), "hits per straw"));
    v.push(ObjectSpec {
        path: paths::DRIFT_TIME.into(),
        class: TH2F,
        x: Axis::fixed(N_STRAWS, -0.5, N_STRAWS as f64 - 0.5).with_title("straw channel"),
        y: Some(Axis::fixed(60, 0.0, 120.0).with_title("drift time [ns]")),
        title: "drift time per straw",
    });
    v.push(spec(paths::HV_TRIPS.into(), TH1D, Axis::fixed(N_MODULES, -0.5, N_MODULES as f64 - 0.5).with_title("module (station index * 8 + module)"), "fills with HV tripped"));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_follow_the_contract() {
        assert_eq!(xtal_channel(1, 0), 0);
        assert_eq!(xtal_channel(24, 53), 1295);
        assert_eq!(xtal_of(1295), (24, 53));
        assert_eq!(xtal_row_col(53), (5, 8));
        assert_eq!(straw_channel(12, 0, 0), 0);
        assert_eq!(straw_channel(18, 7, 127), 2047);
        assert_eq!(straw_of(1024 + 3 * 128 + 5), (18, 3, 5));
        assert_eq!(module_index(straw_channel(18, 2, 100)), 10);
        assert_eq!(laser_of_calo(4), 1);
        assert_eq!(laser_of_calo(5), 2);
        assert_eq!(laser_of_calo(24), 6);
        for ch in 0..N_XTALS {
            let (c, x) = xtal_of(ch);
            assert_eq!(xtal_channel(c, x), ch);
        }
        for ch in 0..N_STRAWS {
            let (s, m, w) = straw_of(ch);
            assert_eq!(straw_channel(s, m, w), ch);
        }
    }

    #[test]
    fn catalogue_has_every_object_once() {
        let v = contract_objects();
        assert_eq!(v.len(), 6 + 8 + 1296 + 3 + 1296 + 3 + 2 + 2 + 3);
        let mut paths: Vec<&str> = v.iter().map(|o| o.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), v.len());
        let drift = v.iter().find(|o| o.path == "tracker/driftTime").unwrap();
        assert_eq!((drift.x.nbins, drift.y.as_ref().unwrap().nbins), (2048, 60));
    }
}
