//! Big-endian byte cursors: the only place where bytes become numbers.
//!
//! ROOT writes every number big-endian. [`Reader`] walks a borrowed slice and
//! returns a [`DecodeError`] (with the offset inside the slice) instead of
//! panicking on short input; callers add the file, object and absolute offset.
//! [`Writer`] appends to a `Vec<u8>` and can patch a value written earlier
//! (byte counts, seeks), which is how ROOT itself fills them in.

use std::fmt;

/// A decoding failure inside one buffer; `offset` is relative to the buffer start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub what: String,
}

impl DecodeError {
    pub fn new(offset: usize, what: impl Into<String>) -> Self {
        DecodeError { offset, what: what.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at buffer offset {})", self.what, self.offset)
    }
}

pub type DResult<T> = Result<T, DecodeError>;

/// A cursor over a big-endian buffer.
#[derive(Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

macro_rules! read_be {
    ($name:ident, $t:ty) => {
        #[inline]
        pub fn $name(&mut self) -> DResult<$t> {
            const N: usize = std::mem::size_of::<$t>();
            let b = self.take(N)?;
            Ok(<$t>::from_be_bytes(b.try_into().expect("take returned N bytes")))
        }
    };
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Moves to an absolute position inside the buffer (the end is allowed).
    pub fn seek(&mut self, pos: usize) -> DResult<()> {
        if pos > self.data.len() {
            return Err(DecodeError::new(
                self.pos,
                format!("jump to offset {pos} past the end of a {}-byte buffer", self.data.len()),
            ));
        }
        self.pos = pos;
        Ok(())
    }

    #[inline]
    pub fn take(&mut self, n: usize) -> DResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::new(
                self.pos,
                format!("needed {n} bytes but only {} remain", self.remaining()),
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn skip(&mut self, n: usize) -> DResult<()> {
        self.take(n).map(|_| ())
    }

    read_be!(u8, u8);
    read_be!(i8, i8);
    read_be!(u16, u16);
    read_be!(i16, i16);
    read_be!(u32, u32);
    read_be!(i32, i32);
    read_be!(u64, u64);
    read_be!(i64, i64);
    read_be!(f32, f32);
    read_be!(f64, f64);

    pub fn bool(&mut self) -> DResult<bool> {
        Ok(self.u8()? != 0)
    }

    /// A seek pointer: 64-bit when `large`, else 32-bit.
    pub fn seek_ptr(&mut self, large: bool) -> DResult<u64> {
        let at = self.pos;
        let v = if large { self.i64()? } else { i64::from(self.i32()?) };
        u64::try_from(v).map_err(|_| DecodeError::new(at, format!("negative seek pointer {v}")))
    }

    /// ROOT's TString: one length byte, or 255 followed by a 32-bit length.
    pub fn tstring(&mut self) -> DResult<String> {
        let at = self.pos;
        let mut n = usize::from(self.u8()?);
        if n == 255 {
            let long = self.i32()?;
            n = usize::try_from(long)
                .map_err(|_| DecodeError::new(at, format!("negative string length {long}")))?;
        }
        let b = self.take(n)?;
        Ok(match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        })
    }

    /// A NUL-terminated string (class names after a new-class tag).
    pub fn cstring(&mut self) -> DResult<String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| DecodeError::new(self.pos, "unterminated class name"))?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    /// `n` big-endian values converted to f64 (the element type is given by `read`).
    pub fn array_f64(&mut self, n: usize, elem: ArrayElem) -> DResult<Vec<f64>> {
        let bytes = self.take(n.checked_mul(elem.size()).ok_or_else(|| {
            DecodeError::new(self.pos, format!("array length {n} overflows"))
        })?)?;
        Ok(elem.decode(bytes))
    }
}

