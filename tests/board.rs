//! The bookkeeping board (db::board): the same tests on SQLite and on a real
//! PostgreSQL. As in tests/db.rs, the PostgreSQL half needs GM2DQC_TEST_PG_HOST/PORT
//! (`eval "$(bash scripts/pg.sh start)"`) and is skipped without them, except when
//! CI=true, where it fails.


use gm2dqc::db::board::{self, BoardError, Entry, Layout, LayoutError, SetRequest, State, Target, Who};
use gm2dqc::db::schema::ColType;
use gm2dqc::db::{self, Backend};
use gm2dqc::job::Stage;

use crate::common::TempDir;

use crate::db::databases;

fn who(user: &str) -> Who {
    Who { user: user.into(), host: "gm2gpvm01.fnal.gov".into() }
}

fn req(ds: &str, t: impl Into<Target>, state: State, note: &str) -> SetRequest {
    SetRequest::new(ds, t, state, note).by(who("alice"))
}

fn col(id: &str) -> Target {
    Target::Column(id.into())
}

/// The number of entries in the log (refusals must leave it unchanged).
fn log_len(b: &mut dyn Backend) -> i64 {
    let mut tx = b.begin(false).unwrap();
    tx.query("SELECT COUNT(*) FROM stage_log", &[], &[ColType::Int]).unwrap()[0][0].as_i64().unwrap()
}

/// A row's cell by column id.
fn cell<'r>(row: &'r board::Row, id: &str) -> &'r board::Cell {
    row.cells.iter().find(|c| c.column == id).unwrap_or_else(|| panic!("no column {id}"))
}

fn the_row(b: &mut dyn Backend, layout: &Layout, ds: &str) -> board::Row {
    board::row(b, layout, ds).unwrap().unwrap_or_else(|| panic!("no row {ds}"))
}

#[test]
fn states_are_read_case_insensitively_and_unknown_ones_listed() {
    let d = Layout::gm2dqc();
    for (label, url, _dir) in databases("states") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        for (i, (text, want)) in [("held", State::Held), ("HELD", State::Held), ("In progress", State::InProgress), ("in_progress", State::InProgress), ("done", State::Done), ("TODO", State::Todo), ("Skipped", State::Skipped)].into_iter().enumerate() {
            let state: State = text.parse().unwrap();
            assert_eq!(state, want, "{text}");
            let ds = format!("ds{i}");
            board::set(b, &d, &req(&ds, Stage::Gain, state, "why").new_dataset()).unwrap();
            let row = the_row(b, &d, &ds);
            assert_eq!((cell(&row, "gain").state, cell(&row, "gain").shown), (want, want.as_str()), "{label} {text}");
        }
        let e = "finished".parse::<State>().unwrap_err().to_string();
        assert!(e.contains("`finished`") && e.contains("todo, in progress (in_progress), done, held, skipped"), "{e}");
        // Not started is what a cell shows, never an entry.
        let before = log_len(b);
        assert!(matches!(board::set(b, &d, &req("ds0", Stage::Scan, State::NotStarted, "")), Err(BoardError::NotSettable)));
        assert_eq!(log_len(b), before, "{label}");
    }
}

#[test]
fn only_known_datasets_unless_new() {
    let d = Layout::gm2dqc();
    for (label, url, _dir) in databases("known") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        let e = board::set(b, &d, &req("3B", Stage::Scan, State::Done, "")).unwrap_err();
        assert!(matches!(&e, BoardError::UnknownDataset { dataset, similar } if dataset == "3B" && similar.is_empty()), "{label}: {e}");
        assert!(e.to_string().contains("new dataset"), "{e}");
        assert_eq!(log_len(b), 0, "{label}: a refused set writes nothing");
        assert!(board::board(b, &d).unwrap().is_empty());

        board::set(b, &d, &req("3B", Stage::Scan, State::Done, "").new_dataset()).unwrap();
        // Known now: no need to say new again, and saying it is harmless.
        board::set(b, &d, &req("3B", Stage::Metrics, State::InProgress, "")).unwrap();
        board::set(b, &d, &req("3B", Stage::Metrics, State::InProgress, "").new_dataset()).unwrap();
        let e = board::set(b, &d, &req("3b ", Stage::Scan, State::Done, "")).unwrap_err();
        assert!(matches!(&e, BoardError::UnknownDataset { similar, .. } if similar == &["3B".to_string()]), "{label}: {e}");
        assert!(e.to_string().contains("did you mean `3B`"), "{e}");

        // A dataset added with nothing started: a row of not-started cells.
        assert!(board::add_dataset(b, "4H", "from SAM definition gm2pro_daq_raw_run4_H", Some(who("alice"))).unwrap());
        assert!(!board::add_dataset(b, "4H", "again", Some(who("alice"))).unwrap(), "{label}: adding twice writes nothing");
        assert_eq!(board::datasets(b).unwrap(), ["3B", "4H"]);
        let row = the_row(b, &d, "4H");
        assert!(row.cells.iter().all(|c| c.state == State::NotStarted && c.shown == "-" && c.entry.is_none()), "{label}: {row:?}");
        board::set(b, &d, &req("4H", Stage::Scan, State::InProgress, "")).unwrap();
        assert_eq!(board::board(b, &d).unwrap().iter().map(|r| r.dataset.as_str()).collect::<Vec<_>>(), ["3B", "4H"]);
        assert!(matches!(board::set(b, &d, &req("  ", Stage::Scan, State::Done, "").new_dataset()), Err(BoardError::EmptyDataset)));
        assert!(matches!(board::history(b, &d, "nosuch", &Target::Stage(Stage::Scan)), Err(BoardError::UnknownDataset { .. })));
    }
}

