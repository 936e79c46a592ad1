//! Flat TTrees of `double` branches (the contract's `timeTree` with `unixTimeRecv`).
//!
//! Writing: one branch, laid out byte for byte as C++ ROOT 6.40 writes it: the TTree
//! object (TTree v20 > TObjArray of one TBranch v13 > TLeafD) and one TBasket key
//! holding every entry.
//!
//! Reading: [`read_f64_branch`] reads one `double` branch of a flat tree written by
//! ROOT 5.34 or 6.x (TTree v19/v20, TBranch v12/v13), basket by basket, with every
//! compression. oxyroot 0.1.25 panics on ZSTD baskets, ROOT's default, which is why
//! the project reads its one tree itself. Split objects, TBranchElement and
//! variable-length leaves are not supported (a typed error says so).

use super::bytes::{DecodeError, Reader, Writer};
use super::error::{ErrorKind, RootError};
use super::file::RootFile;
use super::objects::{
    begin_section, end_section, read_section, read_tnamed, skip_section, write_tnamed, write_tobject,
    K_BYTE_COUNT_MASK, K_CLASS_MASK, K_MAP_OFFSET, K_NEW_CLASS_TAG,
};

/// The type of a tree's one leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// `Double_t` (TLeafD, `/D`).
    F64,
    /// `UInt_t` (TLeafI with fIsUnsigned, `/i`): run and subrun numbers.
    U32,
}

impl Leaf {
    pub fn class(self) -> &'static str {
        match self {
            Leaf::F64 => "TLeafD",
            Leaf::U32 => "TLeafI",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Leaf::F64 => "D",
            Leaf::U32 => "i",
        }
    }

    fn size(self) -> usize {
        match self {
            Leaf::F64 => 8,
            Leaf::U32 => 4,
        }
    }
}

/// A tree with one branch, one entry per value (held as f64; a [`Leaf::U32`] leaf
/// stores them as `UInt_t`, so they must be whole numbers in its range).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeF64 {
    pub name: String,
    pub title: String,
    pub branch: String,
    pub values: Vec<f64>,
    pub leaf: Leaf,
}

/// Where the basket went and how big it is.
#[derive(Debug, Clone, Copy)]
pub struct BasketInfo {
    pub seek: u64,
    /// Bytes on disk (key included).
    pub nbytes: u32,
    /// Bytes before compression (key included).
    pub uncompressed: u32,
}

/// Basket size ROOT allocates by default (fBasketSize, and the basket's fBufferSize).
const BASKET_SIZE: i32 = 32000;
/// Length of the basket arrays ROOT starts a branch with.
const MAX_BASKETS: usize = 10;

/// TBasket key header length: a 64-bit key plus the basket's own 19 bytes.
pub fn basket_keylen(t: &TreeF64) -> usize {
    use super::bytes::tstring_len;
    4 + 2 + 4 + 4 + 2 + 2 + 8 + 8 + tstring_len("TBasket") + tstring_len(&t.branch) + tstring_len(&t.name) + 2 + 4 * 4 + 1
}

/// The basket payload (the entries, big-endian), before compression.
pub fn basket_data(t: &TreeF64) -> Vec<u8> {
    let mut w = Writer::with_capacity(t.values.len() * t.leaf.size());
    for v in &t.values {
        match t.leaf {
            Leaf::F64 => w.f64(*v),
            Leaf::U32 => w.u32(*v as u32),
        }
    }
    w.buf
}

/// The complete TBasket key (header and stored data) for data stored as `stored`
/// (compressed or not) from `objlen` uncompressed bytes.
pub fn basket_key(t: &TreeF64, seek: u64, seek_pdir: u64, datime: u32, objlen: usize, stored: &[u8]) -> Vec<u8> {
    let keylen = basket_keylen(t);
    let mut w = Writer::with_capacity(keylen + stored.len());
    w.i32((keylen + stored.len()) as i32);
    w.i16(1004); // baskets always use 64-bit seeks
    w.i32(objlen as i32);
    w.u32(datime);
    w.i16(keylen as i16);
    w.i16(0); // cycle
    w.i64(seek as i64);
    w.i64(seek_pdir as i64);
    w.tstring("TBasket");
    w.tstring(&t.branch);
    w.tstring(&t.name);
    w.i16(3); // TBasket version
    w.i32(BASKET_SIZE); // fBufferSize
    w.i32(t.leaf.size() as i32); // fNevBufSize: bytes per entry
    w.i32(t.values.len() as i32); // fNevBuf
    w.i32((keylen + objlen) as i32); // fLast
    w.u8(0); // flag: no entry offsets
    debug_assert_eq!(w.len(), keylen);
    w.bytes(stored);
    w.buf
}

