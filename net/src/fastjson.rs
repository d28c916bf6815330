//! Reads the JSON that RocketMQ's Java servers write with fastjson.
//!
//! fastjson writes a `Map` whose key is not a string with the key as a bare
//! value: `{0:"127.0.0.1:10911"}` for broker ids and
//! `{{"brokerName":"b","queueId":0,"topic":"t"}:{...}}` for message queues
//! (`TopicStatsTable`, `ConsumeStats`, `ResetOffsetBody`), and name servers
//! older than 4.9.4 write route data so. RingMQ writes the same, so Java
//! tools can read it. [`normalize`] rewrites every such key
//! into a JSON string holding the key's text, which `serde_json` then reads;
//! [`parse_key`] reads the key back.
//!
//! Bounded: at most [`DEPTH_MAX`] nested containers and [`TEXT_BYTES_MAX`]
//! bytes of input; anything else is an error, never a panic.

use std::fmt;

/// Nesting depth past which a body is refused.
pub const DEPTH_MAX: usize = 64;
/// Largest body read (a name server's route table of 10^5 topics is ~20 MiB).
pub const TEXT_BYTES_MAX: usize = 64 << 20;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastJsonError {
    /// Byte offset in the input.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl fmt::Display for FastJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad JSON at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for FastJsonError {}

#[derive(Clone, Copy)]
enum Container {
    Object { expect_key: bool },
    Array,
}

fn fail(offset: usize, reason: &'static str) -> FastJsonError {
    FastJsonError { offset, reason }
}

/// The end (exclusive) of the string literal starting at `start` (a `"`).
fn string_end(bytes: &[u8], start: usize) -> Result<usize, FastJsonError> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(fail(start, "unterminated string"))
}

/// The end (exclusive) of a key that is not a string: a balanced object or
/// array, or a bare token up to the `:` that follows it.
fn raw_key_end(bytes: &[u8], start: usize) -> Result<usize, FastJsonError> {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i)?;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > DEPTH_MAX {
                    return Err(fail(i, "nested too deep"));
                }
            }
            b'}' | b']' => {
                if depth == 0 {
                    return Err(fail(i, "key ends the object"));
                }
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            b':' if depth == 0 => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    Err(fail(start, "unterminated key"))
}

/// `text` with every object key that is not a string turned into a string
/// holding the key's text (trimmed). Everything else is copied unchanged.
pub fn normalize(text: &str) -> Result<String, FastJsonError> {
    if text.len() > TEXT_BYTES_MAX {
        return Err(fail(TEXT_BYTES_MAX, "body too large"));
    }
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + text.len() / 8);
    let mut stack: Vec<Container> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            out.push(c);
            i += 1;
            continue;
        }
        let at_key = matches!(stack.last(), Some(Container::Object { expect_key: true }));
        if at_key && c != b'}' {
            if let Some(Container::Object { expect_key }) = stack.last_mut() {
                *expect_key = false;
            }
            i = copy_key(text, i, &mut out)?;
            continue;
        }
        match c {
            b'"' => {
                let end = string_end(bytes, i)?;
                out.extend_from_slice(&bytes[i..end]);
                i = end;
                continue;
            }
            b'{' | b'[' => {
                if stack.len() >= DEPTH_MAX {
                    return Err(fail(i, "nested too deep"));
                }
                stack.push(if c == b'{' {
                    Container::Object { expect_key: true }
                } else {
                    Container::Array
                });
            }
            b'}' | b']' => {
                stack.pop().ok_or_else(|| fail(i, "unbalanced close"))?;
            }
            b',' => {
                if let Some(Container::Object { expect_key }) = stack.last_mut() {
                    *expect_key = true;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    // Only whole input slices and quoted keys were copied, so the output is
    // as valid UTF-8 as the input.
    String::from_utf8(out).map_err(|_| fail(0, "not UTF-8"))
}

/// Copies the object key starting at `start` to `out`, quoting it (trimmed)
/// if it is not a string; returns where the key ends (exclusive).
fn copy_key(text: &str, start: usize, out: &mut Vec<u8>) -> Result<usize, FastJsonError> {
    let bytes = text.as_bytes();
    let is_string = bytes[start] == b'"';
    let end = if is_string {
        string_end(bytes, start)?
    } else {
        raw_key_end(bytes, start)?
    };
    let key = &text[start..end];
    if is_string {
        out.extend_from_slice(key.as_bytes());
    } else {
        let quoted =
            serde_json::to_string(key.trim()).map_err(|_| fail(start, "key cannot be quoted"))?;
        out.extend_from_slice(quoted.as_bytes());
    }
    Ok(end)
}

/// Parses a fastjson body into a `serde_json::Value`.
pub fn parse(body: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let fixed = normalize(text).map_err(|e| e.to_string())?;
    serde_json::from_str(&fixed).map_err(|e| format!("body is not JSON: {e}"))
}

/// A key [`normalize`] quoted, read back as the value it was.
pub fn parse_key(key: &str) -> Option<serde_json::Value> {
    serde_json::from_str(key).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn message_queue_keys_become_strings() {
        let t = r#"{"offsetTable":{{"brokerName":"b-0","queueId":1,"topic":"T"}:{"maxOffset":5},{"brokerName":"b-0","queueId":0,"topic":"T"}:{"maxOffset":3}},"topicPutTps":0.0}"#;
        let v = parse(t.as_bytes()).unwrap();
        let table = v["offsetTable"].as_object().unwrap();
        assert_eq!(table.len(), 2);
        let (k, val) = table.iter().next().unwrap();
        let key = parse_key(k).unwrap();
        assert_eq!(key["brokerName"], "b-0");
        assert!(val["maxOffset"].is_i64());
    }

    #[test]
    fn numeric_keys_and_strings_that_look_like_keys() {
        let t = r#"{"brokerAddrs":{0:"127.0.0.1:1", 1 :"a:b"},"s":"{0:x}","a":[{2:3}]}"#;
        let v = parse(t.as_bytes()).unwrap();
        assert_eq!(v["brokerAddrs"]["0"], "127.0.0.1:1");
        assert_eq!(v["brokerAddrs"]["1"], "a:b");
        assert_eq!(v["s"], "{0:x}");
        assert_eq!(v["a"][0]["2"], 3);
    }

    #[test]
    fn bad_input_is_an_error() {
        for t in [
            "{{",
            "{\"a",
            "{{\"a\":1",
            "}",
            "{[}",
            "{1",
            &"[".repeat(100),
        ] {
            assert!(parse(t.as_bytes()).is_err(), "{t}");
        }
    }

    #[test]
    fn keys_with_escaped_quotes_survive() {
        let t = r#"{{"topic":"a\"b"}:1}"#;
        let v = parse(t.as_bytes()).unwrap();
        let (k, _) = v.as_object().unwrap().iter().next().unwrap();
        assert_eq!(parse_key(k).unwrap()["topic"], "a\"b");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "[{}\\[\\]:,\"\\\\a1 ]{0,40}|.{0,200}") {
            let _ = parse(text.as_bytes());
            if let Ok(normal) = normalize(&text) {
                proptest::prop_assert_eq!(normalize(&normal).unwrap(), normal);
            }
        }

        #[test]
        fn standard_json_passes_unchanged(n in proptest::collection::btree_map("[a-z]{1,5}", 0i64..1000, 0..8)) {
            let text = serde_json::to_string(&n).unwrap();
            proptest::prop_assert_eq!(normalize(&text).unwrap(), text);
        }
    }
}