#[test]
fn held_needs_a_note_reports_who_when_why_and_is_released_with_a_note() {
    let d = Layout::gm2dqc();
    for (label, url, _dir) in databases("held") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        board::set(b, &d, &req("3B", Stage::Gain, State::InProgress, "").new_dataset()).unwrap();
        assert_eq!(board::held(b, "3B").unwrap(), None);
        let before = log_len(b);
        for note in ["", "   "] {
            let e = board::set(b, &d, &req("3B", Stage::Gain, State::Held, note)).unwrap_err();
            assert!(matches!(&e, BoardError::NoteRequired { dataset, column } if dataset == "3B" && column == "gain"), "{label}: {e}");
            assert!(e.to_string().contains("needs a note"));
        }
        assert_eq!(log_len(b), before, "{label}");

        let written = board::set(b, &d, &req("3B", Stage::Gain, State::Held, "laser run 15922 missing: ask the calo expert")).unwrap();
        let h = board::held(b, "3B").unwrap().expect("held");
        assert_eq!((h.dataset.as_str(), h.key.as_str(), h.stage, h.user.as_str(), h.host.as_str()), ("3B", "gain", Some(Stage::Gain), "alice", "gm2gpvm01.fnal.gov"), "{label}");
        assert_eq!((h.note.as_str(), h.at_us, h.entry_id), ("laser run 15922 missing: ask the calo expert", written[0].at_us, written[0].id));
        assert!(h.at_us > 1_700_000_000_000_000 && h.at.ends_with('Z') && h.at.starts_with("20"), "{label}: {h:?}");
        let msg = h.to_string();
        assert!(msg.contains("`3B` is held at gain by alice@gm2gpvm01.fnal.gov since 20") && msg.ends_with("ask the calo expert"), "{msg}");
        assert_eq!(the_row(b, &d, "3B").held, Some(h.clone()));
        assert_eq!(h.columns(&d).iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["gain"]);
        let e = board::ensure_not_held(b, "3B").unwrap_err();
        assert!(matches!(&e, BoardError::DatasetHeld(x) if *x == h), "{label}: {e}");
        assert!(e.to_string().contains("alice@gm2gpvm01.fnal.gov") && e.to_string().contains("ask the calo expert") && e.to_string().contains("release the hold first"), "{e}");

        // Held stays held: no other state, and no silent release.
        let before = log_len(b);
        for st in [State::Done, State::InProgress, State::Skipped] {
            let e = board::set(b, &d, &req("3B", Stage::Gain, st, "rerun")).unwrap_err();
            assert!(matches!(&e, BoardError::StillHeld { hold, wanted } if *hold == h && *wanted == st), "{label}: {e}");
            assert!(e.to_string().contains("release it first"), "{e}");
        }
        let e = board::set(b, &d, &req("3B", Stage::Gain, State::Todo, " ")).unwrap_err();
        assert!(matches!(&e, BoardError::ReleaseNeedsNote(hold) if *hold == h), "{label}: {e}");
        assert_eq!(log_len(b), before, "{label}: refusals write nothing");
        // Other cells of a held dataset can still be set; the dataset stays held.
        board::set(b, &d, &req("3B", Stage::Metrics, State::Done, "")).unwrap();
        assert_eq!(board::held(b, "3B").unwrap(), Some(h.clone()));

        // A second hold on a hand-set column of another layout is held too.
        let g2 = Layout::g2().unwrap();
        board::set(b, &g2, &req("3B", col("qmethod"), State::Held, "QMethod fit diverges").by(who("bob"))).unwrap();
        let all = board::holds(b, "3B").unwrap();
        assert_eq!(all.iter().map(|h| (h.key.as_str(), h.user.as_str())).collect::<Vec<_>>(), [("gain", "alice"), ("qmethod", "bob")], "{label}");
        assert_eq!(board::held(b, "3B").unwrap(), Some(h.clone()), "{label}: the oldest hold");

        // The release, by someone else, with a note.
        board::set(b, &d, &req("3B", Stage::Gain, State::Todo, "laser run found on tape").by(who("bob"))).unwrap();
        board::set(b, &g2, &req("3B", col("QMethod"), State::Todo, "fixed the start values")).unwrap();
        assert_eq!(board::held(b, "3B").unwrap(), None, "{label}");
        board::ensure_not_held(b, "3B").unwrap();
        board::set(b, &d, &req("3B", Stage::Gain, State::Done, "")).unwrap();

        // The hold's note stays in the cell's history after later entries.
        let hist = board::history(b, &d, "3B", &Target::Stage(Stage::Gain)).unwrap();
        let seen: Vec<(State, &str, &str)> = hist.iter().map(|e| (e.state, e.user.as_str(), e.note.as_str())).collect();
        assert_eq!(
            seen,
            [
                (State::InProgress, "alice", ""),
                (State::Held, "alice", "laser run 15922 missing: ask the calo expert"),
                (State::Todo, "bob", "laser run found on tape"),
                (State::Done, "alice", ""),
            ],
            "{label}"
        );
        assert!(hist.windows(2).all(|w| w[0].id < w[1].id && w[0].at_us <= w[1].at_us), "{label}: oldest first");
        assert_eq!(cell(&the_row(b, &d, "3B"), "gain").state, State::Done);
    }
}

