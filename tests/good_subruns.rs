//! Good-subrun lists (`gm2dqc db good-subruns`, `/condb/good-subruns`): the demo's list
//! is the simulator's truth, range for range, on SQLite and PostgreSQL; dropping a
//! required flag changes it exactly as `cuts diff` says for a cut file without it;
//! `--require` keeps what the flags stored say; the header counts subruns and CTAGs
//! from the tables; HTTP answers the command line's bytes; the refusals name what is
//! wrong.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use polars::prelude::*;
use serde_json::Value;

use crate::cli::gm2dqc;
use crate::common::TempDir;
use crate::condb::{app, loaded, send};
use crate::server::{copy_dir, demo, rt};

type Subruns = BTreeSet<(u32, u32)>;

/// The demo's subruns and its bad ones, from the simulator's truth.
fn truth() -> (Subruns, Subruns) {
    let t: Value = serde_json::from_slice(&std::fs::read(demo().join("data/truth.json")).unwrap()).unwrap();
    let (mut all, mut bad) = (Subruns::new(), Subruns::new());
    for s in t["subruns"].as_array().unwrap() {
        let k = (s["run"].as_u64().unwrap() as u32, s["subrun"].as_u64().unwrap() as u32);
        all.insert(k);
        if !s["expected"]["ok"].as_bool().unwrap() {
            bad.insert(k);
        }
    }
    (all, bad)
}

/// The subruns a golden-JSON runs object lists.
fn listed(runs: &Value) -> Subruns {
    let mut s = Subruns::new();
    for (run, ranges) in runs.as_object().unwrap() {
        for r in ranges.as_array().unwrap() {
            let (a, z) = (r[0].as_u64().unwrap() as u32, r[1].as_u64().unwrap() as u32);
            assert!(a <= z, "range {r}");
            s.extend((a..=z).map(|x| (run.parse().unwrap(), x)));
        }
    }
    s
}

/// Ranges of consecutive subruns, written out by hand from a set.
fn ranges(kept: &Subruns, all: &Subruns) -> BTreeMap<u32, Vec<(u32, u32)>> {
    let mut out: BTreeMap<u32, Vec<(u32, u32)>> = all.iter().map(|(r, _)| (*r, Vec::new())).collect();
    let mut prev: Option<(u32, u32)> = None;
    for &(run, s) in all {
        if kept.contains(&(run, s)) {
            let v = out.get_mut(&run).unwrap();
            if prev == Some((run, s.wrapping_sub(1))) && kept.contains(&(run, s - 1)) {
                v.last_mut().unwrap().1 = s;
            } else {
                v.push((s, s));
            }
        }
        prev = Some((run, s));
    }
    out
}

