//! Versioned class decoders and encoders for the histogram family.
//!
//! Every class section starts with a byte count (high bit 0x40000000) and a version.
//! Decoders read the members they know for that version, then jump to the end given by
//! the byte count, so members added by a newer ROOT are skipped rather than misread.
//! Known layouts (from the streamer infos of files written by ROOT 5.28 to 6.40):
//! TH1 v6 (no fBinStatErrOpt), v7, v8 (+fStatOverflows); TAxis v9, v10 (+fModLabs);
//! TH2 v3-v5; TProfile v5-v7 (fBinSumw2 when present); TProfile2D v5-v8.
//!
//! Geant4's g4tools writer (file fVersion 40000) uses older layouts, as the streamer
//! infos it stores say: TH1D v1, TH2D v3, TH2 v3, TProfile v4 and TProfile2D v5
//! (no fBinSumw2), TH1 v3 (ends after
//! fFunctions: no fBufferSize, fBuffer, fBinStatErrOpt or fStatOverflows), TAxis v6
//! (fFirst, fLast, fTimeDisplay, fTimeFormat; no fBits2 or fLabels), and it writes the
//! TH1D/TH1/TH2 sections without byte counts (a bare 2-byte version), so those
//! members are read by version, never by jumping.
//!
//! Encoders write the ROOT 6.40 layouts (see [`crate::root::streamers`] for the
//! matching streamer infos).

use super::bytes::{ArrayElem, DResult, DecodeError, Reader, Writer};
use super::model::{hist_class, HistKind, RawAxis, RawH2, RawHist, RawProfile};

pub const K_BYTE_COUNT_MASK: u32 = 0x4000_0000;
pub const K_NEW_CLASS_TAG: u32 = 0xFFFF_FFFF;
pub const K_CLASS_MASK: u32 = 0x8000_0000;
pub const K_MAP_OFFSET: u32 = 2;
const K_IS_REFERENCED: u32 = 1 << 4;

/// A class section header: its version and, when a byte count is present, its end.
pub struct Section {
    pub version: i16,
    pub end: Option<usize>,
    start: usize,
}

impl Section {
    /// Leaves the section: jumps to its declared end, skipping unknown trailing members.
    pub fn finish(&self, r: &mut Reader, class: &str) -> DResult<()> {
        if let Some(end) = self.end {
            if r.pos() > end {
                return Err(DecodeError::new(
                    self.start,
                    format!("{class} v{} members run {} bytes past its byte count", self.version, r.pos() - end),
                ));
            }
            r.seek(end)?;
        }
        Ok(())
    }

    /// Accepts versions from `min` on when a byte count bounds the section (members a
    /// newer version adds are skipped), and only the versions in `known` without one
    /// (their members must be read in order, so the layout has to be known exactly).
    pub fn require(&self, min: i16, known: &[i16], class: &str) -> DResult<()> {
        if self.version >= min && (self.end.is_some() || known.contains(&self.version)) {
            return Ok(());
        }
        let how = if self.end.is_some() { "" } else { " without a byte count" };
        Err(DecodeError::new(self.start, format!("{class} v{}{how} is not a supported layout", self.version)))
    }

    pub fn has_more(&self, r: &Reader) -> bool {
        self.end.map_or(r.remaining() > 0, |e| r.pos() < e)
    }
}

pub fn read_section(r: &mut Reader, class: &str) -> DResult<Section> {
    let start = r.pos();
    let first = r.u32()?;
    if first & K_BYTE_COUNT_MASK != 0 && first != K_NEW_CLASS_TAG {
        let n = (first & !K_BYTE_COUNT_MASK) as usize;
        let end = r.pos() + n;
        if end > r.len() {
            return Err(DecodeError::new(
                start,
                format!("{class} byte count {n} runs past the end of the {}-byte object", r.len()),
            ));
        }
        let version = r.i16()?;
        Ok(Section { version, end: Some(end), start })
    } else {
        r.seek(start)?;
        let version = r.i16()?;
        Ok(Section { version, end: None, start })
    }
}

