//! Writing ROOT files: nested directories of histograms with any compression.
//!
//! The writer assembles the whole file in memory (histogram files are megabytes),
//! then writes it to a temporary file renamed into place, so a reader never sees a
//! half-written file and a crash never leaves one behind. Output is deterministic:
//! the same objects, options and timestamp give byte-identical files.
//!
//! Layout, as ROOT lays out a file it has closed: the 100-byte header; the top
//! directory's key and record; the objects and subdirectory keys in the order they
//! were added; the StreamerInfo list; each directory's key list; the free-segments
//! record. Keys past 2 GB use 64-bit seeks, as ROOT's do.

use std::collections::HashSet;
use std::path::Path;

use super::bytes::{tstring_len, Writer};
use super::compression::{compress, Compression};
use super::error::{ErrorKind, Result, RootError};
use super::model::RawHist;
use super::objects::encode_hist;
use super::streamers;
use super::tree::{basket_data, basket_key, basket_keylen, encode_tree, BasketInfo, Leaf, TreeF64};

/// Seeks beyond this use the large (64-bit) key format, as ROOT's kStartBigFile.
const START_BIG_FILE: u64 = 2_000_000_000;
/// Size of a TDirectory record (small records carry 12 bytes of padding so they can
/// be rewritten in the large format in place).
const DIR_RECORD_LEN: usize = 60;
/// fVersion written in the header: the ROOT release whose streamer infos we store.
const FILE_VERSION: i32 = 64000;

/// How to write a file.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub compression: Compression,
    /// Creation/modification time stored in keys and directories (Unix seconds, UTC).
    /// Fixed by the caller for reproducible files.
    pub timestamp: i64,
    /// The file's title (TFile::GetTitle()).
    pub title: String,
}

impl Default for WriteOptions {
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        WriteOptions { compression: Compression::default(), timestamp: now, title: String::new() }
    }
}

struct Object {
    class: &'static str,
    name: String,
    title: String,
    cycle: i16,
    objlen: u32,
    /// Payload as stored: compressed blocks, or the raw object.
    data: Vec<u8>,
}

enum Item {
    Object(Object),
    Dir(usize),
    Tree(TreeF64),
}

struct Dir {
    name: String,
    title: String,
    parent: usize,
    path: String,
    items: Vec<Item>,
}

/// Builds a ROOT file in memory.
pub struct RootWriter {
    opts: WriteOptions,
    dirs: Vec<Dir>,
    classes: HashSet<&'static str>,
}

/// TDatime packing: (year-1995)<<26 | month<<22 | day<<17 | hour<<12 | min<<6 | sec.
pub fn datime(unix: i64) -> u32 {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = crate::calendar::civil_from_days(days);
    let year = year.clamp(1995, 1995 + 63);
    (((year - 1995) as u32) << 26)
        | ((month as u32) << 22)
        | ((day as u32) << 17)
        | (((secs / 3600) as u32) << 12)
        | ((((secs / 60) % 60) as u32) << 6)
        | ((secs % 60) as u32)
}

fn uuid(seed: &str) -> [u8; 16] {
    let a = xxhash_rust::xxh64::xxh64(seed.as_bytes(), 1);
    let b = xxhash_rust::xxh64::xxh64(seed.as_bytes(), 2);
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&a.to_be_bytes());
    u[8..].copy_from_slice(&b.to_be_bytes());
    u
}

fn keylen(class: &str, name: &str, title: &str, large: bool) -> usize {
    4 + 2 + 4 + 4 + 2 + 2 + if large { 16 } else { 8 } + tstring_len(class) + tstring_len(name) + tstring_len(title)
}

/// Where one key landed, for the key lists.
#[derive(Clone)]
struct Placed {
    header: Vec<u8>,
}

impl RootWriter {
    pub fn new(opts: WriteOptions) -> Self {
        let top = Dir { name: String::new(), title: opts.title.clone(), parent: 0, path: String::new(), items: Vec::new() };
        RootWriter { opts, dirs: vec![top], classes: HashSet::new() }
    }

    fn err(&self, msg: String, object: &str) -> RootError {
        RootError::new("<new file>", ErrorKind::Write(msg)).object(object.to_string())
    }

