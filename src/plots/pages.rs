//! One drawing function per kind of page, generic over the plotters backend (the
//! PNG and the SVG of a page are the same code).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{IntervalData, PlotInputs};
use super::{MapQuantity, Page, PlotSpec, FONT};
use crate::cuts::eval::{check, run_medians};
use crate::cuts::Test;
use crate::layout::{self, MODULES_PER_STATION, N_CALOS, N_MODULES, N_STRAWS, STATIONS, STRAWS_PER_MODULE, XTALS_PER_CALO, XTAL_COLS};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const GREY: RGBColor = RGBColor(150, 150, 150);
const LIGHT: RGBColor = RGBColor(225, 225, 225);
const DARK: RGBColor = RGBColor(60, 60, 60);
const PASS: RGBColor = RGBColor(31, 119, 180);
const FAIL: RGBColor = RGBColor(214, 39, 40);
const HOT: RGBColor = RGBColor(214, 39, 40);
const NOISY: RGBColor = RGBColor(255, 0, 255);
const BAND: RGBColor = RGBColor(44, 160, 44);

/// Draws `spec` onto `root`.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, inp: &PlotInputs, spec: &PlotSpec) -> R
where
    DB::ErrorType: 'static,
{
    let area = page(root, &spec.title, &inp.meta.subtitle())?;
    match &spec.page {
        Page::CaloMap { quantity, interval } => calo_map(&area, &inp.intervals[*interval], *quantity),
        Page::GainVsRun => gain_vs_run(&area, inp),
        Page::Distributions => distributions(&area, inp),
        Page::Fit { index } => fit(&area, inp, *index),
        Page::Metric { cut } => metric(&area, inp, *cut),
        Page::DqcHeatmap => dqc_heatmap(&area, inp),
        Page::CumulativeCtags => cumulative_ctags(&area, inp),
        Page::StrawMap => straw_map(&area, inp),
        Page::DriftTimes => drift_times(&area, inp),
    }
}

fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// White page, bold title, the dataset line; returns the area below them.
fn page<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, subtitle: &str) -> R<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    root.draw_text(title, &(FONT, 26).into_font().style(FontStyle::Bold).color(&BLACK), (18, 12))?;
    root.draw_text(subtitle, &(FONT, 17).into_font().color(&DARK), (18, 48))?;
    Ok(root.margin(80, 8, 8, 8))
}

/// A note at the bottom of a page (legend, definitions).
fn footnote<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, note: &str) -> R<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let h = area.dim_in_pixel().1 as i32;
    let (main, foot) = area.split_vertically(h - 34);
    foot.draw_text(note, &text(16).color(&DARK), (10, 8))?;
    Ok(main)
}

fn viridis(v: f64, lo: f64, hi: f64) -> RGBColor {
    let x = if hi > lo { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.5 };
    ViridisRGB.get_color(x as f32)
}

/// The 1st to 99th percentile of the finite values (so one outlier does not wash
/// out the map); widened when flat; (0, 1) without values.
fn robust_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let (lo, hi) = (q(0.01), q(0.99));
    if hi > lo {
        (lo, hi)
    } else {
        let d = lo.abs() * 0.01 + 1e-9;
        (lo - d, hi + d)
    }
}

/// The smallest and largest finite value, padded by 5 %.
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|x| x.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let d = if hi > lo { 0.05 * (hi - lo) } else { lo.abs() * 0.05 + 1.0 };
    (lo - d, hi + d)
}

/// A vertical colour bar for [lo, hi].
fn colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, lo: f64, hi: f64, label: &str) -> R
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area).margin_top(30).margin_bottom(30).margin_right(10).y_label_area_size(90).build_cartesian_2d(0f64..1f64, lo..hi)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(8)
        .y_label_formatter(&ticks(lo, hi))
        .label_style(text(15))
        .y_desc(label)
        .axis_desc_style(text(16))
        .draw()?;
    let n = 120;
    chart.draw_series((0..n).map(|i| {
        let a = lo + (hi - lo) * i as f64 / n as f64;
        let b = lo + (hi - lo) * (i + 1) as f64 / n as f64;
        Rectangle::new([(0.0, a), (1.0, b)], viridis(0.5 * (a + b), lo, hi).filled())
    }))?;
    Ok(())
}