#[test]
fn done_sets_the_next_column_to_todo_unless_it_has_an_entry() {
    let d = Layout::gm2dqc();
    for (label, url, _dir) in databases("next") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        let w = board::set(b, &d, &req("3C", Stage::Scan, State::Done, "16 files").new_dataset()).unwrap();
        assert_eq!(w.len(), 2, "{label}: {w:?}");
        assert_eq!((w[0].key.as_str(), w[0].state, w[0].by_board), ("scan", State::Done, false));
        assert_eq!((w[1].key.as_str(), w[1].state, w[1].user.as_str(), w[1].note.as_str(), w[1].by_board), ("metrics", State::Todo, board::BOARD_USER, "next after scan done", true), "{label}");
        assert_eq!(w[1].at_us, w[0].at_us, "{label}: one transaction, one time");
        let row = the_row(b, &d, "3C");
        assert_eq!(row.cells.iter().map(|c| c.state).collect::<Vec<_>>(), [State::Done, State::Todo, State::NotStarted, State::NotStarted, State::NotStarted, State::NotStarted, State::NotStarted]);
        assert!(cell(&row, "metrics").entry.as_ref().unwrap().by_board);

        // A next cell that has an entry is left as it is.
        board::set(b, &d, &req("3C", Stage::Merge, State::InProgress, "shifter started hadd")).unwrap();
        let w = board::set(b, &d, &req("3C", Stage::Metrics, State::Done, "")).unwrap();
        assert_eq!(w.len(), 1, "{label}: {w:?}");
        let merge = cell(&the_row(b, &d, "3C"), "merge").clone();
        assert_eq!((merge.state, merge.entry.unwrap().note.as_str()), (State::InProgress, "shifter started hadd"));
        // Skipped is not done: no next. Done again on a done cell whose next is set: nothing more.
        board::set(b, &d, &req("3C", Stage::Gain, State::Skipped, "no laser runs")).unwrap();
        assert_eq!(cell(&the_row(b, &d, "3C"), "dqc").state, State::NotStarted, "{label}");
        assert_eq!(board::set(b, &d, &req("3C", Stage::Metrics, State::Done, "")).unwrap().len(), 1);
        // The last column has no next.
        assert_eq!(board::set(b, &d, &req("3C", Stage::Upload, State::Done, "")).unwrap().len(), 1);

        // The g-2 layout: gain is IFG, OOF and Channel status; its columns' right
        // neighbours that are not gain's become TODO.
        let g2 = Layout::g2().unwrap();
        board::set(b, &g2, &req("4C", Stage::Scan, State::Done, "").new_dataset()).unwrap();
        let w = board::set(b, &g2, &req("4C", Stage::Gain, State::Done, "")).unwrap();
        let keys: Vec<(&str, State, &str)> = w.iter().map(|e| (e.key.as_str(), e.state, e.note.as_str())).collect();
        assert_eq!(keys, [("gain", State::Done, ""), ("qmethod", State::Todo, "next after OOF done"), ("pre_staging_full", State::Todo, "next after Channel status done")], "{label}");
        let row = the_row(b, &g2, "4C");
        let states: Vec<&str> = row.cells.iter().map(|c| c.shown).collect();
        assert_eq!(states, ["Done", "TODO", "-", "-", "Done", "Done", "TODO", "-", "-", "-", "Done", "TODO", "-", "-", "-", "-", "-", "-"], "{label}");
        // Subrun DQC is dqc and plots: Done when both are, and only then its next.
        assert_eq!(board::set(b, &g2, &req("4C", Stage::Dqc, State::Done, "")).unwrap().len(), 1, "{label}");
        assert_eq!(cell(&the_row(b, &g2, "4C"), "subrun_dqc").state, State::Todo);
        let w = board::set(b, &g2, &req("4C", Stage::Plots, State::Done, "")).unwrap();
        assert_eq!(w.iter().map(|e| (e.key.as_str(), e.state)).collect::<Vec<_>>(), [("plots", State::Done), ("upload", State::Todo)], "{label}");
        let row = the_row(b, &g2, "4C");
        assert_eq!((cell(&row, "subrun_dqc").state, cell(&row, "delivered").state), (State::Done, State::Todo));
        // And the same facts on the gm2dqc board.
        let row = the_row(b, &d, "4C");
        assert_eq!(row.cells.iter().map(|c| c.shown).collect::<Vec<_>>(), ["Done", "TODO", "-", "Done", "Done", "Done", "TODO"], "{label}");
    }
}

