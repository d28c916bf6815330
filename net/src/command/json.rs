//! JSON header (serialize type 0, §3.1): the command as fastjson 1.x text.
//!
//! ```text
//! {"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":1,
//!  "remark":"...","serializeTypeCurrentRPC":"JSON","version":479}
//! ```
//!
//! Encoding reproduces what a Java peer emits (§9.16): members in alphabetical
//! order, `remark` omitted when absent, enums by name, control characters
//! escaped (message properties inside `extFields` carry `\u0001` / `\u0002`).
//! Non-ASCII text is written as raw UTF-8, as fastjson does for headers.
//!
//! Decoding is lenient where real peers differ: member order is free, unknown
//! members are ignored, `language` may be a name or a number (unknown → `OTHER`),
//! integer members may be numbers or numeric strings, non-string scalars inside
//! `extFields` are stringified and `null` values dropped. Missing members take
//! the Java defaults (0, `JAVA`, no remark, no ext fields) because fastjson does
//! the same.

use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{CommandDecodeError, ExtFields, RemotingCommand};
use crate::code::LanguageCode;
use crate::frame::SerializeType;

pub(super) fn encode(command: &RemotingCommand, dst: &mut BytesMut) {
    dst.put_slice(b"{\"code\":");
    put_decimal(dst, command.code);
    // fastjson omits a null map but writes an empty one as `{}`; we hold no
    // null/empty distinction and omit it, which every peer treats alike.
    if !command.ext_fields.is_empty() {
        dst.put_slice(b",\"extFields\":{");
        for (index, (key, value)) in command.ext_fields.iter().enumerate() {
            if index > 0 {
                dst.put_u8(b',');
            }
            put_json_string(dst, key);
            dst.put_u8(b':');
            put_json_string(dst, value);
        }
        dst.put_u8(b'}');
    }
    dst.put_slice(b",\"flag\":");
    put_decimal(dst, command.flag);
    dst.put_slice(b",\"language\":");
    put_json_string(dst, command.language.name());
    dst.put_slice(b",\"opaque\":");
    put_decimal(dst, command.opaque);
    if let Some(remark) = &command.remark {
        dst.put_slice(b",\"remark\":");
        put_json_string(dst, remark);
    }
    dst.put_slice(b",\"serializeTypeCurrentRPC\":");
    put_json_string(dst, SerializeType::Json.name());
    dst.put_slice(b",\"version\":");
    put_decimal(dst, command.version);
    dst.put_u8(b'}');
}

pub(super) fn decode(header: &[u8]) -> Result<RemotingCommand, CommandDecodeError> {
    // serde's derived struct decoding also accepts a JSON array; a header is
    // only ever an object.
    if header.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(CommandDecodeError::Json {
            reason: "header is not a JSON object".to_owned(),
        });
    }
    let parsed: JsonHeader =
        serde_json::from_slice(header).map_err(|error| CommandDecodeError::Json {
            reason: error.to_string(),
        })?;
    Ok(RemotingCommand {
        code: parsed.code,
        language: parsed.language,
        version: parsed.version,
        opaque: parsed.opaque,
        flag: parsed.flag,
        remark: parsed.remark,
        ext_fields: parsed.ext_fields,
        body: bytes::Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}

/// Writes `text` as a JSON string literal. Escapes `"`, `\` and every control
/// character below 0x20 (short forms where JSON has them, `\u00XX` otherwise),
/// which is the set fastjson escapes in headers; everything else is raw UTF-8.
pub(crate) fn put_json_string(dst: &mut BytesMut, text: &str) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    dst.put_u8(b'"');
    let bytes = text.as_bytes();
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\x08' => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\x0C' => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1F => b"",
            _ => continue,
        };
        dst.put_slice(&bytes[run_start..index]);
        run_start = index + 1;
        if short.is_empty() {
            dst.put_slice(b"\\u00");
            dst.put_u8(HEX_DIGITS[usize::from(byte >> 4)]);
            dst.put_u8(HEX_DIGITS[usize::from(byte & 0xF)]);
        } else {
            dst.put_slice(short);
        }
    }
    dst.put_slice(&bytes[run_start..]);
    dst.put_u8(b'"');
}

fn put_decimal(dst: &mut BytesMut, value: i32) {
    let mut digits = [0u8; 11];
    let mut position = digits.len();
    let mut magnitude = value.unsigned_abs();
    loop {
        position -= 1;
        digits[position] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        position -= 1;
        digits[position] = b'-';
    }
    dst.put_slice(&digits[position..]);
}

#[derive(Deserialize)]
struct JsonHeader {
    #[serde(default, deserialize_with = "lenient_i32")]
    code: i32,
    #[serde(default, deserialize_with = "lenient_language")]
    language: LanguageCode,
    #[serde(default, deserialize_with = "lenient_i32")]
    version: i32,
    #[serde(default, deserialize_with = "lenient_i32")]
    opaque: i32,
    #[serde(default, deserialize_with = "lenient_i32")]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(default, rename = "extFields", deserialize_with = "lenient_ext_fields")]
    ext_fields: ExtFields,
}

fn lenient_i32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    struct I32Visitor;
    impl Visitor<'_> for I32Visitor {
        type Value = i32;
        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a 32-bit integer or a string holding one")
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<i32, E> {
            i32::try_from(value).map_err(|_| E::custom(format!("{value} does not fit in i32")))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<i32, E> {
            i32::try_from(value).map_err(|_| E::custom(format!("{value} does not fit in i32")))
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<i32, E> {
            value
                .parse()
                .map_err(|_| E::custom(format!("{value:?} is not a 32-bit integer")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
            Ok(0)
        }
    }
    deserializer.deserialize_any(I32Visitor)
}

fn lenient_language<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LanguageCode, D::Error> {
    struct LanguageVisitor;
    impl Visitor<'_> for LanguageVisitor {
        type Value = LanguageCode;
        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a LanguageCode name or number")
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<LanguageCode, E> {
            Ok(LanguageCode::from_name(value))
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<LanguageCode, E> {
            Ok(u8::try_from(value).map_or(LanguageCode::Other, LanguageCode::from_u8))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<LanguageCode, E> {
            Ok(u8::try_from(value).map_or(LanguageCode::Other, LanguageCode::from_u8))
        }
        fn visit_unit<E: de::Error>(self) -> Result<LanguageCode, E> {
            Ok(LanguageCode::Java)
        }
    }
    deserializer.deserialize_any(LanguageVisitor)
}

fn lenient_ext_fields<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ExtFields, D::Error> {
    struct ExtFieldsVisitor;
    impl<'de> Visitor<'de> for ExtFieldsVisitor {
        type Value = ExtFields;
        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an object of string values")
        }
        fn visit_unit<E: de::Error>(self) -> Result<ExtFields, E> {
            Ok(ExtFields::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFields, A::Error> {
            let mut fields = ExtFields::new();
            while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                let text = match value {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(text) => text,
                    serde_json::Value::Bool(flag) => flag.to_string(),
                    serde_json::Value::Number(number) => number.to_string(),
                    // Not seen from real peers; keep the JSON text rather than
                    // fail the whole command.
                    nested @ (serde_json::Value::Array(_) | serde_json::Value::Object(_)) => {
                        nested.to_string()
                    }
                };
                fields.insert(key, text);
            }
            Ok(fields)
        }
    }
    deserializer.deserialize_any(ExtFieldsVisitor)
}
