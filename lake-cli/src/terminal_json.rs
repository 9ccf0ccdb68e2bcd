//! JSON bound for a terminal. arrow-json escapes the C0 controls in strings, as JSON
//! requires, but writes the C1 controls (U+009B is a CSI, an escape sequence's start) and
//! the bidirectional overrides as they are. Here they become `\uXXXX` escapes: the same
//! JSON value, shown rather than acted on.

use std::io::{self, Write};

use crate::render::acts_on_terminal;

/// A writer of JSON text that escapes what a terminal acts on before `inner` sees it.
pub struct TerminalJson<W: Write> {
    inner: W,
    /// The bytes of a character split between two writes.
    pending: Vec<u8>,
}

impl<W: Write> TerminalJson<W> {
    /// JSON written to `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for TerminalJson<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        // all but a character cut short at the end; invalid bytes (not from arrow-json,
        // which writes UTF-8) pass through as they came, after the text before them
        loop {
            let (valid, invalid) = match std::str::from_utf8(&self.pending) {
                Ok(_) => (self.pending.len(), 0),
                Err(e) => (e.valid_up_to(), e.error_len().unwrap_or(0)),
            };
            let text = String::from_utf8_lossy(&self.pending[..valid]);
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                if acts_on_terminal(c) {
                    escaped.push_str(&format!("\\u{:04x}", u32::from(c)));
                } else {
                    escaped.push(c);
                }
            }
            self.inner.write_all(escaped.as_bytes())?;
            self.inner.write_all(&self.pending[valid..valid + invalid])?;
            self.pending.drain(..valid + invalid);
            if invalid == 0 {
                return Ok(buf.len());
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for TerminalJson<W> {
    fn drop(&mut self) {
        // a character never completed: written as it came (best effort, as `BufWriter`)
        if !self.pending.is_empty() {
            let _ = self.inner.write_all(&self.pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_become_escapes_and_the_json_keeps_its_value() -> io::Result<()> {
        let value = "a\u{9b}31mb\u{202e}c\u{e9}\u{1F600}";
        let json = serde_json::to_string(&serde_json::json!({ "s": value }))?;
        let mut out = Vec::new();
        {
            // written a byte at a time, so that every character is split across writes
            let mut writer = TerminalJson::new(&mut out);
            for b in json.as_bytes() {
                writer.write_all(std::slice::from_ref(b))?;
            }
        }
        let shown = String::from_utf8(out).map_err(io::Error::other)?;
        assert_eq!(shown, "{\"s\":\"a\\u009b31mb\\u202ec\u{e9}\u{1F600}\"}");
        assert!(!shown.chars().any(acts_on_terminal), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown)?;
        assert_eq!(back["s"], value);
        // bytes that are no UTF-8 pass as they are, and what is around them is escaped
        let mut out = Vec::new();
        TerminalJson::new(&mut out).write_all(b"\xc2\x9b\xff\xc2\x9b\xe2")?;
        assert_eq!(out, b"\\u009b\xff\\u009b\xe2");
        Ok(())
    }
}