/// TObject: version, fUniqueID, fBits (and a process id when referenced).
pub fn read_tobject(r: &mut Reader) -> DResult<()> {
    let s = read_section(r, "TObject")?;
    let _unique_id = r.u32()?;
    let bits = r.u32()?;
    if bits & K_IS_REFERENCED != 0 {
        r.skip(2)?;
    }
    s.finish(r, "TObject")
}

/// TNamed: returns (fName, fTitle).
pub fn read_tnamed(r: &mut Reader) -> DResult<(String, String)> {
    let s = read_section(r, "TNamed")?;
    read_tobject(r)?;
    let name = r.tstring()?;
    let title = r.tstring()?;
    s.finish(r, "TNamed")?;
    Ok((name, title))
}

/// Skips a class section we do not need (TAttLine, TAttAxis, ...), using its byte count.
pub(crate) fn skip_section(r: &mut Reader, class: &str) -> DResult<()> {
    let s = read_section(r, class)?;
    if s.end.is_none() {
        return Err(DecodeError::new(s.start, format!("{class} has no byte count and cannot be skipped")));
    }
    s.finish(r, class)
}

/// Skips an attribute base (TAttLine, TAttFill, TAttMarker, TAttAxis): by its byte
/// count when it has one, else by the size of its members in that version (from the
/// streamer infos of ROOT 6.40 and of g4tools files); an unknown version without a
/// byte count is an error.
fn skip_attributes(r: &mut Reader, class: &str) -> DResult<()> {
    let s = read_section(r, class)?;
    if s.end.is_some() {
        return s.finish(r, class);
    }
    let size = match (class, s.version) {
        ("TAttLine", 1 | 2) => Some(6),   // 3 x short
        ("TAttFill", 1 | 2) => Some(4),   // 2 x short
        ("TAttMarker", 1..=3) => Some(8), // 2 x short, float
        ("TAttAxis", 4) => Some(34),      // int, 3 x short, 5 x float, 2 x short
        _ => None,
    };
    match size {
        Some(n) => r.skip(n),
        None => Err(DecodeError::new(
            s.start,
            format!("{class} v{} has no byte count and its layout is unknown", s.version),
        )),
    }
}

/// Skips an object pointer (`TList* fFunctions`, `THashList* fLabels`, ...).
pub fn skip_object_pointer(r: &mut Reader) -> DResult<()> {
    let start = r.pos();
    let first = r.u32()?;
    if first == 0 {
        return Ok(()); // null pointer
    }
    if first == K_NEW_CLASS_TAG {
        // New class without a byte count: class name, then the object's own section.
        r.cstring()?;
        return skip_section(r, "object");
    }
    if first & K_BYTE_COUNT_MASK != 0 {
        let n = (first & !K_BYTE_COUNT_MASK) as usize;
        if n > r.remaining() {
            return Err(DecodeError::new(start, format!("object pointer byte count {n} runs past the end")));
        }
        return r.skip(n);
    }
    // A reference to an object or class already read: nothing follows.
    Ok(())
}

/// A TArray member or base: 32-bit length then the elements.
pub fn read_tarray(r: &mut Reader, elem: ArrayElem) -> DResult<Vec<f64>> {
    let at = r.pos();
    let n = r.i32()?;
    let n = usize::try_from(n).map_err(|_| DecodeError::new(at, format!("negative array length {n}")))?;
    r.array_f64(n, elem)
}

fn read_taxis(r: &mut Reader) -> DResult<RawAxis> {
    let s = read_section(r, "TAxis")?;
    // v6 (g4tools) to v10 (ROOT 6.40) share fNbins, fXmin, fXmax, fXbins (doubles).
    s.require(6, &[6, 9, 10], "TAxis")?;
    let (name, title) = read_tnamed(r)?;
    skip_attributes(r, "TAttAxis")?;
    let nbins = r.i32()?;
    let xmin = r.f64()?;
    let xmax = r.f64()?;
    let xbins = read_tarray(r, ArrayElem::F64)?;
    if s.end.is_none() {
        // No byte count to jump with: read the remaining members in order.
        r.skip(4 + 4)?; // fFirst, fLast
        if s.version >= 9 {
            r.skip(2)?; // fBits2
        }
        r.skip(1)?; // fTimeDisplay
        r.tstring()?; // fTimeFormat
        if s.version >= 9 {
            skip_object_pointer(r)?; // fLabels
        }
        if s.version >= 10 {
            skip_object_pointer(r)?; // fModLabs
        }
    }
    s.finish(r, "TAxis")?;
    Ok(RawAxis { name, title, nbins, xmin, xmax, xbins })
}

