//! Streamer-info records for the classes the writer stores.
//!
//! A ROOT file carries, in its `StreamerInfo` key, the layout (TStreamerInfo) of every
//! class it stores, so that any ROOT version can read it through schema evolution.
//! [`INFOS`] below is data read from C++ ROOT 6.40's own dictionaries by
//! `scripts/dump_streamers.py` (names, types, sizes, checksums); this module
//! serialises it as ROOT's TList of TStreamerInfo, with class tags and class
//! references counted from the start of the key as ROOT does.

use super::bytes::Writer;
use super::objects::{begin_section, end_section, write_tnamed, write_tobject, K_BYTE_COUNT_MASK, K_CLASS_MASK, K_MAP_OFFSET, K_NEW_CLASS_TAG};
use std::collections::HashMap;

/// One TStreamerElement.
#[derive(Debug, Clone, Copy)]
pub struct El {
    /// The element's class: TStreamerBase, TStreamerBasicType, TStreamerString, ...
    pub kind: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub typ: i32,
    pub size: i32,
    pub array_length: i32,
    pub array_dim: i32,
    pub max_index: [i32; 5],
    pub type_name: &'static str,
    pub base_version: i32,
    /// TStreamerBasicPointer: (count version, count name, count class).
    pub count: Option<(i32, &'static str, &'static str)>,
}

impl El {
    pub const DEFAULT: El = El {
        kind: "",
        name: "",
        title: "",
        typ: 0,
        size: 0,
        array_length: 0,
        array_dim: 0,
        max_index: [0; 5],
        type_name: "",
        base_version: 0,
        count: None,
    };
}

/// One TStreamerInfo.
#[derive(Debug, Clone, Copy)]
pub struct Info {
    pub class: &'static str,
    pub version: i32,
    pub checksum: u32,
    pub elements: &'static [El],
}

/// The classes whose streamer infos a file holding `hist_classes` needs, in the order
/// ROOT lists them (a class after the classes it is built from).
pub fn needed(hist_classes: &[&str]) -> Vec<&'static Info> {
    let mut out: Vec<&'static Info> = Vec::new();
    // `seen` is marked before recursing: classes can refer to themselves
    // (TLeaf::fLeafCount is a TLeaf*).
    fn add(class: &str, out: &mut Vec<&'static Info>, seen: &mut Vec<String>) {
        if seen.iter().any(|c| c == class) {
            return;
        }
        seen.push(class.to_string());
        let Some(info) = INFOS.iter().find(|i| i.class == class) else { return };
        for e in info.elements {
            if e.kind == "TStreamerBase" {
                add(e.name, out, seen);
            } else {
                add(e.type_name.trim_end_matches('*'), out, seen);
            }
        }
        out.push(info);
    }
    let mut seen = Vec::new();
    for c in hist_classes {
        add(c, &mut out, &mut seen);
    }
    // The key list itself and fFunctions are TLists.
    add("TList", &mut out, &mut seen);
    add("THashList", &mut out, &mut seen);
    out
}

/// Writes objects through pointers, assigning class tags the way TBufferFile does.
struct TagWriter<'a> {
    w: &'a mut Writer,
    displacement: usize,
    classes: HashMap<&'static str, u32>,
}

