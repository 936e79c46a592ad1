//! Channel status: dead, hot and noisy crystals and straws, relative to the median of
//! the channel's own calorimeter (crystals) or tracker module (straws), with factors
//! from the cut file (spec section 5 gives the standard ones).

use crate::layout::{self, N_STRAWS, N_XTALS, XTALS_PER_CALO};

/// The channel cuts of a cut file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelCuts {
    /// Crystal dead if hits < factor x calo median.
    pub xtal_dead: f64,
    /// Crystal hot if hits > factor x calo median.
    pub xtal_hot: f64,
    /// Crystal noisy if pedestal RMS > factor x calo median.
    pub xtal_noisy: f64,
    /// Straw dead if hits < factor x module median.
    pub straw_dead: f64,
    /// Straw noisy if hits > factor x module median.
    pub straw_noisy: f64,
    /// A calorimeter is good when at most this many of its crystals are not ok.
    pub calo_max_bad: u32,
}

impl ChannelCuts {
    /// The standard cut set (spec section 5).
    pub const STANDARD: ChannelCuts = ChannelCuts { xtal_dead: 0.05, xtal_hot: 5.0, xtal_noisy: 3.0, straw_dead: 0.05, straw_noisy: 5.0, calo_max_bad: 6 };
}

/// Status of one crystal.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct XtalStatus {
    pub hits: f64,
    pub pedestal_rms: f64,
    pub dead: bool,
    pub hot: bool,
    pub noisy: bool,
}

impl XtalStatus {
    pub fn ok(&self) -> bool {
        !(self.dead || self.hot || self.noisy)
    }
}

/// Status of one straw.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StrawStatus {
    pub hits: f64,
    pub dead: bool,
    pub noisy: bool,
}

impl StrawStatus {
    pub fn ok(&self) -> bool {
        !(self.dead || self.noisy)
    }
}

/// Median of finite values (mean of the two middle ones for an even count); NaN if none.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Crystal status from hits and pedestal RMS (both indexed by channel id).
pub fn xtal_status(hits: &[f64], pedestal_rms: &[f64], cuts: &ChannelCuts) -> Vec<XtalStatus> {
    assert_eq!(hits.len(), N_XTALS);
    assert_eq!(pedestal_rms.len(), N_XTALS);
    let mut out = Vec::with_capacity(N_XTALS);
    for calo in hits.chunks(XTALS_PER_CALO).zip(pedestal_rms.chunks(XTALS_PER_CALO)) {
        let (h, p) = calo;
        let (mh, mp) = (median(h.iter().copied()), median(p.iter().copied()));
        for (&hits, &ped) in h.iter().zip(p) {
            out.push(XtalStatus {
                hits,
                pedestal_rms: ped,
                dead: hits < cuts.xtal_dead * mh,
                hot: hits > cuts.xtal_hot * mh,
                noisy: ped > cuts.xtal_noisy * mp,
            });
        }
    }
    out
}

/// The quality of one calorimeter in an interval: its crystals' status counted, and
/// the per-calorimeter bit (`ok`: at most `ChannelCuts::calo_max_bad` crystals of the
/// 54 are dead, hot or noisy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaloQuality {
    /// 1..24.
    pub calo: u32,
    pub dead: u32,
    pub hot: u32,
    pub noisy: u32,
    /// Crystals that are dead, hot or noisy (one count per crystal).
    pub bad: u32,
    /// The limit it was judged with.
    pub max_bad: u32,
    pub ok: bool,
}

/// The quality of each calorimeter from its crystals' status (indexed by channel id).
pub fn calo_quality(xtals: &[XtalStatus], cuts: &ChannelCuts) -> Vec<CaloQuality> {
    xtals
        .chunks(XTALS_PER_CALO)
        .enumerate()
        .map(|(c, x)| {
            let count = |f: fn(&XtalStatus) -> bool| x.iter().filter(|s| f(s)).count() as u32;
            let bad = count(|s| !s.ok());
            CaloQuality { calo: c as u32 + 1, dead: count(|s| s.dead), hot: count(|s| s.hot), noisy: count(|s| s.noisy), bad, max_bad: cuts.calo_max_bad, ok: bad <= cuts.calo_max_bad }
        })
        .collect()
}

/// Straw status from hits per straw channel id.
pub fn straw_status(hits: &[f64], cuts: &ChannelCuts) -> Vec<StrawStatus> {
    assert_eq!(hits.len(), N_STRAWS);
    let mut out = Vec::with_capacity(N_STRAWS);
    for module in hits.chunks(layout::STRAWS_PER_MODULE) {
        let m = median(module.iter().copied());
        out.extend(module.iter().map(|&h| StrawStatus { hits: h, dead: h < cuts.straw_dead * m, noisy: h > cuts.straw_noisy * m }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_relative_to_the_own_group() {
        let mut hits = vec![1000.0; N_XTALS];
        let mut ped = vec![2.0; N_XTALS];
        hits[5] = 10.0; // dead in calo 1
        hits[60] = 6000.0; // hot in calo 2
        ped[100] = 7.0; // noisy in calo 2
        // Calo 3 runs at a tenth of the rate: its crystals are not dead.
        for h in &mut hits[108..162] {
            *h = 100.0;
        }
        let s = xtal_status(&hits, &ped, &ChannelCuts::STANDARD);
        assert!(s[5].dead && !s[5].ok());
        assert!(s[60].hot && s[100].noisy);
        assert_eq!(s.iter().filter(|x| !x.ok()).count(), 3);
        let mut straws = vec![50.0; N_STRAWS];
        straws[130] = 1.0;
        straws[2000] = 400.0;
        let t = straw_status(&straws, &ChannelCuts::STANDARD);
        assert!(t[130].dead && t[2000].noisy);
        assert_eq!(t.iter().filter(|x| !x.ok()).count(), 2);
        assert_eq!(median([3.0, f64::NAN, 1.0]), 2.0);
        let q = calo_quality(&s, &ChannelCuts::STANDARD);
        assert_eq!(q.len(), 24);
        assert_eq!((q[0].calo, q[0].dead, q[0].bad), (1, 1, 1));
        assert_eq!((q[1].hot, q[1].noisy, q[1].bad), (1, 1, 2));
        assert!(q.iter().all(|c| c.ok));
        // Seven bad crystals in calo 24 are one too many; six are not.
        let mut s = s;
        for x in &mut s[N_XTALS - 7..] {
            x.dead = true;
        }
        assert!(!calo_quality(&s, &ChannelCuts::STANDARD)[23].ok);
        assert!(calo_quality(&s, &ChannelCuts { calo_max_bad: 7, ..ChannelCuts::STANDARD })[23].ok);
        s[N_XTALS - 7].dead = false;
        assert!(calo_quality(&s, &ChannelCuts::STANDARD)[23].ok);
    }
}