#[test]
fn both_layouts_show_their_columns_and_the_mapped_states() {
    let d = Layout::gm2dqc();
    let g2 = Layout::g2().unwrap();
    assert_eq!(d.columns.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), Stage::ALL.map(|s| s.as_str()));
    assert_eq!(
        g2.columns.iter().map(|c| c.title.as_str()).collect::<Vec<_>>(),
        [
            "Pre-staging", "Pre-production", "2nd stages", "hadd stages", "IFG", "OOF", "QMethod", "Laser DQC", "Kicker DQC", "T0 DQC", "Channel status", "Pre-staging",
            "Full production (test)", "DQC (test)", "Full production", "Recovery", "Subrun DQC", "Dataset delivered"
        ]
    );
    let ids: std::collections::BTreeSet<&str> = g2.columns.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 18, "the two Pre-staging columns have different ids");
    let mapped: Vec<(&str, Vec<Stage>)> = g2.columns.iter().filter(|c| !c.stages.is_empty()).map(|c| (c.id.as_str(), c.stages.clone())).collect();
    assert_eq!(
        mapped,
        [
            ("pre_staging", vec![Stage::Scan]),
            ("pre_production", vec![Stage::Metrics]),
            ("hadd", vec![Stage::Merge]),
            ("ifg", vec![Stage::Gain]),
            ("oof", vec![Stage::Gain]),
            ("channel_status", vec![Stage::Gain]),
            ("subrun_dqc", vec![Stage::Dqc, Stage::Plots]),
            ("delivered", vec![Stage::Upload]),
        ]
    );
    // What a text names: an id, a stage, or one column's title.
    assert_eq!(g2.target("IFG").unwrap(), col("ifg"));
    assert_eq!(g2.target("hadd stages").unwrap(), col("hadd"));
    assert_eq!(g2.target("gain").unwrap(), Target::Stage(Stage::Gain));
    assert_eq!(d.target("GAIN").unwrap(), col("gain"));
    let e = g2.target("Pre-staging").unwrap_err();
    assert!(matches!(&e, BoardError::AmbiguousColumn { ids, .. } if ids == &["pre_staging".to_string(), "pre_staging_full".to_string()]), "{e}");
    let e = g2.target("Recovry").unwrap_err().to_string();
    assert!(e.contains("no column or stage `Recovry` on the g2 board") && e.contains("recovery"), "{e}");

    for (label, url, _dir) in databases("layouts") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        // The stages as gm2dqc writes them.
        board::set(b, &d, &req("3D", Stage::Scan, State::Done, "").new_dataset()).unwrap();
        board::set(b, &d, &req("3D", Stage::Metrics, State::Done, "").new_dataset()).unwrap();
        board::set(b, &d, &req("3D", Stage::Merge, State::InProgress, "hadd running")).unwrap();
        // A hand-set column, and a mapped column set by hand (which sets its stage).
        board::set(b, &g2, &req("3D", col("second_stages"), State::Done, "")).unwrap();
        board::set(b, &g2, &req("3D", col("oof"), State::Held, "reference run unusable")).unwrap();
        let row = the_row(b, &g2, "3D");
        let shown: Vec<&str> = row.cells.iter().map(|c| c.shown).collect();
        assert_eq!(shown, ["Done", "Done", "Done", "In progress", "Held", "Held", "-", "-", "-", "-", "Held", "-", "-", "-", "-", "-", "-", "-"], "{label}");
        let ifg = cell(&row, "ifg");
        assert_eq!((ifg.stages.len(), ifg.stages[0].stage, ifg.stages[0].state), (1, Stage::Gain, State::Held));
        assert_eq!(ifg.entry.as_ref().unwrap().note, "reference run unusable");
        assert!(cell(&row, "qmethod").stages.is_empty());
        let row = the_row(b, &d, "3D");
        assert_eq!(row.cells.iter().map(|c| c.shown).collect::<Vec<_>>(), ["Done", "Done", "In progress", "Held", "-", "-", "-"], "{label}");
        // The hand-set column is not on the gm2dqc board, but is a real cell.
        assert_eq!(board::history(b, &g2, "3D", &col("second_stages")).unwrap().len(), 1);
        assert!(matches!(board::set(b, &d, &req("3D", col("second_stages"), State::Done, "")), Err(BoardError::UnknownColumn { .. })));

        // One column of two stages: the combination, and the entry it shows.
        board::set(b, &g2, &req("3D", Stage::Dqc, State::Done, "flags ok")).unwrap();
        let sd = cell(&the_row(b, &g2, "3D"), "subrun_dqc").clone();
        assert_eq!((sd.state, sd.stages.iter().map(|p| p.state).collect::<Vec<_>>()), (State::Todo, vec![State::Done, State::NotStarted]), "{label}");
        assert_eq!(sd.entry.unwrap().note, "flags ok", "{label}: no part is TODO: the latest entry");
        board::set(b, &d, &req("3D", Stage::Plots, State::InProgress, "rendering")).unwrap();
        let sd = cell(&the_row(b, &g2, "3D"), "subrun_dqc").clone();
        assert_eq!((sd.state, sd.entry.unwrap().note.as_str()), (State::InProgress, "rendering"));
        // Setting the two-stage column sets both stages.
        let w = board::set(b, &g2, &req("3D", col("subrun_dqc"), State::Skipped, "no DQC for this dataset")).unwrap();
        assert_eq!(w.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["dqc", "plots"]);
        assert_eq!(board::history(b, &g2, "3D", &col("subrun_dqc")).unwrap().iter().map(|e| (e.key.as_str(), e.state)).collect::<Vec<_>>(), [("dqc", State::Done), ("plots", State::InProgress), ("dqc", State::Skipped), ("plots", State::Skipped)]);

        // The JSON form, field by field.
        let v = serde_json::to_value(board::view(b, &g2).unwrap()).unwrap();
        assert_eq!(v["format"], 1);
        assert_eq!((v["layout"]["name"].as_str(), v["layout"]["columns"].as_array().unwrap().len()), (Some("g2"), 18));
        assert_eq!(v["layout"]["columns"][16], serde_json::json!({"id": "subrun_dqc", "title": "Subrun DQC", "group": "Full production and DQC", "stages": ["dqc", "plots"], "signoff": []}));
        assert_eq!(v["layout"]["columns"][17]["signoff"], serde_json::json!(["dqc", "plots"]));
        let r = &v["rows"][0];
        assert_eq!(r["dataset"], "3D");
        assert_eq!(r["held"]["key"], "gain");
        let keys = |o: &serde_json::Value| {
            let mut k = o.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            k.sort();
            k
        };
        assert_eq!(keys(r), ["cells", "dataset", "held"]);
        assert_eq!(keys(&r["held"]), ["at", "at_us", "dataset", "entry_id", "host", "key", "note", "stage", "user"]);
        let oof = &r["cells"][5];
        assert_eq!(keys(oof), ["column", "entry", "shown", "signoff", "stages", "state"]);
        assert_eq!(oof["signoff"], serde_json::Value::Null);
        assert_eq!((oof["column"].as_str(), oof["state"].as_str(), oof["shown"].as_str()), (Some("oof"), Some("held"), Some("Held")));
        assert_eq!(keys(&oof["entry"]), ["at", "at_us", "by_board", "dataset", "host", "id", "key", "note", "stage", "state", "user"]);
        assert_eq!((oof["entry"]["user"].as_str(), oof["entry"]["stage"].as_str(), oof["stages"][0]["stage"].as_str()), (Some("alice"), Some("gain"), Some("gain")));
        assert_eq!((r["cells"][6]["state"].as_str(), &r["cells"][6]["entry"]), (Some("not_started"), &serde_json::Value::Null));
        assert_eq!(r["cells"][3]["state"], "in_progress");
    }
}

