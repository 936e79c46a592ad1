//! The standard DQC and gain-calibration plots (issue 8), as PNG and SVG, rendered
//! in parallel with plotters. Text uses DejaVu Sans embedded in the binary (plotters'
//! `ab_glyph` backend), so no system font or fontconfig is needed.
//!
//! - [`data`]: what the plots read back from an output directory.
//! - [`pages`]: one function per kind of page, generic over the plotters backend so
//!   the PNG and the SVG are drawn by the same code.
//!
//! Every page has a title naming the plot and a second line naming the dataset, the
//! run range, the cut file and the tag; every axis has a label with its unit.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use rayon::prelude::*;

pub mod data;
pub mod report;
mod pages;

pub use data::{load, Channel, PlotInputs};

/// The font family every text uses; registered once from the embedded DejaVu Sans.
pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded fonts with plotters (idempotent).
pub fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are the crate's embedded TTF files: they parse, or the build is broken.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// The quantities of the calorimeter maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapQuantity {
    Gain,
    Amplitude,
    Tau,
    Hits,
    PedestalRms,
}

impl MapQuantity {
    pub const ALL: [MapQuantity; 5] = [MapQuantity::Gain, MapQuantity::Amplitude, MapQuantity::Tau, MapQuantity::Hits, MapQuantity::PedestalRms];

    fn key(self) -> &'static str {
        match self {
            MapQuantity::Gain => "gain",
            MapQuantity::Amplitude => "ifg_amp",
            MapQuantity::Tau => "ifg_tau",
            MapQuantity::Hits => "hits",
            MapQuantity::PedestalRms => "pedestal_rms",
        }
    }

    /// The colour-bar label, with its unit.
    fn label(self) -> &'static str {
        match self {
            MapQuantity::Gain => "gain (out-of-fill ratio / reference run)",
            MapQuantity::Amplitude => "in-fill gain sag amplitude A",
            MapQuantity::Tau => "in-fill recovery time tau [us]",
            MapQuantity::Hits => "hits (energy spectrum entries)",
            MapQuantity::PedestalRms => "pedestal RMS [ADC counts]",
        }
    }

    fn title(self) -> &'static str {
        match self {
            MapQuantity::Gain => "Calorimeter map: out-of-fill gain",
            MapQuantity::Amplitude => "Calorimeter map: in-fill gain amplitude A",
            MapQuantity::Tau => "Calorimeter map: in-fill tau",
            MapQuantity::Hits => "Calorimeter map: hits",
            MapQuantity::PedestalRms => "Calorimeter map: pedestal RMS",
        }
    }
}

/// One page of the standard set.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    CaloMap { quantity: MapQuantity, interval: usize },
    GainVsRun,
    Distributions,
    Fit { index: usize },
    Metric { cut: usize },
    DqcHeatmap,
    CumulativeCtags,
    StrawMap,
    DriftTimes,
}

/// A page to render: its file stem (under `plots/`), its title and a caption for
/// the report.
#[derive(Debug, Clone)]
pub struct PlotSpec {
    pub name: String,
    pub title: String,
    pub caption: String,
    /// The report's section.
    pub section: &'static str,
    pub size: (u32, u32),
    pub page: Page,
}

/// A rendered page.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub spec: PlotSpec,
    pub png: PathBuf,
    pub svg: PathBuf,
}

pub const SECTIONS: [&str; 6] = ["Data quality summary", "Subrun metrics", "Calorimeter maps", "Gain calibration", "In-fill gain fits", "Tracker"];

