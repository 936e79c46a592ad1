//! Datasets of subrun files: file naming (`<prefix>_<run>.<subrun>.root`).
//!
//! The run and subrun are the decimal numbers between the last `_` and `.root`
//! (leading zeros allowed). Scanning directories and checksums arrive with the
//! `scan` stage.

/// A subrun's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SubrunId {
    pub run: u32,
    pub subrun: u32,
}

/// The file name of a subrun: `<prefix>_<run>.<subrun, 5 digits>.root`.
pub fn file_name(prefix: &str, id: SubrunId) -> String {
    format!("{prefix}_{}.{:05}.root", id.run, id.subrun)
}

/// Parses `<prefix>_<run>.<subrun>.root`; returns the prefix and the id, or `None`
/// for a name that is not a subrun file.
pub fn parse_file_name(name: &str) -> Option<(&str, SubrunId)> {
    let stem = name.strip_suffix(".root")?;
    let (prefix, numbers) = stem.rsplit_once('_')?;
    let (run, subrun) = numbers.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(run) || !digits(subrun) {
        return None;
    }
    Some((prefix, SubrunId { run: run.parse().ok()?, subrun: subrun.parse().ok()? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_the_contract_example() {
        let (p, id) = parse_file_name("gm2offline_dqc_run3B_15921.00042.root").unwrap();
        assert_eq!((p, id), ("gm2offline_dqc_run3B", SubrunId { run: 15921, subrun: 42 }));
        assert_eq!(file_name(p, id), "gm2offline_dqc_run3B_15921.00042.root");
        assert_eq!(parse_file_name("x_7.3.root").unwrap().1, SubrunId { run: 7, subrun: 3 });
        for bad in ["x_15921.root", "x_a.1.root", "15921.00042.root", "x_1.2.root.bak", "x_1.-2.root", "x_1..root"] {
            assert!(parse_file_name(bad).is_none(), "{bad}");
        }
    }
}
