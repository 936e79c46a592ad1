//! ROOT's compression framing: blocks of at most 16 MiB, each with a 9-byte header.
//!
//! A compressed object is a sequence of blocks. Each block starts with a two-letter
//! algorithm tag (`ZL` zlib, `XZ` LZMA, `L4` LZ4, `ZS` ZSTD), one method byte and two
//! little-endian 24-bit sizes (compressed payload, uncompressed). An LZ4 payload
//! starts with the 8-byte big-endian xxHash64 of the rest. Decompression writes
//! into a buffer of exactly the size the key declares, so a block that would expand
//! past its declared size (a decompression bomb) is an error, not an allocation.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

/// Largest uncompressed block ROOT writes (24-bit size field).
pub const MAX_BLOCK: usize = 0xff_ffff;
pub const HEADER_LEN: usize = 9;

/// A compression algorithm, numbered as ROOT numbers them (`ROOT::RCompressionSetting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Zlib,
    Lzma,
    Lz4,
    Zstd,
}

impl Algorithm {
    pub fn code(self) -> i32 {
        match self {
            Algorithm::Zlib => 1,
            Algorithm::Lzma => 2,
            Algorithm::Lz4 => 4,
            Algorithm::Zstd => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Zlib => "zlib",
            Algorithm::Lzma => "lzma",
            Algorithm::Lz4 => "lz4",
            Algorithm::Zstd => "zstd",
        }
    }

    fn tag(self) -> [u8; 3] {
        match self {
            // Method byte: Z_DEFLATED for zlib, the major library version for LZ4/ZSTD.
            Algorithm::Zlib => [b'Z', b'L', 8],
            Algorithm::Lzma => [b'X', b'Z', 0],
            Algorithm::Lz4 => [b'L', b'4', 1],
            Algorithm::Zstd => [b'Z', b'S', 1],
        }
    }
}

/// A file's compression setting: an algorithm and a level (level 0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    pub algorithm: Algorithm,
    pub level: u8,
}

impl Compression {
    pub const NONE: Compression = Compression { algorithm: Algorithm::Zlib, level: 0 };

    pub fn new(algorithm: Algorithm, level: u8) -> Self {
        Compression { algorithm, level: level.min(9) }
    }

    /// Decodes ROOT's `fCompress` (`100 * algorithm + level`; 0..9 mean zlib).
    pub fn from_fcompress(v: i32) -> Option<Self> {
        let level = (v % 100).clamp(0, 99) as u8;
        let algorithm = match v / 100 {
            0 | 1 => Algorithm::Zlib,
            2 => Algorithm::Lzma,
            4 => Algorithm::Lz4,
            5 => Algorithm::Zstd,
            _ => return None,
        };
        Some(Compression { algorithm, level })
    }

    pub fn fcompress(self) -> i32 {
        if self.level == 0 {
            0
        } else {
            self.algorithm.code() * 100 + i32::from(self.level)
        }
    }

    pub fn is_none(self) -> bool {
        self.level == 0
    }
}

impl Default for Compression {
    /// ZSTD level 5, ROOT's default since 6.30.
    fn default() -> Self {
        Compression::new(Algorithm::Zstd, 5)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            write!(f, "none")
        } else {
            write!(f, "{}:{}", self.algorithm.name(), self.level)
        }
    }
}

impl FromStr for Compression {
    type Err = String;
    /// `none`, `zlib`, `lz4`, `zstd`, `lzma`, optionally with `:LEVEL` (1-9).
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => {
                let l: u8 = l.parse().map_err(|_| format!("bad compression level {l:?} in {s:?}"))?;
                if !(1..=9).contains(&l) {
                    return Err(format!("compression level must be 1-9, got {l} in {s:?}"));
                }
                (n, Some(l))
            }
            None => (s, None),
        };
        let (alg, default_level) = match name.to_ascii_lowercase().as_str() {
            "none" => return Ok(Compression::NONE),
            "zlib" => (Algorithm::Zlib, 1),
            "lzma" => (Algorithm::Lzma, 7),
            "lz4" => (Algorithm::Lz4, 4),
            "zstd" => (Algorithm::Zstd, 5),
            other => {
                return Err(format!("unknown compression {other:?}: use none, zlib, lz4, zstd or lzma"))
            }
        };
        Ok(Compression::new(alg, level.unwrap_or(default_level)))
    }
}

/// Compresses `data` into ROOT blocks. Returns `None` when the data does not shrink,
/// in which case ROOT stores the object uncompressed (and so do we).
pub fn compress(data: &[u8], c: Compression) -> Option<Vec<u8>> {
    if c.is_none() || data.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 2 + HEADER_LEN);
    for chunk in data.chunks(MAX_BLOCK) {
        let start = out.len();
        out.extend_from_slice(&[0u8; HEADER_LEN]);
        compress_block(chunk, c, &mut out)?;
        let clen = out.len() - start - HEADER_LEN;
        if clen > MAX_BLOCK {
            return None;
        }
        let tag = c.algorithm.tag();
        out[start..start + 3].copy_from_slice(&tag);
        out[start + 3..start + 6].copy_from_slice(&(clen as u32).to_le_bytes()[..3]);
        out[start + 6..start + 9].copy_from_slice(&(chunk.len() as u32).to_le_bytes()[..3]);
    }
    if out.len() >= data.len() {
        return None;
    }
    Some(out)
}