/// The standard set for these inputs. `max_map_intervals`: calorimeter maps for at
/// most that many intervals (the last ones), so a dataset of hundreds of runs does
/// not give thousands of maps.
pub fn standard_set(inp: &PlotInputs, max_map_intervals: usize) -> Vec<PlotSpec> {
    let mut v = Vec::new();
    let mut add = |name: String, title: String, caption: String, section: &'static str, size: (u32, u32), page: Page| {
        v.push(PlotSpec { name, title, caption, section, size, page });
    };
    add(
        "dqc_pass_fraction".into(),
        "DQC summary: pass fraction per run and flag".into(),
        "Fraction of each run's subruns that pass each flag of the cut file; the last column is the required flags together (ok).".into(),
        SECTIONS[0],
        (1600, 1000),
        Page::DqcHeatmap,
    );
    add(
        "dqc_cumulative_ctags".into(),
        "DQC summary: cumulative CTAGs".into(),
        "CTAGs accumulated in good subruns (all required flags pass) and in all subruns, in dataset order.".into(),
        SECTIONS[0],
        (1600, 900),
        Page::CumulativeCtags,
    );
    for (i, cut) in inp.cuts.cuts.iter().enumerate() {
        add(
            format!("metric_{:02}_{}", i + 1, sanitize(&cut.name)),
            format!("Subrun metric: {} (flag {})", cut.target, cut.flag),
            format!("Cut `{}` on {} per subrun; shaded: allowed; red crosses: subruns failing this cut.", cut.name, cut.target),
            SECTIONS[1],
            (1600, (160 + 420 * pages::metric_grid(cut.metrics.len()).0 as u32).max(800)),
            Page::Metric { cut: i },
        );
    }
    let first_map = inp.intervals.len().saturating_sub(max_map_intervals.max(1));
    for (k, iv) in inp.intervals.iter().enumerate().skip(first_map) {
        for q in MapQuantity::ALL {
            add(
                format!("calo_map_{}_{}", q.key(), iv.file_tag()),
                format!("{} ({})", q.title(), iv.label()),
                format!("The 24 calorimeters, each 6 rows x 9 columns of crystals, {}; dead, hot and noisy crystals marked.", iv.label()),
                SECTIONS[2],
                (1800, 1150),
                Page::CaloMap { quantity: q, interval: k },
            );
        }
    }
    add(
        "gain_vs_run".into(),
        "Gain versus run per calorimeter".into(),
        "Mean out-of-fill gain of each calorimeter's crystals (status ok) per interval; bars: RMS over the crystals.".into(),
        SECTIONS[3],
        (1800, 1150),
        Page::GainVsRun,
    );
    add(
        "gain_distributions".into(),
        "Distributions of gain, A and tau".into(),
        "Out-of-fill gain, in-fill amplitude A and recovery time tau of every crystal with status ok, all intervals.".into(),
        SECTIONS[3],
        (1800, 700),
        Page::Distributions,
    );
    for (i, f) in inp.fits.iter().enumerate() {
        let (calo, xtal) = crate::layout::xtal_of(f.channel);
        let iv = &inp.intervals[f.interval];
        add(
            format!("fit_{}_calo{calo}_xtal{xtal}", iv.file_tag()),
            format!("In-fill gain fit: calo {calo} xtal {xtal} ({}, {})", iv.label(), f.why),
            format!("Profile points with errors (grey: not in the fit range or too few entries), the fitted N (1 - A exp(-t/tau)) and the residuals; shown as {}.", f.why),
            SECTIONS[4],
            (1400, 1000),
            Page::Fit { index: i },
        );
    }
    add(
        "tracker_straw_map".into(),
        "Tracker: straw occupancy".into(),
        "Hits per straw summed over all intervals, station x module (rows) by straw (columns); dead and noisy straws marked.".into(),
        SECTIONS[5],
        (1800, 800),
        Page::StrawMap,
    );
    if inp.drift.is_some() {
        add(
            "tracker_drift_times".into(),
            "Tracker: drift-time distribution per module".into(),
            "Drift-time distribution of each tracker module (all its straws, all intervals).".into(),
            SECTIONS[5],
            (1800, 1150),
            Page::DriftTimes,
        );
    }
    v
}

/// The report section of a standard page, from its file stem alone (the naming of
/// [`standard_set`]): `None` for a name the standard set never gives. Readers of an
/// output directory (`results`) group the files in `OUT/plots` with it, without the
/// inputs the set is built from.
pub fn section_of_name(name: &str) -> Option<&'static str> {
    let k = if name.starts_with("dqc_") {
        0
    } else if name.starts_with("metric_") {
        1
    } else if name.starts_with("calo_map_") {
        2
    } else if name.starts_with("gain_") {
        3
    } else if name.starts_with("fit_") {
        4
    } else if name.starts_with("tracker_") {
        5
    } else {
        return None;
    };
    Some(SECTIONS[k])
}

