//! `gm2dqc db`: the conditions database from the command line.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use polars::prelude::*;

use crate::db::{self, schema, time};
use crate::job::board::resolve_url;
use crate::job::{JobError, Status};

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// The database: postgres://user@host/db, or a SQLite file path (default:
    /// $GM2DQC_DB, else OUT/conditions.sqlite for `upload --from OUT`, else
    /// conditions.sqlite here).
    #[arg(long, global = true, value_name = "URL")]
    pub db: Option<String>,
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GoodFormatArg {
    Json,
    Txt,
    Golden,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the schema (or check it), and with --roles print the PostgreSQL role setup
    /// (reader: read only; writer: uploads, never changes history or unlocks a tag).
    Init {
        #[arg(long)]
        roles: bool,
        /// Apply the role setup too (PostgreSQL, as the database owner).
        #[arg(long, requires = "roles")]
        apply: bool,
    },
    /// Upload the tables of `gm2dqc analyze --out OUT` into a tag, in one transaction
    /// (all or nothing): gain_constants and the channel status per interval, subrun_metrics and
    /// subrun_status per run, with provenance (inputs with checksums, cut-file hash,
    /// software version, user, host, command line). Identical content is not written
    /// again.
    ///
    /// Example: gm2dqc db --db out/conditions.sqlite upload --from out --tag dqc-v1
    Upload {
        #[arg(long, value_name = "OUT")]
        from: PathBuf,
        #[arg(long)]
        tag: String,
    },
    /// The constants of FOLDER valid at a run (and subrun) in a tag.
    ///
    /// Example: gm2dqc db get gain_constants --tag dqc-v1 --run 15921 --format csv
    Get {
        /// gain_constants, calo_channel_status, tracker_channel_status, subrun_metrics, subrun_status
        folder: String,
        #[arg(long)]
        tag: String,
        #[arg(long)]
        run: u32,
        /// The subrun (default 0, the start of the run); for subrun_metrics and
        /// subrun_status only that subrun's row is printed when given.
        #[arg(long)]
        subrun: Option<u32>,
        /// Read the tag as it stood at this time (UTC, e.g. 2026-11-30T04:00:00Z).
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Write to this file instead of stdout (required for parquet).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Every tag: locked or not, when created, how many intervals.
    Tags {
        #[arg(long)]
        json: bool,
    },
    /// The history of FOLDER in a tag: every upload, including superseded ones.
    History {
        folder: String,
        #[arg(long)]
        tag: String,
        #[arg(long)]
        json: bool,
    },
    /// The good subruns of a dataset: subrun ranges per run (the shape of CMS's golden
    /// JSON) with a header (tag, dataset, cut files, as-of, the flags applied, subruns
    /// and CTAGs kept and lost). By default the subruns `ok` as stored; --require keeps
    /// those passing the flags named instead; --ignore drops flags from the set, as
    /// `cuts diff` shows for a cut file that no longer requires them.
    ///
    /// Example: gm2dqc db good-subruns --tag dqc-v1 --dataset run3B --ignore ctags_ok
    GoodSubruns {
        #[arg(long)]
        tag: String,
        #[arg(long)]
        dataset: String,
        /// Keep the subruns passing these flags (comma-separated) instead of the cut file's required ones.
        #[arg(long, value_delimiter = ',', value_name = "FLAG,...")]
        require: Option<Vec<String>>,
        /// Drop these flags (comma-separated) from the flags a kept subrun must pass.
        #[arg(long, value_delimiter = ',', value_name = "FLAG,...")]
        ignore: Vec<String>,
        /// Read the tag as it stood at this time (UTC, e.g. 2026-11-30T04:00:00Z).
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// json (header and runs), txt (header lines, then `run first last`), golden (the runs object alone).
        #[arg(long, value_enum, default_value = "json")]
        format: GoodFormatArg,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Lock a tag: it refuses every later upload, for good.
    Lock { tag: String },
}

fn url(args: &DbArgs) -> String {
    let embedded = match &args.command {
        DbCommand::Upload { from, .. } => from.join("conditions.sqlite"),
        _ => PathBuf::from("conditions.sqlite"),
    };
    resolve_url(args.db.as_deref(), &embedded)
}

/// Refuses an output file for `db get` that cannot be one, before the database is read.
fn check_get_out(format: Format, out: Option<&Path>) -> Result<(), JobError> {
    if matches!(format, Format::Parquet) && out.is_none() {
        return Err(JobError::Usage("--format parquet needs --out FILE (Parquet is not for a terminal)".into()));
    }
    let Some(p) = out else { return Ok(()) };
    if p.is_dir() {
        return Err(JobError::Usage(format!("--out {}: is a directory; give a file name", p.display())));
    }
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(JobError::Usage(format!("--out {}: {} is not a directory; create it first", p.display(), parent.display())));
    }
    Ok(())
}

pub fn run(args: DbArgs) -> anyhow::Result<Status> {
    let url = url(&args);
    // Everything that can be checked before the database is opened is checked first;
    // only `init` and `upload` may create a database.
    let mut upload_plan = None;
    match &args.command {
        DbCommand::Upload { from, .. } => upload_plan = Some(crate::job::upload::plan(from)?),
        DbCommand::Get { format, out, .. } => check_get_out(*format, out.as_deref())?,
        DbCommand::GoodSubruns { out, .. } => check_get_out(Format::Json, out.as_deref())?,
        _ => {}
    }
    let mut b = match &args.command {
        DbCommand::Init { .. } | DbCommand::Upload { .. } => db::open(&url)?,
        _ => crate::job::board::open_existing(&url)?,
    };
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    match args.command {
        DbCommand::Init { roles, apply } => {
            writeln!(o, "{}: schema version {}", b.location(), schema::SCHEMA_VERSION)?;
            if roles {
                let sql = schema::roles_sql();
                if apply {
                    let mut tx = b.begin(true)?;
                    if tx.dialect() != schema::Dialect::Postgres {
                        return Err(JobError::Usage("roles exist on PostgreSQL only; SQLite files are protected by file permissions".into()).into());
                    }
                    tx.exec(&sql, &[])?;
                    tx.commit()?;
                    writeln!(o, "roles gm2dqc_reader and gm2dqc_writer set up")?;
                } else {
                    write!(o, "{sql}")?;
                }
            }
        }
        DbCommand::Upload { tag, .. } => {
            // Read (and checked) above, before the database was opened or created.
            let plan = upload_plan.take().expect("the outputs of an upload are read before the database is opened");
            let reports = crate::job::upload::store(b.as_mut(), &tag, &plan)?;
            for (folder, r) in reports {
                match r.upload_id {
                    Some(id) => writeln!(o, "{folder}: upload {id}: {} intervals written, {} unchanged, {} new payloads, {} rows", r.written, r.unchanged, r.new_payloads, r.rows)?,
                    None => writeln!(o, "{folder}: nothing new ({} intervals already current in tag {tag})", r.unchanged)?,
                }
                for (a, z) in &r.gaps {
                    writeln!(o, "  gap: no constants from {}.{} to {}.{}", a.0, a.1, z.0, z.1)?;
                }
            }
        }
        DbCommand::Get { folder, tag, run, subrun, as_of, format, out } => {
            let as_of_us = as_of_arg(as_of.as_deref())?;
            let Some(rows) = db::export::get_rows(b.as_mut(), &tag, &folder, run, subrun, as_of_us)? else {
                eprintln!("no {folder} in tag {tag} for run {run} subrun {}", subrun.unwrap_or(0));
                return Ok(Status::InputFailed);
            };
            let mut df = rows.frame;
            eprintln!("{folder} in tag {tag}, interval {}, {} rows", rows.iov, df.height());
            write_frame(&mut df, format, out.as_deref(), &mut o)?;
        }
        DbCommand::Tags { json } => {
            let tags = db::tags(b.as_mut())?;
            if json {
                o.write_all(db::export::tags_json(&tags).as_bytes())?;
            } else {
                writeln!(o, "{:<24} {:<7} {:>6}  {:<27}  description", "tag", "locked", "iovs", "created")?;
                for t in tags {
                    writeln!(o, "{:<24} {:<7} {:>6}  {:<27}  {}", t.name, if t.locked { "yes" } else { "no" }, t.iovs, time::format_us(t.created_at_us), t.description)?;
                }
            }
        }
        DbCommand::History { folder, tag, json } => {
            let h = db::history(b.as_mut(), &tag, &folder)?;
            if json {
                o.write_all(db::export::history_json(&h).as_bytes())?;
            } else {
                writeln!(o, "{:<24} {:<27} {:>7} {:<12} {:>6}  {:<10} dataset", "interval", "inserted", "upload", "payload", "rows", "user")?;
                for r in h {
                    writeln!(o, "{:<24} {:<27} {:>7} {:<12} {:>6}  {:<10} {}", r.iov.to_string(), time::format_us(r.inserted_at_us), r.upload_id, crate::checksum::short_hash(&r.payload_hash), r.nrows, r.user, r.dataset)?;
                }
            }
        }
        DbCommand::GoodSubruns { tag, dataset, require, ignore, as_of, format, out } => {
            let q = db::good::GoodQuery { tag, dataset, require, ignore, as_of_us: as_of_arg(as_of.as_deref())? };
            let list = db::good::good_subruns(b.as_mut(), &q)?;
            let format = match format {
                GoodFormatArg::Json => db::good::GoodFormat::Json,
                GoodFormatArg::Txt => db::good::GoodFormat::Txt,
                GoodFormatArg::Golden => db::good::GoodFormat::Golden,
            };
            let text = db::good::text(&list, format);
            let h = &list.header;
            eprintln!("{} runs: {} subruns kept, {} lost", h.runs, h.subruns.kept, h.subruns.lost);
            match out {
                Some(p) => crate::job::outputs::write(&p, text.as_bytes())?,
                None => o.write_all(text.as_bytes())?,
            }
        }
        DbCommand::Lock { tag } => {
            if db::lock_tag(b.as_mut(), &tag)? {
                writeln!(o, "tag {tag} locked")?;
            } else {
                writeln!(o, "tag {tag} was already locked")?;
            }
        }
    }
    Ok(Status::Ok)
}

/// `--as-of TIME`, checked.
pub(super) fn as_of_arg(as_of: Option<&str>) -> Result<Option<i64>, JobError> {
    as_of.map(|t| time::parse_us(t).ok_or_else(|| JobError::Usage(format!("--as-of {t}: expected a UTC time such as 2026-11-30T04:00:00Z")))).transpose()
}

fn write_frame(df: &mut DataFrame, format: Format, out: Option<&Path>, stdout: &mut impl Write) -> anyhow::Result<()> {
    match format {
        Format::Parquet => {
            let Some(path) = out else { return Err(JobError::Usage("--format parquet needs --out FILE".into()).into()) };
            crate::job::outputs::parquet(df, path)?;
        }
        Format::Csv | Format::Json => {
            let text = db::export::frame_text(df, if matches!(format, Format::Csv) { db::export::TextFormat::Csv } else { db::export::TextFormat::Json });
            match out {
                Some(p) => crate::job::outputs::write(p, text.as_bytes())?,
                None => stdout.write_all(text.as_bytes())?,
            }
        }
    }
    Ok(())
}