/// A TObjArray's header; `owner` sets kIsOwner (BIT(14)), as ROOT marks the arrays
/// that own their elements.
fn write_tobjarray_header(w: &mut Writer, n: i32, owner: bool) -> usize {
    let s = begin_section(w, 3);
    write_tobject(w, if owner { 0x0000_4000 } else { 0 });
    w.tstring("");
    w.i32(n);
    w.i32(0); // fLowerBound
    s
}

/// ROOT::TIOFeatures as ROOT streams the member: version 0, the class checksum, fIOBits.
fn write_iofeatures(w: &mut Writer) {
    let s = w.len();
    w.u32(0);
    w.i16(0);
    w.u32(0x1AA1_2F10);
    w.u8(0);
    let n = (w.len() - s - 4) as u32;
    w.patch_u32(s, n | K_BYTE_COUNT_MASK);
}

fn write_att_line_fill_marker(w: &mut Writer, with_line: bool, with_marker: bool) {
    if with_line {
        let a = begin_section(w, 2);
        w.i16(602);
        w.i16(1);
        w.i16(1);
        end_section(w, a);
    }
    let a = begin_section(w, 2);
    w.i16(0);
    w.i16(1001);
    end_section(w, a);
    if with_marker {
        let a = begin_section(w, super::objects::versions::TATTMARKER);
        w.i16(1);
        w.i16(1);
        w.f32(1.0);
        end_section(w, a);
    }
}

