use super::*;
use crate::code::RequestCode;
use crate::frame::FrameDecoder;

/// §2 worked example: GET_ROUTEINFO_BY_TOPIC for topic `T`, opaque 1,
/// version 479, binary header. Bytes transcribed from the spec.
const ROUTE_REQUEST_BINARY: &[u8] = &[
    0x00, 0x00, 0x00, 0x25, // frameLength = 37
    0x01, 0x00, 0x00, 0x21, // type=1 (ROCKETMQ), headerLength = 33
    0x00, 0x69, // code 105
    0x00, // language JAVA
    0x01, 0xDF, // version 479
    0x00, 0x00, 0x00, 0x01, // opaque 1
    0x00, 0x00, 0x00, 0x00, // flag 0 (request)
    0x00, 0x00, 0x00, 0x00, // remark length 0
    0x00, 0x00, 0x00, 0x0C, // extFields block length 12
    0x00, 0x05, 0x74, 0x6F, 0x70, 0x69, 0x63, // key "topic" (u16 length)
    0x00, 0x00, 0x00, 0x01, 0x54, // value "T" (u32 length)
];

/// §2: the same request with a JSON header.
const ROUTE_REQUEST_JSON_PREFIX: &[u8] = &[0x00, 0x00, 0x00, 0x7F, 0x00, 0x00, 0x00, 0x7B];
const ROUTE_REQUEST_JSON_HEADER: &str = r#"{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#;

fn route_request(serialize_type: SerializeType) -> RemotingCommand {
    let mut ext_fields = ExtFields::new();
    ext_fields.insert("topic".to_owned(), "T".to_owned());
    RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, ext_fields)
        .with_opaque(1)
        .with_serialize_type(serialize_type)
}

fn decode_one(wire: &[u8]) -> RemotingCommand {
    let mut buffer = BytesMut::from(wire);
    let frame = FrameDecoder::default()
        .decode(&mut buffer)
        .unwrap()
        .unwrap();
    assert!(buffer.is_empty());
    RemotingCommand::decode(frame).unwrap()
}

#[test]
fn golden_binary_route_request_encodes_byte_exact() {
    let wire = route_request(SerializeType::RocketMq).encode().unwrap();
    assert_eq!(&wire[..], ROUTE_REQUEST_BINARY);
}

#[test]
fn golden_binary_route_request_decodes() {
    assert_eq!(
        decode_one(ROUTE_REQUEST_BINARY),
        route_request(SerializeType::RocketMq)
    );
}

#[test]
fn golden_json_route_request_encodes_byte_exact() {
    let mut expected = ROUTE_REQUEST_JSON_PREFIX.to_vec();
    expected.extend_from_slice(ROUTE_REQUEST_JSON_HEADER.as_bytes());
    let wire = route_request(SerializeType::Json).encode().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&wire[8..]),
        ROUTE_REQUEST_JSON_HEADER
    );
    assert_eq!(&wire[..], &expected[..]);
    assert_eq!(decode_one(&expected), route_request(SerializeType::Json));
}

#[test]
fn json_escapes_property_separators_like_java() {
    // §3.1: a captured Java send header carries properties as \u0001 / \u0002.
    let mut ext_fields = ExtFields::new();
    ext_fields.insert(
        "i".to_owned(),
        "TAGS\u{1}TAG\u{2}WAIT\u{1}true\u{2}KEYS\u{1}ffff\u{2}".to_owned(),
    );
    let command = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, ext_fields);
    let wire = command.encode().unwrap();
    let header = std::str::from_utf8(&wire[8..]).unwrap();
    assert!(
        header.contains(r#""i":"TAGS\u0001TAG\u0002WAIT\u0001true\u0002KEYS\u0001ffff\u0002""#),
        "{header}"
    );
    assert_eq!(decode_one(&wire), command);
}

#[test]
fn json_decoding_is_lenient_like_java_peers() {
    let header = br#"{"version":"317","language":9,"code":"10","opaque":-5,"flag":null,
        "extFields":{"queueId":3,"batch":false,"gone":null,"nested":[1]},
        "serializeTypeCurrentRPC":"JSON","unknown":{"a":1}}"#;
    let command =
        RemotingCommand::decode_header(SerializeType::Json, header, Bytes::new()).unwrap();
    assert_eq!(command.code, 10);
    assert_eq!(command.version, 317);
    assert_eq!(command.language, LanguageCode::Go);
    assert_eq!(command.opaque, -5);
    assert_eq!(command.flag, 0);
    assert_eq!(command.ext_field("queueId"), Some("3"));
    assert_eq!(command.ext_field("batch"), Some("false"));
    assert_eq!(command.ext_field("gone"), None);
    assert_eq!(command.ext_field("nested"), Some("[1]"));

    let go = br#"{"code":0,"language":"GO","opaque":1,"flag":1,"remark":"x"}"#;
    let command = RemotingCommand::decode_header(SerializeType::Json, go, Bytes::new()).unwrap();
    assert_eq!(command.language, LanguageCode::Go);
    assert!(command.is_response());
    assert_eq!(command.remark.as_deref(), Some("x"));
}