/// Tick labels for an axis over [lo, hi]: enough decimals that neighbouring ticks
/// (about a sixth of the range apart) differ.
fn ticks(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let step = ((hi - lo).abs() / 6.0).max(f64::MIN_POSITIVE);
    let decimals = (-step.log10()).ceil().clamp(0.0, 8.0) as usize;
    let big = lo.abs().max(hi.abs()) >= 1e6;
    move |v: &f64| {
        if big {
            format!("{v:.2e}")
        } else {
            format!("{v:.decimals$}")
        }
    }
}

/// A number in at most ~6 significant characters (captions).
fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = if a >= 100.0 { format!("{v:.0}") } else if a >= 1.0 { format!("{v:.2}") } else { format!("{v:.4}") };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn map_values(iv: &IntervalData, q: MapQuantity) -> Vec<Option<f64>> {
    match q {
        MapQuantity::Gain => iv.gain.clone(),
        MapQuantity::Amplitude => iv.amp.clone(),
        MapQuantity::Tau => iv.tau.clone(),
        MapQuantity::Hits => iv.hits.clone(),
        MapQuantity::PedestalRms => iv.pedestal_rms.clone(),
    }
}

const MAP_LEGEND: &str = "\u{d7} dead   red square: hot   magenta circle: noisy   light grey: no value.   Crystal = 9 x row + column, row 0 at the top. \
    Colour scale: 1st-99th percentile, values beyond it drawn at its ends.";

fn calo_map<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, iv: &IntervalData, q: MapQuantity) -> R
where
    DB::ErrorType: 'static,
{
    let area = footnote(area, MAP_LEGEND)?;
    let values = map_values(iv, q);
    let (lo, hi) = robust_range(values.iter().flatten().copied());
    let w = area.dim_in_pixel().0 as i32;
    let (maps, bar) = area.split_horizontally(w - 150);
    colour_bar(&bar, lo, hi, q.label())?;
    let rows = XTALS_PER_CALO / XTAL_COLS;
    for (i, panel) in maps.split_evenly((4, 6)).iter().enumerate().take(N_CALOS) {
        let calo = i + 1;
        let mut chart = ChartBuilder::on(panel).caption(format!("calo {calo}"), text(17)).margin(6).build_cartesian_2d(0f64..XTAL_COLS as f64, 0f64..rows as f64)?;
        let cells: Vec<(f64, f64, usize)> = (0..XTALS_PER_CALO)
            .map(|x| {
                let (r, c) = layout::xtal_row_col(x);
                (c as f64, (rows - 1 - r) as f64, layout::xtal_channel(calo, x))
            })
            .collect();
        chart.draw_series(cells.iter().map(|&(x, y, ch)| {
            let colour = values[ch].filter(|v| v.is_finite()).map_or(LIGHT, |v| viridis(v, lo, hi));
            Rectangle::new([(x, y), (x + 1.0, y + 1.0)], colour.filled())
        }))?;
        chart.draw_series(cells.iter().map(|&(x, y, _)| Rectangle::new([(x, y), (x + 1.0, y + 1.0)], WHITE.stroke_width(1))))?;
        chart.draw_series(cells.iter().filter(|c| iv.dead[c.2]).map(|&(x, y, _)| Cross::new((x + 0.5, y + 0.5), 6, BLACK.stroke_width(3))))?;
        chart.draw_series(cells.iter().filter(|c| iv.hot[c.2]).map(|&(x, y, _)| Rectangle::new([(x + 0.1, y + 0.1), (x + 0.9, y + 0.9)], HOT.stroke_width(3))))?;
        chart.draw_series(cells.iter().filter(|c| iv.noisy[c.2]).map(|&(x, y, _)| Circle::new((x + 0.5, y + 0.5), 6, NOISY.stroke_width(3))))?;
    }
    Ok(())
}