/// A title for a standard page from its file stem: the page's own title for the
/// fixed pages and the calorimeter maps, a shorter one naming the cut or the crystal
/// for metric and fit pages (whose full titles need the cut file or the fit's
/// reason); `None` for a name the standard set never gives.
pub fn title_of_name(name: &str) -> Option<String> {
    let fixed = [
        ("dqc_pass_fraction", "DQC summary: pass fraction per run and flag"),
        ("dqc_cumulative_ctags", "DQC summary: cumulative CTAGs"),
        ("gain_vs_run", "Gain versus run per calorimeter"),
        ("gain_distributions", "Distributions of gain, A and tau"),
        ("tracker_straw_map", "Tracker: straw occupancy"),
        ("tracker_drift_times", "Tracker: drift-time distribution per module"),
    ];
    if let Some((_, t)) = fixed.iter().find(|(n, _)| *n == name) {
        return Some(t.to_string());
    }
    // "run15921" or "runs15921-15922" as IntervalData::label says it.
    let label = |tag: &str| tag.strip_prefix("runs").map(|r| format!("runs {r}")).or_else(|| tag.strip_prefix("run").map(|r| format!("run {r}")));
    if let Some(rest) = name.strip_prefix("calo_map_") {
        let q = MapQuantity::ALL.into_iter().find(|q| rest.starts_with(&format!("{}_run", q.key())))?;
        return Some(format!("{} ({})", q.title(), label(&rest[q.key().len() + 1..])?));
    }
    if let Some(rest) = name.strip_prefix("fit_") {
        let (tag, chan) = rest.split_once("_calo")?;
        let (calo, xtal) = chan.split_once("_xtal")?;
        return Some(format!("In-fill gain fit: calo {calo} xtal {xtal} ({})", label(tag)?));
    }
    if let Some(rest) = name.strip_prefix("metric_") {
        let (_, cut) = rest.split_once('_')?;
        return Some(format!("Subrun metric: cut {cut}"));
    }
    None
}

/// A file-name-safe version of a name.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// A page that could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    /// The file it was for.
    pub path: std::path::PathBuf,
    pub message: String,
    /// True when the file could not be written (a full disk, permissions), false when
    /// the page could not be drawn.
    pub write: bool,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Renders every page as `dir/NAME.png` and `dir/NAME.svg`, in parallel on the
/// current rayon pool. A page that fails is reported and the others still render.
pub fn render_all(inp: &PlotInputs, specs: &[PlotSpec], dir: &Path, progress: &(dyn Fn(u64) + Sync)) -> (Vec<Rendered>, Vec<PageError>) {
    register_fonts();
    let results: Vec<Result<Rendered, PageError>> = specs
        .par_iter()
        .map(|spec| {
            let r = render_one(inp, spec, dir);
            progress(1);
            r
        })
        .collect();
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(x) => ok.push(x),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

fn render_one(inp: &PlotInputs, spec: &PlotSpec, dir: &Path) -> Result<Rendered, PageError> {
    let png = dir.join(format!("{}.png", spec.name));
    let svg = dir.join(format!("{}.svg", spec.name));
    let fail = |path: &Path, tmp: &Path, e: String, write: bool| {
        // A temporary file left behind would hold the space a full disk needs back.
        let _ = std::fs::remove_file(tmp);
        PageError { path: path.to_path_buf(), message: format!("{}: plot {:?} failed: {e}", path.display(), spec.title), write }
    };
    // Both files are drawn under temporary names and renamed: a reader never sees half a plot.
    // The backend is dropped before a failed page's temporary file is removed: its
    // drop writes the file again.
    let tmp_png = dir.join(format!(".{}.tmp.png", spec.name));
    let drawn = {
        let root = BitMapBackend::new(&tmp_png, spec.size).into_drawing_area();
        match pages::draw(&root, inp, spec) {
            Err(e) => Err((e.to_string(), false)),
            Ok(()) => root.present().map_err(|e| (e.to_string(), true)),
        }
    };
    drawn.map_err(|(e, write)| fail(&png, &tmp_png, e, write))?;
    std::fs::rename(&tmp_png, &png).map_err(|e| fail(&png, &tmp_png, e.to_string(), true))?;
    let tmp_svg = dir.join(format!(".{}.tmp.svg", spec.name));
    let drawn = {
        let root = SVGBackend::new(&tmp_svg, spec.size).into_drawing_area();
        match pages::draw(&root, inp, spec) {
            Err(e) => Err((e.to_string(), false)),
            Ok(()) => root.present().map_err(|e| (e.to_string(), true)),
        }
    };
    drawn.map_err(|(e, write)| fail(&svg, &tmp_svg, e, write))?;
    std::fs::rename(&tmp_svg, &svg).map_err(|e| fail(&svg, &tmp_svg, e.to_string(), true))?;
    Ok(Rendered { spec: spec.clone(), png, svg })
}
