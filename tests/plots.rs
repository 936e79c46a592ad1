//! The standard plots, the report and the e-log entry, as a shifter gets them: every
//! page renders for a clean and a faulty dataset, images are real (size, content),
//! SVGs and the HTML parse, the report links only to files that exist, and what
//! the pages say agrees with the simulator's truth.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::cli::gm2dqc;
use crate::common::{fixture, TempDir};

const HOT_OR_FAIL: [u8; 3] = [214, 39, 40];

struct Png {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

fn read_png(path: &Path) -> Png {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{}: colour PNG expected, got {:?}", path.display(), info.color_type);
    let rgb = buf[..info.buffer_size()].chunks(channels).map(|c| [c[0], c[1], c[2]]).collect();
    Png { width: info.width, height: info.height, rgb }
}

/// Checks every page of `plots --json` and the report; returns the JSON.
fn check_outputs(out: &Path, j: &Value) -> Vec<String> {
    let pages = j["plots"].as_array().expect("plots list");
    assert!(pages.len() >= 20, "the standard set has at least 20 pages, got {}", pages.len());
    let mut names = Vec::new();
    for p in pages {
        let name = p["name"].as_str().unwrap().to_string();
        let png = read_png(Path::new(p["png"].as_str().unwrap()));
        assert!(png.width >= 1200 && png.height >= 700, "{name}: {}x{} is too small to read at 100 %", png.width, png.height);
        // Every 13th pixel (the test binary is not optimised): enough to tell a page from a blank one.
        let sample: Vec<[u8; 3]> = png.rgb.iter().step_by(13).copied().collect();
        let colours: BTreeSet<[u8; 3]> = sample.iter().copied().collect();
        let ink = sample.iter().filter(|c| **c != [255, 255, 255]).count() as f64 / sample.len() as f64;
        assert!(colours.len() > 20 && ink > 0.03, "{name}: looks blank ({} colours, {:.1} % non-white)", colours.len(), 100.0 * ink);
        let svg_text = std::fs::read_to_string(p["svg"].as_str().unwrap()).unwrap();
        let svg = roxmltree::Document::parse(&svg_text).unwrap_or_else(|e| panic!("{name}.svg does not parse: {e}"));
        let root = svg.root_element();
        assert_eq!(root.tag_name().name(), "svg", "{name}.svg");
        assert_eq!(root.attribute("width").map(|w| w.trim_end_matches("px").parse::<u32>().unwrap()), Some(png.width), "{name}: SVG and PNG sizes");
        // Titles and axis labels are text, with the dataset line on every page.
        let texts: Vec<&str> = svg.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
        assert!(texts.iter().any(|t| t.starts_with("dataset ") && t.contains("cuts standard")), "{name}.svg: no dataset line in {texts:?}");
        assert!(texts.len() > 5, "{name}.svg: {} texts", texts.len());
        names.push(name);
    }
    // The report: well-formed, every image inline, every link to a file that exists.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let doc = roxmltree::Document::parse_with_options(&html, roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() }).expect("report.html is well-formed");
    let imgs: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("img")).collect();
    assert_eq!(imgs.len(), pages.len(), "one inline image per page");
    for img in &imgs {
        assert!(img.attribute("src").unwrap().starts_with("data:image/png;base64,"), "images are inlined");
        assert!(!img.attribute("alt").unwrap_or("").is_empty());
    }
    for a in doc.descendants().filter(|n| n.has_tag_name("a")) {
        let href = a.attribute("href").unwrap();
        assert!(out.join(href).is_file(), "report links to {href}, which does not exist");
    }
    names
}

fn good_subruns(out: &Path) -> (usize, usize) {
    let status = gm2dqc::tables::Table::read(&out.join("subrun_status.parquet")).unwrap();
    let ok = status.bool("ok").unwrap();
    (ok.iter().filter(|x| **x).count(), ok.len())
}

