//! The pages: shells whose data their scripts (`assets/*.js`) fetch from the JSON
//! API. What a shell carries itself (a dataset's name, a run number) is escaped
//! ([`esc`]); everything else is inserted by the scripts as text.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::auth::{self, Ident};
use super::error::ApiError;
use super::html::{esc, page_shell, url_segment};
use super::App;

/// Identify the caller for a page: anonymous reading off sends them to sign in.
async fn allowed(app: &Arc<App>, headers: HeaderMap, next: &str, check: Option<String>) -> Result<Option<Response>, ApiError> {
    let a = app.clone();
    let r = app
        .pool
        .run(move |b| {
            let id = auth::identify(b, &a.cfg.auth, &headers)?;
            if id == Ident::Anonymous && !a.cfg.auth.anonymous_read {
                return Ok(false);
            }
            if let Some(d) = check {
                a.catalog.find(b, &d)?;
            }
            Ok(true)
        })
        .await
        .map_err(ApiError::page)?;
    Ok((!r).then(|| Redirect::to(&format!("/login?next={}", url_segment(next))).into_response()))
}

fn html(title: &str, active: &str, body: String, scripts: &[&str]) -> Response {
    Html(page_shell(title, active, &body, scripts)).into_response()
}

pub async fn board(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(r) = allowed(&app, headers, "/", None).await? {
        return Ok(r);
    }
    let body = format!(
        "<h1>Production board</h1>\
         <div class=\"controls\"><label>Layout <select id=\"layout\"><option value=\"gm2dqc\">gm2dqc stages</option><option value=\"g2\">g-2 spreadsheet (18 columns)</option></select></label>\
         <span id=\"live\" class=\"live\" title=\"the board is fetched again when it changes\">live</span></div>\
         <div class=\"legend\" id=\"legend\"></div>\
         <div class=\"scroll\"><table id=\"board\" class=\"board\" data-default-layout=\"{}\"></table></div>\
         <dialog id=\"cell\"><form method=\"dialog\" id=\"cell-form\"><h2 id=\"cell-title\"></h2>\
         <p id=\"cell-now\"></p><p id=\"cell-signoff\" class=\"signoff\"></p>\
         <label>State <select id=\"cell-state\" name=\"state\"><option value=\"todo\">TODO</option><option value=\"in_progress\">In progress</option><option value=\"done\">Done</option><option value=\"held\">Held</option><option value=\"skipped\">Skipped</option></select></label>\
         <label>Note <textarea id=\"cell-note\" name=\"note\" rows=\"3\" placeholder=\"what was done, or what it waits for (Held needs one)\"></textarea></label>\
         <p id=\"cell-error\" class=\"error\" role=\"alert\"></p>\
         <div class=\"buttons\"><button type=\"button\" id=\"cell-save\">Set</button><button type=\"button\" id=\"cell-close\">Close</button></div>\
         <h3>History</h3><table id=\"cell-history\" class=\"history\"></table></form></dialog>",
        esc(&app.cfg.layout.name)
    );
    Ok(html("gm2dqc: production board", "board", body, &["board.js"]))
}

#[derive(serde::Deserialize)]
pub struct Next {
    next: Option<String>,
}

pub async fn login(axum::extract::Query(q): axum::extract::Query<Next>) -> Response {
    let next = q.next.unwrap_or_else(|| "/".into());
    let body = format!(
        "<h1>Sign in</h1><p>Paste the token an expert made for you with <code>gm2dqc serve user add NAME --role ROLE</code>.</p>\
         <form method=\"post\" action=\"/login\" class=\"login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" required></label><button type=\"submit\" id=\"sign-in\">Sign in</button></form>",
        esc(&next)
    );
    html("gm2dqc: sign in", "", body, &[])
}

pub async fn dataset(State(app): State<Arc<App>>, Path(dataset): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let here = format!("/datasets/{}", url_segment(&dataset));
    if let Some(r) = allowed(&app, headers, &here, Some(dataset.clone())).await? {
        return Ok(r);
    }
    let d = esc(&dataset);
    let body = format!(
        "<div id=\"dataset\" data-dataset=\"{d}\"><h1>Dataset <span class=\"name\">{d}</span></h1>\
         <p class=\"links\"><a href=\"/datasets/{u}/histograms\">Histograms (JSROOT)</a> · <a href=\"/cuts?dataset={u}\">Tune the cuts</a></p>\
         <p id=\"provenance\" class=\"provenance\"></p>\
         <section><h2>Runs</h2><table id=\"runs\" class=\"data\"></table></section>\
         <section><h2>Subruns</h2><div class=\"controls\">\
         <label>Run <input id=\"f-run\" type=\"number\" min=\"0\" placeholder=\"all\"></label>\
         <label>Failing flag <select id=\"f-flag\"><option value=\"\">any</option></select></label>\
         <label><input id=\"f-bad\" type=\"checkbox\"> only bad subruns</label>\
         <label>Text <input id=\"f-text\" type=\"search\" placeholder=\"in the reasons\"></label>\
         <span id=\"count\"></span></div>\
         <table id=\"subruns\" class=\"data sortable\"></table><div class=\"pager\" id=\"pager\"></div></section>\
         <section><h2>Bad channels</h2><div id=\"channels\"></div></section>\
         <section><h2>Standard plots</h2><div id=\"plots\"></div></section></div>",
        u = esc(&url_segment(&dataset))
    );
    Ok(html(&format!("gm2dqc: {dataset}"), "", body, &["dataset.js"]))
}