/// Mean and RMS over a calorimeter's crystals with status ok and a gain.
fn calo_gain(iv: &IntervalData, calo: usize) -> Option<(f64, f64)> {
    let g: Vec<f64> = (0..XTALS_PER_CALO)
        .map(|x| layout::xtal_channel(calo, x))
        .filter(|&ch| iv.status.get(ch).is_some_and(|s| s == "ok"))
        .filter_map(|ch| iv.gain[ch])
        .filter(|v| v.is_finite())
        .collect();
    if g.is_empty() {
        return None;
    }
    let m = g.iter().sum::<f64>() / g.len() as f64;
    let rms = (g.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / g.len() as f64).sqrt();
    Some((m, rms))
}

fn gain_vs_run<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs) -> R
where
    DB::ErrorType: 'static,
{
    let area = footnote(area, "Points: mean gain of the calorimeter's crystals with status ok in each interval (at its middle run); bars: RMS over those crystals.")?;
    let points: Vec<Vec<(f64, f64, f64)>> = (1..=N_CALOS)
        .map(|calo| inp.intervals.iter().filter_map(|iv| calo_gain(iv, calo).map(|(m, s)| (0.5 * (iv.first as f64 + iv.last as f64), m, s))).collect())
        .collect();
    let (ylo, yhi) = padded_range(points.iter().flatten().flat_map(|p| [p.1 - p.2, p.1 + p.2]));
    let (xlo, xhi) = (inp.meta.run_first as f64 - 0.5, inp.meta.run_last as f64 + 0.5);
    for (i, panel) in area.split_evenly((4, 6)).iter().enumerate().take(N_CALOS) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("calo {}", i + 1), text(16))
            .margin(6)
            .x_label_area_size(34)
            .y_label_area_size(58)
            .build_cartesian_2d(xlo..xhi, ylo..yhi)?;
        chart
            .configure_mesh()
            .x_labels(3)
            .y_labels(4)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&ticks(ylo, yhi))
            .label_style(text(13))
            .x_desc("run")
            .y_desc("gain")
            .axis_desc_style(text(14))
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(points[i].iter().map(|&(x, m, s)| ErrorBar::new_vertical(x, m - s, m, m + s, PASS.filled().stroke_width(2), 8)))?;
        chart.draw_series(points[i].iter().map(|&(x, m, _)| Circle::new((x, m), 4, PASS.filled())))?;
    }
    Ok(())
}

/// A histogram of `values` as bars, with a caption giving the count, mean and RMS.
fn histogram<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, values: &[f64], x_desc: &str, what: &str) -> R
where
    DB::ErrorType: 'static,
{
    let (lo, hi) = robust_range(values.iter().copied());
    let (lo, hi) = (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo));
    let nb = 50;
    let w = (hi - lo) / nb as f64;
    let mut counts = vec![0u32; nb];
    for &v in values {
        let b = ((v - lo) / w).floor();
        if b >= 0.0 && (b as usize) < nb {
            counts[b as usize] += 1;
        }
    }
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let rms = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{what}: {} crystals, mean {}, RMS {}", values.len(), short(mean), short(rms)), text(17))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, 0f64..top)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&ticks(lo, hi))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(text(15))
        .x_desc(x_desc)
        .y_desc("crystals per bin")
        .axis_desc_style(text(16))
        .draw()?;
    chart.draw_series(counts.iter().enumerate().filter(|c| *c.1 > 0).map(|(i, &c)| {
        let x0 = lo + i as f64 * w;
        Rectangle::new([(x0, 0.0), (x0 + w, c as f64)], PASS.mix(0.8).filled())
    }))?;
    Ok(())
}

