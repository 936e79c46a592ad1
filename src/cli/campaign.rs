//! `gm2dqc plan`, `gm2dqc shard`, `gm2dqc reduce` and `gm2dqc status --campaign`: a
//! dataset as a campaign of batch jobs (see [`crate::campaign`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::report::{self, Bars};
use super::stages::BoardArgs;
use super::AnalyzeArgs;
use crate::campaign::{self, reduce, scripts, JobOptions, Plan, PlanCuts, PlanFile, Shard, ShardState};
use crate::db::board::State;
use crate::job::board::{check_not_held, resolve_url, JobBoard};
use crate::job::{Job, JobConfig, JobError, PlotOptions, Stage, Status, Work};
use crate::pipeline;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The dataset: a directory of subrun files (searched recursively) or a list file.
    #[arg(long, value_name = "DATASET", required_unless_present = "resubmit_failed")]
    pub input: Option<PathBuf>,
    /// How many shards (batch jobs) to split it into, balanced by bytes. A shard is a
    /// whole number of chunks (8 files of one interval), so there are at most as many
    /// shards as chunks.
    #[arg(long, value_name = "N", required_unless_present = "resubmit_failed")]
    pub shards: Option<usize>,
    /// The work directory, on storage every job sees: the plan, the job scripts, the
    /// shards' partial results, the logs, and the reduce's output (WORK/out).
    #[arg(long, value_name = "WORK")]
    pub out: PathBuf,
    /// The cut file (copied into WORK; default: the built-in standard set).
    #[arg(long, value_name = "FILE")]
    pub cuts: Option<PathBuf>,
    /// Gain reference run (default: the cut file's, else the first run).
    #[arg(long, value_name = "RUN")]
    pub reference_run: Option<u32>,
    /// An interval of validity FIRST-LAST; repeat for several (default: the cut file's).
    #[arg(long = "interval", value_name = "FIRST-LAST", value_parser = super::parse_run_range)]
    pub intervals: Vec<(u32, u32)>,
    /// CPUs (threads) per shard job and for the reduce job.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads_per_job: usize,
    /// The conditions tag the reduce uploads to.
    #[arg(long, default_value = "dqc")]
    pub tag: String,
    /// Slurm partition for the jobs.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm time limit per job (e.g. 02:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// Memory per job (Slurm --mem, e.g. 4G; HTCondor request_memory, default 4GB).
    #[arg(long)]
    pub mem: Option<String>,
    /// The gm2dqc executable the jobs run (default: this one), as the worker nodes see it.
    #[arg(long, value_name = "PATH")]
    pub gm2dqc: Option<PathBuf>,
    /// Submit the jobs: the shards, then the reduce when all of them succeeded.
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub submit: Option<scripts::System>,
    /// Rerun only the shards without a result that are not running or queued (killed,
    /// failed, never started): with --submit, submit them and a new reduce after them;
    /// without, print the commands.
    #[arg(long)]
    pub resubmit_failed: bool,
    /// Replace a plan already in WORK (its partial results are removed; WORK/out stays).
    #[arg(long)]
    pub force: bool,
    /// Print what was planned or submitted as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub board: BoardArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShardArgs {
    /// The work directory of `gm2dqc plan`.
    #[arg(value_name = "WORK")]
    pub work: PathBuf,
    /// Which shard (0 to N-1): $SLURM_ARRAY_TASK_ID in the Slurm script, $(shard) in
    /// the HTCondor one.
    #[arg(long)]
    pub index: usize,
    /// Worker threads (default: all cores the job may use).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct ReduceArgs {
    /// The work directory of `gm2dqc plan`.
    #[arg(value_name = "WORK")]
    pub work: PathBuf,
    /// Output directory (default: WORK/out), as `gm2dqc run --out` writes it.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// More directories of partial results (shard-* directories) to merge with
    /// WORK/shards, e.g. from another site or another sharding of the same plan.
    #[arg(long = "from", value_name = "DIR")]
    pub from: Vec<PathBuf>,
    /// Merge what is there when some shards have no result: their subruns are left
    /// out, listed in errors.txt and summary.json, and the exit code is 1.
    #[arg(long)]
    pub allow_partial: bool,
    /// The conditions tag to upload to (default: the plan's).
    #[arg(long)]
    pub tag: Option<String>,
    /// An in-fill fit to draw besides the worst ones, as CALO:XTAL; repeatable.
    #[arg(long = "channel", value_name = "CALO:XTAL", value_parser = super::stages::parse_channel)]
    pub channels: Vec<crate::plots::Channel>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON document (analysis, plots, upload).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub board: BoardArgs,
}

