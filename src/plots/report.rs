//! The e-log material: `OUT/report.html`, one self-contained page (every plot
//! inlined as a PNG data URI, no script, no external style), and `OUT/elog.txt`, a
//! short plain-text entry. The page is well-formed XML (XHTML syntax) so any parser
//! reads it; links point only at files the plots stage wrote.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use super::data::PlotInputs;
use super::{Rendered, SECTIONS};
use crate::layout;

/// What the report says about how the outputs were made.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// gm2dqc version and git commit.
    pub software: String,
    /// Stages run, with when they finished (from the manifest), in order.
    pub stages: Vec<(String, String, bool)>,
    /// Every input problem (errors.txt), one per line.
    pub errors: Vec<String>,
    /// Pages that failed to render.
    pub plot_errors: Vec<String>,
    pub generated: String,
}

/// Text escaped for HTML element content and quoted attribute values (control
/// characters but newline and tab become spaces): the report's and the web
/// application's one escaping.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Rows shown per table before "... and N more" (everything is in the Parquet tables).
const MAX_ROWS: usize = 300;

/// A channel with bad status in one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct BadChannel {
    pub interval: String,
    pub channel: String,
    pub why: String,
}

impl BadChannel {
    fn row(&self) -> Vec<String> {
        vec![self.interval.clone(), self.channel.clone(), self.why.clone()]
    }
}

/// The bad crystals and the bad straws of every interval.
pub fn bad_channels(inp: &PlotInputs) -> (Vec<BadChannel>, Vec<BadChannel>) {
    let mut xtals = Vec::new();
    let mut straws = Vec::new();
    for iv in &inp.intervals {
        for ch in 0..layout::N_XTALS {
            let mut why: Vec<String> = [(iv.dead[ch], "dead"), (iv.hot[ch], "hot"), (iv.noisy[ch], "noisy")].iter().filter(|x| x.0).map(|x| x.1.to_string()).collect();
            if let Some(st) = iv.status.get(ch).filter(|s| *s != "ok") {
                let detail = iv.detail.get(ch).filter(|d| !d.is_empty()).map(|d| format!(": {d}")).unwrap_or_default();
                why.push(format!("gain {st}{detail}"));
            }
            if !why.is_empty() {
                let (calo, xtal) = layout::xtal_of(ch);
                xtals.push(BadChannel { interval: iv.label(), channel: format!("calo {calo} xtal {xtal} (channel {ch})"), why: why.join(", ") });
            }
        }
        for ch in 0..layout::N_STRAWS {
            let why: Vec<&str> = [(iv.straw_dead[ch], "dead"), (iv.straw_noisy[ch], "noisy")].iter().filter(|x| x.0).map(|x| x.1).collect();
            if !why.is_empty() {
                let (st, m, s) = layout::straw_of(ch);
                straws.push(BadChannel { interval: iv.label(), channel: format!("station {st} module {m} straw {s} (channel {ch})"), why: why.join(", ") });
            }
        }
    }
    (xtals, straws)
}