#[test]
fn a_layout_file_with_errors_is_refused_with_located_diagnostics() {
    let dir = TempDir::new("board-layout");
    let bad = dir.0.join("site.toml");
    std::fs::write(
        &bad,
        "format = 1\nname = \"site\"\n\n[[column]]\nid = \"stage-in\"\ntitle = \"Staging\"\nstages = [\"scan\", \"mrege\"]\n\n[[column]]\nid = \"stage-in\"\ntitle = \"Again\"\ncolor = \"red\"\n\n[[column]]\nid = \"Full Prod\"\ntitle = \"Full production\"\n",
    )
    .unwrap();
    let e = Layout::load(&bad).unwrap_err();
    let LayoutError::Invalid { diagnostics, .. } = &e else { panic!("{e}") };
    let at: Vec<(usize, &str)> = diagnostics.iter().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(at.iter().map(|a| a.0).collect::<Vec<_>>(), [7, 10, 12, 15], "{at:?}");
    assert!(at[0].1.contains("unknown stage `mrege`") && diagnostics[0].hint.as_deref().unwrap().contains("did you mean `merge`"), "{at:?}");
    assert!(at[1].1.contains("`stage-in` is used twice") && diagnostics[1].hint.as_deref().unwrap().contains("line 5"), "{at:?}");
    assert!(at[2].1.contains("unknown key `color`"), "{at:?}");
    assert!(at[3].1.contains("`Full Prod` cannot be a column id"), "{at:?}");
    let text = e.to_string();
    let file = bad.display().to_string();
    assert!(text.contains("4 problem(s)") && text.contains(&format!("{file}:7:")) && text.contains(&format!("{file}:15:")), "{text}");
    // Missing pieces and bad types.
    let e = Layout::from_toml("name = 3\n[[column]]\nid = \"a\"\n", "x.toml").unwrap_err().to_string();
    assert!(e.contains("x.toml:1:1: error: a board layout needs `format = 1`") && e.contains("`name` must be a string") && e.contains("column `a` has no `title`"), "{e}");
    assert!(matches!(Layout::load(&dir.0.join("none.toml")), Err(LayoutError::Io { .. })));

    // A good site file works on the board like a built-in one.
    let good = dir.0.join("good.toml");
    std::fs::write(&good, "format = 1\nname = \"site\"\n[[column]]\nid = \"staged\"\ntitle = \"Staged\"\n[[column]]\nid = \"gm2dqc\"\ntitle = \"gm2dqc\"\nstages = [\"metrics\", \"gain\"]\n").unwrap();
    let site = Layout::named_or_file(good.to_str().unwrap()).unwrap();
    assert_eq!(Layout::named_or_file("g2").unwrap().name, "g2");
    for (label, url, _dir) in databases("site") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        let w = board::set(b, &site, &req("5A", col("staged"), State::Done, "").new_dataset()).unwrap();
        assert_eq!(w.iter().map(|e| (e.key.as_str(), e.state)).collect::<Vec<_>>(), [("staged", State::Done), ("metrics", State::Todo), ("gain", State::Todo)], "{label}");
        assert_eq!(the_row(b, &site, "5A").cells.iter().map(|c| c.shown).collect::<Vec<_>>(), ["Done", "TODO"]);
    }
}