impl TagWriter<'_> {
    /// Starts an object pointer: byte count placeholder and class tag or reference.
    fn begin_pointer(&mut self, class: &'static str) -> usize {
        let cnt = self.w.len();
        self.w.u32(0);
        match self.classes.get(class) {
            Some(&idx) => self.w.u32(idx | K_CLASS_MASK),
            None => {
                let tag_at = (self.displacement + self.w.len()) as u32;
                self.w.u32(K_NEW_CLASS_TAG);
                self.w.cstring(class);
                self.classes.insert(class, tag_at + K_MAP_OFFSET);
            }
        }
        cnt
    }

    fn end_pointer(&mut self, cnt: usize) {
        let n = (self.w.len() - cnt - 4) as u32;
        self.w.patch_u32(cnt, n | K_BYTE_COUNT_MASK);
    }

    fn element(&mut self, e: &El) {
        let p = self.begin_pointer(e.kind);
        let version = match e.kind {
            "TStreamerBase" => 3,
            _ => 2,
        };
        let outer = begin_section(self.w, version);
        // TStreamerElement v4
        let s = begin_section(self.w, 4);
        write_tnamed(self.w, e.name, e.title, 0x0300_0000);
        self.w.i32(e.typ);
        self.w.i32(e.size);
        self.w.i32(e.array_length);
        self.w.i32(e.array_dim);
        for m in e.max_index {
            self.w.i32(m);
        }
        self.w.tstring(e.type_name);
        end_section(self.w, s);
        match e.kind {
            "TStreamerBase" => self.w.i32(e.base_version),
            "TStreamerBasicPointer" => {
                let (v, name, class) = e.count.expect("a basic pointer has a count");
                self.w.i32(v);
                self.w.tstring(name);
                self.w.tstring(class);
            }
            _ => {}
        }
        end_section(self.w, outer);
        self.end_pointer(p);
    }

    fn info(&mut self, info: &Info) {
        let p = self.begin_pointer("TStreamerInfo");
        let s = begin_section(self.w, 9);
        write_tnamed(self.w, info.class, "", 0x0003_0000);
        self.w.u32(info.checksum);
        self.w.i32(info.version);
        let arr = self.begin_pointer("TObjArray");
        let a = begin_section(self.w, 3);
        write_tobject(self.w, 0x0300_0000);
        self.w.tstring("");
        self.w.i32(info.elements.len() as i32);
        self.w.i32(0); // fLowerBound
        for e in info.elements {
            self.element(e);
        }
        end_section(self.w, a);
        self.end_pointer(arr);
        end_section(self.w, s);
        self.end_pointer(p);
    }
}

/// Serialises the `StreamerInfo` TList for a key whose header is `displacement` bytes.
pub fn streamer_info_list(infos: &[&Info], displacement: usize) -> Vec<u8> {
    let mut w = Writer::with_capacity(16 * 1024);
    let s = begin_section(&mut w, 5);
    write_tobject(&mut w, 0x0300_0000);
    w.tstring("");
    w.i32(infos.len() as i32);
    {
        let mut tw = TagWriter { w: &mut w, displacement, classes: HashMap::new() };
        for info in infos {
            tw.info(info);
            tw.w.u8(0); // the link's option string: empty
        }
    }
    end_section(&mut w, s);
    w.buf
}