    /// Creates the directory `path` and its parents (like `mkdir -p`); returns its index.
    pub fn mkdir(&mut self, path: &str) -> Result<usize> {
        let mut cur = 0usize;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if part.contains(';') {
                return Err(self.err(format!("directory name {part:?} contains ';'"), path));
            }
            let found = self.dirs[cur].items.iter().find_map(|it| match it {
                Item::Dir(d) if self.dirs[*d].name == part => Some(*d),
                _ => None,
            });
            if let Some(d) = found {
                cur = d;
                continue;
            }
            if self.dirs[cur].items.iter().any(|it| matches!(it, Item::Object(o) if o.name == part) || matches!(it, Item::Tree(t) if t.name == part)) {
                return Err(self.err(format!("{part:?} already names an object, not a directory"), path));
            }
            let child_path =
                if self.dirs[cur].path.is_empty() { part.to_string() } else { format!("{}/{part}", self.dirs[cur].path) };
            let idx = self.dirs.len();
            self.dirs.push(Dir { name: part.to_string(), title: part.to_string(), parent: cur, path: child_path, items: Vec::new() });
            self.dirs[cur].items.push(Item::Dir(idx));
            cur = idx;
        }
        Ok(cur)
    }

    /// Adds a histogram at `path` (`dir/sub/name`). Writing a name twice adds a new
    /// cycle (`name;2`), as ROOT does.
    pub fn put_hist(&mut self, path: &str, h: &RawHist) -> Result<()> {
        h.check().map_err(|e| self.err(format!("inconsistent histogram: {e}"), path))?;
        let (dir_path, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", path),
        };
        if name.is_empty() || name.contains(';') {
            return Err(self.err(format!("bad object name {name:?}"), path));
        }
        let dir = self.mkdir(dir_path)?;
        if self.dirs[dir].items.iter().any(|it| matches!(it, Item::Dir(d) if self.dirs[*d].name == name)) {
            return Err(self.err(format!("{name:?} already names a directory"), path));
        }
        if self.dirs[dir].items.iter().any(|it| matches!(it, Item::Tree(t) if t.name == name)) {
            return Err(self.err(format!("{name:?} already names a tree"), path));
        }
        let cycle = self.dirs[dir]
            .items
            .iter()
            .filter_map(|it| match it {
                Item::Object(o) if o.name == name => Some(o.cycle),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 1;
        let class = h.class_name();
        let raw = encode_hist(h, name);
        let objlen = u32::try_from(raw.len()).map_err(|_| self.err("object larger than 4 GiB".into(), path))?;
        let data = compress(&raw, self.opts.compression).unwrap_or(raw);
        self.classes.insert(class);
        self.dirs[dir].items.push(Item::Object(Object {
            class,
            name: name.to_string(),
            title: h.title.clone(),
            cycle,
            objlen,
            data,
        }));
        Ok(())
    }

    /// Adds a TTree of one `double` branch at `path` (e.g. `timeTree` with branch
    /// `unixTimeRecv`): one entry per value, in one basket.
    pub fn put_tree_f64(&mut self, path: &str, branch: &str, values: &[f64]) -> Result<()> {
        self.put_tree(path, branch, values, Leaf::F64)
    }

    /// A flat tree of one `UInt_t` branch (`branch/i`, TLeafI), one entry per value:
    /// run and subrun numbers as integers.
    pub fn put_tree_u32(&mut self, path: &str, branch: &str, values: &[u32]) -> Result<()> {
        let v: Vec<f64> = values.iter().map(|&x| f64::from(x)).collect();
        self.put_tree(path, branch, &v, Leaf::U32)
    }

    fn put_tree(&mut self, path: &str, branch: &str, values: &[f64], leaf: Leaf) -> Result<()> {
        let (dir_path, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", path),
        };
        if name.is_empty() || name.contains(';') || branch.is_empty() {
            return Err(self.err(format!("bad tree or branch name {name:?}/{branch:?}"), path));
        }
        let dir = self.mkdir(dir_path)?;
        let clash = self.dirs[dir].items.iter().any(|it| match it {
            Item::Object(o) => o.name == name,
            Item::Tree(t) => t.name == name,
            Item::Dir(d) => self.dirs[*d].name == name,
        });
        if clash {
            return Err(self.err(format!("{name:?} already exists"), path));
        }
        for c in ["TTree", "TBranch", leaf.class()] {
            self.classes.insert(c);
        }
        self.dirs[dir].items.push(Item::Tree(TreeF64 {
            name: name.to_string(),
            title: name.to_string(),
            branch: branch.to_string(),
            values: values.to_vec(),
            leaf,
        }));
        Ok(())
    }

    /// Lays the file out and returns its bytes. `file_name` is stored as the TFile name.
    pub fn to_bytes(&self, file_name: &str) -> Vec<u8> {
        let opts = &self.opts;
        let dt = datime(opts.timestamp);
        let mut w = Writer::with_capacity(
            1024 + self.dirs
                .iter()
                .flat_map(|d| &d.items)
                .map(|i| match i {
                    Item::Object(o) => o.data.len() + 100,
                    Item::Tree(t) => t.values.len() * 8 + 2000,
                    Item::Dir(_) => 200,
                })
                .sum::<usize>(),
        );
        w.bytes(&[0u8; 100]);

        // Top directory key and record.
        let top_title = &opts.title;
        let top_keylen = keylen("TFile", file_name, top_title, false);
        let nbytes_name = top_keylen + tstring_len(file_name) + tstring_len(top_title);
        let top_key_at = w.len() as u64;
        write_key_header(&mut w, &KeyHeader {
            large: false,
            nbytes: (nbytes_name + DIR_RECORD_LEN) as u32,
            objlen: (nbytes_name - top_keylen + DIR_RECORD_LEN) as u32,
            datime: dt,
            cycle: 1,
            seek_key: top_key_at,
            seek_pdir: 0,
            class: "TFile",
            name: file_name,
            title: top_title,
        });
        w.tstring(file_name);
        w.tstring(top_title);
        let mut record_at = vec![0usize; self.dirs.len()];
        let mut seek_dir = vec![0u64; self.dirs.len()];
        let mut nbytes_name_of = vec![0usize; self.dirs.len()];
        record_at[0] = w.len();
        seek_dir[0] = top_key_at;
        nbytes_name_of[0] = nbytes_name;
        w.bytes(&[0u8; DIR_RECORD_LEN]);

        // Objects and subdirectory keys, directory by directory in creation order.
        let mut placed: Vec<Vec<Placed>> = vec![Vec::new(); self.dirs.len()];
        let mut order = vec![0usize];
        let mut i = 0;
        while i < order.len() {
            let d = order[i];
            for it in &self.dirs[d].items {
                if let Item::Dir(c) = it {
                    order.push(*c);
                }
            }
            i += 1;
        }
        for &d in &order {
            for it in &self.dirs[d].items {
                let pos = w.len() as u64;
                match it {
                    Item::Object(o) => {
                        let large = pos + o.data.len() as u64 + 100 > START_BIG_FILE;
                        let kl = keylen(o.class, &o.name, &o.title, large);
                        let h = KeyHeader {
                            large,
                            nbytes: (kl + o.data.len()) as u32,
                            objlen: o.objlen,
                            datime: dt,
                            cycle: o.cycle,
                            seek_key: pos,
                            seek_pdir: seek_dir[d],
                            class: o.class,
                            name: &o.name,
                            title: &o.title,
                        };
                        let start = w.len();
                        write_key_header(&mut w, &h);
                        placed[d].push(Placed { header: w.buf[start..].to_vec() });
                        w.bytes(&o.data);
                    }
                    Item::Tree(t) => {
                        // The basket first (the TTree records where it is), then the tree.
                        let basket = (!t.values.is_empty()).then(|| {
                            let data = basket_data(t);
                            let stored = compress(&data, opts.compression).unwrap_or_else(|| data.clone());
                            let bytes = basket_key(t, pos, seek_dir[d], dt, data.len(), &stored);
                            let info = BasketInfo {
                                seek: pos,
                                nbytes: bytes.len() as u32,
                                uncompressed: (basket_keylen(t) + data.len()) as u32,
                            };
                            w.bytes(&bytes);
                            info
                        });
                        let tpos = w.len() as u64;
                        let large = tpos + 100_000 > START_BIG_FILE;
                        let kl = keylen("TTree", &t.name, &t.title, large);
                        let raw = encode_tree(t, basket, opts.compression.fcompress(), kl);
                        let objlen = raw.len() as u32;
                        let data = compress(&raw, opts.compression).unwrap_or(raw);
                        let h = KeyHeader {
                            large,
                            nbytes: (kl + data.len()) as u32,
                            objlen,
                            datime: dt,
                            cycle: 1,
                            seek_key: tpos,
                            seek_pdir: seek_dir[d],
                            class: "TTree",
                            name: &t.name,
                            title: &t.title,
                        };
                        let start = w.len();
                        write_key_header(&mut w, &h);
                        placed[d].push(Placed { header: w.buf[start..].to_vec() });
                        w.bytes(&data);
                    }
                    Item::Dir(c) => {
                        let sub = &self.dirs[*c];
                        let large = pos + 200 > START_BIG_FILE;
                        let kl = keylen("TDirectory", &sub.name, &sub.title, large);
                        let h = KeyHeader {
                            large,
                            nbytes: (kl + DIR_RECORD_LEN) as u32,
                            objlen: DIR_RECORD_LEN as u32,
                            datime: dt,
                            cycle: 1,
                            seek_key: pos,
                            seek_pdir: seek_dir[d],
                            class: "TDirectory",
                            name: &sub.name,
                            title: &sub.title,
                        };
                        let start = w.len();
                        write_key_header(&mut w, &h);
                        placed[d].push(Placed { header: w.buf[start..].to_vec() });
                        seek_dir[*c] = pos;
                        nbytes_name_of[*c] = kl;
                        record_at[*c] = w.len();
                        w.bytes(&[0u8; DIR_RECORD_LEN]);
                    }
                }
            }
        }

        // Streamer infos of every class written.
        let mut classes: Vec<&str> = self.classes.iter().copied().collect();
        classes.sort_unstable();
        let infos = streamers::needed(&classes);
        let seek_info = w.len() as u64;
        let large = seek_info + 100_000 > START_BIG_FILE;
        let kl = keylen("TList", "StreamerInfo", "Doubly linked list", large);
        let raw = streamers::streamer_info_list(&infos, kl);
        let objlen = raw.len() as u32;
        let data = compress(&raw, opts.compression).unwrap_or(raw);
        write_key_header(&mut w, &KeyHeader {
            large,
            nbytes: (kl + data.len()) as u32,
            objlen,
            datime: dt,
            cycle: 1,
            seek_key: seek_info,
            seek_pdir: top_key_at,
            class: "TList",
            name: "StreamerInfo",
            title: "Doubly linked list",
        });
        w.bytes(&data);
        let nbytes_info = (w.len() as u64 - seek_info) as i32;

        // Key lists, deepest directories first, the top last (as ROOT closes them).
        let mut seek_keys = vec![0u64; self.dirs.len()];
        let mut nbytes_keys = vec![0usize; self.dirs.len()];
        for &d in order.iter().rev() {
            let dir = &self.dirs[d];
            let pos = w.len() as u64;
            let (class, name) = if d == 0 { ("TFile", file_name) } else { ("TDirectory", dir.name.as_str()) };
            let large = pos + 100_000 > START_BIG_FILE;
            let kl = keylen(class, name, &dir.title, large);
            let body: usize = 4 + placed[d].iter().map(|p| p.header.len()).sum::<usize>();
            write_key_header(&mut w, &KeyHeader {
                large,
                nbytes: (kl + body) as u32,
                objlen: body as u32,
                datime: dt,
                cycle: 1,
                seek_key: pos,
                seek_pdir: seek_dir[d],
                class,
                name,
                title: &dir.title,
            });
            w.i32(placed[d].len() as i32);
            for p in &placed[d] {
                w.bytes(&p.header);
            }
            seek_keys[d] = pos;
            nbytes_keys[d] = kl + body;
        }

        // Free segments: one, from the end of the file on.
        let seek_free = w.len() as u64;
        let large_free = seek_free + 100 > START_BIG_FILE;
        let kl = keylen("TFile", file_name, top_title, large_free);
        let body = if large_free { 2 + 16 } else { 2 + 8 };
        let end = seek_free + (kl + body) as u64;
        write_key_header(&mut w, &KeyHeader {
            large: large_free,
            nbytes: (kl + body) as u32,
            objlen: body as u32,
            datime: dt,
            cycle: 1,
            seek_key: seek_free,
            seek_pdir: top_key_at,
            class: "TFile",
            name: file_name,
            title: top_title,
        });
        if large_free {
            w.i16(1001);
            w.i64(end as i64);
            w.i64((end * 2) as i64);
        } else {
            w.i16(1);
            w.i32(end as i32);
            w.i32(START_BIG_FILE as i32);
        }
        debug_assert_eq!(w.len() as u64, end);
        let nbytes_free = (end - seek_free) as i32;

        // Directory records, now that every seek is known.
        for &d in &order {
            let parent = if d == 0 { 0 } else { seek_dir[self.dirs[d].parent] };
            let rec = dir_record(
                dt,
                nbytes_keys[d] as i32,
                nbytes_name_of[d] as i32,
                seek_dir[d],
                parent,
                seek_keys[d],
                &uuid(&format!("{file_name}/{}", self.dirs[d].path)),
            );
            w.buf[record_at[d]..record_at[d] + DIR_RECORD_LEN].copy_from_slice(&rec);
        }

        // The header.
        let large = end > START_BIG_FILE;
        let mut h = Writer::with_capacity(100);
        h.bytes(b"root");
        h.i32(if large { FILE_VERSION + 1_000_000 } else { FILE_VERSION });
        h.i32(100);
        h.seek_ptr(end, large);
        h.seek_ptr(seek_free, large);
        h.i32(nbytes_free);
        h.i32(1); // nfree
        h.i32(nbytes_name as i32);
        h.u8(if large { 8 } else { 4 });
        h.i32(opts.compression.fcompress());
        h.seek_ptr(seek_info, large);
        h.i32(nbytes_info);
        h.u16(1);
        h.bytes(&uuid(file_name));
        w.buf[..h.len()].copy_from_slice(&h.buf);
        w.buf
    }

    /// Writes the file atomically (temporary file, then rename). Returns its size.
    pub fn write(&self, path: &Path) -> Result<u64> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = self.to_bytes(&name);
        crate::atomic::write(path, &bytes).map_err(|e| RootError::new(path, ErrorKind::Io(e)))?;
        Ok(bytes.len() as u64)
    }
}

