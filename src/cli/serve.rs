//! `gm2dqc serve`: flags into a [`ServeConfig`], and the accounts
//! (`gm2dqc serve user add|list|remove`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::db::board::{BoardError, Layout};
use crate::db::users::{self, Role};
use crate::job::Status;
use crate::server::{self, auth::AuthConfig, ServeConfig};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    /// The conditions database: a SQLite file or postgres://... (default: $GM2DQC_DB).
    #[arg(long, global = true)]
    pub db: Option<String>,
    /// An analysis output directory to serve besides those the uploads recorded
    /// (repeatable; its manifest names its dataset).
    #[arg(long = "out", value_name = "DIR")]
    pub outs: Vec<PathBuf>,
    /// The address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The board's layout by default: gm2dqc, g2, or a layout file.
    #[arg(long, default_value = "gm2dqc")]
    pub layout: String,
    /// Refuse every read without a signed-in user (default: anyone may read).
    #[arg(long)]
    pub no_anonymous: bool,
    /// Trust this header (set by the reverse proxy in front, e.g. X-Remote-User) to
    /// name the signed-in user. Only when nothing but the proxy can reach the server.
    #[arg(long, value_name = "HEADER")]
    pub trust_header: Option<String>,
    /// Where cut files saved from the browser are written (never overwritten).
    #[arg(long, default_value = "cuts-saved")]
    pub cut_dir: PathBuf,
    /// Serve only the read-only conditions routes (/condb/get, /condb/folders,
    /// /condb/tags, /condb/history) for production jobs: no pages, no board, no
    /// accounts needed, and the database is never written (a reader role will do).
    #[arg(long)]
    pub condb_only: bool,
    /// Worker threads of the server (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// The web application's accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make an account and print its token, once (only a salted hash is stored).
    ///
    /// Example: gm2dqc serve user add alice --role shifter --db postgres://dqc@dbhost/conditions
    Add {
        name: String,
        /// reader (may read when anonymous reading is off), shifter (the board), or
        /// expert (cut files, sign-off, tag locks).
        #[arg(long)]
        role: String,
    },
    /// The accounts, with roles and who made them.
    List,
    /// Remove an account: its token stops working.
    Remove { name: String },
}

fn db_url(db: Option<String>) -> anyhow::Result<String> {
    db.or_else(|| std::env::var("GM2DQC_DB").ok().filter(|s| !s.is_empty()))
        .ok_or_else(|| crate::job::JobError::Usage("gm2dqc serve needs the conditions database: give --db PATH (or postgres://...) or set $GM2DQC_DB".into()).into())
}

pub fn run(args: ServeArgs) -> anyhow::Result<Status> {
    let url = db_url(args.db)?;
    if let Some(ServeCommand::User(cmd)) = args.command {
        return user(&url, cmd);
    }
    let layout = Layout::named_or_file(&args.layout).map_err(BoardError::from)?;
    // The accounts and the audit log need the current schema: apply what is missing
    // now, at start, rather than on a request. The conditions routes alone only read.
    if args.condb_only {
        crate::job::board::open_existing(&url)?;
    } else {
        let mut b = crate::job::board::open_existing(&url)?;
        crate::db::migrate(b.as_mut())?;
    }
    let mut outs = Vec::new();
    for o in args.outs {
        let c = o.canonicalize().map_err(|e| crate::job::JobError::Usage(format!("--out {}: {e}", o.display())))?;
        server::catalog::analysis_manifest(&c).map_err(|e| crate::job::JobError::Usage(format!("--out {}: {e}", o.display())))?;
        outs.push(c);
    }
    let cfg = ServeConfig {
        db: url.clone(),
        outs,
        listen: args.listen,
        layout,
        cut_dir: args.cut_dir,
        auth: AuthConfig { anonymous_read: !args.no_anonymous, trust_header: args.trust_header.map(|h| h.to_ascii_lowercase()), secret: server::auth::random_secret()? },
        condb_only: args.condb_only,
    };
    let what = if args.condb_only { "conditions only, read-only, " } else { "" };
    let db_shown = crate::db::open_existing(&url).map(|b| b.location()).unwrap_or(url);
    server::run(cfg, args.threads, |addr| {
        println!("gm2dqc serve: listening on http://{addr}/ ({what}conditions database {db_shown}); Ctrl-C stops it");
    })?;
    Ok(Status::Ok)
}

fn user(url: &str, cmd: UserCommand) -> anyhow::Result<Status> {
    let mut b = crate::db::open(url)?;
    match cmd {
        UserCommand::Add { name, role } => {
            let role = Role::parse(&role).map_err(|e| crate::job::JobError::Usage(e.to_string()))?;
            let by = crate::db::board::Who::here().user;
            let token = users::add_user(b.as_mut(), &name, role, &by)?;
            println!("account {name} ({}) made. Its token, shown only now (only a salted hash is stored):", role.as_str());
            println!("{token}");
            println!("sign in at /login with it, or send `Authorization: Bearer TOKEN`");
        }
        UserCommand::List => {
            for u in users::users(b.as_mut())? {
                println!("{}\t{}\tmade by {} at {}", u.name, u.role.as_str(), u.created_by, crate::db::time::format_us(u.created_at_us));
            }
        }
        UserCommand::Remove { name } => {
            if users::remove_user(b.as_mut(), &name)? {
                println!("account {name} removed: its token no longer works");
            } else {
                return Err(crate::job::JobError::Usage(format!("no account `{name}` (`gm2dqc serve user list` lists them)")).into());
            }
        }
    }
    Ok(Status::Ok)
}