fn compress_block(chunk: &[u8], c: Compression, out: &mut Vec<u8>) -> Option<()> {
    let level = u32::from(c.level);
    match c.algorithm {
        Algorithm::Zlib => {
            let mut z = flate2::Compress::new(flate2::Compression::new(level), true);
            out.reserve(chunk.len() + chunk.len() / 1000 + 64);
            let status = z.compress_vec(chunk, out, flate2::FlushCompress::Finish).ok()?;
            (status == flate2::Status::StreamEnd).then_some(())
        }
        Algorithm::Zstd => {
            let bound = zstd::zstd_safe::compress_bound(chunk.len());
            let start = out.len();
            out.resize(start + bound, 0);
            let n = zstd::bulk::compress_to_buffer(chunk, &mut out[start..], level as i32).ok()?;
            out.truncate(start + n);
            Some(())
        }
        Algorithm::Lz4 => {
            let block = lz4_flex::block::compress(chunk);
            out.extend_from_slice(&xxhash_rust::xxh64::xxh64(&block, 0).to_be_bytes());
            out.extend_from_slice(&block);
            Some(())
        }
        Algorithm::Lzma => {
            // The preset's dictionary (up to 64 MiB at level 9) is allocated per block;
            // a dictionary larger than the block gains nothing, so cap it.
            let mut opts = liblzma::stream::LzmaOptions::new_preset(level).ok()?;
            opts.dict_size((chunk.len() as u32).next_power_of_two().clamp(4096, 1 << 26));
            let mut filters = liblzma::stream::Filters::new();
            filters.lzma2(&opts);
            let mut s = liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc32).ok()?;
            out.reserve(chunk.len() + 1024);
            loop {
                let before_in = s.total_in() as usize;
                let st = s.process_vec(&chunk[before_in..], out, liblzma::stream::Action::Finish).ok()?;
                if st == liblzma::stream::Status::StreamEnd {
                    return Some(());
                }
                out.reserve(out.capacity().max(4096));
            }
        }
    }
}

