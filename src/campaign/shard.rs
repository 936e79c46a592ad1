//! `gm2dqc shard`: the map stage over one shard's chunks, written as a partial result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use rayon::prelude::*;

use super::{chunk_file_name, marker_path, result_dir, shards_dir, Marker, Partial, PartialChunk, Plan, PARTIAL_FORMAT};
use crate::merged::{self, Merged};
use crate::pipeline::{self, Stages};

/// What a shard did.
#[derive(Debug)]
pub enum Outcome {
    /// The partial result was written.
    Written { dir: PathBuf, partial: Box<Partial> },
    /// A complete result of this plan was already there (a rerun of a finished shard).
    AlreadyDone { dir: PathBuf },
}

/// Runs shard `index` of the plan in `work` (an absolute path) on the current rayon
/// pool. Input problems are recorded in the partial result, not returned: an `Err`
/// means no partial result was written (and `.failed.json` says why).
pub fn run(work: &Path, index: usize) -> anyhow::Result<Outcome> {
    let (plan, plan_sha256) = Plan::load(work)?;
    let Some(shard) = plan.shards.get(index).cloned() else {
        bail!("{}: no shard {index}: the plan has shards 0 to {}", super::plan_path(work).display(), plan.shards.len() - 1);
    };
    let dir = result_dir(work, index);
    if std::fs::symlink_metadata(dir.join("partial.json")).is_ok() {
        match super::check_result(&dir, &plan, &plan_sha256, &shard) {
            Ok(_) => return Ok(Outcome::AlreadyDone { dir }),
            Err(why) => bail!("{}: a partial result that is not this plan's shard {index} is in the way ({why}); remove it (or make the plan in a new directory)", dir.display()),
        }
    }
    clean_stale_tmp(work, Some(index));
    std::fs::create_dir_all(shards_dir(work)).with_context(|| format!("creating {}", shards_dir(work).display()))?;
    let marker = Marker { shard: index, host: crate::db::host_name(), pid: std::process::id(), job: super::batch_job(), started: crate::db::time::now_text(), error: None };
    write_json(&marker_path(work, index, "running"), &marker)?;
    let _ = std::fs::remove_file(marker_path(work, index, "failed"));
    let result = map(work, &plan, &plan_sha256, index, &shard, &marker);
    match &result {
        Ok(_) => {
            let _ = std::fs::remove_file(marker_path(work, index, "running"));
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(tmp_dir(work, index));
            let failed = Marker { error: Some(format!("{e:#}")), ..marker };
            let _ = write_json(&marker_path(work, index, "failed"), &failed);
            let _ = std::fs::remove_file(marker_path(work, index, "running"));
        }
    }
    result
}

/// Where this process writes the partial result before renaming it into place:
/// `.shard-NNNNN.tmp-HOST-PID`, hidden. A killed shard leaves it behind; a rerun
/// uses its own and removes those of dead processes ([`clean_stale_tmp`]).
fn tmp_dir(work: &Path, index: usize) -> PathBuf {
    shards_dir(work).join(format!(".{}.tmp-{}-{}", super::shard_name(index), tmp_host(&crate::db::host_name()), std::process::id()))
}

/// The host name as it appears in temporary directory names (letters, digits, `.`, `_`).
fn tmp_host(host: &str) -> String {
    host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '_' }).collect()
}

/// Removes the temporary directories left by killed shards (of shard `index`, or of
/// every shard): those made on this host by a process that no longer runs. Others
/// are left alone (their process may run on another host). Returns what was removed.
pub fn clean_stale_tmp(work: &Path, index: Option<usize>) -> Vec<PathBuf> {
    let here = tmp_host(&crate::db::host_name());
    let Ok(entries) = std::fs::read_dir(shards_dir(work)) else { return Vec::new() };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((shard, rest)) = name.strip_prefix('.').and_then(|n| n.split_once(".tmp-")) else { continue };
        let Some((host, pid)) = rest.rsplit_once('-') else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let mine = index.is_none_or(|i| shard == super::shard_name(i));
        if !mine || host != here || pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // Only what a shard puts there: a directory, not followed if it is a link.
        let p = e.path();
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) && std::fs::remove_dir_all(&p).is_ok() {
            removed.push(p);
        }
    }
    removed.sort();
    removed
}

fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> anyhow::Result<()> {
    crate::atomic::write(path, &serde_json::to_vec_pretty(v)?).with_context(|| format!("writing {}", path.display()))
}

fn map(work: &Path, plan: &Plan, plan_sha256: &str, index: usize, shard: &super::Shard, marker: &Marker) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let cuts = plan.cut_file(work)?;
    let cfg = plan.config(&cuts);
    let ds = plan.dataset();
    // The intervals and reference runs follow from the files and the cut file; a
    // different answer means plan.json came from another gm2dqc.
    let checked = pipeline::check(&ds, &cfg).with_context(|| format!("{}: the plan does not fit its cut file", super::plan_path(work).display()))?;
    if checked.intervals != plan.plan_intervals || checked.references != plan.references || pipeline::chunks(&ds.files, &checked.intervals) != plan.chunks {
        bail!("{}: its intervals, reference runs or chunks differ from what this gm2dqc computes; make the plan again with this version", super::plan_path(work).display());
    }
    let references = plan.reference_runs();
    // Relative paths in the plan are relative to where it was made.
    std::env::set_current_dir(&plan.cwd).with_context(|| format!("changing to the plan's directory {}", plan.cwd.display()))?;

    let tmp = tmp_dir(work, index);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let chunk_ids: Vec<usize> = (shard.chunks.0..shard.chunks.1).collect();
    let window = 2 * rayon::current_num_threads().max(1);
    let mut chunks = Vec::with_capacity(chunk_ids.len());
    let mut metrics = Vec::with_capacity(shard.files);
    for batch in chunk_ids.chunks(window) {
        let outs: Vec<anyhow::Result<(PartialChunk, Vec<_>)>> = batch
            .par_iter()
            .map(|&i| {
                let c = plan.chunks[i];
                let out = pipeline::map_chunk(c.interval, plan.plan_intervals[c.interval], &ds.files[c.files()], &cfg, Stages::ALL.sums, &references, &|_| {});
                let file = chunk_file_name(i);
                let path = tmp.join(&file);
                let m = Merged { sums: out.sums, reference_run: plan.references[c.interval], reference_out_of_fill: None };
                let (bytes, sha256) = merged::write_chunk(&path, &m, i, &out.references)?;
                let pc = PartialChunk {
                    index: i,
                    chunk: c,
                    file,
                    bytes,
                    sha256,
                    references: out.references.iter().map(|(r, _)| *r).collect(),
                    files_failed: out.files_failed,
                    errors: out.errors,
                    inputs: out.inputs,
                };
                Ok((pc, out.metrics))
            })
            .collect();
        for o in outs {
            let (pc, m) = o?;
            chunks.push(pc);
            metrics.extend(m);
        }
    }
    let metrics_path = tmp.join("metrics.parquet");
    crate::tables::write_parquet(&mut crate::tables::subrun_metrics(&metrics), &metrics_path)?;
    let metrics_sha256 = crate::checksum::sha256_hex(&std::fs::read(&metrics_path).with_context(|| format!("reading back {}", metrics_path.display()))?);
    let partial = Partial {
        format: PARTIAL_FORMAT.into(),
        analysis_id: plan.analysis_id.clone(),
        plan_sha256: plan_sha256.to_string(),
        shard: index,
        host: marker.host.clone(),
        started: marker.started.clone(),
        finished: crate::db::time::now_text(),
        seconds: t0.elapsed().as_secs_f64(),
        threads: rayon::current_num_threads(),
        chunks,
        metrics: "metrics.parquet".into(),
        metrics_sha256,
    };
    write_json(&tmp.join("partial.json"), &partial)?;
    // Complete: into place in one rename. A second run of the same shard that
    // finished first wins; this one's identical result is dropped.
    let dir = result_dir(work, index);
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if dir.join("partial.json").is_file() {
            return Ok(Outcome::AlreadyDone { dir });
        }
        return Err(e).with_context(|| format!("moving the partial result into {}", dir.display()));
    }
    Ok(Outcome::Written { dir, partial: Box::new(partial) })
}
