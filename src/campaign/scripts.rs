//! The batch jobs of a campaign: a Slurm job array and an HTCondor submit
//! description for the shards, one job for the reduce, and their submission.
//!
//! Slurm: `sbatch WORK/submit/shards.slurm` runs one array task per shard;
//! `reduce.slurm` runs after all of them succeeded (`--dependency=afterok`), and is
//! cancelled when one fails (`--kill-on-invalid-dep=yes`).
//! HTCondor: `condor_submit_dag WORK/submit/campaign.dag` runs `shards.sub` (one job
//! per line of `shards.txt`) and then `reduce.sub`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::Plan;

/// A batch system gm2dqc submits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Slurm,
    Htcondor,
}

/// One submission, recorded in `WORK/submissions.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub system: System,
    pub submitted: String,
    pub shards: Vec<usize>,
    /// The shards' job (Slurm array job id, HTCondor DAG cluster).
    pub shards_job: String,
    /// The reduce job (Slurm).
    pub reduce_job: Option<String>,
}

pub fn submit_dir(work: &Path) -> PathBuf {
    work.join("submit")
}

/// `'…'` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// An argument in HTCondor's "new" arguments syntax (inside double quotes).
fn condor_arg(s: &str) -> String {
    if s.chars().any(|c| c.is_whitespace() || c == '\'' || c == '"') {
        format!("'{}'", s.replace('\'', "''").replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Compresses sorted indices into Slurm's array syntax: `0-3,7,9-10`.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if j == i { indices[i].to_string() } else { format!("{}-{}", indices[i], indices[j]) });
        i = j + 1;
    }
    parts.join(",")
}

fn slurm_header(o: &mut String, plan: &Plan, work: &Path, name: &str, log: &str) {
    let j = &plan.jobs;
    let _ = writeln!(o, "#SBATCH --job-name={name}");
    let _ = writeln!(o, "#SBATCH --cpus-per-task={}", j.threads);
    let _ = writeln!(o, "#SBATCH --output={}", work.join("logs").join(log).display());
    let _ = writeln!(o, "#SBATCH --chdir={}", plan.cwd.display());
    for (flag, v) in [("partition", &j.partition), ("time", &j.time), ("mem", &j.mem)] {
        if let Some(v) = v {
            let _ = writeln!(o, "#SBATCH --{flag}={v}");
        }
    }
}

/// The Slurm job array of the shards.
pub fn slurm_shards(plan: &Plan, work: &Path) -> String {
    let n = plan.shards.len();
    let mut o = String::from("#!/bin/bash\n");
    let _ = writeln!(o, "# gm2dqc campaign {}: one array task per shard ({n} shards), written by `gm2dqc plan`.", plan.dataset);
    let _ = writeln!(o, "# Submit all:        sbatch {}", submit_dir(work).join("shards.slurm").display());
    let _ = writeln!(o, "# Rerun shards 3, 7: sbatch --array=3,7 {}", submit_dir(work).join("shards.slurm").display());
    let _ = writeln!(o, "# (or `gm2dqc plan --out {} --resubmit-failed --submit slurm`)", work.display());
    let _ = writeln!(o, "#SBATCH --array=0-{}", n - 1);
    slurm_header(&mut o, plan, work, "gm2dqc-shard", "shard-%a.log");
    let _ = writeln!(o, "set -euo pipefail");
    let _ = writeln!(
        o,
        "exec {} shard {} --index \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-{}}}\"",
        sh_quote(&plan.jobs.gm2dqc),
        sh_quote(&work.display().to_string()),
        plan.jobs.threads
    );
    o
}

fn reduce_args(plan: &Plan, work: &Path) -> Vec<String> {
    let mut a = vec!["reduce".to_string(), work.display().to_string(), "--tag".into(), plan.jobs.tag.clone(), "--threads".into(), plan.jobs.threads.to_string()];
    if let Some(db) = &plan.jobs.db {
        a.extend(["--db".to_string(), db.clone()]);
    }
    a
}

/// The Slurm job of the reduce (submitted with a dependency on the shards).
pub fn slurm_reduce(plan: &Plan, work: &Path) -> String {
    let mut o = String::from("#!/bin/bash\n");
    let _ = writeln!(o, "# gm2dqc campaign {}: the reduce (merge, cuts, fits, plots, upload), written by `gm2dqc plan`.", plan.dataset);
    let _ = writeln!(o, "# Submit after the shards: sbatch --dependency=afterok:<array job id> {}", submit_dir(work).join("reduce.slurm").display());
    let _ = writeln!(o, "#SBATCH --kill-on-invalid-dep=yes");
    slurm_header(&mut o, plan, work, "gm2dqc-reduce", "reduce.log");
    let _ = writeln!(o, "set -euo pipefail");
    let args: Vec<String> = reduce_args(plan, work).iter().map(|a| sh_quote(a)).collect();
    let _ = writeln!(o, "exec {} {}", sh_quote(&plan.jobs.gm2dqc), args.join(" "));
    o
}

fn condor_common(o: &mut String, plan: &Plan) {
    let _ = writeln!(o, "universe              = vanilla");
    let _ = writeln!(o, "executable            = {}", plan.jobs.gm2dqc);
    let _ = writeln!(o, "initialdir            = {}", plan.cwd.display());
    let _ = writeln!(o, "request_cpus          = {}", plan.jobs.threads);
    let _ = writeln!(o, "request_memory        = {}", plan.jobs.mem.as_deref().unwrap_or("4GB"));
    let _ = writeln!(o, "# The work directory and the dataset are on shared storage: nothing is transferred.");
    let _ = writeln!(o, "should_transfer_files = NO");
    let _ = writeln!(o, "getenv                = GM2DQC_DB, RUST_LOG");
}

/// The HTCondor submit description of the shards: one job per index listed in
/// `list` (a file of shard indices, one per line).
pub fn condor_shards(plan: &Plan, work: &Path, list: &Path) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# gm2dqc campaign {}: one job per shard listed in {}, written by `gm2dqc plan`.", plan.dataset, list.display());
    let _ = writeln!(o, "# Submit with the reduce: condor_submit_dag {}", submit_dir(work).join("campaign.dag").display());
    condor_common(&mut o, plan);
    let logs = work.join("logs");
    let _ = writeln!(o, "arguments             = \"shard {} --index $(shard) --threads {}\"", condor_arg(&work.display().to_string()), plan.jobs.threads);
    let _ = writeln!(o, "output                = {}", logs.join("shard-$(shard).log").display());
    let _ = writeln!(o, "error                 = {}", logs.join("shard-$(shard).err").display());
    let _ = writeln!(o, "log                   = {}", logs.join("shards.condor.log").display());
    let _ = writeln!(o, "queue shard from {}", list.display());
    o
}