/// The TH1 base section; the caller's storage array follows it.
fn read_th1(r: &mut Reader, out: &mut RawHist) -> DResult<()> {
    let s = read_section(r, "TH1")?;
    // v3 is g4tools' layout; v4 and v5 (ROOT 3.x-4.x, not seen in any fixture) are
    // accepted only with a byte count, which bounds the members after fFunctions.
    s.require(3, &[3, 6, 7, 8], "TH1")?;
    let (name, title) = read_tnamed(r)?;
    out.name = name;
    out.title = title;
    skip_attributes(r, "TAttLine")?;
    skip_attributes(r, "TAttFill")?;
    skip_attributes(r, "TAttMarker")?;
    let _ncells = r.i32()?;
    out.xaxis = read_taxis(r)?;
    out.yaxis = read_taxis(r)?;
    out.zaxis = read_taxis(r)?;
    r.skip(4)?; // fBarOffset, fBarWidth
    out.entries = r.f64()?;
    out.tsumw = r.f64()?;
    out.tsumw2 = r.f64()?;
    out.tsumwx = r.f64()?;
    out.tsumwx2 = r.f64()?;
    out.maximum = r.f64()?;
    out.minimum = r.f64()?;
    out.norm_factor = r.f64()?;
    let _contour = read_tarray(r, ArrayElem::F64)?;
    out.sumw2 = read_tarray(r, ArrayElem::F64)?;
    out.option = r.tstring()?;
    skip_object_pointer(r)?; // fFunctions: a TList in place (bcnt skips it)
    // fBufferSize/fBuffer: in v6-v8; in v4/v5 (always with a byte count) if present.
    if s.version >= 6 || (s.version >= 4 && s.has_more(r)) {
        // fBufferSize, then fBuffer: a presence byte and fBufferSize doubles.
        let at = r.pos();
        let buffer_size = r.i32()?;
        let has_buffer = r.u8()?;
        if has_buffer != 0 && buffer_size > 0 {
            let n = (buffer_size as usize).checked_mul(8).filter(|&n| n <= r.remaining()).ok_or_else(|| {
                DecodeError::new(at, format!("fBuffer of {buffer_size} doubles runs past the end"))
            })?;
            r.skip(n)?;
        }
    }
    if s.version >= 7 && s.has_more(r) {
        out.bin_stat_err_opt = r.i32()?;
    }
    if s.version >= 8 && s.has_more(r) {
        out.stat_overflows = r.i32()?;
    }
    s.finish(r, "TH1")
}

fn read_th2(r: &mut Reader, out: &mut RawHist) -> DResult<()> {
    let s = read_section(r, "TH2")?;
    s.require(3, &[3, 4, 5], "TH2")?;
    read_th1(r, out)?;
    out.h2 = Some(RawH2 { scalefactor: r.f64()?, tsumwy: r.f64()?, tsumwy2: r.f64()?, tsumwxy: r.f64()? });
    s.finish(r, "TH2")
}

/// TH1x / TH2x: the base section then the TArray of bin contents.
fn read_storage_hist(r: &mut Reader, class: &str, kind: HistKind, elem: ArrayElem, out: &mut RawHist) -> DResult<()> {
    let s = read_section(r, class)?;
    match kind {
        HistKind::H1 | HistKind::Profile => read_th1(r, out)?,
        HistKind::H2 | HistKind::Profile2D => read_th2(r, out)?,
    }
    out.contents = read_tarray(r, elem)?;
    s.finish(r, class)
}