/// The element type of a ROOT TArray (TArrayC/S/I/L64/F/D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArrayElem {
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl ArrayElem {
    pub fn size(self) -> usize {
        match self {
            ArrayElem::I8 => 1,
            ArrayElem::I16 => 2,
            ArrayElem::I32 | ArrayElem::F32 => 4,
            ArrayElem::I64 | ArrayElem::F64 => 8,
        }
    }

    /// Converts big-endian elements to f64. `bytes.len()` must be a multiple of the size.
    pub fn decode(self, bytes: &[u8]) -> Vec<f64> {
        match self {
            ArrayElem::I8 => bytes.iter().map(|&b| f64::from(b as i8)).collect(),
            ArrayElem::I16 => bytes
                .chunks_exact(2)
                .map(|c| f64::from(i16::from_be_bytes([c[0], c[1]])))
                .collect(),
            ArrayElem::I32 => bytes
                .chunks_exact(4)
                .map(|c| f64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            ArrayElem::I64 => bytes
                .chunks_exact(8)
                .map(|c| i64::from_be_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            ArrayElem::F32 => bytes
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            ArrayElem::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_be_bytes(c.try_into().unwrap()))
                .collect(),
        }
    }

    /// Appends `values` as big-endian elements of this type (saturating casts for integers,
    /// as a C++ assignment to the narrower type would not, but never wrapping silently).
    pub fn encode(self, values: &[f64], out: &mut Vec<u8>) {
        out.reserve(values.len() * self.size());
        for &v in values {
            match self {
                ArrayElem::I8 => out.push((v as i8) as u8),
                ArrayElem::I16 => out.extend_from_slice(&(v as i16).to_be_bytes()),
                ArrayElem::I32 => out.extend_from_slice(&(v as i32).to_be_bytes()),
                ArrayElem::I64 => out.extend_from_slice(&(v as i64).to_be_bytes()),
                ArrayElem::F32 => out.extend_from_slice(&(v as f32).to_be_bytes()),
                ArrayElem::F64 => out.extend_from_slice(&v.to_be_bytes()),
            }
        }
    }
}

/// An append-only big-endian buffer with patching of earlier positions.
#[derive(Default, Debug, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

macro_rules! write_be {
    ($name:ident, $t:ty) => {
        #[inline]
        pub fn $name(&mut self, v: $t) {
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    };
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        Writer { buf: Vec::with_capacity(n) }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    write_be!(u8, u8);
    write_be!(u16, u16);
    write_be!(i16, i16);
    write_be!(u32, u32);
    write_be!(i32, i32);
    write_be!(i64, i64);
    write_be!(f32, f32);
    write_be!(f64, f64);

    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn seek_ptr(&mut self, v: u64, large: bool) {
        if large {
            self.i64(v as i64);
        } else {
            self.i32(v as i32);
        }
    }

    pub fn tstring(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.len() < 255 {
            self.u8(b.len() as u8);
        } else {
            self.u8(255);
            self.i32(b.len() as i32);
        }
        self.bytes(b);
    }

    pub fn cstring(&mut self, s: &str) {
        self.bytes(s.as_bytes());
        self.u8(0);
    }

    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    pub fn patch_i32(&mut self, at: usize, v: i32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}

/// Size in bytes of a TString as ROOT writes it.
pub fn tstring_len(s: &str) -> usize {
    let n = s.len();
    if n < 255 {
        1 + n
    } else {
        5 + n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tstring_round_trip_short_and_long() {
        for n in [0usize, 1, 254, 255, 256, 1000] {
            let s = "x".repeat(n);
            let mut w = Writer::new();
            w.tstring(&s);
            assert_eq!(w.len(), tstring_len(&s));
            let mut r = Reader::new(&w.buf);
            assert_eq!(r.tstring().unwrap(), s);
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn short_read_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[1, 2, 3]);
        let e = r.u32().unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.what.contains("needed 4 bytes"), "{e}");
        // A long TString whose length runs past the end.
        let mut r = Reader::new(&[255, 0, 0, 1, 0, b'a']);
        assert!(r.tstring().is_err());
    }

    #[test]
    fn array_elements_decode_big_endian() {
        let mut w = Writer::new();
        ArrayElem::I16.encode(&[-2.0, 300.0], &mut w.buf);
        assert_eq!(w.buf, vec![0xff, 0xfe, 0x01, 0x2c]);
        assert_eq!(ArrayElem::I16.decode(&w.buf), vec![-2.0, 300.0]);
    }
}