fn good(url: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["db", "--db", url, "good-subruns", "--tag", "demo", "--dataset", "demo"];
    args.extend_from_slice(extra);
    gm2dqc(&args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Per subrun, CTAGs and whether a flag column is true, from the demo's Parquet tables.
fn table(name: &str, col: &str) -> BTreeMap<(u32, u32), AnyValue<'static>> {
    let df = gm2dqc::tables::read_parquet(&demo().join("out").join(name)).unwrap();
    let (r, s, c) = (df.column("run").unwrap().cast(&DataType::UInt32).unwrap(), df.column("subrun").unwrap().cast(&DataType::UInt32).unwrap(), df.column(col).unwrap().clone());
    (0..df.height()).map(|i| ((r.get(i).unwrap().extract::<u32>().unwrap(), s.get(i).unwrap().extract::<u32>().unwrap()), c.get(i).unwrap().into_static())).collect()
}

#[test]
fn the_demos_good_subruns_are_the_simulators_truth_on_sqlite_and_postgresql() {
    let (all, bad) = truth();
    assert!(!bad.is_empty() && bad.len() < all.len(), "the demo has good and bad subruns");
    let kept: Subruns = all.difference(&bad).copied().collect();
    let ctags = table("subrun_metrics.parquet", "ctags");
    let ctag = |k: &(u32, u32)| ctags[k].extract::<f64>().unwrap();
    for l in loaded("good_truth") {
        let (code, out, err) = good(&l.url, &[]);
        assert_eq!(code, 0, "{}: {err}", l.label);
        let v = json(&out);
        assert_eq!(listed(&v["runs"]), kept, "{}", l.label);
        // The ranges themselves, and in the golden shape, one run per line.
        let want = ranges(&kept, &all);
        let (code, golden, err) = good(&l.url, &["--format", "golden"]);
        assert_eq!(code, 0, "{err}");
        let mut text = String::from("{\n");
        text.push_str(&want.iter().map(|(r, v)| format!("  \"{r}\": [{}]", v.iter().map(|(a, z)| format!("[{a}, {z}]")).collect::<Vec<_>>().join(", "))).collect::<Vec<_>>().join(",\n"));
        text.push_str("\n}\n");
        assert_eq!(golden, text, "{}", l.label);
        assert_eq!(json(&golden), v["runs"]);
        let h = &v["header"];
        assert_eq!((h["tag"].as_str(), h["dataset"].as_str(), h["as_of"].is_null(), h["runs"].as_u64()), (Some("demo"), Some("demo"), true, Some(want.len() as u64)));
        assert_eq!((h["subruns"]["kept"].as_u64().unwrap(), h["subruns"]["lost"].as_u64().unwrap()), (kept.len() as u64, bad.len() as u64), "{}", l.label);
        let (ck, cl): (f64, f64) = (kept.iter().map(ctag).sum(), bad.iter().map(ctag).sum());
        assert!((h["ctags"]["kept"].as_f64().unwrap() - ck).abs() <= 1e-9 * ck.abs(), "{} vs {ck}", h["ctags"]);
        assert!((h["ctags"]["lost"].as_f64().unwrap() - cl).abs() <= 1e-9 * cl.abs().max(1.0), "{} vs {cl}", h["ctags"]);
        assert_eq!(h["subruns_without_ctags"].as_u64(), Some(0));
        let manifest = json(&std::fs::read_to_string(demo().join("out/manifest.json")).unwrap());
        let cuts = &h["cut_files"][0];
        assert_eq!(cuts["sha256"], manifest["stages"]["dqc"]["cuts_sha256"], "{}", l.label);
        let required: Vec<&str> = cuts["required"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert_eq!(required, ["fills_ok", "ctags_ok", "t0_ok", "kicker_ok", "quad_ok", "losses_ok", "laser_ok", "calo_ok", "tracker_ok"], "cuts/standard.toml's list");
        assert_eq!(cuts["applied"], cuts["required"]);
        // Deterministic: the same bytes again, and at the as-of time of its latest insertion.
        assert_eq!(good(&l.url, &[]).1, out);
        let at = h["latest_insertion"].as_str().unwrap();
        let (code, again, err) = good(&l.url, &["--as-of", at]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json(&again)["runs"], v["runs"]);
        // The text format: a header of comments, then one range per line.
        let (code, txt, _) = good(&l.url, &["--format", "txt"]);
        assert_eq!(code, 0);
        let lines: Vec<(u32, u32, u32)> = txt
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<u32> = l.split(' ').map(|x| x.parse().unwrap()).collect();
                (f[0], f[1], f[2])
            })
            .collect();
        assert_eq!(lines, want.iter().flat_map(|(r, v)| v.iter().map(|(a, z)| (*r, *a, *z))).collect::<Vec<_>>());
        assert!(txt.contains(&format!("subruns kept {}, lost {}", kept.len(), bad.len())), "{txt}");
    }
}