/// The HTCondor submit description of the reduce.
pub fn condor_reduce(plan: &Plan, work: &Path) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# gm2dqc campaign {}: the reduce, after every shard (campaign.dag).", plan.dataset);
    condor_common(&mut o, plan);
    let logs = work.join("logs");
    let args: Vec<String> = reduce_args(plan, work).iter().map(|a| condor_arg(a)).collect();
    let _ = writeln!(o, "arguments             = \"{}\"", args.join(" "));
    let _ = writeln!(o, "output                = {}", logs.join("reduce.log").display());
    let _ = writeln!(o, "error                 = {}", logs.join("reduce.err").display());
    let _ = writeln!(o, "log                   = {}", logs.join("reduce.condor.log").display());
    let _ = writeln!(o, "queue");
    o
}

/// The DAG: the shards, then the reduce.
pub fn condor_dag(shards_sub: &Path, reduce_sub: &Path) -> String {
    format!("# gm2dqc campaign: the reduce runs when every shard succeeded.\nJOB shards {}\nJOB reduce {}\nPARENT shards CHILD reduce\n", shards_sub.display(), reduce_sub.display())
}

fn write_file(path: &Path, text: &str, executable: bool) -> anyhow::Result<()> {
    crate::atomic::write(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("making {} executable", path.display()))?;
    }
    Ok(())
}

/// Writes every submit file for the whole campaign into `WORK/submit/`.
pub fn write_all(plan: &Plan, work: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = submit_dir(work);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir_all(work.join("logs")).with_context(|| format!("creating {}", work.join("logs").display()))?;
    let all: Vec<usize> = (0..plan.shards.len()).collect();
    let list = dir.join("shards.txt");
    let files = [
        (dir.join("shards.slurm"), slurm_shards(plan, work), true),
        (dir.join("reduce.slurm"), slurm_reduce(plan, work), true),
        (list.clone(), all.iter().map(|i| format!("{i}\n")).collect::<String>(), false),
        (dir.join("shards.sub"), condor_shards(plan, work, &list), false),
        (dir.join("reduce.sub"), condor_reduce(plan, work), false),
        (dir.join("campaign.dag"), condor_dag(&dir.join("shards.sub"), &dir.join("reduce.sub")), false),
    ];
    for (p, text, x) in &files {
        write_file(p, text, *x)?;
    }
    Ok(files.into_iter().map(|(p, _, _)| p).collect())
}