/// Why a compressed payload could not be decompressed (location added by the caller).
#[derive(Debug, Clone, PartialEq)]
pub enum DecompressError {
    Truncated { block: usize, offset: usize },
    UnknownAlgorithm { tag: String, offset: usize },
    Failed { algorithm: &'static str, block: usize, offset: usize, detail: String },
    SizeMismatch { expected: usize, actual: usize },
}

thread_local! {
    static ZSTD: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static ZLIB: RefCell<Option<flate2::Decompress>> = const { RefCell::new(None) };
}

/// Decompresses a sequence of ROOT blocks into `out`, whose length is the declared
/// uncompressed size. Every byte of `out` must be produced, and no more.
pub fn decompress_into(src: &[u8], out: &mut [u8]) -> Result<(), DecompressError> {
    let mut ip = 0usize;
    let mut op = 0usize;
    let mut block = 0usize;
    while op < out.len() {
        if ip + HEADER_LEN > src.len() {
            return Err(if ip == src.len() {
                DecompressError::SizeMismatch { expected: out.len(), actual: op }
            } else {
                DecompressError::Truncated { block, offset: ip }
            });
        }
        let h = &src[ip..ip + HEADER_LEN];
        let clen = u32::from_le_bytes([h[3], h[4], h[5], 0]) as usize;
        let ulen = u32::from_le_bytes([h[6], h[7], h[8], 0]) as usize;
        let payload_start = ip + HEADER_LEN;
        if payload_start + clen > src.len() {
            return Err(DecompressError::Truncated { block, offset: ip });
        }
        if op + ulen > out.len() {
            return Err(DecompressError::SizeMismatch { expected: out.len(), actual: op + ulen });
        }
        let payload = &src[payload_start..payload_start + clen];
        let dst = &mut out[op..op + ulen];
        let (cur_block, cur_ip) = (block, ip);
        let fail = move |algorithm: &'static str, detail: String| DecompressError::Failed {
            algorithm,
            block: cur_block,
            offset: cur_ip,
            detail,
        };
        match &h[..2] {
            b"ZL" => {
                let n = ZLIB.with(|cell| {
                    let mut slot = cell.borrow_mut();
                    let z = slot.get_or_insert_with(|| flate2::Decompress::new(true));
                    z.reset(true);
                    let st = z
                        .decompress(payload, dst, flate2::FlushDecompress::Finish)
                        .map_err(|e| fail("zlib", e.to_string()))?;
                    if st != flate2::Status::StreamEnd {
                        return Err(fail("zlib", "the stream does not end where its block says".into()));
                    }
                    Ok(z.total_out() as usize)
                })?;
                if n != ulen {
                    return Err(fail("zlib", format!("block gave {n} bytes, header says {ulen}")));
                }
            }
            b"ZS" => {
                let n = ZSTD.with(|cell| {
                    let mut slot = cell.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| fail("zstd", e.to_string()))?);
                    }
                    slot.as_mut()
                        .expect("initialised above")
                        .decompress_to_buffer(payload, dst)
                        .map_err(|e| fail("zstd", e.to_string()))
                })?;
                if n != ulen {
                    return Err(fail("zstd", format!("block gave {n} bytes, header says {ulen}")));
                }
            }
            b"L4" => {
                if payload.len() < 8 {
                    return Err(fail("lz4", "block shorter than its checksum".into()));
                }
                let (sum, data) = payload.split_at(8);
                let expect = u64::from_be_bytes(sum.try_into().expect("8 bytes"));
                let got = xxhash_rust::xxh64::xxh64(data, 0);
                if got != expect {
                    return Err(fail("lz4", format!("checksum mismatch: stored {expect:#018x}, computed {got:#018x}")));
                }
                let n = lz4_flex::block::decompress_into(data, dst).map_err(|e| fail("lz4", e.to_string()))?;
                if n != ulen {
                    return Err(fail("lz4", format!("block gave {n} bytes, header says {ulen}")));
                }
            }
            b"XZ" => {
                let mut s = liblzma::stream::Stream::new_stream_decoder(u64::MAX, 0)
                    .map_err(|e| fail("lzma", e.to_string()))?;
                let st = s
                    .process(payload, dst, liblzma::stream::Action::Finish)
                    .map_err(|e| fail("lzma", e.to_string()))?;
                if st != liblzma::stream::Status::StreamEnd || s.total_out() as usize != ulen {
                    return Err(fail(
                        "lzma",
                        format!("block gave {} bytes, header says {ulen}", s.total_out()),
                    ));
                }
            }
            other => {
                return Err(DecompressError::UnknownAlgorithm {
                    tag: String::from_utf8_lossy(other).into_owned(),
                    offset: ip,
                })
            }
        }
        ip = payload_start + clen;
        op += ulen;
        block += 1;
        if ulen == 0 {
            // A zero-size block would loop forever on a crafted input.
            return Err(fail("root", "block declares zero uncompressed bytes".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        // Compressible by every algorithm (LZ4 has no entropy coder, so it needs
        // repeats) but not trivial: a slow ramp with a noisy byte every 16.
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let noise = if i % 16 == 0 { (x >> 24) as u8 } else { 0 };
                ((i / 97) as u8).wrapping_add(noise)
            })
            .collect()
    }

    #[test]
    fn every_algorithm_round_trips_single_and_multi_block() {
        for alg in [Algorithm::Zlib, Algorithm::Lzma, Algorithm::Lz4, Algorithm::Zstd] {
            for n in [1000usize, MAX_BLOCK + 5000] {
                let data = sample(n);
                let c = Compression::new(alg, 1);
                let z = compress(&data, c).expect("sample data compresses");
                assert_eq!(&z[..2], &alg.tag()[..2]);
                let mut out = vec![0u8; n];
                decompress_into(&z, &mut out).unwrap();
                assert_eq!(out, data, "{alg:?} n={n}");
            }
        }
    }

    #[test]
    fn declared_size_is_enforced() {
        let data = sample(5000);
        for alg in [Algorithm::Zlib, Algorithm::Lzma, Algorithm::Lz4, Algorithm::Zstd] {
            let z = compress(&data, Compression::new(alg, 1)).unwrap();
            // Too small a target: the block cannot fit.
            let mut small = vec![0u8; 4000];
            assert!(decompress_into(&z, &mut small).is_err(), "{alg:?}");
            // Too large a target: the blocks run out.
            let mut big = vec![0u8; 6000];
            assert!(matches!(
                decompress_into(&z, &mut big),
                Err(DecompressError::SizeMismatch { expected: 6000, actual: 5000 })
            ));
        }
    }

    #[test]
    fn lz4_checksum_detects_corruption() {
        let data = sample(5000);
        let mut z = compress(&data, Compression::new(Algorithm::Lz4, 4)).unwrap();
        let last = z.len() - 1;
        z[last] ^= 0x55;
        let mut out = vec![0u8; 5000];
        let e = decompress_into(&z, &mut out).unwrap_err();
        assert!(format!("{e:?}").contains("checksum"), "{e:?}");
    }

    #[test]
    fn fcompress_codes_match_root() {
        assert_eq!(Compression::from_fcompress(505), Some(Compression::new(Algorithm::Zstd, 5)));
        assert_eq!(Compression::from_fcompress(101).unwrap().algorithm, Algorithm::Zlib);
        assert_eq!(Compression::from_fcompress(1).unwrap().fcompress(), 101);
        assert_eq!(Compression::from_fcompress(207).unwrap().algorithm, Algorithm::Lzma);
        assert_eq!(Compression::from_fcompress(404).unwrap().algorithm, Algorithm::Lz4);
        assert!(Compression::from_fcompress(0).unwrap().is_none());
        assert_eq!("zstd:3".parse::<Compression>().unwrap().fcompress(), 503);
        assert!("gzip".parse::<Compression>().is_err());
    }
}