fn distributions<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs) -> R
where
    DB::ErrorType: 'static,
{
    let ok = |iv: &IntervalData, col: &[Option<f64>]| -> Vec<f64> {
        col.iter().enumerate().filter(|(ch, _)| iv.status.get(*ch).is_some_and(|s| s == "ok")).filter_map(|(_, v)| *v).filter(|v| v.is_finite()).collect::<Vec<_>>()
    };
    // The reference run's own gains are 1 +- 0 by definition: left out.
    let gains: Vec<f64> = inp
        .intervals
        .iter()
        .flat_map(|iv| ok(iv, &iv.gain.iter().zip(&iv.gain_err).map(|(g, e)| g.filter(|_| e.is_some_and(|e| e > 0.0))).collect::<Vec<_>>()))
        .collect();
    let amps: Vec<f64> = inp.intervals.iter().flat_map(|iv| ok(iv, &iv.amp)).collect();
    let taus: Vec<f64> = inp.intervals.iter().flat_map(|iv| ok(iv, &iv.tau)).collect();
    let panels = area.split_evenly((1, 3));
    histogram(&panels[0], &gains, "gain (out-of-fill ratio / reference run; reference run left out)", "gain")?;
    histogram(&panels[1], &amps, "in-fill gain sag amplitude A", "A")?;
    histogram(&panels[2], &taus, "in-fill recovery time tau [us]", "tau")?;
    Ok(())
}

fn fit<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs, index: usize) -> R
where
    DB::ErrorType: 'static,
{
    let f = &inp.fits[index];
    let cfg = &inp.cuts.fit;
    let model = |t: f64| match (f.norm, f.amp, f.tau) {
        (Some(n), Some(a), Some(tau)) => Some(n * (1.0 - a * (-t / tau).exp())),
        _ => None,
    };
    let params = match (f.norm, f.amp, f.tau, f.chi2_ndf, f.ndf) {
        (Some(n), Some(a), Some(tau), Some(c), Some(ndf)) => format!("N = {}, A = {}, tau = {} us, chi2/ndf = {} (ndf {ndf:.0}), status {}", short(n), short(a), short(tau), short(c), f.status),
        _ => format!("no fit: status {}", f.status),
    };
    let area = footnote(area, &format!("{params}. Black: points in the fit ([{}, {}] us, >= {} entries); grey: the others.", short(cfg.t_min), short(cfg.t_max), short(cfg.min_entries)))?;
    let h = area.dim_in_pixel().1 as i32;
    let (top, bottom) = area.split_vertically(h * 68 / 100);
    let (xlo, xhi) = padded_range(f.points.iter().map(|p| p.0));
    let (ylo, yhi) = padded_range(f.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]));
    let mut chart = ChartBuilder::on(&top).margin(12).x_label_area_size(30).y_label_area_size(80).build_cartesian_2d(xlo..xhi, ylo..yhi)?;
    chart
        .configure_mesh()
        .x_label_formatter(&ticks(xlo, xhi))
        .y_label_formatter(&ticks(ylo, yhi))
        .label_style(text(15))
        .y_desc("in-fill laser ratio / out-of-fill ratio")
        .axis_desc_style(text(16))
        .draw()?;
    for (used, colour) in [(false, GREY), (true, BLACK)] {
        let pts = f.points.iter().filter(|p| p.4 == used);
        chart.draw_series(pts.clone().map(|p| ErrorBar::new_vertical(p.0, p.1 - p.2, p.1, p.1 + p.2, colour.stroke_width(1), 4)))?;
        chart.draw_series(pts.map(|p| Circle::new((p.0, p.1), 3, colour.filled())))?;
    }
    let n = 400;
    let curve: Vec<(f64, f64)> = (0..=n).map(|i| cfg.t_min + (cfg.t_max.min(xhi) - cfg.t_min) * i as f64 / n as f64).filter_map(|t| model(t).map(|y| (t, y))).collect();
    chart.draw_series(LineSeries::new(curve, FAIL.stroke_width(3)))?.label("fit N (1 - A exp(-t/tau))").legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], FAIL.stroke_width(3)));
    chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(text(15)).draw()?;

    let pulls: Vec<(f64, f64, bool)> = f.points.iter().filter_map(|p| model(p.0).filter(|_| p.2 > 0.0).map(|m| (p.0, (p.1 - m) / p.2, p.4))).collect();
    let lim = pulls.iter().filter(|p| p.2).map(|p| p.1.abs()).fold(3.0f64, f64::max).min(20.0) * 1.1;
    let mut res = ChartBuilder::on(&bottom).margin(12).x_label_area_size(50).y_label_area_size(80).build_cartesian_2d(xlo..xhi, -lim..lim)?;
    res.configure_mesh()
        .x_label_formatter(&ticks(xlo, xhi))
        .y_labels(5)
        .y_label_formatter(&ticks(-lim, lim))
        .label_style(text(15))
        .x_desc("time in fill [us]")
        .y_desc("(data - fit) / error")
        .axis_desc_style(text(16))
        .draw()?;
    res.draw_series(std::iter::once(PathElement::new(vec![(xlo, 0.0), (xhi, 0.0)], FAIL.stroke_width(2))))?;
    res.draw_series(pulls.iter().map(|&(t, p, used)| Circle::new((t, p.clamp(-lim, lim)), 3, if used { BLACK.filled() } else { GREY.filled() })))?;
    Ok(())
}