fn table(html: &mut String, head: &[&str], rows: impl Iterator<Item = Vec<String>>, total: usize) {
    html.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(html, "<th>{}</th>", esc(h));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows.take(MAX_ROWS) {
        html.push_str("<tr>");
        for c in row {
            let _ = write!(html, "<td>{}</td>", esc(&c));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    if total > MAX_ROWS {
        let _ = write!(html, "<p class=\"note\">... and {} more (all in the Parquet tables).</p>", total - MAX_ROWS);
    }
}

const STYLE: &str = "body{font-family:DejaVu Sans,Verdana,sans-serif;margin:2em;color:#222;max-width:1900px}\
h1{font-size:1.6em}h2{border-bottom:2px solid #1f77b4;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left}\
th{background:#eef}td.bad{color:#d62728;font-weight:bold}.note{color:#555}figure{margin:1.5em 0}\
figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#444;margin-top:.3em}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}";

/// Writes `OUT/report.html`. `plots_rel` is the plots directory relative to OUT.
pub fn write_html(out: &Path, inp: &PlotInputs, rendered: &[Rendered], info: &RunInfo, plots_rel: &str) -> std::io::Result<()> {
    let m = &inp.meta;
    let ev = &inp.eval;
    let mut h = String::with_capacity(1 << 20);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/><title>DQC report: {}</title><style>{STYLE}</style></head><body>",
        esc(&m.subtitle())
    );
    let good = ev.ok.iter().filter(|x| **x).count();
    let _ = write!(h, "<h1>DQC report: dataset {}</h1>", esc(&m.dataset));
    h.push_str("<dl>");
    let runs = ev.run_summaries();
    let mut dl = |k: &str, v: String| {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    dl("dataset", m.dataset.clone());
    dl("runs", format!("{} runs, {}-{}: {}", runs.len(), m.run_first, m.run_last, runs.iter().map(|r| r.run.to_string()).collect::<Vec<_>>().join(", ")));
    dl("subruns", format!("{} ({} good, {:.1} %)", m.subruns, good, 100.0 * good as f64 / m.subruns.max(1) as f64));
    dl("intervals of validity", inp.intervals.iter().map(|i| i.label()).collect::<Vec<_>>().join(", "));
    dl("cut file", format!("{} from {}", m.cuts, m.cuts_source));
    dl("cut file SHA-256", m.cuts_sha256.clone());
    dl("tag", m.tag.clone().unwrap_or_else(|| "(none given)".into()));
    dl("software", info.software.clone());
    dl("stages", info.stages.iter().map(|(s, t, failed)| format!("{s} {t}{}", if *failed { " (with failures)" } else { "" })).collect::<Vec<_>>().join("; "));
    dl("generated", info.generated.clone());
    h.push_str("</dl>");

    h.push_str("<h2>Per-run summary</h2>");
    let mut head: Vec<&str> = vec!["run", "subruns", "good", "good %"];
    head.extend(ev.flags.iter().map(|f| f.0.as_str()));
    head.extend(["CTAGs", "CTAGs in good subruns"]);
    let rows = runs.iter().map(|r| {
        let mut v = vec![r.run.to_string(), r.subruns.to_string(), r.good_subruns.to_string(), format!("{:.1}", 100.0 * r.good_subruns as f64 / r.subruns.max(1) as f64)];
        v.extend(r.pass_fraction.iter().map(|p| format!("{p:.3}")));
        v.extend([format!("{:.0}", r.ctags), format!("{:.0}", r.ctags_good)]);
        v
    });
    table(&mut h, &head, rows, runs.len());

    let failing: Vec<usize> = (0..ev.ok.len()).filter(|&i| !ev.ok[i] || !ev.reasons[i].is_empty()).collect();
    let _ = write!(h, "<h2>Failing subruns ({} of {}; {} not good)</h2>", failing.len(), ev.ok.len(), ev.ok.len() - good);
    if failing.is_empty() {
        h.push_str("<p>Every subrun passes every cut.</p>");
    } else {
        let rows = failing.iter().map(|&i| vec![ev.runs[i].to_string(), ev.subruns[i].to_string(), if ev.ok[i] { "yes".into() } else { "no".into() }, ev.reasons[i].clone()]);
        table(&mut h, &["run", "subrun", "good", "reasons (failed cuts with value and bound)"], rows, failing.len());
        h.push_str("<p class=\"note\">A subrun is good when every required flag passes; a failing optional flag (e.g. ctags_loose_ok) leaves it good.</p>");
    }

    let (xtals, straws) = bad_channels(inp);
    let _ = write!(h, "<h2>Channels with bad status ({} crystal and {} straw entries)</h2>", xtals.len(), straws.len());
    if !xtals.is_empty() {
        table(&mut h, &["interval", "crystal", "status"], xtals.iter().map(BadChannel::row), xtals.len());
    }
    if !straws.is_empty() {
        table(&mut h, &["interval", "straw", "status"], straws.iter().map(BadChannel::row), straws.len());
    }
    if !info.errors.is_empty() || !inp.notes.is_empty() || !info.plot_errors.is_empty() {
        let _ = write!(h, "<h2>Problems ({} input, {} plot)</h2><ul>", info.errors.len(), info.plot_errors.len() + inp.notes.len());
        for e in info.errors.iter().chain(&info.plot_errors).chain(&inp.notes).take(MAX_ROWS) {
            let _ = write!(h, "<li>{}</li>", esc(e));
        }
        h.push_str("</ul>");
    }

    for section in SECTIONS {
        let pages: Vec<&Rendered> = rendered.iter().filter(|r| r.spec.section == section).collect();
        if pages.is_empty() {
            continue;
        }
        let _ = write!(h, "<h2>{}</h2>", esc(section));
        for r in pages {
            let png = std::fs::read(&r.png)?;
            let name = r.spec.name.as_str();
            let _ = write!(
                h,
                "<figure id=\"{id}\"><img alt=\"{alt}\" width=\"{w}\" src=\"data:image/png;base64,{b64}\"/><figcaption><b>{title}.</b> {caption} \
                 <a href=\"{rel}/{id}.svg\">SVG</a> | <a href=\"{rel}/{id}.png\">PNG</a></figcaption></figure>",
                id = esc(name),
                alt = esc(&r.spec.title),
                w = r.spec.size.0.min(1600),
                b64 = base64::engine::general_purpose::STANDARD.encode(&png),
                title = esc(&r.spec.title),
                caption = esc(&r.spec.caption),
                rel = esc(plots_rel),
            );
        }
    }
    h.push_str("</body></html>\n");
    crate::atomic::write(&out.join("report.html"), h.as_bytes())
}

/// Writes `OUT/elog.txt`: an e-log entry in plain text.
pub fn write_elog(out: &Path, inp: &PlotInputs, rendered: &[Rendered], info: &RunInfo) -> std::io::Result<String> {
    let m = &inp.meta;
    let ev = &inp.eval;
    let good = ev.ok.iter().filter(|x| **x).count();
    let pct = 100.0 * good as f64 / m.subruns.max(1) as f64;
    let mut t = String::new();
    let runs = if m.run_first == m.run_last { format!("run {}", m.run_first) } else { format!("runs {}-{}", m.run_first, m.run_last) };
    let _ = writeln!(t, "Subject: DQC {} {runs}: {good} of {} subruns good ({pct:.1} %)", m.dataset, m.subruns);
    let _ = writeln!(t);
    let _ = writeln!(t, "Dataset:  {} ({runs}, {} subruns)", m.dataset, m.subruns);
    let _ = writeln!(t, "Ran:      {} with cut file {} ({})", info.stages.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(", "), m.cuts, m.cuts_source);
    let _ = writeln!(t, "Software: {}", info.software);
    if let Some(tag) = &m.tag {
        let _ = writeln!(t, "Tag:      {tag}");
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "Pass fractions per run (good subruns; CTAGs in good subruns):");
    for r in ev.run_summaries() {
        let _ = writeln!(t, "  run {}: {}/{} good ({:.1} %); {:.0} of {:.0} CTAGs", r.run, r.good_subruns, r.subruns, 100.0 * r.good_subruns as f64 / r.subruns.max(1) as f64, r.ctags_good, r.ctags);
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "Problems found:");
    let mut by_flag: BTreeMap<&str, usize> = BTreeMap::new();
    for (f, vals) in &ev.flags {
        by_flag.insert(f, vals.iter().filter(|v| !**v).count());
    }
    let failing: Vec<String> = ev.flags.iter().filter(|(f, _)| by_flag[f.as_str()] > 0).map(|(f, _)| format!("{f} {}", by_flag[f.as_str()])).collect();
    if failing.is_empty() {
        let _ = writeln!(t, "  - no subrun fails a cut");
    } else {
        let _ = writeln!(t, "  - {} subruns not good; failing subruns per flag: {}", m.subruns - good, failing.join(", "));
    }
    let (xtals, straws) = bad_channels(inp);
    // Each channel counted once, however many intervals it is bad in.
    let count = |f: &dyn Fn(&super::data::IntervalData, usize) -> bool, n: usize| (0..n).filter(|&ch| inp.intervals.iter().any(|iv| f(iv, ch))).count();
    let _ = writeln!(
        t,
        "  - crystals: {} dead, {} hot, {} noisy; gain status not ok: {} (in at least one of {} intervals; {} entries in the report)",
        count(&|iv, ch| iv.dead.get(ch) == Some(&true), layout::N_XTALS),
        count(&|iv, ch| iv.hot.get(ch) == Some(&true), layout::N_XTALS),
        count(&|iv, ch| iv.noisy.get(ch) == Some(&true), layout::N_XTALS),
        count(&|iv, ch| iv.status.get(ch).is_some_and(|s| s != "ok"), layout::N_XTALS),
        inp.intervals.len(),
        xtals.len()
    );
    let _ = writeln!(
        t,
        "  - straws: {} dead, {} noisy (in at least one of {} intervals; {} entries in the report)",
        count(&|iv, ch| iv.straw_dead.get(ch) == Some(&true), layout::N_STRAWS),
        count(&|iv, ch| iv.straw_noisy.get(ch) == Some(&true), layout::N_STRAWS),
        inp.intervals.len(),
        straws.len()
    );
    if info.errors.is_empty() {
        let _ = writeln!(t, "  - input problems: none");
    } else {
        let _ = writeln!(t, "  - input problems: {} (see {}):", info.errors.len(), out.join("errors.txt").display());
        for e in info.errors.iter().take(5) {
            let _ = writeln!(t, "      {e}");
        }
    }
    let _ = writeln!(t);
    let abs = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    let _ = writeln!(t, "Report: {}", abs.join("report.html").display());
    let _ = writeln!(t, "Plots:  {} ({} pages, PNG and SVG), among them:", abs.join("plots").display(), rendered.len());
    for name in ["dqc_pass_fraction", "dqc_cumulative_ctags", "gain_vs_run", "gain_distributions", "tracker_straw_map"] {
        if let Some(r) = rendered.iter().find(|r| r.spec.name == name) {
            let _ = writeln!(t, "  {}", std::fs::canonicalize(&r.png).unwrap_or_else(|_| r.png.clone()).display());
        }
    }
    crate::atomic::write(&out.join("elog.txt"), t.as_bytes())?;
    Ok(t)
}
