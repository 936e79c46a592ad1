//! `gm2dqc reduce`: the partial results checked, each chunk taken once, and merged in
//! chunk order through the same [`Reducer`] as the one-process pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;

use super::{Partial, PartialChunk, Plan};
use crate::checksum::short_hash;
use crate::merged::{self, Merged};
use crate::dataset::SubrunId;
use crate::hist::Profile;
use crate::pipeline::{self, Analysis, ChunkOut, Reducer, Stages};
use crate::root::RootError;

/// One chunk's source: a partial result's record of it and its metrics rows.
#[derive(Debug)]
pub struct Source {
    pub dir: PathBuf,
    pub chunk: PartialChunk,
    pub metrics: Vec<crate::analysis::metrics::SubrunMetrics>,
}

/// The partial results sorted out: one source per chunk, and what was set aside.
#[derive(Debug, Default)]
pub struct Collected {
    /// By chunk index.
    pub sources: BTreeMap<usize, Source>,
    /// Partial results that were not used, with why (another analysis, a checksum
    /// that does not match, an unreadable file).
    pub rejected: Vec<(PathBuf, String)>,
    /// Chunks found twice with identical content: (chunk, copy set aside, copy used).
    pub duplicates: Vec<(usize, PathBuf, PathBuf)>,
    /// Chunks found twice with different content: (chunk, one, other). The reduce
    /// refuses to choose.
    pub conflicts: Vec<(usize, PathBuf, PathBuf)>,
}

impl Collected {
    /// The plan's chunks without a source.
    pub fn missing(&self, plan: &Plan) -> Vec<usize> {
        (0..plan.chunks.len()).filter(|i| !self.sources.contains_key(i)).collect()
    }
}

/// SHA-256 of a regular file, read in blocks and never past the size it had when
/// opened (a chunk file on shared storage is untrusted too).
fn sha256_file(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let ctx = || format!("reading {}", path.display());
    crate::dataset::regular_file_size(path).with_context(ctx)?;
    let file = std::fs::File::open(path).with_context(ctx)?;
    let size = file.metadata().with_context(ctx)?.len();
    let mut r = file.take(size);
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match r.read(&mut buf).with_context(ctx)? {
            0 => break,
            n => h.update(&buf[..n]),
        }
    }
    Ok(crate::checksum::hex(&h.finalize()))
}

/// Reads and checks one partial result: its format, its analysis, and the checksum of
/// every file it lists. Returns its chunks with their metrics rows.
fn load_partial(dir: &Path, plan: &Plan) -> anyhow::Result<Vec<Source>> {
    let pj = dir.join("partial.json");
    let p: Partial = super::load_partial_json(dir)?;
    if p.analysis_id != plan.analysis_id {
        anyhow::bail!("{}: made for another analysis (other files, cut file or overrides): analysis id {} is not the plan's {}", pj.display(), short_hash(&p.analysis_id), short_hash(&plan.analysis_id));
    }
    let metrics_path = dir.join(&p.metrics);
    let sha = sha256_file(&metrics_path)?;
    if sha != p.metrics_sha256 {
        anyhow::bail!("{}: SHA-256 {} differs from the {} recorded in partial.json: the file changed after the shard wrote it", metrics_path.display(), short_hash(&sha), short_hash(&p.metrics_sha256));
    }
    let rows = crate::tables::subrun_metrics_rows(&crate::tables::Table::read(&metrics_path)?)?;
    let bad_chunks: Vec<String> = p
        .chunks
        .par_iter()
        .filter_map(|c| {
            let path = dir.join(&c.file);
            match sha256_file(&path) {
                Ok(s) if s == c.sha256 => None,
                Ok(s) => Some(format!("{}: SHA-256 {} differs from the {} recorded in partial.json", path.display(), short_hash(&s), short_hash(&c.sha256))),
                Err(e) => Some(format!("{e:#}")),
            }
        })
        .collect();
    if let Some(e) = bad_chunks.into_iter().next() {
        anyhow::bail!(e);
    }
    let mut sources = Vec::with_capacity(p.chunks.len());
    let mut row: usize = 0;
    for c in p.chunks {
        let Some(&expected) = plan.chunks.get(c.index) else { anyhow::bail!("{}: chunk {} is not in the plan ({} chunks)", pj.display(), c.index, plan.chunks.len()) };
        if c.chunk != expected {
            anyhow::bail!("{}: chunk {} covers files {:?}, the plan's covers {:?}", pj.display(), c.index, c.chunk.files(), expected.files());
        }
        let metrics = row.checked_add(c.chunk.len).and_then(|end| rows.get(row..end)).map(<[_]>::to_vec).with_context(|| format!("{}: fewer rows than its chunks have files", metrics_path.display()))?;
        row += c.chunk.len;
        let ids: Vec<SubrunId> = metrics.iter().map(|m| SubrunId { run: m.run, subrun: m.subrun }).collect();
        if !ids.iter().copied().eq(plan.subruns(c.chunk)) {
            anyhow::bail!("{}: the rows of chunk {} are not the plan's subruns of that chunk", metrics_path.display(), c.index);
        }
        sources.push(Source { dir: dir.to_path_buf(), chunk: c, metrics });
    }
    if row != rows.len() {
        anyhow::bail!("{}: {} rows, its chunks have {row} files", metrics_path.display(), rows.len());
    }
    Ok(sources)
}