fn read_profile(r: &mut Reader, class: &str, kind: HistKind, out: &mut RawHist) -> DResult<()> {
    let s = read_section(r, class)?;
    if kind == HistKind::Profile {
        s.require(4, &[4, 6, 7], class)?;
    } else {
        s.require(5, &[5, 8], class)?;
    }
    let base = if kind == HistKind::Profile { "TH1D" } else { "TH2D" };
    let base_kind = if kind == HistKind::Profile { HistKind::H1 } else { HistKind::H2 };
    read_storage_hist(r, base, base_kind, ArrayElem::F64, out)?;
    let bin_entries = read_tarray(r, ArrayElem::F64)?;
    let error_mode = r.i32()?;
    let vmin = r.f64()?;
    let vmax = r.f64()?;
    let tsumwv = r.f64()?;
    let tsumwv2 = r.f64()?;
    // fBinSumw2: TProfile v6+, TProfile2D v8 (not in g4tools' TProfile v4 / TProfile2D
    // v5); with a byte count, whenever the section has more.
    let has_bin_sumw2 = match s.end {
        Some(_) => s.has_more(r),
        None => s.version >= if kind == HistKind::Profile { 6 } else { 8 },
    };
    let bin_sumw2 = if has_bin_sumw2 { read_tarray(r, ArrayElem::F64)? } else { Vec::new() };
    out.profile = Some(RawProfile { bin_entries, bin_sumw2, error_mode, vmin, vmax, tsumwv, tsumwv2 });
    s.finish(r, class)
}

/// Decodes one histogram object (the key's uncompressed payload) of class `class`.
/// Returns `Ok(None)` when the class is not a supported histogram.
pub fn decode_hist(class: &str, buf: &[u8]) -> DResult<Option<RawHist>> {
    let Some((kind, elem)) = hist_class(class) else { return Ok(None) };
    let mut out = RawHist::empty(kind, elem);
    let mut r = Reader::new(buf);
    match kind {
        HistKind::H1 | HistKind::H2 => read_storage_hist(&mut r, class, kind, elem, &mut out)?,
        HistKind::Profile | HistKind::Profile2D => read_profile(&mut r, class, kind, &mut out)?,
    }
    out.check().map_err(|e| DecodeError::new(0, format!("inconsistent {class}: {e}")))?;
    Ok(Some(out))
}

// ---------------------------------------------------------------------------------
// Encoding (ROOT 6.40 layouts)

/// Versions written, as ROOT 6.40 writes them.
pub mod versions {
    pub const TOBJECT: i16 = 1;
    pub const TNAMED: i16 = 1;
    pub const TATTLINE: i16 = 2;
    pub const TATTFILL: i16 = 2;
    /// v2 (as ROOT 6.28 writes), not 6.40's v3: same members, and oxyroot 0.1.25
    /// reads only up to v2.
    pub const TATTMARKER: i16 = 2;
    pub const TATTAXIS: i16 = 4;
    pub const TAXIS: i16 = 10;
    pub const TH1: i16 = 8;
    pub const TH2: i16 = 5;
    pub const TH1X: i16 = 3;
    pub const TH2X: i16 = 4;
    pub const TPROFILE: i16 = 7;
    pub const TPROFILE2D: i16 = 8;
    pub const TLIST: i16 = 5;
}

/// fBits of a histogram as ROOT writes it (kNotDeleted | kIsOnHeap | kCanDelete... bits).
pub const TOBJECT_BITS: u32 = 0x0300_0008;

/// Opens a section: reserves the byte count, writes the version. Close with [`end_section`].
pub fn begin_section(w: &mut Writer, version: i16) -> usize {
    let at = w.len();
    w.u32(0);
    w.i16(version);
    at
}

pub fn end_section(w: &mut Writer, at: usize) {
    let n = (w.len() - at - 4) as u32;
    w.patch_u32(at, n | K_BYTE_COUNT_MASK);
}

pub fn write_tobject(w: &mut Writer, bits: u32) {
    w.i16(versions::TOBJECT);
    w.u32(0);
    w.u32(bits);
}

pub fn write_tnamed(w: &mut Writer, name: &str, title: &str, bits: u32) {
    let s = begin_section(w, versions::TNAMED);
    write_tobject(w, bits);
    w.tstring(name);
    w.tstring(title);
    end_section(w, s);
}

