//! The `gm2dqc inspect` command as scripts use it.

use std::process::Command;

use serde_json::Value;

use crate::common::fixture;

fn gm2dqc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gm2dqc")).args(args).output().expect("binary runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn inspect_object_json_has_exactly_the_documented_keys() {
    let f = fixture("root-written/uproot-hepdata-example.root");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("root-written/uproot-hepdata-example.root.json")).unwrap()).unwrap();
    for (path, keys_in_order) in [("hpx", true), ("hprof", true), ("hpxpy", true)] {
        let (code, out, err) = gm2dqc(&["inspect", f.to_str().unwrap(), "--object", path, "--json"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 1, "one JSON object on one line");
        let v: Value = serde_json::from_str(&out).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec!["path", "class", "title", "entries", "axes", "values", "variances", "errors"];
        if !keys_in_order {
            want.sort();
        }
        let mut got = keys.clone();
        got.sort();
        let mut w2 = want.clone();
        w2.sort();
        assert_eq!(got, w2, "{path}");
        // Field order as documented (serde_json keeps insertion order with preserve_order
        // off only alphabetically, so check the raw text).
        let positions: Vec<usize> = want.iter().map(|k| out.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{path}: keys out of order: {out:.200}");
        let e = expected["objects"].as_array().unwrap().iter().find(|o| o["path"] == path).unwrap();
        assert_eq!(v["class"], e["class"]);
        assert_eq!(v["values"].as_array().unwrap().len(), e["values"].as_array().unwrap().len());
        assert_eq!(v["variances"].is_null(), e["variances"].is_null());
        assert_eq!(v["errors"].is_null(), e["errors"].is_null());
    }
}

#[test]
fn inspect_lists_nested_objects() {
    let f = fixture("root640/classes-zstd.root");
    let (code, out, err) = gm2dqc(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for want in ["dir1/dir2/dir3/h2;1", "dir1/dir2/prof;1", "cyc;2", "cyc;1", "TProfile2D", "zstd"] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
    let (code, out, _) = gm2dqc(&["inspect", f.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v.as_array().unwrap().iter().any(|o| o["path"] == "dir1/dir2/dir3/h2" && o["entries"].as_f64().is_some()));
}

#[test]
fn inspect_bad_input_exits_1_with_the_file_named() {
    let dir = crate::common::TempDir::new("cli");
    let bad = dir.0.join("not-root.root");
    std::fs::write(&bad, b"this is a log file, not ROOT").unwrap();
    let (code, _, err) = gm2dqc(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not-root.root") && err.contains("not a ROOT file"), "{err}");
    let f = fixture("root640/classes-zstd.root");
    let (code, _, err) = gm2dqc(&["inspect", f.to_str().unwrap(), "--object", "dir1/nope", "--json"]);
    assert_eq!(code, 1);
    assert!(err.contains("nope") && err.contains("dir2"), "{err}");
}