#[test]
fn json_decoding_rejects_bad_types() {
    for header in [
        &br#"{"code":"abc"}"#[..],
        br#"{"code":4294967296}"#,
        br#"{"code":1.5}"#,
        br#"{"remark":5}"#,
        br#"{"extFields":"x"}"#,
        br"[]",
        b"",
        b"{",
    ] {
        let result = RemotingCommand::decode_header(SerializeType::Json, header, Bytes::new());
        assert!(
            matches!(result, Err(CommandDecodeError::Json { .. })),
            "{}: {result:?}",
            String::from_utf8_lossy(header)
        );
    }
}

#[test]
fn binary_drops_empty_values_and_remark() {
    let mut ext_fields = ExtFields::new();
    ext_fields.insert("kept".to_owned(), "v".to_owned());
    ext_fields.insert("empty".to_owned(), String::new());
    let command = RemotingCommand::response(0, Some(String::new()))
        .with_ext_fields(ext_fields)
        .with_serialize_type(SerializeType::RocketMq);
    let decoded = decode_one(&command.encode().unwrap());
    assert_eq!(decoded.remark, None);
    assert_eq!(decoded.ext_fields.len(), 1);
    assert_eq!(decoded.ext_field("kept"), Some("v"));
}

#[test]
fn binary_refuses_codes_wider_than_16_bits() {
    let command = RemotingCommand::request(RequestCode::POP_MESSAGE, ExtFields::new())
        .with_serialize_type(SerializeType::RocketMq);
    let mut dst = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        command.encode_to(&mut dst),
        Err(CommandEncodeError::CodeOutOfRange {
            code: RequestCode::POP_MESSAGE
        })
    );
    assert_eq!(
        &dst[..],
        b"keep",
        "a failed encode leaves the buffer as it was"
    );
    // JSON carries the full 32 bits.
    let json = command.with_serialize_type(SerializeType::Json);
    assert_eq!(
        decode_one(&json.encode().unwrap()).code,
        RequestCode::POP_MESSAGE
    );
}

#[test]
fn binary_rejects_truncated_and_negative_lengths() {
    let header = &ROUTE_REQUEST_BINARY[8..];
    for cut in 0..header.len() {
        let result =
            RemotingCommand::decode_header(SerializeType::RocketMq, &header[..cut], Bytes::new());
        assert!(
            matches!(result, Err(CommandDecodeError::BinaryTruncated { .. })),
            "cut at {cut}: {result:?}"
        );
    }
    let mut negative_remark = header.to_vec();
    negative_remark[13..17].copy_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(
        RemotingCommand::decode_header(SerializeType::RocketMq, &negative_remark, Bytes::new()),
        Err(CommandDecodeError::BinaryNegativeLength {
            field: "remark",
            offset: 13,
            length: -1
        })
    );
    let mut negative_key = header.to_vec();
    negative_key[21..23].copy_from_slice(&(-2i16).to_be_bytes());
    assert_eq!(
        RemotingCommand::decode_header(SerializeType::RocketMq, &negative_key, Bytes::new()),
        Err(CommandDecodeError::BinaryNegativeLength {
            field: "ext_key_len",
            offset: 21,
            length: -2
        })
    );
}

#[test]
fn header_only_encoding_matches_full_frame_prefix() {
    let body = Bytes::from_static(b"stored message bytes");
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let command = route_request(serialize_type)
            .with_body(body.clone())
            .mark_oneway();
        let whole = command.encode().unwrap();
        let header_only = command.encode_header_for_body_len(body.len()).unwrap();
        assert_eq!(&whole[..header_only.len()], &header_only[..]);
        assert_eq!(&whole[header_only.len()..], &body[..]);
        let decoded = decode_one(&whole);
        assert!(decoded.is_oneway());
        assert_eq!(decoded.body, body);
    }
}

#[test]
fn response_to_echoes_opaque_and_codec() {
    let request = route_request(SerializeType::RocketMq).with_opaque(77);
    let response = RemotingCommand::response_to(&request, 17).with_remark("no route");
    assert!(response.is_response());
    assert!(!response.is_oneway());
    assert_eq!(response.opaque, 77);
    assert_eq!(response.serialize_type, SerializeType::RocketMq);
    assert_eq!(decode_one(&response.encode().unwrap()), response);
}
