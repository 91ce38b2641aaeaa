//! Incremental encoding of a resource's bytes into the body of a JSON
//! string, chunk by chunk as they arrive: text is JSON-escaped (partial
//! UTF-8 characters carried across chunks), binary is base64 (partial
//! three-byte groups carried across chunks).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Incremental encoder of a resource's bytes into a JSON string body.
pub struct ContentEncoder {
    is_text: bool,
    carry: Vec<u8>,
}

// === impl ContentEncoder ===

impl ContentEncoder {
    /// An encoder for text (JSON-escaped) or binary (base64) content.
    pub fn new(is_text: bool) -> Self {
        Self {
            is_text,
            carry: Vec::new(),
        }
    }

    /// Encodes the next chunk, appending to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.carry.extend_from_slice(chunk);
        if self.is_text {
            let (complete, keep) = split_utf8(&self.carry);
            escape_json_text(&String::from_utf8_lossy(&self.carry[..complete]), out);
            self.carry.drain(..self.carry.len() - keep);
        } else {
            let whole = self.carry.len() / 3 * 3;
            let start = out.len();
            out.resize(start + whole / 3 * 4, 0);
            let written = STANDARD
                .encode_slice(&self.carry[..whole], &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
            self.carry.drain(..whole);
        }
    }

    /// Flushes what is left (a partial character or base64 group).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.is_text {
            escape_json_text(&String::from_utf8_lossy(&self.carry), out);
        } else {
            out.extend_from_slice(STANDARD.encode(&self.carry).as_bytes());
        }
        self.carry.clear();
    }
}

/// (bytes that form complete characters or invalid sequences, bytes of an
/// incomplete trailing character to keep for the next chunk)
fn split_utf8(bytes: &[u8]) -> (usize, usize) {
    let tail_start = bytes.len().saturating_sub(3);
    for start in (tail_start..bytes.len()).rev() {
        let byte = bytes[start];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let needed = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        if bytes.len() - start < needed {
            return (start, bytes.len() - start);
        }
        break;
    }
    (bytes.len(), 0)
}

/// Appends `text` JSON-escaped (without quotes).
fn escape_json_text(text: &str, out: &mut Vec<u8>) {
    let quoted = serde_json::Value::from(text).to_string();
    out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_in_pieces(is_text: bool, content: &[u8], piece: usize) -> String {
        let mut encoder = ContentEncoder::new(is_text);
        let mut out = Vec::new();
        for chunk in content.chunks(piece) {
            encoder.push(chunk, &mut out);
        }
        encoder.finish(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn text_split_inside_characters_is_reassembled() {
        let text = "héllo \"wörld\"\n€𝄞";
        for piece in 1..6 {
            let encoded = encode_in_pieces(true, text.as_bytes(), piece);
            let decoded: String =
                serde_json::from_str(&format!("\"{encoded}\"")).expect("json string");
            assert_eq!(decoded, text, "piece size {piece}");
        }
    }

    #[test]
    fn binary_split_anywhere_is_valid_base64() {
        let content: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for piece in [1, 2, 3, 4, 7, 64] {
            let encoded = encode_in_pieces(false, &content, piece);
            assert_eq!(
                STANDARD.decode(encoded).expect("base64"),
                content,
                "piece size {piece}"
            );
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let encoded = encode_in_pieces(true, b"a\xffb", 1);
        assert_eq!(encoded, "a\u{FFFD}b");
    }
}
