//! The sealed box every opaque value the gateway hands clients is made of
//! (session ids, `requestState`, task ids): XChaCha20-Poly1305 under a key
//! every replica shares, written as base64url(nonce ‖ ciphertext). Owns
//! key derivation from the session key, the framing, and the size bound
//! checked before anything is decoded; what goes inside, and what an
//! opened box must match, is each codec's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use super::sealed::SESSION_KEY_BYTES;

/// Bytes of an XChaCha20 nonce (at the front of every box).
pub const NONCE_BYTES: usize = 24;

/// Why a box did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unopened {
    /// Longer than any box of this kind.
    TooLong,
    /// Not base64url, or too short to hold a nonce and a tag.
    Malformed,
    /// The tag does not verify: altered, or sealed under another key.
    Altered,
}

/// One key: seals and opens boxes.
pub struct SealingKey {
    cipher: XChaCha20Poly1305,
}

impl SealingKey {
    /// The key itself.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A key of its own for `context`, derived from the session key.
    pub fn derived(session_key: &[u8; SESSION_KEY_BYTES], context: &[u8]) -> Self {
        Self::new(&derive(session_key, context))
    }

    /// `plaintext` sealed under `nonce` (random, or a keyed digest where
    /// the same input must always give the same box).
    pub fn seal(&self, nonce: &[u8; NONCE_BYTES], plaintext: &[u8]) -> String {
        // Encrypting a byte slice in memory cannot fail.
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(nonce), plaintext)
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        bytes.extend_from_slice(nonce);
        bytes.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The plaintext of a box at most `max_len` characters long, and its
    /// nonce.
    pub fn open(
        &self,
        text: &str,
        max_len: usize,
    ) -> Result<(Vec<u8>, [u8; NONCE_BYTES]), Unopened> {
        if text.len() > max_len {
            return Err(Unopened::TooLong);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| Unopened::Malformed)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(Unopened::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| Unopened::Altered)?;
        let nonce = <[u8; NONCE_BYTES]>::try_from(nonce).map_err(|_| Unopened::Malformed)?;
        Ok((plaintext, nonce))
    }
}

/// A 32-byte key for `context`, derived from the session key.
pub fn derive(session_key: &[u8; SESSION_KEY_BYTES], context: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(context);
    hasher.update(session_key);
    hasher.finalize().into()
}

/// The nonce at the front of a box, without opening it.
pub fn nonce_of(text: &str) -> Option<[u8; NONCE_BYTES]> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    bytes.get(..NONCE_BYTES)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_open_only_unaltered_under_their_key_and_within_their_bound() {
        let key = SealingKey::derived(&[7; 32], b"test v1");
        let nonce = [3; NONCE_BYTES];
        let sealed = key.seal(&nonce, b"hello");
        assert_eq!(key.open(&sealed, 1024), Ok((b"hello".to_vec(), nonce)));
        assert_eq!(nonce_of(&sealed), Some(nonce));
        assert_eq!(key.open(&sealed, sealed.len() - 1), Err(Unopened::TooLong));
        assert_eq!(key.open("!!", 1024), Err(Unopened::Malformed));
        assert_eq!(key.open("AAAA", 1024), Err(Unopened::Malformed));
        let mut altered = sealed.clone().into_bytes();
        let middle = altered.len() / 2;
        altered[middle] = if altered[middle] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        assert_eq!(key.open(&altered, 1024), Err(Unopened::Altered));
        let other = SealingKey::derived(&[7; 32], b"other v1");
        assert_eq!(other.open(&sealed, 1024), Err(Unopened::Altered));
    }
}