/// The TTree object, for a key whose header is `displacement` bytes (object
/// references count from the key start). `basket` is `None` for an empty tree.
pub fn encode_tree(t: &TreeF64, basket: Option<BasketInfo>, compress: i32, displacement: usize) -> Vec<u8> {
    let n = t.values.len() as i64;
    let (tot, zip) = basket.map_or((0, 0), |b| (i64::from(b.uncompressed), i64::from(b.nbytes)));
    let mut w = Writer::with_capacity(1024);
    let tree = begin_section(&mut w, 20);
    write_tnamed(&mut w, &t.name, &t.title, 0x0000_0008);
    write_att_line_fill_marker(&mut w, true, true);
    w.i64(n); // fEntries
    w.i64(tot); // fTotBytes
    w.i64(zip); // fZipBytes
    w.i64(0); // fSavedBytes
    w.i64(0); // fFlushedBytes
    w.f64(1.0); // fWeight
    w.i32(0); // fTimerInterval
    w.i32(25); // fScanField
    w.i32(0); // fUpdate
    w.i32(1000); // fDefaultEntryOffsetLen
    w.i32(0); // fNClusterRange
    w.i64(1_000_000_000_000); // fMaxEntries
    w.i64(1_000_000_000_000); // fMaxEntryLoop
    w.i64(0); // fMaxVirtualSize
    w.i64(-300_000_000); // fAutoSave
    w.i64(-30_000_000); // fAutoFlush
    w.i64(1_000_000); // fEstimate
    w.u8(0); // fClusterRangeEnd: no array
    w.u8(0); // fClusterSize: no array
    write_iofeatures(&mut w);

    // fBranches: one TBranch.
    let branches = write_tobjarray_header(&mut w, 1, true);
    let ptr = w.len();
    w.u32(0);
    w.u32(K_NEW_CLASS_TAG);
    w.cstring("TBranch");
    let br = begin_section(&mut w, 13);
    write_tnamed(&mut w, &t.branch, &format!("{}/{}", t.branch, t.leaf.code()), 0x0040_0000);
    write_att_line_fill_marker(&mut w, false, false);
    w.i32(compress); // fCompress
    w.i32(BASKET_SIZE); // fBasketSize
    w.i32(0); // fEntryOffsetLen
    w.i32(i32::from(basket.is_some())); // fWriteBasket
    w.i64(n); // fEntryNumber
    write_iofeatures(&mut w);
    w.i32(0); // fOffset
    w.i32(MAX_BASKETS as i32); // fMaxBaskets
    w.i32(0); // fSplitLevel
    w.i64(n); // fEntries
    w.i64(0); // fFirstEntry
    w.i64(tot); // fTotBytes
    w.i64(zip); // fZipBytes
    let sub = write_tobjarray_header(&mut w, 0, false); // fBranches
    end_section(&mut w, sub);
    let leaves = write_tobjarray_header(&mut w, 1, false); // fLeaves
    let leaf_at = w.len();
    w.u32(0);
    w.u32(K_NEW_CLASS_TAG);
    w.cstring(t.leaf.class());
    let leafd = begin_section(&mut w, 1);
    let leaf = begin_section(&mut w, 2);
    write_tnamed(&mut w, &t.branch, &t.branch, 0x0000_0000);
    w.i32(1); // fLen
    w.i32(t.leaf.size() as i32); // fLenType
    w.i32(0); // fOffset
    w.bool(false); // fIsRange
    w.bool(t.leaf == Leaf::U32); // fIsUnsigned
    w.u32(0); // fLeafCount
    end_section(&mut w, leaf);
    match t.leaf {
        Leaf::F64 => {
            w.f64(0.0); // fMinimum
            w.f64(0.0); // fMaximum
        }
        Leaf::U32 => {
            w.i32(0);
            w.i32(0);
        }
    }
    end_section(&mut w, leafd);
    let nleaf = (w.len() - leaf_at - 4) as u32;
    w.patch_u32(leaf_at, nleaf | K_BYTE_COUNT_MASK);
    end_section(&mut w, leaves);
    // fBaskets: baskets already written are keys of their own, so their slots (and
    // the slot of the next, empty basket) are null, as ROOT leaves them.
    let nslots = i32::from(basket.is_some()) + 1;
    let baskets = write_tobjarray_header(&mut w, nslots, false);
    for _ in 0..nslots {
        w.u32(0);
    }
    end_section(&mut w, baskets);
    let mut bytes = [0i32; MAX_BASKETS];
    let mut entry = [0i64; MAX_BASKETS];
    let mut seek = [0i64; MAX_BASKETS];
    if let Some(b) = basket {
        bytes[0] = b.nbytes as i32;
        entry[1] = n;
        seek[0] = b.seek as i64;
    }
    w.u8(1);
    bytes.iter().for_each(|v| w.i32(*v));
    w.u8(1);
    entry.iter().for_each(|v| w.i64(*v));
    w.u8(1);
    seek.iter().for_each(|v| w.i64(*v));
    w.tstring(""); // fFileName
    end_section(&mut w, br);
    let nptr = (w.len() - ptr - 4) as u32;
    w.patch_u32(ptr, nptr | K_BYTE_COUNT_MASK);
    end_section(&mut w, branches);

    // fLeaves: a reference to the TLeafD written above.
    let l = write_tobjarray_header(&mut w, 1, false);
    w.u32((displacement + leaf_at) as u32 + K_MAP_OFFSET);
    end_section(&mut w, l);
    w.u32(0); // fAliases
    w.i32(0); // fIndexValues (TArrayD)
    w.i32(0); // fIndex (TArrayI)
    w.u32(0); // fTreeIndex
    w.u32(0); // fFriends
    w.u32(0); // fUserInfo
    w.u32(0); // fBranchRef
    end_section(&mut w, tree);
    w.buf
}

/// What the reader needs of one TBranch.
struct BranchInfo {
    name: String,
    leaf_class: String,
    /// A TLeafI's fIsUnsigned.
    leaf_unsigned: bool,
    entries: i64,
    write_basket: usize,
    basket_entry: Vec<i64>,
    basket_seek: Vec<i64>,
}

/// Reads a TObjArray's header; returns (section, number of objects).
fn read_tobjarray(r: &mut Reader) -> Result<(super::objects::Section, usize), DecodeError> {
    let s = read_section(r, "TObjArray")?;
    super::objects::read_tobject(r)?;
    r.tstring()?;
    let at = r.pos();
    let n = r.i32()?;
    r.i32()?; // fLowerBound
    let n = usize::try_from(n).map_err(|_| DecodeError::new(at, format!("negative object count {n}")))?;
    Ok((s, n))
}

