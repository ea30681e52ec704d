//! A namespace's bearer tokens: 256 random bits from the operating system, shown once, kept
//! only as their SHA-256, recognised by comparing hashes in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every namespace token starts with, so one that no longer works (rotated, its
/// namespace deleted) is refused rather than taken for some other credential.
pub const PREFIX: &str = "fns_";

/// The SHA-256 of a token.
pub type Hash = [u8; 32];

/// What a token lets its holder do in its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manage the namespace's callbacks and invocations, and call them.
    Admin,
    /// Call the namespace's callbacks.
    Invoke,
}

/// Why no token could be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed: {0}")]
pub struct NoRandomness(String);

/// A new token.
pub fn generate() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// The hash a token is kept as.
pub fn hash(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

/// A stored hash (hex) read back; `None` when unreadable.
pub fn parse_hash(hex_text: &str) -> Option<Hash> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

/// Whether `given` is the hash `stored`, compared in constant time.
pub fn matches(given: &Hash, stored: &Hash) -> bool {
    bool::from(given.ct_eq(stored))
}

/// Whether `token` looks like a namespace token (whether or not it is a valid one).
pub fn looks_like_one(token: &str) -> bool {
    token.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_recognised_by_their_hash_only() {
        let a = generate().expect("a token");
        let b = generate().expect("another");
        assert_ne!(a, b);
        assert!(looks_like_one(&a));
        assert_eq!(a.len(), PREFIX.len() + 64);
        let stored = parse_hash(&hex::encode(hash(&a))).expect("hex");
        assert!(matches(&hash(&a), &stored));
        assert!(!matches(&hash(&b), &stored));
        assert_eq!(parse_hash("zz"), None);
    }
}
