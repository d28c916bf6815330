//! The message properties string (§10.1): a `String → String` map carried in
//! the send header (`properties` / `i`), in batch records and in stored
//! records.
//!
//! ```text
//! name 0x01 value 0x02 name 0x01 value 0x02 ...
//! ```
//!
//! Parsing follows Java's `MessageDecoder.string2messageProperties`: split on
//! 0x02; in each segment the first 0x01 splits name from value; a segment with
//! an empty name, no 0x01 or an empty value is skipped; a later duplicate name
//! overwrites an earlier one. The whole string is at most
//! [`PROPERTIES_BYTES_MAX`] bytes of UTF-8 because stored records give it an
//! i16 length.
//!
//! Encoding writes a trailing 0x02 after every pair, as Java does, and refuses
//! names or values that contain a separator (they would silently corrupt the
//! map on the other side).

use std::collections::BTreeMap;

/// Longest properties string, in bytes (the stored record's i16 length field).
pub const PROPERTIES_BYTES_MAX: usize = i16::MAX as usize;
/// Separates a property's name from its value (0x01).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Terminates each name/value pair (0x02).
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Decoded properties. Ordered so re-encoding is deterministic; Java's own
/// order is a `HashMap`'s and no peer depends on it.
pub type Properties = BTreeMap<String, String>;

/// Why a properties string could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertiesError {
    /// The string is longer than [`PROPERTIES_BYTES_MAX`].
    #[error("properties of {length} bytes exceed the maximum of {PROPERTIES_BYTES_MAX}")]
    TooLong {
        /// Length of the string, in bytes.
        length: usize,
    },
    /// The bytes are not UTF-8.
    #[error("properties are not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// Encoding was asked to write a property with an empty name, which Java's
    /// parser would drop.
    #[error("property name is empty")]
    EmptyName,
    /// Encoding was asked to write a name or value containing 0x01 or 0x02.
    #[error(
        "property {name:?} contains a separator character (0x01 or 0x02) in its name or value"
    )]
    ContainsSeparator {
        /// Name of the offending property.
        name: String,
    },
}

/// The pairs of a properties string in wire order, by Java's parsing rules,
/// without allocating. Duplicates are all yielded; the last one is what Java
/// keeps.
pub fn iter_properties(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(PROPERTY_SEPARATOR).filter_map(|segment| {
        let (name, value) = segment.split_once(NAME_VALUE_SEPARATOR)?;
        (!name.is_empty() && !value.is_empty()).then_some((name, value))
    })
}

/// The value Java would see for `name`: the last occurrence.
pub fn property_value<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    iter_properties(text)
        .filter(|(candidate, _)| *candidate == name)
        .last()
        .map(|(_, value)| value)
}

/// Decodes a properties string received as bytes (batch records, stored
/// records).
pub fn decode_properties(bytes: &[u8]) -> Result<Properties, PropertiesError> {
    if bytes.len() > PROPERTIES_BYTES_MAX {
        return Err(PropertiesError::TooLong {
            length: bytes.len(),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|error| PropertiesError::InvalidUtf8 {
        offset: error.valid_up_to(),
    })?;
    Ok(iter_properties(text)
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// Encodes pairs in the given order. Pairs with an empty value are skipped:
/// the receiver would drop them anyway.
pub fn encode_properties<K, V>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Result<String, PropertiesError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut text = String::new();
    for (name, value) in pairs {
        let (name, value) = (name.as_ref(), value.as_ref());
        if name.is_empty() {
            return Err(PropertiesError::EmptyName);
        }
        let is_separator = |c: char| c == NAME_VALUE_SEPARATOR || c == PROPERTY_SEPARATOR;
        if name.contains(is_separator) || value.contains(is_separator) {
            return Err(PropertiesError::ContainsSeparator {
                name: name.chars().take(64).collect(),
            });
        }
        if value.is_empty() {
            continue;
        }
        text.push_str(name);
        text.push(NAME_VALUE_SEPARATOR);
        text.push_str(value);
        text.push(PROPERTY_SEPARATOR);
        if text.len() > PROPERTIES_BYTES_MAX {
            return Err(PropertiesError::TooLong { length: text.len() });
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_captured_header() {
        let text = "TAGS\u{1}TAG\u{2}WAIT\u{1}true\u{2}KEYS\u{1}ffff\u{2}";
        let properties = decode_properties(text.as_bytes()).unwrap();
        assert_eq!(properties.len(), 3);
        assert_eq!(properties["TAGS"], "TAG");
        assert_eq!(property_value(text, "KEYS"), Some("ffff"));
        assert_eq!(property_value(text, "DELAY"), None);
        assert_eq!(encode_properties(&properties).unwrap().len(), text.len());
    }

    #[test]
    fn skips_what_java_skips() {
        // empty value, empty name, no separator, too-short segments, and a
        // value containing 0x01 (kept: only the first 0x01 splits).
        let text =
            "A\u{1}\u{2}\u{1}v\u{2}novalue\u{2}\u{2}x\u{2}B\u{1}b\u{1}c\u{2}C\u{1}1\u{2}C\u{1}2";
        let pairs: Vec<_> = iter_properties(text).collect();
        assert_eq!(pairs, vec![("B", "b\u{1}c"), ("C", "1"), ("C", "2")]);
        let properties = decode_properties(text.as_bytes()).unwrap();
        assert_eq!(properties["C"], "2");
        assert_eq!(property_value(text, "C"), Some("2"));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            decode_properties(&[b'a', 1, 0xFF]),
            Err(PropertiesError::InvalidUtf8 { offset: 2 })
        );
        let long = vec![b'a'; PROPERTIES_BYTES_MAX + 1];
        assert!(matches!(
            decode_properties(&long),
            Err(PropertiesError::TooLong { .. })
        ));
        assert_eq!(
            encode_properties([("", "v")]),
            Err(PropertiesError::EmptyName)
        );
        assert!(encode_properties([("a\u{2}", "v")]).is_err());
        assert!(encode_properties([("a", "v\u{1}")]).is_err());
        assert_eq!(encode_properties([("a", "")]).unwrap(), "");
    }
}