/// Reads an object pointer's header: its end (from the byte count) and class name,
/// or `None` for a null pointer or a reference to an object already read.
fn read_pointer(r: &mut Reader, displacement: usize, classes: &mut Vec<(u32, String)>) -> Result<Option<(usize, String)>, DecodeError> {
    let start = r.pos();
    let bcnt = r.u32()?;
    if bcnt == 0 || bcnt & K_BYTE_COUNT_MASK == 0 {
        return Ok(None);
    }
    let end = r.pos() + (bcnt & !K_BYTE_COUNT_MASK) as usize;
    let tag_at = r.pos();
    let tag = r.u32()?;
    let class = if tag == K_NEW_CLASS_TAG {
        let name = r.cstring()?;
        classes.push(((displacement + tag_at) as u32 + K_MAP_OFFSET, name.clone()));
        name
    } else if tag & K_CLASS_MASK != 0 {
        let idx = tag & !K_CLASS_MASK;
        classes
            .iter()
            .find(|(i, _)| *i == idx)
            .map(|(_, n)| n.clone())
            .ok_or_else(|| DecodeError::new(start, format!("unknown class reference {idx:#x}")))?
    } else {
        return Err(DecodeError::new(start, format!("unexpected object tag {tag:#x}")));
    };
    if end > r.len() {
        return Err(DecodeError::new(start, "object byte count runs past the end"));
    }
    Ok(Some((end, class)))
}

/// `flag byte + n values` of a `T* fArray //[n]` member.
fn read_counted_i64(r: &mut Reader, n: usize, four_bytes: bool) -> Result<Vec<i64>, DecodeError> {
    // A corrupt count must not allocate more than the buffer could hold.
    if n > r.remaining() {
        return Err(DecodeError::new(r.pos(), format!("array count {n} exceeds the {} bytes left", r.remaining())));
    }
    if r.u8()? == 0 {
        return Ok(vec![0; n]);
    }
    (0..n).map(|_| if four_bytes { r.i32().map(i64::from) } else { r.i64() }).collect()
}

fn read_branch(r: &mut Reader, end: usize, displacement: usize, classes: &mut Vec<(u32, String)>) -> Result<BranchInfo, DecodeError> {
    let s = read_section(r, "TBranch")?;
    if !(12..=13).contains(&s.version) {
        return Err(DecodeError::new(r.pos(), format!("TBranch version {} (12 and 13 are supported)", s.version)));
    }
    let (name, _) = read_tnamed(r)?;
    skip_section(r, "TAttFill")?;
    r.skip(4 + 4 + 4)?; // fCompress, fBasketSize, fEntryOffsetLen
    let write_basket = r.i32()?.max(0) as usize;
    r.i64()?; // fEntryNumber
    if s.version >= 13 {
        skip_section(r, "ROOT::TIOFeatures")?;
    }
    r.i32()?; // fOffset
    let max_baskets = r.i32()?.max(0) as usize;
    r.i32()?; // fSplitLevel
    let entries = r.i64()?;
    r.skip(8 * 3)?; // fFirstEntry, fTotBytes, fZipBytes
    let (sub, _) = read_tobjarray(r)?; // fBranches
    sub.finish(r, "TObjArray")?;
    let (leaves, nleaves) = read_tobjarray(r)?;
    let mut leaf_unsigned = false;
    let leaf_class = if nleaves == 1 {
        let class = read_pointer(r, displacement, classes)?.map(|(_, c)| c).unwrap_or_default();
        if class == "TLeafI" {
            // TLeafI > TLeaf: TNamed, fLen, fLenType, fOffset, fIsRange, fIsUnsigned.
            read_section(r, "TLeafI")?;
            read_section(r, "TLeaf")?;
            read_tnamed(r)?;
            r.skip(4 * 3 + 1)?;
            leaf_unsigned = r.u8()? != 0;
        }
        class
    } else {
        format!("{nleaves} leaves")
    };
    leaves.finish(r, "TObjArray")?;
    let (baskets, _) = read_tobjarray(r)?;
    baskets.finish(r, "TObjArray")?;
    let _bytes = read_counted_i64(r, max_baskets, true)?;
    let basket_entry = read_counted_i64(r, max_baskets, false)?;
    let basket_seek = read_counted_i64(r, max_baskets, false)?;
    r.seek(end)?;
    Ok(BranchInfo { name, leaf_class, leaf_unsigned, entries, write_basket, basket_entry, basket_seek })
}