/// Reads and checks every partial result in `dirs` and picks one source per chunk.
pub fn collect(partials: &[PathBuf], plan: &Plan) -> Collected {
    let mut c = Collected::default();
    let loaded: Vec<(PathBuf, anyhow::Result<Vec<Source>>)> = partials.iter().map(|d| (d.clone(), load_partial(d, plan))).collect();
    for (dir, r) in loaded {
        match r {
            Err(e) => c.rejected.push((dir, format!("{e:#}"))),
            Ok(sources) => {
                for s in sources {
                    let i = s.chunk.index;
                    match c.sources.get(&i) {
                        None => {
                            c.sources.insert(i, s);
                        }
                        Some(used) => {
                            // The same content: the chunk file (by checksum), its inputs and its problems.
                            let same = used.chunk.sha256 == s.chunk.sha256 && used.chunk.inputs == s.chunk.inputs && used.chunk.errors == s.chunk.errors;
                            if same {
                                c.duplicates.push((i, s.dir, used.dir.clone()));
                            } else {
                                c.conflicts.push((i, used.dir.clone(), s.dir));
                            }
                        }
                    }
                }
            }
        }
    }
    c
}

/// The reference runs' out-of-fill sums from the chunks' partial sums, in chunk order
/// (as the one-process pass groups them).
fn reference_sums(plan: &Plan, c: &Collected) -> anyhow::Result<BTreeMap<u32, Option<Profile>>> {
    let mut sums: BTreeMap<u32, Option<Profile>> = plan.reference_runs().into_iter().map(|r| (r, None)).collect();
    for s in c.sources.values() {
        for &run in &s.chunk.references {
            let path = s.dir.join(&s.chunk.file);
            if let Some(p) = merged::read_reference_partial(&path, run)? {
                pipeline::add_reference(sums.entry(run).or_default(), p);
            }
        }
    }
    Ok(sums)
}

/// Merges the collected chunks (in chunk order) into the analysis, calling
/// `on_interval` for each interval's merged sums. Chunks without a source are
/// left out and their subruns listed in `Analysis::missing`.
pub fn reduce(plan: &Plan, cfg: &pipeline::Config, c: Collected, on_interval: &mut dyn FnMut(&Merged) -> Result<(), RootError>) -> anyhow::Result<Analysis> {
    let ds = plan.dataset();
    let checked = pipeline::check(&ds, cfg)?;
    let reference_oof = reference_sums(plan, &c)?;
    let missing = c.missing(plan);
    let mut present: Vec<Source> = c.sources.into_values().collect();
    let mut reducer = Reducer::new(cfg, &checked, Stages::ALL, present.iter().map(|s| s.chunk.chunk.interval), reference_oof, on_interval);
    let window = 2 * rayon::current_num_threads().max(1);
    for batch in present.chunks_mut(window) {
        // Each source is used once: its rows, errors and inputs move into the chunk.
        let outs: Vec<anyhow::Result<ChunkOut>> = batch
            .par_iter_mut()
            .map(|s| {
                let m = merged::read(&s.dir.join(&s.chunk.file))?;
                Ok(ChunkOut {
                    interval: s.chunk.chunk.interval,
                    sums: m.sums,
                    references: Vec::new(),
                    metrics: std::mem::take(&mut s.metrics),
                    errors: std::mem::take(&mut s.chunk.errors),
                    files_failed: s.chunk.files_failed,
                    inputs: std::mem::take(&mut s.chunk.inputs),
                })
            })
            .collect();
        for o in outs {
            reducer.push(o?);
        }
    }
    let mut analysis = reducer.finish();
    for i in missing {
        let chunk = plan.chunks[i];
        let ids: Vec<SubrunId> = plan.subruns(chunk).collect();
        let (a, b) = (ids[0], ids[ids.len() - 1]);
        let shard = plan.shard_of(i).map_or_else(|| "?".into(), |s| s.to_string());
        analysis.errors.push(format!("chunk {i} (run {} subrun {} to run {} subrun {}, {} files) of shard {shard}: no partial result; left out (--allow-partial)", a.run, a.subrun, b.run, b.subrun, ids.len()));
        analysis.missing.extend(ids);
    }
    Ok(analysis)
}