#[test]
fn every_page_renders_for_a_clean_and_a_faulty_dataset_and_agrees_with_the_truth() {
    let dir = TempDir::new("plots");
    for (label, faults) in [("faulty", "standard"), ("clean", "none")] {
        let data = dir.0.join(format!("{label}-data"));
        let out = dir.0.join(format!("{label}-out"));
        let (code, _, err) = gm2dqc(&["simulate", "--out", data.to_str().unwrap(), "--runs", "2", "--subruns", "6", "--seed", "21", "--faults", faults]);
        assert_eq!(code, 0, "{err}");
        let (code, text, err) = gm2dqc(&["run", "--input", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--tag", "t1", "--json", "--channel", "3:10"]);
        assert_eq!(code, 0, "{text}{err}");
        let j: Value = serde_json::from_str(&text).unwrap();
        let names = check_outputs(&out, &j["plots"]);
        for must in ["dqc_pass_fraction", "dqc_cumulative_ctags", "gain_vs_run", "gain_distributions", "tracker_straw_map", "tracker_drift_times", "calo_map_gain_run15922", "fit_run15922_calo3_xtal10"] {
            assert!(names.iter().any(|n| n == must), "{label}: no page {must} in {names:?}");
        }
        assert_eq!(names.iter().filter(|n| n.starts_with("calo_map_")).count(), 10, "5 maps x 2 intervals");
        assert_eq!(names.iter().filter(|n| n.starts_with("metric_")).count(), 16, "one page per cut of the standard set");
        // The truth: how many subruns the simulator made bad, and which crystals.
        let truth: Value = serde_json::from_str(&std::fs::read_to_string(data.join("truth.json")).unwrap()).unwrap();
        let bad_truth = truth["subruns"].as_array().unwrap().iter().filter(|s| s["expected"]["ok"] == false).count();
        let (good, total) = good_subruns(&out);
        assert_eq!(total - good, bad_truth, "{label}: bad subruns in the tables and in truth.json");
        let elog = std::fs::read_to_string(out.join("elog.txt")).unwrap();
        let subject = format!("Subject: DQC {label}-data runs 15921-15922: {good} of 12 subruns good");
        assert!(elog.starts_with(&subject), "{label}: e-log subject, want {subject:?}:\n{elog}");
        assert!(elog.contains("Report: ") && elog.contains("report.html") && elog.contains("tracker_straw_map.png"), "{elog}");
        // Hot crystals are drawn in red on the calorimeter maps, failing subruns as red
        // crosses on their metric: present with faults, absent without.
        let hot = read_png(&out.join("plots/calo_map_hits_run15921.png")).rgb.contains(&HOT_OR_FAIL);
        let t0_fail = read_png(&out.join("plots/metric_05_t0_ok_t0.png")).rgb.contains(&HOT_OR_FAIL);
        let want_hot = truth["crystals"].as_array().unwrap().iter().any(|c| c["hot"] == true);
        assert_eq!(hot, want_hot, "{label}: hot-crystal marks on the map");
        let t0_bad = truth["subruns"].as_array().unwrap().iter().any(|s| s["fault"] == "t0_shift");
        assert_eq!(t0_fail, t0_bad, "{label}: failing-subrun marks on the t0 page");
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(html.contains(&format!("<dd>12 ({good} good")), "{label}: subrun count in the report");
        // Every failing subrun is listed with its reasons, as subrun_status has them.
        let status = gm2dqc::tables::Table::read(&out.join("subrun_status.parquet")).unwrap();
        let reasons: Vec<String> = status.str("reasons").unwrap().into_iter().filter(|r| !r.is_empty()).collect();
        assert_eq!(reasons.is_empty(), label == "clean", "{label}: {reasons:?}");
        for r in &reasons {
            let escaped = r.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            assert!(html.contains(&format!("<td>{escaped}</td>")), "{label}: reason {r:?} not in the report");
        }
        if label == "faulty" {
            assert!(html.contains("dead, gain no_laser") && html.contains(">hot<"), "bad channels listed");
        }
    }
}

#[test]
fn plots_alone_on_the_fixture_and_without_merged_files() {
    let dir = TempDir::new("plots-alone");
    let out = dir.0.join("out");
    let o = out.to_str().unwrap();
    let (code, _, err) = gm2dqc(&["plots", "--out", o]);
    assert_eq!(code, 2, "no analysis yet: a usage error");
    assert!(err.contains("subrun_metrics.parquet") && err.contains("gm2dqc run"), "{err}");
    assert!(!out.exists(), "a mistyped --out creates nothing");
    let (code, text, err) = gm2dqc(&["analyze", "--input", fixture("sim-small").to_str().unwrap(), "--out", o]);
    assert_eq!(code, 0, "{text}{err}");
    std::fs::remove_dir_all(out.join("merged")).unwrap();
    let (code, text, err) = gm2dqc(&["plots", "--out", o, "--json", "--worst", "2"]);
    assert_eq!(code, 0, "{text}{err}");
    let j: Value = serde_json::from_str(&text).unwrap();
    assert!(j["notes"][0].as_str().unwrap().contains("merged"), "says why fits and drift times are missing: {j}");
    let names = check_outputs(&out, &j);
    assert!(!names.iter().any(|n| n.starts_with("fit_") || n == "tracker_drift_times"), "{names:?}");
    // The board knows the plots stage.
    let (_, board, _) = gm2dqc(&["status", "--db", out.join("conditions.sqlite").to_str().unwrap(), "--json"]);
    assert!(board.contains("\"plots\"") && board.contains("done"), "{board}");
}