#[test]
fn names_and_notes_are_stored_verbatim() {
    let d = Layout::gm2dqc();
    let names = ["3B'); DROP TABLE stage_log; --", "<script>alert('ds')</script>", "run 4 / ä \"quoted\" $1 ?1 %s"];
    let note = "<b>bold</b> & 'single' \"double\" ; DELETE FROM stage_log WHERE 1=1; -- $2 ?2\nsecond line\tτ";
    for (label, url, _dir) in databases("verbatim") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        for ds in names {
            board::set(b, &d, &req(ds, Stage::Dqc, State::Held, note).new_dataset().by(Who { user: "o'brien <x>".into(), host: "h\"ost; --".into() })).unwrap();
        }
        let mut want: Vec<&str> = names.to_vec();
        want.sort();
        assert_eq!(board::datasets(b).unwrap(), want, "{label}");
        for ds in names {
            let h = board::held(b, ds).unwrap().expect("held");
            assert_eq!((h.dataset.as_str(), h.note.as_str(), h.user.as_str(), h.host.as_str()), (ds, note, "o'brien <x>", "h\"ost; --"), "{label}");
            let hist: Vec<Entry> = board::history(b, &d, ds, &Target::Stage(Stage::Dqc)).unwrap();
            assert_eq!(hist.len(), 1);
        }
        assert_eq!(log_len(b), 3, "{label}: the table is still there and holds three entries");
        let json = serde_json::to_string(&board::view(b, &d).unwrap()).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["rows"][0]["cells"][4]["entry"]["note"], note);
        // Only what the database cannot store is refused, and said so.
        assert!(matches!(board::set(b, &d, &req("a\0b", Stage::Dqc, State::Done, "").new_dataset()), Err(BoardError::Nul { .. })));
        assert!(matches!(board::set(b, &d, &req(names[0], Stage::Dqc, State::Todo, "").by(Who { user: board::BOARD_USER.into(), host: "h".into() })), Err(BoardError::ReservedUser(_))));
    }
}