/// The branches of a TTree payload whose key header is `displacement` bytes long.
fn read_branches(buf: &[u8], displacement: usize) -> Result<(i64, Vec<BranchInfo>), DecodeError> {
    let mut r = Reader::new(buf);
    let s = read_section(&mut r, "TTree")?;
    if !(19..=20).contains(&s.version) {
        return Err(DecodeError::new(0, format!("TTree version {} (19 and 20, ROOT 5.34 and 6.x, are supported)", s.version)));
    }
    read_tnamed(&mut r)?;
    for c in ["TAttLine", "TAttFill", "TAttMarker"] {
        skip_section(&mut r, c)?;
    }
    let entries = r.i64()?;
    r.skip(8 * 4)?; // fTotBytes, fZipBytes, fSavedBytes, fFlushedBytes
    r.skip(8 + 4 * 4)?; // fWeight, fTimerInterval, fScanField, fUpdate, fDefaultEntryOffsetLen
    let nclusters = r.i32()?.max(0) as usize; // fNClusterRange
    r.skip(8 * 6)?; // fMaxEntries, fMaxEntryLoop, fMaxVirtualSize, fAutoSave, fAutoFlush, fEstimate
    read_counted_i64(&mut r, nclusters, false)?; // fClusterRangeEnd
    read_counted_i64(&mut r, nclusters, false)?; // fClusterSize
    if s.version >= 20 {
        skip_section(&mut r, "ROOT::TIOFeatures")?;
    }
    let (arr, n) = read_tobjarray(&mut r)?;
    let mut classes = Vec::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match read_pointer(&mut r, displacement, &mut classes)? {
            Some((end, class)) if class == "TBranch" => out.push(read_branch(&mut r, end, displacement, &mut classes)?),
            Some((end, _)) => r.seek(end)?, // TBranchElement and others: not flat
            None => {}
        }
    }
    arr.finish(&mut r, "TObjArray")?;
    Ok((entries, out))
}