pub fn write_tarray(w: &mut Writer, elem: ArrayElem, values: &[f64]) {
    w.i32(values.len() as i32);
    elem.encode(values, &mut w.buf);
}

fn write_taxis(w: &mut Writer, a: &RawAxis) {
    let s = begin_section(w, versions::TAXIS);
    write_tnamed(w, &a.name, &a.title, 0x0300_0000);
    // TAttAxis with ROOT's default style.
    let t = begin_section(w, versions::TATTAXIS);
    w.i32(510); // fNdivisions
    w.i16(1); // fAxisColor
    w.i16(1); // fLabelColor
    w.i16(42); // fLabelFont
    w.f32(0.005); // fLabelOffset
    w.f32(0.035); // fLabelSize
    w.f32(0.03); // fTickLength
    w.f32(1.0); // fTitleOffset
    w.f32(0.035); // fTitleSize
    w.i16(1); // fTitleColor
    w.i16(42); // fTitleFont
    end_section(w, t);
    w.i32(a.nbins);
    w.f64(a.xmin);
    w.f64(a.xmax);
    write_tarray(w, ArrayElem::F64, &a.xbins);
    w.i32(0); // fFirst
    w.i32(0); // fLast
    w.u16(0); // fBits2
    w.bool(false); // fTimeDisplay
    w.tstring(""); // fTimeFormat
    w.u32(0); // fLabels (null)
    w.u32(0); // fModLabs (null)
    end_section(w, s);
}

/// An empty TList, as ROOT writes `fFunctions`: the member is a `->` pointer
/// (kObjectp, never null), streamed in place without a class tag.
fn write_empty_tlist(w: &mut Writer) {
    let s = begin_section(w, versions::TLIST);
    write_tobject(w, 0x0300_0000);
    w.tstring(""); // fName
    w.i32(0); // nobjects
    end_section(w, s);
}

fn write_th1(w: &mut Writer, h: &RawHist, name: &str) {
    let s = begin_section(w, versions::TH1);
    write_tnamed(w, name, &h.title, TOBJECT_BITS);
    let a = begin_section(w, versions::TATTLINE);
    w.i16(602); // fLineColor
    w.i16(1); // fLineStyle
    w.i16(1); // fLineWidth
    end_section(w, a);
    let a = begin_section(w, versions::TATTFILL);
    w.i16(0); // fFillColor
    w.i16(1001); // fFillStyle
    end_section(w, a);
    let a = begin_section(w, versions::TATTMARKER);
    w.i16(1); // fMarkerColor
    w.i16(1); // fMarkerStyle
    w.f32(1.0); // fMarkerSize
    end_section(w, a);
    w.i32(h.ncells() as i32);
    write_taxis(w, &h.xaxis);
    write_taxis(w, &h.yaxis);
    write_taxis(w, &h.zaxis);
    w.i16(0); // fBarOffset
    w.i16(1000); // fBarWidth
    for v in [h.entries, h.tsumw, h.tsumw2, h.tsumwx, h.tsumwx2, h.maximum, h.minimum, h.norm_factor] {
        w.f64(v);
    }
    write_tarray(w, ArrayElem::F64, &[]); // fContour
    write_tarray(w, ArrayElem::F64, &h.sumw2);
    w.tstring(&h.option);
    write_empty_tlist(w);
    w.i32(0); // fBufferSize
    w.u8(0); // fBuffer: null
    w.i32(h.bin_stat_err_opt);
    w.i32(h.stat_overflows);
    end_section(w, s);
}

fn write_storage_hist(w: &mut Writer, h: &RawHist, name: &str, kind: HistKind, elem: ArrayElem) {
    let leaf_version = if kind == HistKind::H1 { versions::TH1X } else { versions::TH2X };
    let s = begin_section(w, leaf_version);
    if kind == HistKind::H1 {
        write_th1(w, h, name);
    } else {
        let t = begin_section(w, versions::TH2);
        write_th1(w, h, name);
        let h2 = h.h2.clone().unwrap_or_default();
        w.f64(if h.h2.is_some() { h2.scalefactor } else { 1.0 });
        w.f64(h2.tsumwy);
        w.f64(h2.tsumwy2);
        w.f64(h2.tsumwxy);
        end_section(w, t);
    }
    write_tarray(w, elem, &h.contents);
    end_section(w, s);
}

