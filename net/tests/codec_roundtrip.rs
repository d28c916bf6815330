//! Round-trip property tests: whatever we encode, we decode to the same value,
//! through every codec and with the byte stream cut at arbitrary points.
//!
//! A failing case is shrunk and printed by proptest and its seed saved under
//! `proptest-regressions/`, so a failure replays exactly.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use bytes::{Bytes, BytesMut};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use ringmq_net::command::ExtFields;
use ringmq_net::frame::{Frame, FrameDecoder, SerializeType};
use ringmq_net::header::*;
use ringmq_net::message::{self, BatchRecord, OffsetMessageId, UniqKey};
use ringmq_net::{LanguageCode, RemotingCommand};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn language() -> impl Strategy<Value = LanguageCode> {
    (0u8..14).prop_map(LanguageCode::from_u8)
}

/// Text that survives the binary codec: non-empty (empty means null there).
fn non_empty_text() -> impl Strategy<Value = String> {
    "\\PC{1,12}|[\\x00-\\x1f\"\\\\é😀]{1,6}"
}

/// Any text, control characters and astral-plane characters included.
fn any_text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn json_command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i32>(),
        language(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(any_text()),
        btree_map(any_text(), any_text(), 0..6),
        vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(code, language, version, opaque, flag, remark, ext_fields, body)| RemotingCommand {
                code,
                language,
                version,
                opaque,
                flag,
                remark,
                ext_fields,
                body: Bytes::from(body),
                serialize_type: SerializeType::Json,
            },
        )
}

fn binary_command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        language(),
        any::<i16>(),
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(non_empty_text()),
        btree_map(non_empty_text(), non_empty_text(), 0..6),
        vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(code, language, version, opaque, flag, remark, ext_fields, body)| RemotingCommand {
                code: i32::from(code),
                language,
                version: i32::from(version),
                opaque,
                flag,
                remark,
                ext_fields,
                body: Bytes::from(body),
                serialize_type: SerializeType::RocketMq,
            },
        )
}

/// Feeds `wire` to a decoder in chunks of the given sizes, collecting frames.
fn decode_in_chunks(wire: &[u8], chunk_sizes: &[usize]) -> Vec<Frame> {
    let decoder = FrameDecoder::default();
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap()).clamp(1, rest.len());
        buffer.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        while let Some(frame) = decoder.decode(&mut buffer).expect("valid stream") {
            frames.push(frame);
        }
    }
    assert!(buffer.is_empty(), "whole stream consumed");
    frames
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

/// Property names and values the encoder accepts: no separators, non-empty.
fn property_text() -> impl Strategy<Value = String> {
    "[^\\x01\\x02]{1,10}"
}

