//! The stages of a job, in the order of the DQC checklist. Every part of gm2dqc
//! names a stage through this enum (the board, the manifest, the command line, the
//! web application): no stage-name string literal anywhere else.

use std::fmt;
use std::str::FromStr;

/// One stage of the DQC job on a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Look at what arrived: runs, subruns, sizes, unreadable and duplicate files.
    Scan,
    /// Per-subrun metrics and channel status (the map stage).
    Metrics,
    /// The hadd stage: one merged file per interval of validity.
    Merge,
    /// Gain calibration from the merged files.
    Gain,
    /// The cut file applied to the metrics: subrun flags and the per-run summary.
    Dqc,
    /// The standard plots, the report and the e-log entry.
    Plots,
    /// Constants and flags into the conditions database.
    Upload,
}

impl Stage {
    /// Every stage, in checklist order.
    pub const ALL: [Stage; 7] = [Stage::Scan, Stage::Metrics, Stage::Merge, Stage::Gain, Stage::Dqc, Stage::Plots, Stage::Upload];

    /// The stage's name on the board, in the manifest and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Scan => "scan",
            Stage::Metrics => "metrics",
            Stage::Merge => "merge",
            Stage::Gain => "gain",
            Stage::Dqc => "dqc",
            Stage::Plots => "plots",
            Stage::Upload => "upload",
        }
    }

    /// The stage named `s`, case-insensitively.
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The stages whose outputs this stage reads (recorded in the manifest).
    pub fn needs(self) -> &'static [Stage] {
        match self {
            Stage::Scan | Stage::Metrics | Stage::Merge => &[],
            Stage::Gain => &[Stage::Merge],
            Stage::Dqc => &[Stage::Metrics],
            Stage::Plots | Stage::Upload => &[Stage::Gain, Stage::Dqc],
        }
    }

    /// The stages whose outputs become stale when this stage runs again.
    pub fn downstream(self) -> &'static [Stage] {
        match self {
            Stage::Metrics => &[Stage::Dqc, Stage::Plots],
            Stage::Merge => &[Stage::Gain, Stage::Plots],
            Stage::Gain | Stage::Dqc => &[Stage::Plots],
            Stage::Scan | Stage::Plots | Stage::Upload => &[],
        }
    }

    /// The stage after this one in the checklist.
    pub fn next(self) -> Option<Stage> {
        let i = Stage::ALL.iter().position(|s| *s == self)?;
        Stage::ALL.get(i + 1).copied()
    }

    /// The names of every stage, joined for messages ("scan, metrics, ...").
    pub fn names() -> String {
        Stage::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown stage name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage `{0}`; stages: {names}", names = Stage::names())]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;
    fn from_str(s: &str) -> Result<Stage, UnknownStage> {
        Stage::parse(s).ok_or_else(|| UnknownStage(s.to_string()))
    }
}

impl serde::Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Stage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Stage, D::Error> {
        let s = String::deserialize(d)?;
        Stage::parse(&s).ok_or_else(|| serde::de::Error::custom(UnknownStage(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn names_round_trip_case_insensitively() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
            assert_eq!(Stage::parse(&s.as_str().to_uppercase()), Some(s));
        }
        assert_eq!(Stage::parse("hadd"), None);
        assert_eq!("GAIN".parse::<Stage>(), Ok(Stage::Gain));
        assert!("nosuch".parse::<Stage>().unwrap_err().to_string().contains("scan, metrics, merge, gain, dqc, plots, upload"));
    }

    #[test]
    fn checklist_order() {
        assert_eq!(Stage::Scan.next(), Some(Stage::Metrics));
        assert_eq!(Stage::Plots.next(), Some(Stage::Upload));
        assert_eq!(Stage::Upload.next(), None);
    }
}