pub async fn subrun(State(app): State<Arc<App>>, Path((dataset, run, subrun)): Path<(String, u32, u32)>, headers: HeaderMap) -> Result<Response, ApiError> {
    let here = format!("/datasets/{}/subruns/{run}/{subrun}", url_segment(&dataset));
    if let Some(r) = allowed(&app, headers, &here, Some(dataset.clone())).await? {
        return Ok(r);
    }
    let d = esc(&dataset);
    let body = format!(
        "<div id=\"subrun\" data-dataset=\"{d}\" data-run=\"{run}\" data-subrun=\"{subrun}\">\
         <h1><a href=\"/datasets/{u}\">{d}</a> · run <a href=\"/datasets/{u}?run={run}\">{run}</a> subrun {subrun}</h1>\
         <table id=\"flags\" class=\"data\"></table><div id=\"hists\" class=\"hists\"></div></div>",
        u = esc(&url_segment(&dataset))
    );
    Ok(html(&format!("gm2dqc: {dataset} {run}.{subrun}"), "", body, &["subrun.js"]))
}

pub async fn crystal(State(app): State<Arc<App>>, Path((dataset, calo, xtal)): Path<(String, u32, u32)>, headers: HeaderMap) -> Result<Response, ApiError> {
    let here = format!("/datasets/{}/crystals/{calo}/{xtal}", url_segment(&dataset));
    if let Some(r) = allowed(&app, headers, &here, Some(dataset.clone())).await? {
        return Ok(r);
    }
    let d = esc(&dataset);
    let body = format!(
        "<div id=\"crystal\" data-dataset=\"{d}\" data-calo=\"{calo}\" data-xtal=\"{xtal}\">\
         <h1><a href=\"/datasets/{u}\">{d}</a> · calorimeter {calo}, crystal {xtal}</h1>\
         <div class=\"controls\"><label>Interval <select id=\"interval\"></select></label></div>\
         <table id=\"gain\" class=\"data\"></table><div id=\"hists\" class=\"hists\"></div></div>",
        u = esc(&url_segment(&dataset))
    );
    Ok(html(&format!("gm2dqc: {dataset} calo {calo} xtal {xtal}"), "", body, &["crystal.js"]))
}

pub async fn histograms(State(app): State<Arc<App>>, Path(dataset): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let here = format!("/datasets/{}/histograms", url_segment(&dataset));
    if let Some(r) = allowed(&app, headers, &here, Some(dataset.clone())).await? {
        return Ok(r);
    }
    let d = esc(&dataset);
    let body = format!(
        "<div id=\"histograms\" data-dataset=\"{d}\"><h1><a href=\"/datasets/{u}\">{d}</a> · histograms</h1>\
         <div class=\"controls\"><label>Interval <select id=\"interval\"></select></label> <span class=\"hint\">Click a crystal of a map to open it.</span></div>\
         <div id=\"hists\" class=\"hists\"></div></div>",
        u = esc(&url_segment(&dataset))
    );
    Ok(html(&format!("gm2dqc: {dataset} histograms"), "", body, &["histograms.js"]))
}

pub async fn cuts(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(r) = allowed(&app, headers, "/cuts", None).await? {
        return Ok(r);
    }
    let body = "<h1>Cut tuning</h1>\
         <div class=\"controls\"><label>Dataset <select id=\"dataset\"></select></label> <span id=\"base\" class=\"provenance\"></span></div>\
         <div class=\"tune\"><div><h2>Cut file</h2><textarea id=\"text\" spellcheck=\"false\" rows=\"30\"></textarea>\
         <div class=\"controls\"><label>Save as <input id=\"name\" placeholder=\"tight-2026-12.toml\"></label><button id=\"save\" type=\"button\">Save as a new cut file</button></div>\
         <p id=\"saved\" class=\"saved\"></p><p id=\"save-error\" class=\"error\" role=\"alert\"></p></div>\
         <div><h2>What changes</h2><p id=\"summary\"></p><div id=\"diagnostics\" class=\"error\"></div>\
         <h3>Failing subruns per flag</h3><table id=\"flag-counts\" class=\"data counts\"></table>\
         <h3>Subruns that change flag</h3><div class=\"scroll\"><table id=\"changes\" class=\"data\"></table></div></div></div>"
        .to_string();
    Ok(html("gm2dqc: cut tuning", "cuts", body, &["cuts.js"]))
}

pub async fn audit(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(r) = allowed(&app, headers, "/audit", None).await? {
        return Ok(r);
    }
    let body = "<h1>Audit log</h1><p>Every write made through this application, newest first.</p><table id=\"audit\" class=\"data\"></table>".to_string();
    Ok(html("gm2dqc: audit log", "audit", body, &["audit.js"]))
}

pub async fn tags(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(r) = allowed(&app, headers, "/tags", None).await? {
        return Ok(r);
    }
    let body = "<h1>Conditions tags</h1><p>A locked tag accepts no more uploads: what production read from it stays what it is. Locking is an expert's, and cannot be undone.</p>\
         <p id=\"tag-error\" class=\"error\" role=\"alert\"></p><table id=\"tags\" class=\"data\"></table>"
        .to_string();
    Ok(html("gm2dqc: tags", "tags", body, &["tags.js"]))
}