/// The x range of each run's subruns, in dataset order.
fn run_spans(inp: &PlotInputs) -> Vec<(u32, f64, f64)> {
    let mut spans: Vec<(u32, f64, f64)> = Vec::new();
    for (&run, &x) in inp.subruns.runs.iter().zip(&inp.subruns.x) {
        match spans.iter_mut().find(|s| s.0 == run) {
            Some(s) => {
                s.1 = s.1.min(x);
                s.2 = s.2.max(x);
            }
            None => spans.push((run, x, x)),
        }
    }
    spans
}

fn x_desc(inp: &PlotInputs) -> &str {
    &inp.subruns.x_label
}

/// Rows and columns of the panels of a metric page: one column up to three metrics,
/// two beyond.
pub(super) fn metric_grid(n: usize) -> (usize, usize) {
    if n <= 3 {
        (n.max(1), 1)
    } else {
        (n.div_ceil(2), 2)
    }
}

fn metric<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs, ci: usize) -> R
where
    DB::ErrorType: 'static,
{
    let cut = &inp.cuts.cuts[ci];
    let s = &inp.subruns;
    let area = footnote(area, &format!("Blue: passes; red cross: fails flag {}; grey ring: passes this cut, subrun bad for another flag. Green: allowed band per run (line: run median); vertical lines: run boundaries.", cut.flag))?;
    let spans = run_spans(inp);
    let step = spacing(&s.x);
    let (xlo, xhi) = padded_range(s.x.iter().copied());
    let unit = if cut.unit == "1" { String::new() } else { format!(" [{}]", cut.unit) };
    let panels = area.split_evenly(metric_grid(cut.metrics.len()));
    for (panel, &m) in panels.iter().zip(&cut.metrics) {
        let values = &s.columns[m];
        let medians = run_medians(values, &s.runs);
        // Per point: pass or fail of this cut (the evaluation's own check), and its error bar.
        let mut pts: Vec<(f64, f64, bool, bool, Option<f64>)> = Vec::new();
        for (row, v) in values.iter().enumerate() {
            let Some(v) = v.filter(|v| v.is_finite()) else { continue };
            let run = s.runs[row];
            let test = inp.cuts.test_for(ci, run);
            let err = match test {
                Test::ErrorsOfRunMedian { error, .. } => s.columns.get(*error).and_then(|c| c[row]),
                _ => None,
            };
            let pass = check(m, cut.unit, Some(v), test, medians.get(&run).copied(), err).is_ok();
            let bar = match test {
                Test::ErrorsOfRunMedian { k, .. } => err.map(|e| k * e),
                _ => None,
            };
            pts.push((s.x[row], v, pass, inp.eval.ok[row], bar));
        }
        // The band of each run.
        let bands: Vec<Band> = spans
            .iter()
            .map(|&(run, a, b)| {
                let med = medians.get(&run).copied();
                let (lo, hi, line) = match inp.cuts.test_for(ci, run) {
                    Test::Range { low, high } => (low.map(|b| b.value), high.map(|b| b.value), None),
                    Test::Equals(v) => (None, None, Some(*v)),
                    Test::FractionOfRunMedian(f) => med.map_or((None, None, None), |m| (Some(m - f * m.abs()), Some(m + f * m.abs()), Some(m))),
                    Test::ErrorsOfRunMedian { .. } => (None, None, med),
                };
                Band { a: a - 0.5 * step, b: b + 0.5 * step, lo, hi, line }
            })
            .collect();
        let (ylo, yhi) = padded_range(pts.iter().flat_map(|p| [p.1 - p.4.unwrap_or(0.0), p.1 + p.4.unwrap_or(0.0)]).chain(bands.iter().flat_map(|b| [b.lo, b.hi, b.line]).flatten()));
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{m}{unit}: {} of {} subruns fail", pts.iter().filter(|p| !p.2).count() + values.iter().filter(|v| !v.is_some_and(f64::is_finite)).count(), values.len()), text(17))
            .margin(10)
            .x_label_area_size(46)
            .y_label_area_size(90)
            .build_cartesian_2d(xlo..xhi, ylo..yhi)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&ticks(xlo, xhi))
            .y_label_formatter(&ticks(ylo, yhi))
            .label_style(text(15))
            .x_desc(x_desc(inp))
            .y_desc(format!("{m}{unit}"))
            .axis_desc_style(text(16))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        chart.draw_series(bands.iter().filter(|b| b.lo.is_some() || b.hi.is_some()).map(|b| Rectangle::new([(b.a, b.lo.unwrap_or(ylo)), (b.b, b.hi.unwrap_or(yhi))], BAND.mix(0.18).filled())))?;
        chart.draw_series(bands.iter().filter_map(|b| b.line.map(|y| PathElement::new(vec![(b.a, y), (b.b, y)], BAND.stroke_width(2)))))?;
        chart.draw_series(spans.iter().skip(1).map(|&(_, a, _)| {
            let x = a - 0.5 * step;
            PathElement::new(vec![(x, ylo), (x, yhi)], GREY.stroke_width(1))
        }))?;
        if spans.len() <= 40 {
            chart.draw_series(spans.iter().map(|&(run, a, _)| Text::new(format!("{run}"), (a, yhi), text(13).color(&DARK))))?;
        }
        chart.draw_series(pts.iter().filter_map(|p| p.4.map(|e| ErrorBar::new_vertical(p.0, p.1 - e, p.1, p.1 + e, GREY.stroke_width(1), 4))))?;
        chart.draw_series(pts.iter().filter(|p| p.2 && p.3).map(|p| Circle::new((p.0, p.1), 3, PASS.filled())))?;
        chart.draw_series(pts.iter().filter(|p| p.2 && !p.3).map(|p| Circle::new((p.0, p.1), 4, GREY.stroke_width(2))))?;
        chart.draw_series(pts.iter().filter(|p| !p.2).map(|p| Cross::new((p.0, p.1), 6, FAIL.stroke_width(3))))?;
    }
    Ok(())
}