/// An absolute path (the jobs run elsewhere, in other directories).
fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

/// The work directory, checked: an error message and exit code 2 when it holds no plan.
fn open_work(work: &Path) -> Result<(PathBuf, Plan, String), Status> {
    let w = match std::fs::canonicalize(work) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {}: {e}; give the work directory of `gm2dqc plan`", work.display());
            return Err(Status::Usage);
        }
    };
    match Plan::load(&w) {
        Ok((p, sha)) => Ok((w, p, sha)),
        Err(e) => {
            eprintln!("error: {e:#}");
            Err(Status::Usage)
        }
    }
}

/// `gm2dqc plan`.
pub fn plan(args: PlanArgs) -> anyhow::Result<Status> {
    if args.resubmit_failed {
        return resubmit(&args);
    }
    let (Some(input), Some(n)) = (&args.input, args.shards) else { unreachable!("clap requires --input and --shards") };
    if n == 0 {
        eprintln!("error: --shards must be at least 1");
        return Ok(Status::Usage);
    }
    let work = absolute(&args.out)?;
    if campaign::plan_path(&work).exists() && !args.force {
        eprintln!(
            "error: {} already holds a plan; `gm2dqc status --campaign {}` shows its shards, `gm2dqc plan --out {} --resubmit-failed` reruns the failed ones, --force replaces it (and removes its partial results)",
            work.display(),
            work.display(),
            work.display()
        );
        return Ok(Status::Usage);
    }
    let cutfile = match &args.cuts {
        Some(p) => crate::cuts::load(p).map_err(JobError::from)?,
        None => crate::cuts::standard(),
    };
    let ds = crate::dataset::scan(input).map_err(JobError::from)?;
    let cfg = pipeline::Config::from_cuts(&cutfile).with_overrides(args.reference_run, &args.intervals);
    let checked = pipeline::check(&ds, &cfg).map_err(JobError::from)?;
    let dataset = args.board.dataset.clone().unwrap_or_else(|| crate::job::manifest::dataset_name(input));
    let url = resolve_url(args.board.db.as_deref(), &absolute(&args.out)?.join("out").join("conditions.sqlite"));
    check_not_held(&url, &dataset)?;
    let chunks = pipeline::chunks(&ds.files, &checked.intervals);
    let chunk_bytes: Vec<u64> = chunks.iter().map(|c| ds.files[c.files()].iter().map(|f| f.size).sum()).collect();
    let shards: Vec<Shard> = campaign::balance(&chunk_bytes, n)
        .into_iter()
        .enumerate()
        .map(|(index, (a, b))| Shard { index, chunks: (a, b), files: chunks[a..b].iter().map(|c| c.len).sum(), bytes: chunk_bytes[a..b].iter().sum() })
        .collect();
    let files: Vec<PlanFile> = ds.files.iter().map(|f| PlanFile { run: f.id.run, subrun: f.id.subrun, path: f.path.display().to_string(), size: f.size }).collect();
    if args.force {
        // The old plan's partial results go; WORK/out stays (it may hold the database).
        let shards = campaign::shards_dir(&work);
        if shards.exists() {
            std::fs::remove_dir_all(&shards).with_context(|| format!("removing {}", shards.display()))?;
        }
        let _ = std::fs::remove_file(work.join("submissions.json"));
    }
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let work = std::fs::canonicalize(&work)?;
    let copy = match &args.cuts {
        Some(p) => {
            let dst = work.join("cuts.toml");
            std::fs::copy(p, &dst).with_context(|| format!("copying {} to {}", p.display(), dst.display()))?;
            Some("cuts.toml".to_string())
        }
        None => None,
    };
    let gm2dqc = match &args.gm2dqc {
        Some(p) => p.display().to_string(),
        None => std::env::current_exe().context("finding this gm2dqc executable (give --gm2dqc PATH)")?.display().to_string(),
    };
    let plan = Plan {
        format: campaign::PLAN_FORMAT.into(),
        created: crate::db::time::now_text(),
        software: crate::software(),
        cwd: std::env::current_dir()?,
        input: input.display().to_string(),
        dataset,
        cuts: PlanCuts { source: cutfile.source.clone(), sha256: cutfile.sha256.clone(), copy },
        reference_run: args.reference_run,
        intervals: args.intervals.clone(),
        analysis_id: campaign::analysis_id(&cutfile.sha256, args.reference_run, &args.intervals, &files),
        plan_intervals: checked.intervals.clone(),
        references: checked.references.clone(),
        files,
        chunks,
        shards,
        identical_copies: ds.identical_copies.iter().map(|(c, u)| (c.display().to_string(), u.display().to_string())).collect(),
        jobs: JobOptions {
            gm2dqc,
            threads: args.threads_per_job.max(1),
            tag: args.tag.clone(),
            db: args.board.db.clone(),
            partition: args.partition.clone(),
            time: args.time.clone(),
            mem: args.mem.clone(),
        },
    };
    // The copy of the cut file must be the file that was checked.
    plan.cut_file(&work)?;
    crate::atomic::write(&campaign::plan_path(&work), &serde_json::to_vec_pretty(&plan)?).with_context(|| format!("writing {}", campaign::plan_path(&work).display()))?;
    let written = scripts::write_all(&plan, &work)?;

    let out = work.join("out");
    crate::job::outputs::create_dir(&out)?;
    let url = resolve_url(args.board.db.as_deref(), &out.join("conditions.sqlite"));
    let mut b = JobBoard::open(&url, &plan.dataset)?;
    b.set(&[Stage::Scan], State::Done, &format!("{} files, {:.1} MB", ds.files.len(), ds.bytes() as f64 / 1e6))?;
    b.set(&[Stage::Metrics, Stage::Merge], State::InProgress, &format!("campaign {}: {} shards", work.display(), plan.shards.len()))?;

    let submission = match args.submit {
        Some(system) => Some(scripts::submit(system, &plan, &work, &(0..plan.shards.len()).collect::<Vec<_>>())?),
        None => None,
    };
    let (min, max) = plan.shards.iter().fold((u64::MAX, 0), |(a, b), s| (a.min(s.bytes), b.max(s.bytes)));
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if args.json {
        let j = serde_json::json!({
            "work": work.display().to_string(), "plan": campaign::plan_path(&work).display().to_string(), "files": plan.files.len(), "bytes": ds.bytes(),
            "chunks": plan.chunks.len(), "shards": plan.shards, "submit_files": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "submission": submission,
        });
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else if !super::quiet() {
        writeln!(
            o,
            "planned {} shards over {} files ({:.1} MB, {} chunks, {} intervals): {:.1} to {:.1} MB per shard",
            plan.shards.len(),
            plan.files.len(),
            ds.bytes() as f64 / 1e6,
            plan.chunks.len(),
            plan.plan_intervals.len(),
            min as f64 / 1e6,
            max as f64 / 1e6
        )?;
        if plan.shards.len() < n {
            writeln!(o, "  ({n} shards asked for, but a shard is a whole chunk of up to {} files and there are {} chunks)", pipeline::CHUNK_FILES, plan.chunks.len())?;
        }
        writeln!(o, "plan: {}", campaign::plan_path(&work).display())?;
        match &submission {
            Some(s) => print_submission(&mut o, s, &work)?,
            None => print_how_to_run(&mut o, &work, plan.shards.len())?,
        }
    }
    Ok(Status::Ok)
}

fn print_how_to_run(o: &mut impl Write, work: &Path, n: usize) -> std::io::Result<()> {
    let s = scripts::submit_dir(work);
    writeln!(o, "run it with one of:")?;
    writeln!(o, "  Slurm:    gm2dqc plan --out {} --resubmit-failed --submit slurm   (or: sbatch {}, then sbatch --dependency=afterok:<job id> {})", work.display(), s.join("shards.slurm").display(), s.join("reduce.slurm").display())?;
    writeln!(o, "  HTCondor: condor_submit_dag {}", s.join("campaign.dag").display())?;
    writeln!(o, "  here:     for i in $(seq 0 {}); do gm2dqc shard {} --index $i; done; gm2dqc reduce {}", n - 1, work.display(), work.display())?;
    writeln!(o, "progress:   gm2dqc status --campaign {}", work.display())
}

fn print_submission(o: &mut impl Write, s: &scripts::Submission, work: &Path) -> std::io::Result<()> {
    let system = match s.system {
        scripts::System::Slurm => "Slurm",
        scripts::System::Htcondor => "HTCondor",
    };
    write!(o, "submitted to {system}: shards {} as job {}", scripts::array_spec(&s.shards), s.shards_job)?;
    match &s.reduce_job {
        Some(r) => writeln!(o, ", the reduce as job {r} (after all of them succeeded)")?,
        None => writeln!(o, ", the reduce after them (DAG)")?,
    }
    writeln!(o, "progress: gm2dqc status --campaign {}", work.display())
}

/// `gm2dqc plan --resubmit-failed`.
fn resubmit(args: &PlanArgs) -> anyhow::Result<Status> {
    let (work, plan, sha) = match open_work(&args.out) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let states = campaign::shard_states(&work, &plan, &sha, &scripts::queued(&work));
    let rerun: Vec<usize> = states.iter().enumerate().filter(|(_, s)| s.needs_rerun()).map(|(i, _)| i).collect();
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if rerun.is_empty() {
        let counts = campaign::count_states(&states);
        if args.json {
            serde_json::to_writer_pretty(&mut o, &serde_json::json!({"resubmit": [], "states": counts}))?;
            writeln!(o)?;
        } else {
            writeln!(o, "nothing to resubmit: {}", counts.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "))?;
        }
        return Ok(Status::Ok);
    }
    let submission = match args.submit {
        Some(system) => Some(scripts::submit(system, &plan, &work, &rerun)?),
        None => {
            scripts::write_condor_resubmit(&plan, &work, &rerun)?;
            None
        }
    };
    if args.json {
        serde_json::to_writer_pretty(&mut o, &serde_json::json!({"resubmit": rerun, "submission": submission}))?;
        writeln!(o)?;
        return Ok(Status::Ok);
    }
    for &i in &rerun {
        writeln!(o, "shard {i}: {}", describe(&states[i]))?;
    }
    match &submission {
        Some(s) => print_submission(&mut o, s, &work)?,
        None => {
            let s = scripts::submit_dir(&work);
            writeln!(o, "rerun them with one of:")?;
            writeln!(o, "  Slurm:    sbatch --array={} {}, then sbatch --dependency=afterok:<job id> {}", scripts::array_spec(&rerun), s.join("shards.slurm").display(), s.join("reduce.slurm").display())?;
            writeln!(o, "  HTCondor: condor_submit_dag -force {}", s.join("resubmit.dag").display())?;
            writeln!(o, "  here:     gm2dqc shard {} --index N (for each), then gm2dqc reduce {}", work.display(), work.display())?;
        }
    }
    Ok(Status::Ok)
}

fn describe(s: &ShardState) -> String {
    match s {
        ShardState::Done { finished, seconds, host, input_errors } => format!("done {finished} on {host} in {seconds:.1} s, {input_errors} input problems"),
        ShardState::Started { marker, alive } => {
            let job = marker.job.as_deref().map(|j| format!(", {j}")).unwrap_or_default();
            let what = match alive {
                Some(true) => "running",
                Some(false) => "killed (no process and no result)",
                None => "started, no result yet (running, or killed on another host)",
            };
            format!("{what}: started {} on {} (pid {}{job})", marker.started, marker.host, marker.pid)
        }
        ShardState::Failed { marker } => format!("failed on {} at {}: {}", marker.host, marker.started, marker.error.as_deref().unwrap_or("?")),
        ShardState::Pending { .. } => "pending (not started)".into(),
    }
}

/// `gm2dqc shard`.
pub fn shard(args: ShardArgs) -> anyhow::Result<Status> {
    let work = match open_work(&args.work) {
        Ok((w, _, _)) => w,
        Err(code) => return Ok(code),
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    match pool.install(|| campaign::shard::run(&work, args.index)) {
        Ok(campaign::shard::Outcome::AlreadyDone { dir }) => {
            if !super::quiet() {
                println!("shard {}: already done: {}", args.index, dir.display());
            }
            Ok(Status::Ok)
        }
        Ok(campaign::shard::Outcome::Written { dir, partial }) => {
            if !super::quiet() {
                let files: usize = partial.chunks.iter().map(|c| c.chunk.len).sum();
                let errors: usize = partial.chunks.iter().map(|c| c.errors.len()).sum();
                println!("shard {}: {} files in {} chunks in {:.2} s on {} threads: {}", args.index, files, partial.chunks.len(), partial.seconds, partial.threads, dir.display());
                if errors > 0 {
                    println!("  {errors} input problems recorded (the reduce reports them); the first:");
                    for e in partial.chunks.iter().flat_map(|c| &c.errors).take(5) {
                        println!("  {e}");
                    }
                }
            }
            Ok(Status::Ok)
        }
        // The one mapping decides the exit code (1: the result could not be made).
        Err(e) => Err(e.context(format!("shard {}", args.index))),
    }
}

/// `gm2dqc reduce`.
pub fn reduce(args: ReduceArgs) -> anyhow::Result<Status> {
    let (work, plan, sha) = match open_work(&args.work) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let cutfile = match plan.cut_file(&work) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(Status::Usage);
        }
    };
    let cfg = plan.config(&cutfile);
    let out = match &args.out {
        Some(o) => absolute(o)?,
        None => work.join("out"),
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
    let mut dirs = vec![campaign::shards_dir(&work)];
    dirs.extend(args.from.iter().cloned());
    for d in campaign::shard::clean_stale_tmp(&work, None) {
        if !super::quiet() {
            eprintln!("note: removed {}, left by a shard that died", d.display());
        }
    }
    let partials = campaign::find_partials(&dirs)?;
    let collected = pool.install(|| reduce::collect(&partials, &plan));
    for (dir, why) in &collected.rejected {
        eprintln!("warning: partial result {} not used: {why}", dir.display());
    }
    if !super::quiet() {
        for (i, copy, used) in &collected.duplicates {
            eprintln!("note: chunk {i} of {} is an identical copy of the one in {}: set aside", copy.display(), used.display());
        }
    }
    if !collected.conflicts.is_empty() {
        for (i, a, b) in &collected.conflicts {
            eprintln!("error: chunk {i} has two different partial results, in {} and {}; remove the wrong one", a.display(), b.display());
        }
        return Ok(Status::Usage);
    }
    let missing = collected.missing(&plan);
    if !missing.is_empty() && !args.allow_partial {
        let states = campaign::shard_states_checked(&work, &plan, &sha, &scripts::queued(&work), &collected.rejected);
        let mut shards: Vec<usize> = missing.iter().filter_map(|&i| plan.shard_of(i)).collect();
        shards.dedup();
        eprintln!("error: {} of {} chunks have no partial result; {} shards are not done:", missing.len(), plan.chunks.len(), shards.len());
        for &s in shards.iter().take(20) {
            eprintln!("  shard {s}: {}", describe(&states[s]));
        }
        eprintln!("rerun them (`gm2dqc plan --out {} --resubmit-failed [--submit slurm]`), or merge what is there with --allow-partial", work.display());
        return Ok(Status::Usage);
    }

    if !super::quiet() && !args.json {
        let files: usize = collected.sources.values().map(|s| s.chunk.chunk.len).sum();
        let from: std::collections::BTreeSet<&Path> = collected.sources.values().map(|s| s.dir.as_path()).collect();
        println!("merging {} of {} chunks ({files} files) from {} partial results into {}", collected.sources.len(), plan.chunks.len(), from.len(), out.display());
    }
    let analyze = AnalyzeArgs {
        input: PathBuf::from(&plan.input),
        out: out.clone(),
        cuts: plan.cuts.copy.as_ref().map(|c| work.join(c)),
        reference_run: plan.reference_run,
        intervals: plan.intervals.clone(),
        threads: args.threads,
        json: args.json,
    };
    let config = JobConfig {
        out: out.clone(),
        input: Some(PathBuf::from(&plan.input)),
        cut_file: Some(cutfile),
        reference_run: plan.reference_run,
        intervals: plan.intervals.clone(),
        threads: args.threads,
        db: args.board.db.clone().or_else(|| plan.jobs.db.clone()),
        dataset: Some(args.board.dataset.clone().unwrap_or_else(|| plan.dataset.clone())),
        tag: args.tag.clone().unwrap_or_else(|| plan.jobs.tag.clone()),
        plots: PlotOptions { channels: args.channels.clone(), ..PlotOptions::default() },
        board: true,
        ..JobConfig::default()
    };
    let mut job = Job::open(config, Work::Reduce)?;
    let note = format!("gm2dqc reduce {}", work.display());
    let r = job.reduce(&plan.dataset(), |pool, write_merged| pool.install(|| reduce::reduce(&plan, &cfg, collected, write_merged)), &Bars::new(), &note)?;
    report::print_run(&analyze, &job, &r)?;
    Ok(r.status)
}

/// `gm2dqc status --campaign WORK`: the shards' progress.
pub fn status(work: &Path, json: bool) -> anyhow::Result<Status> {
    let (work, plan, sha) = match open_work(work) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let queued = scripts::queued(&work);
    let states = campaign::shard_states(&work, &plan, &sha, &queued);
    let reduced = work.join("out").join("summary.json").is_file();
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    if json {
        let shards: Vec<serde_json::Value> = plan
            .shards
            .iter()
            .zip(&states)
            .map(|(s, st)| serde_json::json!({"index": s.index, "files": s.files, "bytes": s.bytes, "queued": queued.contains(&s.index), "label": st.label(), "detail": st}))
            .collect();
        let j = serde_json::json!({"work": work.display().to_string(), "dataset": plan.dataset, "shards": shards, "counts": campaign::count_states(&states), "reduced": reduced});
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
        return Ok(Status::Ok);
    }
    let counts = campaign::count_states(&states);
    writeln!(o, "campaign {} ({}): {} shards: {}", work.display(), plan.dataset, plan.shards.len(), counts.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "))?;
    writeln!(o, "{:>6} {:>7} {:>9}  {:<8} detail", "shard", "files", "MB", "state")?;
    for (s, st) in plan.shards.iter().zip(&states) {
        let label = if *st == (ShardState::Pending { queued: true }) { "queued" } else { st.label() };
        writeln!(o, "{:>6} {:>7} {:>9.1}  {:<8} {}", s.index, s.files, s.bytes as f64 / 1e6, label, describe(st))?;
    }
    let done = counts.get("done").copied().unwrap_or(0);
    if reduced {
        writeln!(o, "reduce: done: {}", work.join("out").display())?;
    } else if done == plan.shards.len() {
        writeln!(o, "reduce: every shard is done; run `gm2dqc reduce {}` (the Slurm reduce job starts by itself)", work.display())?;
    } else {
        writeln!(o, "reduce: waiting for {} shards; `gm2dqc plan --out {} --resubmit-failed` reruns the killed and failed ones", plan.shards.len() - done, work.display())?;
    }
    Ok(Status::Ok)
}