/// Writes the HTCondor files that rerun `shards` alone (`resubmit.txt`,
/// `resubmit.sub`, `resubmit.dag`); returns the DAG's path.
pub fn write_condor_resubmit(plan: &Plan, work: &Path, shards: &[usize]) -> anyhow::Result<PathBuf> {
    let dir = submit_dir(work);
    let list = dir.join("resubmit.txt");
    write_file(&list, &shards.iter().map(|i| format!("{i}\n")).collect::<String>(), false)?;
    write_file(&dir.join("resubmit.sub"), &condor_shards(plan, work, &list), false)?;
    let dag = dir.join("resubmit.dag");
    write_file(&dag, &condor_dag(&dir.join("resubmit.sub"), &dir.join("reduce.sub")), false)?;
    Ok(dag)
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let what = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("running {what} (is the batch system's client installed and on PATH?)"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Submits `shards` (all, or the ones to rerun) and the reduce after them.
pub fn submit(system: System, plan: &Plan, work: &Path, shards: &[usize]) -> anyhow::Result<Submission> {
    let dir = submit_dir(work);
    let all = shards.len() == plan.shards.len();
    let sub = match system {
        System::Slurm => {
            let mut c = Command::new("sbatch");
            c.arg("--parsable");
            if !all {
                c.arg(format!("--array={}", array_spec(shards)));
            }
            c.arg(dir.join("shards.slurm"));
            // --parsable prints "jobid" or "jobid;cluster".
            let job = run(&mut c)?.split(';').next().unwrap_or_default().to_string();
            let reduce = run(Command::new("sbatch").arg("--parsable").arg(format!("--dependency=afterok:{job}")).arg(dir.join("reduce.slurm")))?;
            Submission { system, submitted: crate::db::time::now_text(), shards: shards.to_vec(), shards_job: job, reduce_job: Some(reduce.split(';').next().unwrap_or_default().to_string()) }
        }
        System::Htcondor => {
            let dag = if all { dir.join("campaign.dag") } else { write_condor_resubmit(plan, work, shards)? };
            let out = run(Command::new("condor_submit_dag").arg("-force").arg(&dag))?;
            // "... submitted to cluster 1234."
            let cluster = out.rsplit("cluster").next().map(|s| s.trim().trim_end_matches('.').to_string()).unwrap_or_default();
            Submission { system, submitted: crate::db::time::now_text(), shards: shards.to_vec(), shards_job: cluster, reduce_job: None }
        }
    };
    let mut subs = submissions(work);
    subs.push(sub.clone());
    write_file(&work.join("submissions.json"), &serde_json::to_string_pretty(&subs)?, false)?;
    Ok(sub)
}

/// The submissions recorded in the work directory (a regular file, read no further
/// than its size; anything unreadable counts as none).
pub fn submissions(work: &Path) -> Vec<Submission> {
    crate::dataset::read_regular(&work.join("submissions.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// The shards that Slurm still lists (pending or running) for the recorded array
/// jobs; empty without submissions or without `squeue`.
pub fn queued(work: &Path) -> BTreeSet<usize> {
    let jobs: Vec<String> = submissions(work).into_iter().filter(|s| s.system == System::Slurm).map(|s| s.shards_job).collect();
    if jobs.is_empty() {
        return BTreeSet::new();
    }
    // One line per array task: "<array job id> <task id>". All jobs are listed and
    // filtered here: squeue -j fails on a job id it has forgotten.
    let Ok(out) = Command::new("squeue").args(["-h", "-r", "-o", "%F %K"]).output() else { return BTreeSet::new() };
    let mut set = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = line.split_whitespace();
        let (Some(job), Some(task)) = (f.next(), f.next()) else { continue };
        if jobs.iter().any(|j| j == job) {
            if let Ok(t) = task.parse::<usize>() {
                set.insert(t);
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_and_quoting() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(array_spec(&[5]), "5");
        assert_eq!(sh_quote("/data/it's here"), r"'/data/it'\''s here'");
        assert_eq!(condor_arg("/plain/path"), "/plain/path");
        assert_eq!(condor_arg("/with space/it's"), "'/with space/it''s'");
    }
}