/// The allowed band of one run on a metric page: x from `a` to `b`, the bounds (a
/// missing one is open), and a line (the run median, or the value of `equals`).
struct Band {
    a: f64,
    b: f64,
    lo: Option<f64>,
    hi: Option<f64>,
    line: Option<f64>,
}

/// The typical spacing of the x values (band edges, run boundaries): the median
/// gap between neighbours, so a pause between runs does not widen it.
fn spacing(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0.0).collect();
    let m = crate::analysis::channels::median(gaps);
    if m.is_finite() && m > 0.0 {
        m
    } else {
        1.0
    }
}

fn dqc_heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs) -> R
where
    DB::ErrorType: 'static,
{
    let ev = &inp.eval;
    let runs = ev.run_summaries();
    let mut columns: Vec<String> = ev.flags.iter().map(|f| f.0.clone()).collect();
    columns.push("ok (required)".into());
    let (nx, ny) = (columns.len(), runs.len().max(1));
    let area = footnote(area, "Cell: fraction of the run's subruns that pass the flag. The last column: all required flags together (a good subrun).")?;
    let w = area.dim_in_pixel().0 as i32;
    let (main, bar) = area.split_horizontally(w - 150);
    colour_bar(&bar, 0.0, 1.0, "pass fraction")?;
    let mut chart = ChartBuilder::on(&main)
        .margin(10)
        .x_label_area_size(70)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..nx as f64 - 0.5, -0.5f64..ny as f64 - 0.5)?;
    let names = columns.clone();
    let run_names: Vec<u32> = runs.iter().map(|r| r.run).collect();
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(nx + 1)
        .y_labels(ny.min(40) + 1)
        .x_label_formatter(&|v| category(*v, &names))
        .y_label_formatter(&|v| category(*v, &run_names.iter().map(|r| r.to_string()).collect::<Vec<_>>()))
        .label_style(text(14))
        .x_desc("flag")
        .y_desc("run")
        .axis_desc_style(text(16))
        .draw()?;
    let show_text = ny <= 30;
    for (j, r) in runs.iter().enumerate() {
        let ok_fraction = r.good_subruns as f64 / r.subruns.max(1) as f64;
        for (i, frac) in r.pass_fraction.iter().copied().chain(std::iter::once(ok_fraction)).enumerate() {
            let (x, y) = (i as f64, j as f64);
            chart.draw_series(std::iter::once(Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], viridis(frac, 0.0, 1.0).filled())))?;
            if show_text {
                let colour = if frac < 0.6 { WHITE } else { BLACK };
                chart.draw_series(std::iter::once(Text::new(format!("{frac:.2}"), (x - 0.12, y + 0.1), text(15).color(&colour))))?;
            }
        }
    }
    Ok(())
}