#[test]
fn delivery_needs_a_second_persons_sign_off() {
    use gm2dqc::db::users::{self, AuditEntry, Role};
    let g2 = Layout::g2().unwrap();
    let d = Layout::gm2dqc();
    assert_eq!(g2.column("delivered").unwrap().signoff, [Stage::Dqc, Stage::Plots]);
    assert_eq!(d.column("upload").unwrap().signoff, [Stage::Dqc, Stage::Plots]);
    assert!(g2.columns.iter().chain(&d.columns).filter(|c| c.needs_signoff()).count() == 2, "only the delivery columns need a sign-off");
    for (label, url, _dir) in databases("signoff") {
        let mut b = db::open(&url).unwrap();
        let b = b.as_mut();
        let by = |user: &str, t: Target, state: State| SetRequest::new("5A", t, state, "").by(who(user));
        board::add_dataset(b, "5A", "", Some(who("alice"))).unwrap();
        // Before dqc and plots are Done: refused, for anyone, naming what is missing.
        let before = log_len(b);
        let e = board::set(b, &g2, &by("bob", col("delivered"), State::Done)).unwrap_err();
        assert!(matches!(&e, BoardError::SignOff { not_done, same_user, .. } if not_done == &[(Stage::Dqc, State::NotStarted), (Stage::Plots, State::NotStarted)] && same_user.is_empty()), "{label}: {e}");
        assert!(e.to_string().contains("Dataset delivered of `5A`") && e.to_string().contains("not Done"), "{label}: {e}");
        board::set(b, &g2, &by("alice", Target::Stage(Stage::Dqc), State::Done)).unwrap();
        let e = board::set(b, &g2, &by("bob", col("delivered"), State::Done)).unwrap_err();
        assert!(matches!(&e, BoardError::SignOff { not_done, .. } if not_done == &[(Stage::Plots, State::NotStarted)]), "{label}: {e}");
        // Both Done by alice; the upload ran (the job's stage record, as the process user).
        board::set(b, &g2, &by("alice", Target::Stage(Stage::Plots), State::Done)).unwrap();
        board::set(b, &g2, &by("gm2pro", Target::Stage(Stage::Upload), State::Done)).unwrap();
        let before_same = log_len(b);
        let row = the_row(b, &g2, "5A");
        let delivered = cell(&row, "delivered");
        assert_eq!((delivered.state, delivered.stages[0].state, delivered.signoff.is_none()), (State::Todo, State::Done, true), "{label}: TODO until signed, though uploaded");
        assert_eq!(cell(&the_row(b, &d, "5A"), "upload").state, State::Todo, "{label}: the gm2dqc board too");
        // The one who set them Done cannot sign, on either board, by column id or title.
        for (layout, column) in [(&g2, "delivered"), (&g2, "Dataset delivered"), (&d, "upload")] {
            let t = layout.target(column).unwrap();
            let e = board::set(b, layout, &by("alice", t, State::Done)).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(&e, BoardError::SignOff { same_user, not_done, .. } if same_user.len() == 2 && not_done.is_empty()), "{label}: {e}");
            assert!(msg.contains("alice set dqc Done at") && msg.contains("and plots Done at") && msg.contains("a second person"), "{label}: {msg}");
        }
        // A stage set Done by someone else, but one still alice's: refused.
        board::set(b, &g2, &by("carol", Target::Stage(Stage::Plots), State::Done)).unwrap();
        let e = board::set(b, &g2, &by("carol", col("delivered"), State::Done)).unwrap_err();
        assert!(matches!(&e, BoardError::SignOff { same_user, .. } if same_user.len() == 1 && same_user[0].0 == Stage::Plots), "{label}: {e}");
        assert!(!e.to_string().contains("dqc Done"), "{label}: only the stage carol set: {e}");
        assert_eq!(log_len(b), before_same + 1, "{label}: refusals write nothing");
        assert!(before < before_same);
        // A second person signs, with the audit entry in the same transaction.
        let audit = AuditEntry { user: "bob".into(), role: Role::Shifter, action: "board.signoff".into(), target: "5A/delivered".into(), detail: "".into(), remote: "10.0.0.9".into() };
        let w = board::set(b, &g2, &by("bob", col("delivered"), State::Done).audited(audit)).unwrap();
        assert_eq!(w.iter().map(|e| (e.key.as_str(), e.state, e.user.as_str())).collect::<Vec<_>>(), [("delivered.signoff", State::Done, "bob")], "{label}: only the sign-off is written");
        assert_eq!(users::audit_log(b, 5).unwrap().iter().map(|r| (r.user.as_str(), r.action.as_str())).collect::<Vec<_>>(), [("bob", "board.signoff")], "{label}");
        let row = the_row(b, &g2, "5A");
        let delivered = cell(&row, "delivered");
        assert_eq!(delivered.state, State::Done, "{label}");
        let s = delivered.signoff.clone().unwrap();
        assert_eq!((s.user.as_str(), s.entry_id), ("bob", w[0].id), "{label}");
        // The JSON form: the column's sign-off stages and the cell's sign-off.
        let v = serde_json::to_value(board::view(b, &g2).unwrap()).unwrap();
        let col_json = v["layout"]["columns"].as_array().unwrap().iter().find(|c| c["id"] == "delivered").unwrap().clone();
        assert_eq!(col_json["signoff"], serde_json::json!(["dqc", "plots"]), "{label}");
        let cell_json = v["rows"][0]["cells"].as_array().unwrap().iter().find(|c| c["column"] == "delivered").unwrap().clone();
        assert_eq!((cell_json["state"].as_str(), cell_json["signoff"]["user"].as_str()), (Some("done"), Some("bob")), "{label}");
        assert!(v["rows"][0]["cells"].as_array().unwrap().iter().all(|c| c["column"] == "delivered" || c["signoff"].is_null()), "{label}");
        // Signed on the gm2dqc board's upload column too? Another key: not yet.
        assert_eq!(cell(&the_row(b, &d, "5A"), "upload").state, State::Todo, "{label}");
        // dqc redone: the old sign-off no longer counts.
        board::set(b, &g2, &by("carol", Target::Stage(Stage::Dqc), State::Done)).unwrap();
        let delivered = cell(&the_row(b, &g2, "5A"), "delivered").clone();
        assert_eq!((delivered.state, delivered.signoff), (State::Todo, None), "{label}: a sign-off covers the stages as they were");
        // Setting the column to TODO by hand withdraws the sign-off too.
        board::set(b, &g2, &by("dave", col("delivered"), State::Done)).unwrap();
        let w = board::set(b, &g2, &by("dave", col("delivered"), State::Todo)).unwrap();
        assert_eq!(w.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["upload", "delivered.signoff"], "{label}");
    }
    // A layout's sign-off stages are checked like its stages, with their lines.
    let text = "format = 1\nname = \"site\"\n[[column]]\nid = \"a\"\ntitle = \"A\"\nsignoff = [\"dqc\", \"plost\"]\n[[column]]\nid = \"b\"\ntitle = \"B\"\nsignoff = \"dqc\"\n";
    let Err(LayoutError::Invalid { diagnostics: diag, .. }) = Layout::from_toml(text, "site.toml") else { panic!("accepted") };
    assert_eq!(diag.iter().map(|d| d.line).collect::<Vec<_>>(), [6, 10], "{diag:?}");
    assert!(diag[0].message.contains("unknown stage `plost` in `signoff`") && diag[0].hint.as_deref().unwrap().contains("did you mean `plots`"), "{:?}", diag[0]);
    assert!(diag[1].message.contains("`signoff` must be a list of stage names"), "{:?}", diag[1]);
    let ok = Layout::from_toml("format = 1\nname = \"site\"\n[[column]]\nid = \"a\"\ntitle = \"A\"\nsignoff = [\"DQC\"]\n", "s.toml").unwrap();
    assert_eq!(ok.columns[0].signoff, [Stage::Dqc]);
}