proptest! {
    #[test]
    fn frames_survive_any_chunking(
        frames in vec((any::<bool>(), vec(any::<u8>(), 0..40), vec(any::<u8>(), 0..80)), 1..5),
        chunk_sizes in vec(1usize..20, 1..8),
    ) {
        let frames: Vec<Frame> = frames
            .into_iter()
            .map(|(binary, header, body)| Frame {
                serialize_type: if binary { SerializeType::RocketMq } else { SerializeType::Json },
                header: Bytes::from(header),
                body: Bytes::from(body),
            })
            .collect();
        let mut wire = BytesMut::new();
        for frame in &frames {
            frame.encode_to(&mut wire).unwrap();
        }
        prop_assert_eq!(decode_in_chunks(&wire, &chunk_sizes), frames);
    }

    #[test]
    fn json_commands_round_trip(command in json_command(), chunk_sizes in vec(1usize..50, 1..4)) {
        let wire = command.encode().unwrap();
        let frames = decode_in_chunks(&wire, &chunk_sizes);
        prop_assert_eq!(frames.len(), 1);
        let decoded = RemotingCommand::decode(frames.into_iter().next().unwrap()).unwrap();
        prop_assert_eq!(decoded, command);
    }

    #[test]
    fn binary_commands_round_trip(command in binary_command(), chunk_sizes in vec(1usize..50, 1..4)) {
        let wire = command.encode().unwrap();
        let frames = decode_in_chunks(&wire, &chunk_sizes);
        prop_assert_eq!(frames.len(), 1);
        let decoded = RemotingCommand::decode(frames.into_iter().next().unwrap()).unwrap();
        prop_assert_eq!(decoded, command);
    }

    #[test]
    fn header_only_encoding_is_a_prefix_of_the_frame(command in json_command(), binary in any::<bool>()) {
        let mut command = command;
        if binary {
            command.serialize_type = SerializeType::RocketMq;
            command.code = i32::from(command.code as i16);
            command.version = i32::from(command.version as i16);
        }
        let whole = command.encode().unwrap();
        let header = command.encode_header_for_body_len(command.body.len()).unwrap();
        prop_assert_eq!(&whole[..header.len()], &header[..]);
        prop_assert_eq!(&whole[header.len()..], &command.body[..]);
    }

    #[test]
    fn send_headers_round_trip_through_both_key_sets_and_codecs(
        strings in vec(non_empty_text(), 4),
        ints in vec(any::<i32>(), 4),
        born_timestamp in any::<i64>(),
        properties in proptest::option::of(non_empty_text()),
        options in (any::<Option<i32>>(), any::<Option<bool>>(), any::<Option<i32>>(), any::<Option<bool>>()),
        broker_name in proptest::option::of(non_empty_text()),
        code in prop_oneof![Just(10), Just(310), Just(320), Just(324), Just(325)],
        binary in any::<bool>(),
    ) {
        let header = SendMessageRequestHeader {
            producer_group: strings[0].clone(),
            topic: strings[1].clone(),
            default_topic: strings[2].clone(),
            default_topic_queue_nums: ints[0],
            queue_id: ints[1],
            sys_flag: ints[2],
            born_timestamp,
            flag: ints[3],
            properties,
            reconsume_times: options.0,
            unit_mode: options.1,
            max_reconsume_times: options.2,
            batch: options.3,
            broker_name,
        };
        let command = RemotingCommand::request(code, header.to_command_fields(code))
            .with_serialize_type(if binary { SerializeType::RocketMq } else { SerializeType::Json });
        let wire = command.encode().unwrap();
        let frame = FrameDecoder::default().decode(&mut BytesMut::from(&wire[..])).unwrap().unwrap();
        let decoded = RemotingCommand::decode(frame).unwrap();
        prop_assert_eq!(
            SendMessageRequestHeader::from_command(decoded.code, &decoded.ext_fields),
            Ok(header)
        );
    }

    #[test]
    fn pull_and_transaction_headers_round_trip(
        strings in vec(non_empty_text(), 4),
        longs in vec(any::<i64>(), 6),
        ints in vec(any::<i32>(), 4),
        optional in proptest::option::of(non_empty_text()),
        flag in any::<Option<bool>>(),
    ) {
        let pull = PullMessageRequestHeader {
            consumer_group: strings[0].clone(),
            topic: strings[1].clone(),
            queue_id: ints[0],
            queue_offset: longs[0],
            max_msg_nums: ints[1],
            sys_flag: ints[2],
            commit_offset: longs[1],
            suspend_timeout_millis: longs[2],
            subscription: optional.clone(),
            sub_version: longs[3],
            expression_type: optional.clone(),
            max_msg_bytes: Some(ints[3]),
            request_source: None,
            proxy_forward_client_id: optional.clone(),
            broker_name: None,
        };
        prop_assert_eq!(PullMessageRequestHeader::from_ext_fields(&pull.to_ext_fields()), Ok(pull));

        let response = PullMessageResponseHeader {
            suggest_which_broker_id: longs[0],
            next_begin_offset: longs[1],
            min_offset: longs[2],
            max_offset: longs[3],
            offset_delta: Some(longs[4]),
            topic_sys_flag: Some(ints[0]),
            group_sys_flag: None,
            forbidden_type: None,
        };
        prop_assert_eq!(PullMessageResponseHeader::from_ext_fields(&response.to_ext_fields()), Ok(response));

        let end = EndTransactionRequestHeader {
            topic: optional.clone(),
            producer_group: strings[2].clone(),
            tran_state_table_offset: longs[4],
            commit_log_offset: longs[5],
            commit_or_rollback: ints[1],
            from_transaction_check: flag,
            msg_id: strings[3].clone(),
            transaction_id: optional,
            broker_name: None,
        };
        prop_assert_eq!(EndTransactionRequestHeader::from_ext_fields(&end.to_ext_fields()), Ok(end));
    }

    #[test]
    fn properties_round_trip(properties in btree_map(property_text(), property_text(), 0..12)) {
        let text = message::encode_properties(&properties).unwrap();
        prop_assert_eq!(message::decode_properties(text.as_bytes()), Ok(properties.clone()));
        for (name, value) in &properties {
            prop_assert_eq!(message::property_value(&text, name), Some(value.as_str()));
        }
    }

    #[test]
    fn batch_bodies_round_trip(records in vec((any::<i32>(), vec(any::<u8>(), 0..50), any_text()), 0..8)) {
        let records: Vec<BatchRecord<'_>> = records
            .iter()
            .map(|(flag, body, properties)| BatchRecord { flag: *flag, body, properties })
            .collect();
        let mut wire = BytesMut::new();
        for record in &records {
            message::encode_batch_record(record, &mut wire).unwrap();
        }
        prop_assert_eq!(
            wire.len(),
            records.iter().map(BatchRecord::encoded_len).sum::<usize>()
        );
        prop_assert_eq!(message::decode_batch(&wire, records.len()), Ok(records));
    }

    #[test]
    fn offset_message_ids_round_trip(store_host in socket_addr(), commit_log_offset in any::<i64>()) {
        let id = OffsetMessageId { store_host, commit_log_offset };
        let text = id.encode();
        prop_assert_eq!(text.len(), if store_host.is_ipv4() { 32 } else { 56 });
        prop_assert_eq!(OffsetMessageId::decode(&text), Ok(id));
        prop_assert_eq!(OffsetMessageId::decode(&text.to_lowercase()), Ok(id));
    }

    #[test]
    fn uniq_keys_round_trip(
        host in socket_addr(),
        pid in any::<u16>(),
        class_loader_hash in any::<i32>(),
        millis_since_month_start in any::<i32>(),
        counter in any::<u16>(),
    ) {
        let key = UniqKey { ip: host.ip(), pid, class_loader_hash, millis_since_month_start, counter };
        prop_assert_eq!(UniqKey::decode(&key.encode()), Ok(key));
    }

    #[test]
    fn uniq_key_generator_never_panics_and_round_trips(host in socket_addr(), times in vec(any::<i64>(), 1..10)) {
        let mut generator = message::UniqKeyGenerator::new(host.ip(), 7, 7);
        for now_ms in times {
            let key = generator.next_key(now_ms);
            prop_assert_eq!(UniqKey::decode(&key.encode()), Ok(key));
        }
    }

    #[test]
    fn java_hash_matches_definition(text in any_text()) {
        let mut expected: i32 = 0;
        for unit in text.encode_utf16() {
            expected = expected.wrapping_mul(31).wrapping_add(i32::from(unit));
        }
        prop_assert_eq!(message::java_string_hash(&text), expected);
    }
}

#[test]
fn empty_ext_fields_are_omitted_but_decode_the_same() {
    let command = RemotingCommand::request(34, ExtFields::new());
    let wire = command.encode().unwrap();
    assert!(!String::from_utf8_lossy(&wire).contains("extFields"));
}