struct KeyHeader<'a> {
    /// 64-bit seeks: decided by the caller, who computed the key length with it.
    large: bool,
    nbytes: u32,
    objlen: u32,
    datime: u32,
    cycle: i16,
    seek_key: u64,
    seek_pdir: u64,
    class: &'a str,
    name: &'a str,
    title: &'a str,
}

fn write_key_header(w: &mut Writer, k: &KeyHeader) {
    let large = k.large;
    let kl = keylen(k.class, k.name, k.title, large);
    w.i32(k.nbytes as i32);
    w.i16(if large { 1004 } else { 4 });
    w.i32(k.objlen as i32);
    w.u32(k.datime);
    w.i16(kl as i16);
    w.i16(k.cycle);
    w.seek_ptr(k.seek_key, large);
    w.seek_ptr(k.seek_pdir, large);
    w.tstring(k.class);
    w.tstring(k.name);
    w.tstring(k.title);
}

fn dir_record(dt: u32, nbytes_keys: i32, nbytes_name: i32, seek_dir: u64, seek_parent: u64, seek_keys: u64, uuid: &[u8; 16]) -> [u8; DIR_RECORD_LEN] {
    let large = seek_dir.max(seek_parent).max(seek_keys) > START_BIG_FILE;
    let mut w = Writer::with_capacity(DIR_RECORD_LEN);
    w.i16(if large { 1005 } else { 5 });
    w.u32(dt);
    w.u32(dt);
    w.i32(nbytes_keys);
    w.i32(nbytes_name);
    w.seek_ptr(seek_dir, large);
    w.seek_ptr(seek_parent, large);
    w.seek_ptr(seek_keys, large);
    w.u16(1);
    w.bytes(uuid);
    let mut out = [0u8; DIR_RECORD_LEN];
    out[..w.len()].copy_from_slice(&w.buf);
    out
}

#[cfg(test)]
mod tests {
    use super::datime;

    #[test]
    fn datime_packs_like_tdatime() {
        // 2020-02-29 13:45:07 UTC = 1582983907
        let d = datime(1_582_983_907);
        assert_eq!(d >> 26, 25);
        assert_eq!((d >> 22) & 0xf, 2);
        assert_eq!((d >> 17) & 0x1f, 29);
        assert_eq!((d >> 12) & 0x1f, 13);
        assert_eq!((d >> 6) & 0x3f, 45);
        assert_eq!(d & 0x3f, 7);
    }
}