/// The label of an integer tick of a categorical axis.
fn category<T: ToString>(v: f64, names: &[T]) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    names.get(i as usize).map(|n| n.to_string()).unwrap_or_default()
}

fn cumulative_ctags<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs) -> R
where
    DB::ErrorType: 'static,
{
    let s = &inp.subruns;
    let mut order: Vec<usize> = (0..s.x.len()).collect();
    order.sort_by(|&a, &b| s.x[a].total_cmp(&s.x[b]));
    let (mut all, mut good) = (0.0, 0.0);
    let (mut line_all, mut line_good) = (vec![], vec![]);
    for &i in &order {
        all += s.ctags[i];
        if inp.eval.ok[i] {
            good += s.ctags[i];
        }
        line_all.push((s.x[i], all));
        line_good.push((s.x[i], good));
    }
    let (xlo, xhi) = padded_range(s.x.iter().copied());
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} CTAGs in good subruns of {} ({:.1} %)", short(good), short(all), if all > 0.0 { 100.0 * good / all } else { 0.0 }), text(18))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(100)
        .build_cartesian_2d(xlo..xhi, 0f64..(all.max(1.0) * 1.05))?;
    chart
        .configure_mesh()
        .x_label_formatter(&ticks(xlo, xhi))
        .y_label_formatter(&ticks(0.0, all.max(1.0) * 1.05))
        .label_style(text(15))
        .x_desc(x_desc(inp))
        .y_desc("cumulative CTAGs")
        .axis_desc_style(text(16))
        .draw()?;
    chart.draw_series(LineSeries::new(line_all, GREY.stroke_width(3)))?.label("all subruns").legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], GREY.stroke_width(3)));
    chart.draw_series(LineSeries::new(line_good, PASS.stroke_width(3)))?.label("good subruns (all required flags pass)").legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], PASS.stroke_width(3)));
    chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(text(16)).draw()?;
    Ok(())
}

