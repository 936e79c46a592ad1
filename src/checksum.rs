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

/// The first 12 characters of a hash or id, for messages and listings: never panics,
/// whatever the value (shorter, or not ASCII, as a damaged or foreign database may
/// hold); cut on a character boundary.
pub fn short_hash(s: &str) -> &str {
    match s.char_indices().nth(12) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Whether `s` is a SHA-256 as this crate writes it: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_hash_cuts_on_characters_and_keeps_short_values() {
        use super::short_hash;
        assert_eq!(short_hash("ba7816bf8f01cfea414140de5dae2223"), "ba7816bf8f01");
        assert_eq!(short_hash("ab12"), "ab12");
        assert_eq!(short_hash(""), "");
        assert_eq!(short_hash("123456789012"), "123456789012");
        // 'é' is 2 bytes and 'µ' too: byte 12 falls inside a character.
        assert_eq!(short_hash("ééééééµµµµµµxyz"), "ééééééµµµµµµ");
        assert_eq!(short_hash("a€€€€€€€€€€€€€"), "a€€€€€€€€€€€");
        assert_eq!(short_hash("abcdefghijké-and-more"), "abcdefghijké");
    }

    #[test]
    fn sha256_hex_is_64_lowercase_hex_digits() {
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