/// Encodes a histogram, named `name`, as a key payload. Histogram payloads hold no
/// class tags or references, so they do not depend on the key header's length.
pub fn encode_hist(h: &RawHist, name: &str) -> Vec<u8> {
    let mut w = Writer::with_capacity(512 + h.contents.len() * 8 * 2);
    match h.kind {
        HistKind::H1 | HistKind::H2 => write_storage_hist(&mut w, h, name, h.kind, h.elem),
        HistKind::Profile | HistKind::Profile2D => {
            let p = h.profile.as_ref().expect("a profile RawHist carries RawProfile");
            let (version, base) = if h.kind == HistKind::Profile {
                (versions::TPROFILE, HistKind::H1)
            } else {
                (versions::TPROFILE2D, HistKind::H2)
            };
            let s = begin_section(&mut w, version);
            write_storage_hist(&mut w, h, name, base, ArrayElem::F64);
            write_tarray(&mut w, ArrayElem::F64, &p.bin_entries);
            w.i32(p.error_mode);
            w.f64(p.vmin);
            w.f64(p.vmax);
            w.f64(p.tsumwv);
            w.f64(p.tsumwv2);
            write_tarray(&mut w, ArrayElem::F64, &p.bin_sumw2);
            end_section(&mut w, s);
        }
    }
    w.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: HistKind, elem: ArrayElem) -> RawHist {
        let mut x = RawAxis::unused("xaxis");
        x.nbins = 4;
        x.xbins = vec![0.0, 1.0, 2.5, 3.0, 10.0];
        x.xmax = 10.0;
        x.title = "t [us]".into();
        let mut y = RawAxis::unused("yaxis");
        if kind.dimension() == 2 {
            y.nbins = 3;
            y.xmin = -1.0;
            y.xmax = 2.0;
        }
        let mut h = RawHist {
            name: "h".into(),
            title: "a title".into(),
            xaxis: x,
            yaxis: y,
            entries: 7.0,
            tsumw: 7.0,
            tsumw2: 7.0,
            tsumwx: 3.5,
            tsumwx2: 12.25,
            stat_overflows: 2,
            h2: (kind.dimension() == 2).then_some(RawH2 { scalefactor: 1.0, tsumwy: 1.0, tsumwy2: 2.0, tsumwxy: 3.0 }),
            ..RawHist::empty(kind, elem)
        };
        let n = h.ncells();
        h.contents = (0..n).map(|i| (i % 5) as f64).collect();
        h.sumw2 = (0..n).map(|i| (i % 7) as f64).collect();
        if matches!(kind, HistKind::Profile | HistKind::Profile2D) {
            h.profile = Some(RawProfile {
                bin_entries: (0..n).map(|i| (i % 3) as f64).collect(),
                bin_sumw2: Vec::new(),
                error_mode: 1,
                vmin: 0.0,
                vmax: 0.0,
                tsumwv: 4.0,
                tsumwv2: 5.0,
            });
        }
        h
    }

    #[test]
    fn encode_decode_round_trip_every_class() {
        for class in ["TH1C", "TH1S", "TH1I", "TH1F", "TH1D", "TH2C", "TH2S", "TH2I", "TH2F", "TH2D", "TProfile", "TProfile2D"] {
            let (kind, elem) = hist_class(class).unwrap();
            let h = sample(kind, elem);
            let bytes = encode_hist(&h, "h");
            let back = decode_hist(class, &bytes).unwrap().unwrap();
            assert_eq!(back, h, "{class}");
        }
    }

    #[test]
    fn truncated_payload_is_an_error_at_every_length() {
        let h = sample(HistKind::Profile, ArrayElem::F64);
        let bytes = encode_hist(&h, "h");
        for n in 0..bytes.len() {
            assert!(decode_hist("TProfile", &bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
    }

    #[test]
    fn unknown_class_is_none() {
        assert!(decode_hist("TTree", &[]).unwrap().is_none());
    }

    /// TAxis v6 as g4tools writes it (uproot-issue-250.root): with a byte count;
    /// fFirst, fLast, fTimeDisplay, fTimeFormat after fXbins, no fBits2 or fLabels.
    fn g4_taxis(w: &mut Writer, a: &RawAxis) {
        let s = begin_section(w, 6);
        write_tnamed(w, &a.name, &a.title, 0x0200_0000);
        let t = begin_section(w, 4); // TAttAxis v4
        w.i32(510);
        w.i16(1);
        w.i16(1);
        w.i16(62);
        for v in [0.005, 0.04, 0.03, 1.0, 0.04] {
            w.f32(v);
        }
        w.i16(1);
        w.i16(62);
        end_section(w, t);
        w.i32(a.nbins);
        w.f64(a.xmin);
        w.f64(a.xmax);
        write_tarray(w, ArrayElem::F64, &a.xbins);
        w.i32(0); // fFirst
        w.i32(0); // fLast
        w.bool(false); // fTimeDisplay
        w.tstring(""); // fTimeFormat
        end_section(w, s);
    }

    /// An attribute base, v1, with or without its byte count.
    fn g4_attribute(w: &mut Writer, with_count: bool, members: impl FnOnce(&mut Writer)) {
        if with_count {
            let s = begin_section(w, 1);
            members(w);
            end_section(w, s);
        } else {
            w.i16(1);
            members(w);
        }
    }

    /// TH1 v3 without a byte count, as g4tools writes it: it ends after fFunctions.
    fn g4_th1(w: &mut Writer, h: &RawHist, attribute_counts: bool) {
        w.i16(3);
        write_tnamed(w, &h.name, &h.title, 0x0200_0000);
        g4_attribute(w, attribute_counts, |w| [1, 1, 1].iter().for_each(|&v| w.i16(v)));
        g4_attribute(w, attribute_counts, |w| [0, 101].iter().for_each(|&v| w.i16(v)));
        g4_attribute(w, attribute_counts, |w| {
            w.i16(1);
            w.i16(1);
            w.f32(1.0);
        });
        w.i32(h.ncells() as i32);
        for a in [&h.xaxis, &h.yaxis, &h.zaxis] {
            g4_taxis(w, a);
        }
        w.i16(250); // fBarOffset
        w.i16(500); // fBarWidth
        for v in [h.entries, h.tsumw, h.tsumw2, h.tsumwx, h.tsumwx2, h.maximum, h.minimum, h.norm_factor] {
            w.f64(v);
        }
        write_tarray(w, ArrayElem::F64, &[]); // fContour
        write_tarray(w, ArrayElem::F64, &h.sumw2);
        w.tstring(&h.option);
        // fFunctions: an empty TList v4 in place, with a byte count.
        let l = begin_section(w, 4);
        write_tobject(w, 0x0200_0000);
        w.tstring("");
        w.i32(0);
        end_section(w, l);
    }

    /// TH1D v1, TH2D v3 (TH2 v3), TProfile v4 or TProfile2D v5, laid out as the
    /// streamer infos in uproot-issue-250.root (written by g4tools) declare them, with
    /// no byte counts.
    fn g4_encode(h: &RawHist, attribute_counts: bool) -> Vec<u8> {
        let mut w = Writer::with_capacity(1024);
        let storage = |w: &mut Writer| {
            if h.kind.dimension() == 1 {
                w.i16(1); // TH1D v1
                g4_th1(w, h, attribute_counts);
            } else {
                w.i16(3); // TH2D v3
                w.i16(3); // TH2 v3
                g4_th1(w, h, attribute_counts);
                let h2 = h.h2.clone().unwrap();
                for v in [h2.scalefactor, h2.tsumwy, h2.tsumwy2, h2.tsumwxy] {
                    w.f64(v);
                }
            }
            write_tarray(w, ArrayElem::F64, &h.contents);
        };
        match &h.profile {
            None => storage(&mut w),
            Some(p) => {
                w.i16(if h.kind == HistKind::Profile { 4 } else { 5 }); // TProfile v4, TProfile2D v5
                storage(&mut w);
                write_tarray(&mut w, ArrayElem::F64, &p.bin_entries);
                w.i32(p.error_mode);
                for v in [p.vmin, p.vmax, p.tsumwv, p.tsumwv2] {
                    w.f64(v);
                }
            }
        }
        w.buf
    }

    fn g4_sample(class: &str) -> RawHist {
        let (kind, _) = hist_class(class).unwrap();
        let mut h = sample(kind, ArrayElem::F64);
        // TH1 v3 has neither member: they keep RawHist's defaults.
        h.stat_overflows = 0;
        h.bin_stat_err_opt = 0;
        h
    }

    #[test]
    fn g4tools_layouts_decode_without_byte_counts() {
        for class in ["TH1D", "TH2D", "TProfile", "TProfile2D"] {
            for attribute_counts in [true, false] {
                let h = g4_sample(class);
                let bytes = g4_encode(&h, attribute_counts);
                // The outer sections start with a bare version, not a byte count.
                assert_eq!(bytes[0] & 0x40, 0, "{class}");
                let back = decode_hist(class, &bytes).unwrap().unwrap();
                assert_eq!(back, h, "{class}, attribute byte counts: {attribute_counts}");
            }
        }
    }

    #[test]
    fn g4tools_truncated_payload_is_an_error_at_every_length() {
        for class in ["TH1D", "TH2D", "TProfile", "TProfile2D"] {
            let bytes = g4_encode(&g4_sample(class), false);
            for n in 0..bytes.len() {
                assert!(decode_hist(class, &bytes[..n]).is_err(), "{class}: prefix of {n} bytes decoded");
            }
        }
    }

    #[test]
    fn unknown_layout_without_byte_count_is_a_clear_error() {
        let bytes = g4_encode(&g4_sample("TH1D"), false);
        // TH1 v4/v5 without a byte count, and ROOT 2.x's v2: members not known exactly.
        for (v, want) in [(4, "TH1 v4 without a byte count"), (5, "TH1 v5 without"), (2, "TH1 v2 without")] {
            let mut b = bytes.clone();
            b[2..4].copy_from_slice(&i16::to_be_bytes(v));
            let e = decode_hist("TH1D", &b).unwrap_err();
            assert!(e.what.contains(want) && e.what.contains("not a supported layout"), "{}", e.what);
            assert_eq!(e.offset, 2);
        }
        // A profile version whose layout without a byte count is not known.
        let mut b = g4_encode(&g4_sample("TProfile"), false);
        b[0..2].copy_from_slice(&i16::to_be_bytes(5));
        let e = decode_hist("TProfile", &b).unwrap_err();
        assert!(e.what.contains("TProfile v5 without a byte count"), "{}", e.what);
        assert_eq!(e.offset, 0);
        // An attribute base of an unknown version without a byte count.
        // TH1D v1 and TH1 v3 take 2 bytes each; TNamed follows with its byte count.
        let tnamed_count = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) & !K_BYTE_COUNT_MASK;
        let at = 8 + tnamed_count as usize;
        let mut b = bytes.clone();
        b[at..at + 2].copy_from_slice(&i16::to_be_bytes(9));
        let e = decode_hist("TH1D", &b).unwrap_err();
        assert!(e.what.contains("TAttLine v9 has no byte count"), "{}", e.what);
        assert_eq!(e.offset, at);
    }

    #[test]
    fn fbuffer_longer_than_the_object_is_an_error() {
        let mut bytes = encode_hist(&sample(HistKind::H1, ArrayElem::F64), "h");
        // fBufferSize sits 9 bytes before fBinStatErrOpt and fStatOverflows, ahead of
        // the TArrayD of contents (4 + ncells * 8 bytes).
        let ncells = sample(HistKind::H1, ArrayElem::F64).ncells();
        let at = bytes.len() - (4 + ncells * 8) - 8 - 5;
        assert_eq!(&bytes[at..at + 5], &[0, 0, 0, 0, 0]);
        bytes[at..at + 4].copy_from_slice(&i32::to_be_bytes(i32::MAX));
        bytes[at + 4] = 1;
        let e = decode_hist("TH1D", &bytes).unwrap_err();
        assert!(e.what.contains("fBuffer of 2147483647 doubles"), "{}", e.what);
    }
}