fn module_name(m: usize) -> String {
    format!("st{} m{}", STATIONS[m / MODULES_PER_STATION], m % MODULES_PER_STATION)
}

fn straw_map<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs) -> R
where
    DB::ErrorType: 'static,
{
    let mut hits = vec![0.0; N_STRAWS];
    let (mut dead, mut noisy) = (vec![false; N_STRAWS], vec![false; N_STRAWS]);
    for iv in &inp.intervals {
        for ch in 0..N_STRAWS {
            hits[ch] += iv.straw_hits[ch].unwrap_or(0.0);
            dead[ch] |= iv.straw_dead[ch];
            noisy[ch] |= iv.straw_noisy[ch];
        }
    }
    let area = footnote(area, "\u{d7}: dead in some interval;  magenta circle: noisy in some interval. Colour scale: 1st-99th percentile of the hits.")?;
    let (lo, hi) = robust_range(hits.iter().copied());
    let w = area.dim_in_pixel().0 as i32;
    let (main, bar) = area.split_horizontally(w - 150);
    colour_bar(&bar, lo, hi, "hits (all intervals)")?;
    let mut chart = ChartBuilder::on(&main)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..STRAWS_PER_MODULE as f64, -0.5f64..N_MODULES as f64 - 0.5)?;
    let names: Vec<String> = (0..N_MODULES).rev().map(module_name).collect();
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(9)
        .y_labels(N_MODULES + 1)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| category(*v, &names))
        .label_style(text(14))
        .x_desc("straw in module")
        .y_desc("station, module")
        .axis_desc_style(text(16))
        .draw()?;
    let cell = |ch: usize| {
        let (m, s) = (layout::module_index(ch), ch % STRAWS_PER_MODULE);
        (s as f64, (N_MODULES - 1 - m) as f64)
    };
    chart.draw_series((0..N_STRAWS).map(|ch| {
        let (x, y) = cell(ch);
        Rectangle::new([(x, y - 0.5), (x + 1.0, y + 0.5)], viridis(hits[ch], lo, hi).filled())
    }))?;
    chart.draw_series((0..N_STRAWS).filter(|&c| dead[c]).map(|ch| {
        let (x, y) = cell(ch);
        Cross::new((x + 0.5, y), 4, BLACK.stroke_width(2))
    }))?;
    chart.draw_series((0..N_STRAWS).filter(|&c| noisy[c]).map(|ch| {
        let (x, y) = cell(ch);
        Circle::new((x + 0.5, y), 4, NOISY.stroke_width(2))
    }))?;
    Ok(())
}

fn drift_times<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, inp: &PlotInputs) -> R
where
    DB::ErrorType: 'static,
{
    let Some(d) = &inp.drift else { return Ok(()) };
    let (by_module, lo, hi) = (&d.by_module, &d.low, &d.high);
    let w = (hi - lo) / d.bins as f64;
    let top = by_module.iter().flatten().copied().fold(0.0, f64::max).max(1.0) * 1.1;
    for (m, panel) in area.split_evenly((4, 4)).iter().enumerate().take(N_MODULES) {
        let total: f64 = by_module[m].iter().sum();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{}: {} hits", module_name(m), short(total)), text(16))
            .margin(6)
            .x_label_area_size(36)
            .y_label_area_size(62)
            .build_cartesian_2d(*lo..*hi, 0f64..top)?;
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(4)
            .x_label_formatter(&ticks(*lo, *hi))
            .y_label_formatter(&ticks(0.0, top))
            .label_style(text(13))
            .x_desc("drift time [ns]")
            .y_desc("hits per bin")
            .axis_desc_style(text(14))
            .light_line_style(WHITE)
            .draw()?;
        let steps: Vec<(f64, f64)> = by_module[m].iter().enumerate().flat_map(|(i, &c)| [(lo + i as f64 * w, c), (lo + (i + 1) as f64 * w, c)]).collect();
        chart.draw_series(LineSeries::new(steps, PASS.stroke_width(2)))?;
    }
    Ok(())
}
