//! `gm2dqc export`: the conditions database's contents as files for other systems.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::db::condb_files::ExportQuery;
use crate::job::board::resolve_url;
use crate::job::Status;

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A tag's conditions as ConDB JSON files, one per interval of validity
    /// (`interval_of_validity`, and per folder `columns`, `types`, `values`), as the
    /// tag stands now or as of a time. The folders of one interval share its file.
    ///
    /// Example: gm2dqc export condb --db out/conditions.sqlite --tag dqc-v1 --folder gain_constants --out condb/
    Condb {
        /// The database (default: $GM2DQC_DB, else conditions.sqlite here).
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        #[arg(long)]
        tag: String,
        /// The folders to export (repeat, or comma-separated; default: every folder).
        #[arg(long, value_delimiter = ',', value_name = "FOLDER")]
        folder: Vec<String>,
        /// The tag as it stood at this time (UTC, e.g. 2026-11-30T04:00:00Z).
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// A new (or empty) directory for the files.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: ExportCommand) -> anyhow::Result<Status> {
    match cmd {
        ExportCommand::Condb { db, tag, folder, as_of, out } => {
            let url = resolve_url(db.as_deref(), &PathBuf::from("conditions.sqlite"));
            let q = ExportQuery { tag, folders: folder, as_of_us: super::db::as_of_arg(as_of.as_deref())? };
            let r = crate::job::export::condb(&url, &q, &out)?;
            if !super::quiet() {
                let mut o = std::io::stdout().lock();
                let per: Vec<String> = r.folders.iter().map(|(f, n)| format!("{f} {n}")).collect();
                writeln!(o, "wrote {} files into {} (intervals per folder: {})", r.files.len(), r.dir.display(), per.join(", "))?;
            }
            Ok(Status::Ok)
        }
    }
}
