//! SHA-256 checksums as lowercase hex: input files, cut files, payloads and keys.

use sha2::{Digest, Sha256};

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The first 12 characters of a hash or id, for messages; the whole string when it
/// is shorter, and never a panic on a value read from a file (non-ASCII text is cut
/// at a character boundary at or before the 12th byte).
pub fn short_hash(s: &str) -> &str {
    let mut end = s.len().min(12);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether `s` is a SHA-256 as this crate writes it: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_hashes_never_panic() {
        use super::short_hash;
        assert_eq!(short_hash("ba7816bf8f01cfea414140de5dae2223"), "ba7816bf8f01");
        assert_eq!(short_hash("abc"), "abc");
        assert_eq!(short_hash(""), "");
        // 11 ASCII bytes then a 2-byte character straddling byte 12: cut before it.
        assert_eq!(short_hash("abcdefghijké-and-more"), "abcdefghijk");
        assert_eq!(short_hash("ééééééé"), "éééééé");
        assert!(super::is_sha256_hex(&super::sha256_hex(b"")));
        assert!(!super::is_sha256_hex(&super::sha256_hex(b"").to_uppercase()));
        assert!(!super::is_sha256_hex("abc"));
    }

    #[test]
    fn known_digest() {
        // FIPS 180-2 example: SHA-256("abc").
        assert_eq!(super::sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
