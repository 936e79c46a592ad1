//! Writing a flat TTree of one `double` branch (the contract's `timeTree` with
//! `unixTimeRecv`), laid out byte for byte as C++ ROOT 6.40 writes it: the TTree
//! object (TTree v20 > TObjArray of one TBranch v13 > TLeafD) and one TBasket key
//! holding every entry. Reading trees is oxyroot's job, not this module's.

use super::bytes::Writer;
use super::objects::{begin_section, end_section, write_tnamed, write_tobject, K_BYTE_COUNT_MASK, K_MAP_OFFSET, K_NEW_CLASS_TAG};

/// A tree with one branch of f64, one entry per value.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeF64 {
    pub name: String,
    pub title: String,
    pub branch: String,
    pub values: Vec<f64>,
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
    let mut w = Writer::with_capacity(t.values.len() * 8);
    for v in &t.values {
        w.f64(*v);
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
    w.i32(8); // fNevBufSize: bytes per entry
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
    write_tnamed(&mut w, &t.branch, &format!("{}/D", t.branch), 0x0040_0000);
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
    w.cstring("TLeafD");
    let leafd = begin_section(&mut w, 1);
    let leaf = begin_section(&mut w, 2);
    write_tnamed(&mut w, &t.branch, &t.branch, 0x0000_0000);
    w.i32(1); // fLen
    w.i32(8); // fLenType
    w.i32(0); // fOffset
    w.bool(false); // fIsRange
    w.bool(false); // fIsUnsigned
    w.u32(0); // fLeafCount
    end_section(&mut w, leaf);
    w.f64(0.0); // fMinimum
    w.f64(0.0); // fMaximum
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
        };
        // The basket ROOT wrote: seek and size as its TBranch records them.
        let bseek = 232u64;
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
}