// Generated by scripts/dump_streamers.py from C++ ROOT 6.40.00
pub const INFOS: &[Info] = &[
    Info { class: "TObject", version: 1, checksum: 2417737773, elements: &[
        El { kind: "TStreamerBasicType", name: "fUniqueID", title: "object unique identifier", typ: 13, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "unsigned int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fBits", title: "bit field status word", typ: 15, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "unsigned int", ..El::DEFAULT },
    ] },
    Info { class: "TNamed", version: 1, checksum: 3753331260, elements: &[
        El { kind: "TStreamerBase", name: "TObject", title: "Basic ROOT object", typ: 66, size: 16, array_length: 0, array_dim: 0, max_index: [0, -1877229523, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerString", name: "fName", title: "object identifier", typ: 65, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TString", ..El::DEFAULT },
        El { kind: "TStreamerString", name: "fTitle", title: "object title", typ: 65, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TString", ..El::DEFAULT },
    ] },
    Info { class: "TAttLine", version: 2, checksum: 2483504457, elements: &[
        El { kind: "TStreamerBasicType", name: "fLineColor", title: "Line color", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLineStyle", title: "Line style", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLineWidth", title: "Line width", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
    ] },
    Info { class: "TAttFill", version: 2, checksum: 4292422290, elements: &[
        El { kind: "TStreamerBasicType", name: "fFillColor", title: "Fill area color", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fFillStyle", title: "Fill area style", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
    ] },
    Info { class: "TAttMarker", version: 2, checksum: 4207747460, elements: &[
        El { kind: "TStreamerBasicType", name: "fMarkerColor", title: "Marker color", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMarkerStyle", title: "Marker style", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMarkerSize", title: "Marker size", typ: 5, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "float", ..El::DEFAULT },
    ] },
    Info { class: "TAttAxis", version: 4, checksum: 1550843710, elements: &[
        El { kind: "TStreamerBasicType", name: "fNdivisions", title: "Number of divisions(10000*n3 + 100*n2 + n1)", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fAxisColor", title: "Color of the line axis", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLabelColor", title: "Color of labels", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLabelFont", title: "Font for labels", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLabelOffset", title: "Offset of labels", typ: 5, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "float", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLabelSize", title: "Size of labels", typ: 5, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "float", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTickLength", title: "Length of tick marks", typ: 5, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "float", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTitleOffset", title: "Offset of axis title", typ: 5, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "float", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTitleSize", title: "Size of axis title", typ: 5, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "float", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTitleColor", title: "Color of axis title", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTitleFont", title: "Font for axis title", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
    ] },
    Info { class: "TAxis", version: 10, checksum: 1514761840, elements: &[
        El { kind: "TStreamerBase", name: "TNamed", title: "The basis for a named object (name, title)", typ: 67, size: 64, array_length: 0, array_dim: 0, max_index: [0, -541636036, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttAxis", title: "Axis attributes", typ: 0, size: 48, array_length: 0, array_dim: 0, max_index: [0, 1550843710, 0, 0, 0], type_name: "BASE", base_version: 4, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fNbins", title: "Number of bins", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fXmin", title: "Low edge of first bin", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fXmax", title: "Upper edge of last bin", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fXbins", title: "Bin edges array in X", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fFirst", title: "First bin to display", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLast", title: "Last bin to display", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fBits2", title: "Second bit status word", typ: 12, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "unsigned short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTimeDisplay", title: "On/off displaying time values instead of numerics", typ: 18, size: 1, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "bool", ..El::DEFAULT },
        El { kind: "TStreamerString", name: "fTimeFormat", title: "Date&time format, ex: 09/12/99 12:34:00", typ: 65, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TString", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fLabels", title: "List of labels", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "THashList*", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fModLabs", title: "List of modified labels", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TList*", ..El::DEFAULT },
    ] },
    Info { class: "TH1", version: 8, checksum: 473383108, elements: &[
        El { kind: "TStreamerBase", name: "TNamed", title: "The basis for a named object (name, title)", typ: 67, size: 64, array_length: 0, array_dim: 0, max_index: [0, -541636036, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttLine", title: "Line attributes", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, -1811462839, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttFill", title: "Fill area attributes", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, -2545006, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttMarker", title: "Marker attributes", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, -87219836, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fNcells", title: "Number of bins(1D), cells (2D) +U/Overflows", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fXaxis", title: "X axis descriptor", typ: 61, size: 216, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TAxis", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fYaxis", title: "Y axis descriptor", typ: 61, size: 216, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TAxis", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fZaxis", title: "Z axis descriptor", typ: 61, size: 216, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TAxis", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fBarOffset", title: "(1000*offset) for bar charts or legos", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fBarWidth", title: "(1000*width) for bar charts or legos", typ: 2, size: 2, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fEntries", title: "Number of entries", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumw", title: "Total Sum of weights", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumw2", title: "Total Sum of squares of weights", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwx", title: "Total Sum of weight*X", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwx2", title: "Total Sum of weight*X*X", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMaximum", title: "Maximum value for plotting", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMinimum", title: "Minimum value for plotting", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fNormFactor", title: "Normalization factor", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fContour", title: "Array to display contour levels", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fSumw2", title: "Array of sum of squares of weights", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
        El { kind: "TStreamerString", name: "fOption", title: "Histogram options", typ: 65, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TString", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fFunctions", title: "->Pointer to list of functions (fits and user)", typ: 63, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TList*", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fBufferSize", title: "fBuffer size", typ: 6, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fBuffer", title: "[fBufferSize] entry buffer", typ: 48, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double*", count: Some((8, "fBufferSize", "TH1")), ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fBinStatErrOpt", title: "Option for bin statistical errors", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TH1::EBinErrorOpt", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fStatOverflows", title: "Per object flag to use under/overflows in statistics", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TH1::EStatOverflows", ..El::DEFAULT },
    ] },
    Info { class: "TH2", version: 5, checksum: 25310335, elements: &[
        El { kind: "TStreamerBase", name: "TH1", title: "1-Dim histogram base class", typ: 0, size: 976, array_length: 0, array_dim: 0, max_index: [0, 473383108, 0, 0, 0], type_name: "BASE", base_version: 8, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fScalefactor", title: "Scale factor", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwy", title: "Total Sum of weight*Y", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwy2", title: "Total Sum of weight*Y*Y", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwxy", title: "Total Sum of weight*X*Y", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
    ] },
    Info { class: "TArray", version: 1, checksum: 7348658, elements: &[
        El { kind: "TStreamerBasicType", name: "fN", title: "Number of array elements", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
    ] },
    Info { class: "TArrayC", version: 1, checksum: 2928122166, elements: &[
        El { kind: "TStreamerBase", name: "TArray", title: "Abstract array base class", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, 7348658, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fArray", title: "[fN] Array of fN chars", typ: 41, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "char*", count: Some((1, "fN", "TArray")), ..El::DEFAULT },
    ] },
    Info { class: "TArrayS", version: 1, checksum: 56398612, elements: &[
        El { kind: "TStreamerBase", name: "TArray", title: "Abstract array base class", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, 7348658, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fArray", title: "[fN] Array of fN shorts", typ: 42, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "short*", count: Some((1, "fN", "TArray")), ..El::DEFAULT },
    ] },
    Info { class: "TArrayI", version: 1, checksum: 3654644167, elements: &[
        El { kind: "TStreamerBase", name: "TArray", title: "Abstract array base class", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, 7348658, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fArray", title: "[fN] Array of fN 32 bit integers", typ: 43, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int*", count: Some((1, "fN", "TArray")), ..El::DEFAULT },
    ] },
    Info { class: "TArrayF", version: 1, checksum: 1510733553, elements: &[
        El { kind: "TStreamerBase", name: "TArray", title: "Abstract array base class", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, 7348658, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fArray", title: "[fN] Array of fN floats", typ: 45, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "float*", count: Some((1, "fN", "TArray")), ..El::DEFAULT },
    ] },
    Info { class: "TArrayD", version: 1, checksum: 1899622196, elements: &[
        El { kind: "TStreamerBase", name: "TArray", title: "Abstract array base class", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, 7348658, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fArray", title: "[fN] Array of fN doubles", typ: 48, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double*", count: Some((1, "fN", "TArray")), ..El::DEFAULT },
    ] },
    Info { class: "TH1C", version: 3, checksum: 922150061, elements: &[
        El { kind: "TStreamerBase", name: "TH1", title: "1-Dim histogram base class", typ: 0, size: 976, array_length: 0, array_dim: 0, max_index: [0, 473383108, 0, 0, 0], type_name: "BASE", base_version: 8, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayC", title: "Array of chars", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, -1366845130, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH1S", version: 3, checksum: 2353896907, elements: &[
        El { kind: "TStreamerBase", name: "TH1", title: "1-Dim histogram base class", typ: 0, size: 976, array_length: 0, array_dim: 0, max_index: [0, 473383108, 0, 0, 0], type_name: "BASE", base_version: 8, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayS", title: "Array of shorts", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, 56398612, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH1I", version: 3, checksum: 1651860726, elements: &[
        El { kind: "TStreamerBase", name: "TH1", title: "1-Dim histogram base class", typ: 0, size: 976, array_length: 0, array_dim: 0, max_index: [0, 473383108, 0, 0, 0], type_name: "BASE", base_version: 8, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayI", title: "Array of ints", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, -640323129, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH1F", version: 3, checksum: 3801323076, elements: &[
        El { kind: "TStreamerBase", name: "TH1", title: "1-Dim histogram base class", typ: 0, size: 976, array_length: 0, array_dim: 0, max_index: [0, 473383108, 0, 0, 0], type_name: "BASE", base_version: 8, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayF", title: "Array of floats", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, 1510733553, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH1D", version: 3, checksum: 4189148831, elements: &[
        El { kind: "TStreamerBase", name: "TH1", title: "1-Dim histogram base class", typ: 0, size: 976, array_length: 0, array_dim: 0, max_index: [0, 473383108, 0, 0, 0], type_name: "BASE", base_version: 8, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayD", title: "Array of doubles", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, 1899622196, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH2C", version: 4, checksum: 3170898174, elements: &[
        El { kind: "TStreamerBase", name: "TH2", title: "2-Dim histogram base class", typ: 0, size: 1008, array_length: 0, array_dim: 0, max_index: [0, 25310335, 0, 0, 0], type_name: "BASE", base_version: 5, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayC", title: "Array of chars", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, -1366845130, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH2S", version: 4, checksum: 307677724, elements: &[
        El { kind: "TStreamerBase", name: "TH2", title: "2-Dim histogram base class", typ: 0, size: 1008, array_length: 0, array_dim: 0, max_index: [0, 25310335, 0, 0, 0], type_name: "BASE", base_version: 5, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayS", title: "Array of shorts", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, 56398612, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH2I", version: 4, checksum: 3900608839, elements: &[
        El { kind: "TStreamerBase", name: "TH2", title: "2-Dim histogram base class", typ: 0, size: 1008, array_length: 0, array_dim: 0, max_index: [0, 25310335, 0, 0, 0], type_name: "BASE", base_version: 5, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayI", title: "Array of ints", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, -640323129, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH2F", version: 4, checksum: 1755103893, elements: &[
        El { kind: "TStreamerBase", name: "TH2", title: "2-Dim histogram base class", typ: 0, size: 1008, array_length: 0, array_dim: 0, max_index: [0, 25310335, 0, 0, 0], type_name: "BASE", base_version: 5, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayF", title: "Array of floats", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, 1510733553, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TH2D", version: 4, checksum: 2142929648, elements: &[
        El { kind: "TStreamerBase", name: "TH2", title: "2-Dim histogram base class", typ: 0, size: 1008, array_length: 0, array_dim: 0, max_index: [0, 25310335, 0, 0, 0], type_name: "BASE", base_version: 5, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TArrayD", title: "Array of doubles", typ: 0, size: 24, array_length: 0, array_dim: 0, max_index: [0, 1899622196, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
    ] },
    Info { class: "TProfile", version: 7, checksum: 1273884244, elements: &[
        El { kind: "TStreamerBase", name: "TH1D", title: "1-Dim histograms (one double per channel)", typ: 0, size: 1000, array_length: 0, array_dim: 0, max_index: [0, -105818465, 0, 0, 0], type_name: "BASE", base_version: 3, ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fBinEntries", title: "number of entries per bin", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fErrorMode", title: "Option to compute errors", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "EErrorType", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fYmin", title: "Lower limit in Y (if set)", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fYmax", title: "Upper limit in Y (if set)", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwy", title: "Total Sum of weight*Y", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwy2", title: "Total Sum of weight*Y*Y", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fBinSumw2", title: "Array of sum of squares of weights per bin", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
    ] },
    Info { class: "TProfile2D", version: 8, checksum: 916538028, elements: &[
        El { kind: "TStreamerBase", name: "TH2D", title: "2-Dim histograms (one double per channel)", typ: 0, size: 1032, array_length: 0, array_dim: 0, max_index: [0, 2142929648, 0, 0, 0], type_name: "BASE", base_version: 4, ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fBinEntries", title: "Number of entries per bin", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fErrorMode", title: "Option to compute errors", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "EErrorType", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fZmin", title: "Lower limit in Z (if set)", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fZmax", title: "Upper limit in Z (if set)", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwz", title: "Total Sum of weight*Z", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTsumwz2", title: "Total Sum of weight*Z*Z", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fBinSumw2", title: "Array of sum of squares of weights per bin", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
    ] },
    Info { class: "TCollection", version: 3, checksum: 1474546588, elements: &[
        El { kind: "TStreamerBase", name: "TObject", title: "Basic ROOT object", typ: 66, size: 16, array_length: 0, array_dim: 0, max_index: [0, -1877229523, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerString", name: "fName", title: "name of the collection", typ: 65, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TString", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fSize", title: "number of elements in collection", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
    ] },
    Info { class: "TSeqCollection", version: 0, checksum: 4234951622, elements: &[
        El { kind: "TStreamerBase", name: "TCollection", title: "Collection abstract base class", typ: 0, size: 48, array_length: 0, array_dim: 0, max_index: [0, 1474546588, 0, 0, 0], type_name: "BASE", base_version: 3, ..El::DEFAULT },
    ] },
    Info { class: "TList", version: 5, checksum: 1774568379, elements: &[
        El { kind: "TStreamerBase", name: "TSeqCollection", title: "Sequenceable collection ABC", typ: 0, size: 48, array_length: 0, array_dim: 0, max_index: [0, -60015674, 0, 0, 0], type_name: "BASE", base_version: 0, ..El::DEFAULT },
    ] },
    Info { class: "THashList", version: 0, checksum: 3430828481, elements: &[
        El { kind: "TStreamerBase", name: "TList", title: "Doubly linked list", typ: 0, size: 104, array_length: 0, array_dim: 0, max_index: [0, 1774568379, 0, 0, 0], type_name: "BASE", base_version: 5, ..El::DEFAULT },
    ] },
    Info { class: "TString", version: 2, checksum: 95257, elements: &[
    ] },
    Info { class: "TObjArray", version: 3, checksum: 2845730130, elements: &[
        El { kind: "TStreamerBase", name: "TSeqCollection", title: "Sequenceable collection ABC", typ: 0, size: 48, array_length: 0, array_dim: 0, max_index: [0, -60015674, 0, 0, 0], type_name: "BASE", base_version: 0, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLowerBound", title: "Lower bound of the array", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLast", title: "Last element in array containing an object", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
    ] },
    Info { class: "ROOT::TIOFeatures", version: 1, checksum: 446770960, elements: &[
        El { kind: "TStreamerBasicType", name: "fIOBits", title: "", typ: 11, size: 1, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "unsigned char", ..El::DEFAULT },
    ] },
    Info { class: "TLeaf", version: 2, checksum: 1830715730, elements: &[
        El { kind: "TStreamerBase", name: "TNamed", title: "The basis for a named object (name, title)", typ: 67, size: 64, array_length: 0, array_dim: 0, max_index: [0, -541636036, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLen", title: "Number of fixed length elements in the leaf's data.", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fLenType", title: "Number of bytes for this data type", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fOffset", title: "Offset in ClonesArray object (if one)", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fIsRange", title: "(=true if leaf has a range, false otherwise).  This is equivalent to being a 'leafcount'.  For a TLeafElement the range information is actually store in the TBranchElement.", typ: 18, size: 1, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "bool", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fIsUnsigned", title: "(=true if unsigned, false otherwise)", typ: 18, size: 1, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "bool", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fLeafCount", title: "Pointer to Leaf count if variable length (we do not own the counter)", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TLeaf*", ..El::DEFAULT },
    ] },
    Info { class: "TLeafD", version: 1, checksum: 294553462, elements: &[
        El { kind: "TStreamerBase", name: "TLeaf", title: "Leaf: description of a Branch data type", typ: 0, size: 112, array_length: 0, array_dim: 0, max_index: [0, 1830715730, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMinimum", title: "Minimum value if leaf range is specified", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMaximum", title: "Maximum value if leaf range is specified", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
    ] },
    // TLeafI v1 as C++ ROOT 6.40's dictionary gives it (TClass::GetStreamerInfo, read
    // with the PyPI `root` package as scripts/dump_streamers.py does).
    Info { class: "TLeafI", version: 1, checksum: 2120920601, elements: &[
        El { kind: "TStreamerBase", name: "TLeaf", title: "Leaf: description of a Branch data type", typ: 0, size: 112, array_length: 0, array_dim: 0, max_index: [0, 1830715730, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMinimum", title: "Minimum value if leaf range is specified", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMaximum", title: "Maximum value if leaf range is specified", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
    ] },
    Info { class: "TBranch", version: 13, checksum: 278366892, elements: &[
        El { kind: "TStreamerBase", name: "TNamed", title: "The basis for a named object (name, title)", typ: 67, size: 64, array_length: 0, array_dim: 0, max_index: [0, -541636036, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttFill", title: "Fill area attributes", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, -2545006, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fCompress", title: "Compression level and algorithm", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fBasketSize", title: "Initial Size of  Basket Buffer", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fEntryOffsetLen", title: "Initial Length of fEntryOffset table in the basket buffers", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fWriteBasket", title: "Last basket number written", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fEntryNumber", title: "Current entry number (last one filled in this branch)", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fIOFeatures", title: "IO features for newly-created baskets.", typ: 62, size: 1, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "ROOT::TIOFeatures", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fOffset", title: "Offset of this branch", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMaxBaskets", title: "Maximum number of Baskets so far", typ: 6, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fSplitLevel", title: "Branch split level", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fEntries", title: "Number of entries", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fFirstEntry", title: "Number of the first entry in this branch", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTotBytes", title: "Total number of bytes in all leaves before compression", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fZipBytes", title: "Total number of bytes in all leaves after compression", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fBranches", title: "-> List of Branches of this branch", typ: 61, size: 64, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TObjArray", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fLeaves", title: "-> List of leaves of this branch", typ: 61, size: 64, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TObjArray", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fBaskets", title: "-> List of baskets of this branch", typ: 61, size: 64, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TObjArray", ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fBasketBytes", title: "[fMaxBaskets] Length of baskets on file", typ: 43, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int*", count: Some((13, "fMaxBaskets", "TBranch")), ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fBasketEntry", title: "[fMaxBaskets] Table of first entry in each basket", typ: 56, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t*", count: Some((13, "fMaxBaskets", "TBranch")), ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fBasketSeek", title: "[fMaxBaskets] Addresses of baskets on file", typ: 56, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t*", count: Some((13, "fMaxBaskets", "TBranch")), ..El::DEFAULT },
        El { kind: "TStreamerString", name: "fFileName", title: "Name of file where buffers are stored (\"\" if in same file as Tree header)", typ: 65, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TString", ..El::DEFAULT },
    ] },
    Info { class: "TTree", version: 20, checksum: 1919213695, elements: &[
        El { kind: "TStreamerBase", name: "TNamed", title: "The basis for a named object (name, title)", typ: 67, size: 64, array_length: 0, array_dim: 0, max_index: [0, -541636036, 0, 0, 0], type_name: "BASE", base_version: 1, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttLine", title: "Line attributes", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, -1811462839, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttFill", title: "Fill area attributes", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, -2545006, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBase", name: "TAttMarker", title: "Marker attributes", typ: 0, size: 16, array_length: 0, array_dim: 0, max_index: [0, -87219836, 0, 0, 0], type_name: "BASE", base_version: 2, ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fEntries", title: "Number of entries", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTotBytes", title: "Total number of bytes in all branches before compression", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fZipBytes", title: "Total number of bytes in all branches after compression", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fSavedBytes", title: "Number of autosaved bytes", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fFlushedBytes", title: "Number of auto-flushed bytes", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fWeight", title: "Tree weight (see TTree::SetWeight)", typ: 8, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "double", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fTimerInterval", title: "Timer interval in milliseconds", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fScanField", title: "Number of runs before prompting in Scan", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fUpdate", title: "Update frequency for EntryLoop", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fDefaultEntryOffsetLen", title: "Initial Length of fEntryOffset table in the basket buffers", typ: 3, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fNClusterRange", title: "Number of Cluster range in addition to the one defined by 'AutoFlush'", typ: 6, size: 4, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "int", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMaxEntries", title: "Maximum number of entries in case of circular buffers", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMaxEntryLoop", title: "Maximum number of entries to process", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fMaxVirtualSize", title: "Maximum total size of buffers kept in memory", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fAutoSave", title: "Autosave tree when fAutoSave entries written or -fAutoSave (compressed) bytes produced", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fAutoFlush", title: "Auto-flush tree when fAutoFlush entries written or -fAutoFlush (compressed) bytes produced", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicType", name: "fEstimate", title: "Number of entries to estimate histogram limits", typ: 16, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t", ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fClusterRangeEnd", title: "[fNClusterRange] Last entry of a cluster range.", typ: 56, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t*", count: Some((20, "fNClusterRange", "TTree")), ..El::DEFAULT },
        El { kind: "TStreamerBasicPointer", name: "fClusterSize", title: "[fNClusterRange] Number of entries in each cluster for a given range.", typ: 56, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "Long64_t*", count: Some((20, "fNClusterRange", "TTree")), ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fIOFeatures", title: "IO features to define for newly-written baskets and branches.", typ: 62, size: 1, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "ROOT::TIOFeatures", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fBranches", title: "List of Branches", typ: 61, size: 64, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TObjArray", ..El::DEFAULT },
        El { kind: "TStreamerObject", name: "fLeaves", title: "Direct pointers to individual branch leaves", typ: 61, size: 64, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TObjArray", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fAliases", title: "List of aliases for expressions based on the tree branches.", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TList*", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fIndexValues", title: "Sorted index values", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayD", ..El::DEFAULT },
        El { kind: "TStreamerObjectAny", name: "fIndex", title: "Index of sorted values", typ: 62, size: 24, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TArrayI", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fTreeIndex", title: "Pointer to the tree Index (if any)", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TVirtualIndex*", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fFriends", title: "pointer to list of friend elements", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TList*", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fUserInfo", title: "pointer to a list of user objects associated to this Tree", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TList*", ..El::DEFAULT },
        El { kind: "TStreamerObjectPointer", name: "fBranchRef", title: "Branch supporting the TRefTable (if any)", typ: 64, size: 8, array_length: 0, array_dim: 0, max_index: [0, 0, 0, 0, 0], type_name: "TBranchRef*", ..El::DEFAULT },
    ] },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_lists_bases_before_derived() {
        let v: Vec<&str> = needed(&["TProfile"]).iter().map(|i| i.class).collect();
        let pos = |c: &str| v.iter().position(|x| *x == c).unwrap_or_else(|| panic!("{c} missing from {v:?}"));
        assert!(pos("TH1") < pos("TH1D"));
        assert!(pos("TH1D") < pos("TProfile"));
        assert!(pos("TNamed") < pos("TH1"));
        assert!(pos("TAxis") < pos("TH1"));
        assert!(v.contains(&"TList"));
        // A self-referring class (TLeaf::fLeafCount) terminates.
        let t: Vec<&str> = needed(&["TTree", "TBranch", "TLeafD"]).iter().map(|i| i.class).collect();
        assert!(t.contains(&"TLeaf") && t.contains(&"ROOT::TIOFeatures"), "{t:?}");
    }
}