#[test]
fn ignoring_a_required_flag_changes_the_list_as_cuts_diff_says() {
    let (all, bad) = truth();
    let kept: Subruns = all.difference(&bad).copied().collect();
    let l = loaded("good_ignore").remove(0);
    let standard = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/cuts/standard.toml")).unwrap();
    let dir = TempDir::new("good-ignore");
    let metrics = demo().join("out/subrun_metrics.parquet");
    let mut changed_any = false;
    for flag in ["fills_ok", "ctags_ok", "t0_ok", "kicker_ok", "quad_ok", "losses_ok", "laser_ok", "calo_ok", "tracker_ok"] {
        // The cut file without the flag in `required`.
        let line = standard.lines().find(|l| l.starts_with("required = ")).unwrap();
        let fewer = line.replace(&format!("\"{flag}\", "), "").replace(&format!(", \"{flag}\""), "");
        assert_ne!(fewer, line, "{flag} removed");
        let new = dir.0.join(format!("without-{flag}.toml"));
        std::fs::write(&new, standard.replace(line, &fewer)).unwrap();
        let (code, out, err) = gm2dqc(&["cuts", "diff", concat!(env!("CARGO_MANIFEST_DIR"), "/cuts/standard.toml"), new.to_str().unwrap(), "--metrics", metrics.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{err}");
        let mut want = kept.clone();
        for c in json(&out)["changes"].as_array().unwrap() {
            let k = (c["run"].as_u64().unwrap() as u32, c["subrun"].as_u64().unwrap() as u32);
            assert!(!c["old_ok"].as_bool().unwrap() && c["new_ok"].as_bool().unwrap(), "dropping a required flag only adds subruns: {c}");
            want.insert(k);
        }
        changed_any |= want != kept;
        let (code, out, err) = good(&l.url, &["--ignore", flag]);
        assert_eq!(code, 0, "{flag}: {err}");
        let v = json(&out);
        assert_eq!(listed(&v["runs"]), want, "--ignore {flag}");
        let applied: Vec<&str> = v["header"]["cut_files"][0]["applied"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert!(!applied.contains(&flag) && applied.len() == 8, "{applied:?}");
        assert_eq!(v["header"]["ignore"], serde_json::json!([flag]));
    }
    assert!(changed_any, "some flag is the only reason a demo subrun is bad");
}

#[test]
fn require_keeps_the_subruns_whose_stored_flags_pass() {
    let (all, _) = truth();
    let l = loaded("good_require").remove(0);
    // ctags_loose_ok is a flag of the cut file that no subrun needs for `ok`.
    let loose = table("subrun_status.parquet", "ctags_loose_ok");
    let laser = table("subrun_status.parquet", "laser_ok");
    let pass = |m: &BTreeMap<(u32, u32), AnyValue<'static>>| -> Subruns { all.iter().filter(|k| matches!(m[k], AnyValue::Boolean(true))).copied().collect() };
    for (args, want) in [
        (vec!["--require", "ctags_loose_ok"], pass(&loose)),
        (vec!["--require", "ctags_loose_ok,laser_ok"], pass(&loose).intersection(&pass(&laser)).copied().collect()),
        (vec!["--require", "ctags_loose_ok,laser_ok", "--ignore", "laser_ok"], pass(&loose)),
    ] {
        let (code, out, err) = good(&l.url, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(listed(&json(&out)["runs"]), want, "{args:?}");
    }
    // The full required list is `ok` as stored.
    let (_, a, _) = good(&l.url, &["--require", "fills_ok,ctags_ok,t0_ok,kicker_ok,quad_ok,losses_ok,laser_ok,calo_ok,tracker_ok"]);
    let (_, b, _) = good(&l.url, &[]);
    assert_eq!(json(&a)["runs"], json(&b)["runs"]);
}

#[test]
fn good_subruns_over_http_are_the_command_lines_bytes_and_the_refusals_name_what_is_wrong() {
    let l = loaded("good_http").remove(0);
    let a = app(&l.url, true);
    rt().block_on(async {
        for (query, args) in [
            ("", vec![]),
            ("&format=txt", vec!["--format", "txt"]),
            ("&format=golden", vec!["--format", "golden"]),
            ("&ignore=kicker_ok,laser_ok", vec!["--ignore", "kicker_ok,laser_ok"]),
            ("&require=ctags_loose_ok", vec!["--require", "ctags_loose_ok"]),
        ] {
            let ans = send(&a, "GET", &format!("/condb/good-subruns?tag=demo&dataset=demo{query}"), &[]).await;
            assert_eq!(ans.status, StatusCode::OK, "{query}: {}", ans.text());
            let (code, out, err) = good(&l.url, &args);
            assert_eq!(code, 0, "{err}");
            assert_eq!(ans.text(), out, "{query}");
            // The locked tag's list cannot change: cacheable for long, with its ETag.
            assert_eq!(ans.headers["cache-control"], "public, max-age=86400, immutable");
            let etag = ans.headers["etag"].to_str().unwrap().to_string();
            let again = send(&a, "GET", &format!("/condb/good-subruns?tag=demo&dataset=demo{query}"), &[("if-none-match", &etag)]).await;
            assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        }
        // The open tag's list is revalidated.
        let ans = send(&a, "GET", "/condb/good-subruns?tag=demo-b&dataset=demo", &[]).await;
        assert_eq!((ans.status, ans.headers["cache-control"].to_str().unwrap()), (StatusCode::OK, "no-cache"));
        for (query, args, status, says) in [
            ("tag=demo&dataset=nope", vec!["--dataset", "nope"], StatusCode::BAD_REQUEST, "no subrun_status of dataset `nope` in tag `demo`; datasets there: demo"),
            ("tag=demo&dataset=demo&require=laser", vec!["--require", "laser"], StatusCode::BAD_REQUEST, "flag `laser` is not a flag of the cut file that judged run 15921"),
            ("tag=demo&dataset=demo&ignore=ctags_loose_ok", vec!["--ignore", "ctags_loose_ok"], StatusCode::BAD_REQUEST, "--ignore ctags_loose_ok: not among the cut file's required flags"),
            ("tag=demo&dataset=demo&require=laser_ok&ignore=laser_ok", vec!["--require", "laser_ok", "--ignore", "laser_ok"], StatusCode::BAD_REQUEST, "no flag is left to require"),
            ("tag=nope&dataset=demo", vec![], StatusCode::NOT_FOUND, "no tag `nope`"),
        ] {
            let ans = send(&a, "GET", &format!("/condb/good-subruns?{query}"), &[]).await;
            assert_eq!(ans.status, status, "{query}: {}", ans.text());
            assert!(ans.error().contains(says), "{query}: {}", ans.error());
            // The same refusal from the command line, exit 2 (a usage error).
            let mut cli = vec!["db", "--db", &l.url, "good-subruns", "--tag", if query.starts_with("tag=nope") { "nope" } else { "demo" }];
            if !args.contains(&"--dataset") {
                cli.extend(["--dataset", "demo"]);
            }
            cli.extend(args.iter().copied());
            let (code, _, err) = gm2dqc(&cli);
            assert_eq!(code, 2, "{cli:?}: {err}");
            assert!(err.contains(says), "{cli:?}: {err}");
        }
        let ans = send(&a, "GET", "/condb/good-subruns?tag=demo", &[]).await;
        assert_eq!(ans.status, StatusCode::BAD_REQUEST);
        assert!(ans.error().contains("parameter `dataset` is missing"), "{}", ans.error());
        let ans = send(&a, "POST", "/condb/good-subruns?tag=demo&dataset=demo", &[]).await;
        assert_eq!(ans.status, StatusCode::METHOD_NOT_ALLOWED);
    });
}

#[test]
fn an_upload_that_recorded_no_required_flags_lists_ok_as_stored_and_refuses_ignore() {
    // An output directory whose dqc stage ran before gm2dqc recorded the cut file's
    // required flags: its manifest has none, and its upload stores NULL.
    let copy = TempDir::new("good-old");
    let out = copy.0.join("out");
    copy_dir(&demo().join("out"), &out);
    let mut m = json(&std::fs::read_to_string(out.join("manifest.json")).unwrap());
    for (_, r) in m["stages"].as_object_mut().unwrap() {
        assert!(r.as_object_mut().unwrap().remove("required").is_some(), "the manifest records the required flags");
    }
    std::fs::write(out.join("manifest.json"), m.to_string()).unwrap();
    let db = copy.0.join("old.sqlite").display().to_string();
    let (code, o, e) = gm2dqc(&["upload", "--out", out.to_str().unwrap(), "--db", &db, "--tag", "demo"]);
    assert_eq!(code, 0, "{o}{e}");
    let (code, text, err) = good(&db, &[]);
    assert_eq!(code, 0, "{err}");
    let v = json(&text);
    let (all, bad) = truth();
    assert_eq!(listed(&v["runs"]), all.difference(&bad).copied().collect::<Subruns>());
    assert!(v["header"]["cut_files"][0]["required"].is_null() && v["header"]["cut_files"][0]["applied"].is_null(), "{}", v["header"]);
    let (code, _, err) = good(&db, &["--ignore", "kicker_ok"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("was uploaded before gm2dqc recorded them") && err.contains("--require"), "{err}");
    // --require needs no record of them.
    let (code, _, err) = good(&db, &["--require", "kicker_ok"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn good_subruns_as_of_a_time_before_any_upload_say_so() {
    let l = loaded("good_asof").remove(0);
    let (code, _, err) = good(&l.url, &["--as-of", "2001-01-01T00:00:00Z"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tag `demo` holds no subrun_status as of 2001-01-01T00:00:00"), "{err}");
    let (code, _, err) = good(&l.url, &["--as-of", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--as-of yesterday: expected a UTC time"), "{err}");
}