/// Reads every entry of the `double` branch `branch` of the flat tree at `tree_path`.
pub fn read_f64_branch(file: &RootFile, tree_path: &str, branch: &str) -> Result<Vec<f64>, RootError> {
    let object = format!("{tree_path}/{branch}");
    let err = |kind: ErrorKind| RootError::new(file.path(), kind).object(object.clone());
    let key = file.key(tree_path)?;
    if key.class_name != "TTree" {
        return Err(err(ErrorKind::UnsupportedClass { class: key.class_name.clone() }).at(key.seek_key));
    }
    let buf = file.object_bytes(&key, tree_path)?;
    let (entries, branches) = read_branches(&buf, usize::from(key.keylen)).map_err(|e| {
        err(ErrorKind::Decode { class: "TTree".into(), version: -1, detail: format!("{} (byte {} of the tree object)", e.what, e.offset) })
            .at(key.seek_key)
    })?;
    let b = branches.iter().find(|b| b.name == branch).ok_or_else(|| {
        err(ErrorKind::NotFound { name: branch.into(), dir: tree_path.into(), available: branches.iter().map(|b| b.name.clone()).collect() })
    })?;
    // Doubles, or 32-bit integers (signed or not), each entry as an f64.
    let (size, decode): (usize, fn(&[u8], bool) -> f64) = match b.leaf_class.as_str() {
        "TLeafD" => (8, |c, _| f64::from_be_bytes(c.try_into().expect("8 bytes"))),
        "TLeafI" => (4, |c, unsigned| {
            let bits = u32::from_be_bytes(c.try_into().expect("4 bytes"));
            if unsigned {
                f64::from(bits)
            } else {
                f64::from(bits as i32)
            }
        }),
        other => return Err(err(ErrorKind::UnsupportedClass { class: format!("branch with {other} (TLeafD and TLeafI are read)") })),
    };
    // Capacity from the file is a hint only: a corrupt count must not allocate.
    let mut values = Vec::with_capacity((b.entries.max(0) as usize).min(1 << 20));
    for i in 0..b.write_basket.min(b.basket_seek.len()) {
        let seek = u64::try_from(b.basket_seek[i]).map_err(|_| err(ErrorKind::Corrupt { what: "basket seek".into(), detail: b.basket_seek[i].to_string() }))?;
        let bkey = file.read_key_at(seek, &format!("basket {i} of {object}")).map_err(|e| e.object(object.clone()))?;
        let data = file.object_bytes(&bkey, &object)?;
        let first = b.basket_entry[i];
        let next = b.basket_entry.get(i + 1).copied().filter(|&e| e > first).unwrap_or(b.entries);
        let n = usize::try_from(next - first).unwrap_or(0);
        if data.len() < size * n {
            return Err(err(ErrorKind::Corrupt {
                what: format!("basket {i}"),
                detail: format!("{} bytes hold fewer than its {n} entries", data.len()),
            })
            .at(seek));
        }
        values.extend(data[..size * n].chunks_exact(size).map(|c| decode(c, b.leaf_unsigned)));
    }
    if values.len() as i64 != entries {
        return Err(err(ErrorKind::Corrupt {
            what: "tree".into(),
            detail: format!("{entries} entries but the written baskets hold {} (a basket kept in memory at close?)", values.len()),
        }));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TTree payload C++ ROOT 6.40 wrote for 5 entries of `unixTimeRecv`
    /// (data-fixtures/trees/tree-ref.root, uncompressed): ours must be identical but
    /// for the TAttMarker version (2 instead of 3, for oxyroot).
    #[test]
    fn tree_payload_matches_root_byte_for_byte() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data-fixtures/trees/tree-ref.root");
        let raw = std::fs::read(path).expect("tree-ref.root fixture (see data-fixtures/README.md)");
        let f = crate::root::RootFile::from_bytes(path, raw.clone()).unwrap();
        let key = f.key("timeTree").unwrap();
        let mut theirs = f.object_bytes(&key, "timeTree").unwrap().into_owned();
        // The one deliberate difference: TAttMarker written as v2 (see objects::versions).
        assert_eq!(&theirs[66..68], &[0, 3], "TAttMarker version in ROOT's payload");
        theirs[67] = 2;
        let t = TreeF64 {
            name: "timeTree".into(),
            title: "timeTree".into(),
            branch: "unixTimeRecv".into(),
            values: (0..5).map(|i| 1_617_000_000.0 + 0.1 * f64::from(i)).collect(),
            leaf: Leaf::F64,
        };
        // The basket ROOT wrote: where its TBranch says it is.
        let (_, branches) = read_branches(&theirs, usize::from(key.keylen)).unwrap();
        let bseek = branches[0].basket_seek[0] as u64;
        let bkey = &raw[bseek as usize..];
        let nbytes = u32::from_be_bytes(bkey[..4].try_into().unwrap());
        let ours = encode_tree(&t, Some(BasketInfo { seek: bseek, nbytes, uncompressed: nbytes }), 0, usize::from(key.keylen));
        if let Ok(p) = std::env::var("GM2DQC_DUMP_TREE") { std::fs::write(p, &ours).unwrap(); }
        let first_diff = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "first difference at byte {first_diff:?}");
        assert_eq!(ours.len(), theirs.len());
        // And the basket key, header and data.
        let datime = u32::from_be_bytes(bkey[10..14].try_into().unwrap());
        let data = basket_data(&t);
        let ours_basket = basket_key(&t, bseek, 100, datime, data.len(), &data);
        assert_eq!(&ours_basket[..], &bkey[..nbytes as usize]);
    }

    /// The same for a `UInt_t` branch (data-fixtures/trees/tree-u32-ref.root: `interval`,
    /// `run/i`, 15921 and 15922), and the reader reads ROOT's file.
    #[test]
    fn u32_tree_payload_matches_root_byte_for_byte() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data-fixtures/trees/tree-u32-ref.root");
        let raw = std::fs::read(path).expect("tree-u32-ref.root fixture (see data-fixtures/README.md)");
        let f = crate::root::RootFile::from_bytes(path, raw.clone()).unwrap();
        assert_eq!(read_f64_branch(&f, "interval", "run").unwrap(), [15921.0, 15922.0]);
        let key = f.key("interval").unwrap();
        let mut theirs = f.object_bytes(&key, "interval").unwrap().into_owned();
        // The one deliberate difference, as for doubles: TAttMarker written as v2 (the
        // tree's name and title have the length of `timeTree`'s, so it is where it is there).
        assert_eq!(&theirs[66..68], &[0, 3], "TAttMarker version in ROOT's payload");
        theirs[67] = 2;
        let t = TreeF64 { name: "interval".into(), title: "interval".into(), branch: "run".into(), values: vec![15921.0, 15922.0], leaf: Leaf::U32 };
        let (_, branches) = read_branches(&theirs, usize::from(key.keylen)).unwrap();
        assert!(branches[0].leaf_unsigned && branches[0].leaf_class == "TLeafI");
        let bseek = branches[0].basket_seek[0] as u64;
        let bkey = &raw[bseek as usize..];
        let nbytes = u32::from_be_bytes(bkey[..4].try_into().unwrap());
        let ours = encode_tree(&t, Some(BasketInfo { seek: bseek, nbytes, uncompressed: nbytes }), 0, usize::from(key.keylen));
        let first_diff = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "first difference at byte {first_diff:?}");
        assert_eq!(ours.len(), theirs.len());
        let datime = u32::from_be_bytes(bkey[10..14].try_into().unwrap());
        let data = basket_data(&t);
        assert_eq!(data, [0, 0, 0x3e, 0x31, 0, 0, 0x3e, 0x32], "15921 and 15922 as big-endian UInt_t");
        let ours_basket = basket_key(&t, bseek, 100, datime, data.len(), &data);
        assert_eq!(&ours_basket[..], &bkey[..nbytes as usize]);
        // What the writer writes reads back, through the file's streamer infos too.
        let mut w = crate::root::RootWriter::new(crate::root::WriteOptions::default());
        w.put_tree_u32("merge/interval", "run", &[7, u32::MAX]).unwrap();
        let g = crate::root::RootFile::from_bytes("u32.root", w.to_bytes("u32.root")).unwrap();
        assert_eq!(read_f64_branch(&g, "merge/interval", "run").unwrap(), [7.0, f64::from(u32::MAX)]);
    }

    fn expected(n: usize) -> Vec<f64> {
        (0..n).map(|i| 1_617_000_000.0 + 0.1 * i as f64).collect()
    }

    #[test]
    fn reads_branches_root_wrote_one_basket_and_three_zstd_baskets() {
        for (file, n) in [("tree-ref.root", 5), ("tree-zstd.root", 10_000)] {
            let path = format!("{}/data-fixtures/trees/{file}", env!("CARGO_MANIFEST_DIR"));
            let f = RootFile::open(&path).unwrap();
            let v = read_f64_branch(&f, "timeTree", "unixTimeRecv").unwrap();
            assert_eq!(v, expected(n), "{file}");
            let e = read_f64_branch(&f, "timeTree", "nope").unwrap_err().to_string();
            assert!(e.contains("nope") && e.contains("unixTimeRecv"), "{e}");
        }
    }

    #[test]
    fn reads_what_the_writer_writes_with_every_compression() {
        for c in ["none", "zlib", "lz4", "zstd", "lzma"] {
            let mut w = crate::root::RootWriter::new(crate::root::WriteOptions { compression: c.parse().unwrap(), timestamp: 0, title: String::new() });
            let v = expected(777);
            w.put_tree_f64("timeTree", "unixTimeRecv", &v).unwrap();
            let f = RootFile::from_bytes("t.root", w.to_bytes("t.root")).unwrap();
            assert_eq!(read_f64_branch(&f, "timeTree", "unixTimeRecv").unwrap(), v, "{c}");
        }
        let mut w = crate::root::RootWriter::new(crate::root::WriteOptions::default());
        w.put_tree_f64("timeTree", "unixTimeRecv", &[]).unwrap();
        let f = RootFile::from_bytes("t.root", w.to_bytes("t.root")).unwrap();
        assert!(read_f64_branch(&f, "timeTree", "unixTimeRecv").unwrap().is_empty());
    }

    #[test]
    fn a_histogram_is_not_a_tree() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data-fixtures/root640/classes-zstd.root");
        let f = RootFile::open(path).unwrap();
        let e = read_f64_branch(&f, "h1d", "x").unwrap_err();
        assert!(matches!(*e.kind, ErrorKind::UnsupportedClass { .. }), "{e}");
    }
}
