//! "Arbitrary bytes never panic" property tests, one per decoder. Each decoder
//! must return `Ok` or an error for any input; proptest turns a panic into a
//! failure and prints the (shrunk) input and seed.
//!
//! Besides uniformly random bytes, each test also mutates a valid encoding,
//! which reaches far deeper into the decoder than noise does.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use ringmq_net::command::ExtFields;
use ringmq_net::frame::{FrameDecoder, SerializeType};
use ringmq_net::header::*;
use ringmq_net::message::{self, BatchRecord, OffsetMessageId, UniqKey};
use ringmq_net::RemotingCommand;

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    if !bytes.is_empty() {
        for (position, value) in edits {
            let index = position % bytes.len();
            bytes[index] = *value;
        }
    }
    bytes
}

fn valid_binary_header() -> Vec<u8> {
    let mut ext_fields = ExtFields::new();
    ext_fields.insert("topic".into(), "TopicTest".into());
    ext_fields.insert("queueId".into(), "3".into());
    let command = RemotingCommand::request(11, ext_fields)
        .with_remark("remark")
        .with_serialize_type(SerializeType::RocketMq);
    command.encode().unwrap()[8..].to_vec()
}

fn valid_json_header() -> Vec<u8> {
    let mut ext_fields = ExtFields::new();
    ext_fields.insert("i".into(), "TAGS\u{1}A\u{2}".into());
    let command = RemotingCommand::request(310, ext_fields).with_remark("r\"é");
    command.encode().unwrap()[8..].to_vec()
}

fn valid_batch() -> Vec<u8> {
    let mut wire = BytesMut::new();
    for properties in ["K\u{1}v\u{2}", ""] {
        let record = BatchRecord {
            flag: 1,
            body: b"body",
            properties,
        };
        message::encode_batch_record(&record, &mut wire).unwrap();
    }
    wire.to_vec()
}

fn exercise_frame_decoder(bytes: &[u8], chunk: usize, frame_size_bytes_max: usize) {
    let decoder = FrameDecoder::new(frame_size_bytes_max);
    let mut buffer = BytesMut::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buffer.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    let _ = RemotingCommand::decode(frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

proptest! {
    #[test]
    fn frame_decoder_never_panics(
        bytes in vec(any::<u8>(), 0..256),
        chunk in 1usize..32,
        frame_size_bytes_max in 0usize..512,
    ) {
        exercise_frame_decoder(&bytes, chunk, frame_size_bytes_max);
    }

    #[test]
    fn frame_decoder_never_panics_on_small_prefixes(
        frame_length in -8i32..64,
        header_word in prop_oneof![any::<u32>(), (0u32..2, 0u32..64).prop_map(|(t, l)| t << 24 | l)],
        tail in vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = frame_length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&header_word.to_be_bytes());
        bytes.extend_from_slice(&tail);
        exercise_frame_decoder(&bytes, 7, 1024);
    }

    #[test]
    fn json_header_decoder_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        let _ = RemotingCommand::decode_header(SerializeType::Json, &bytes, Bytes::new());
    }

    #[test]
    fn json_header_decoder_never_panics_on_json_like_text(text in "[{}\\[\\]\":,0-9a-zA-Z \\\\u-]{0,128}") {
        let _ = RemotingCommand::decode_header(SerializeType::Json, text.as_bytes(), Bytes::new());
    }

    #[test]
    fn json_header_decoder_never_panics_on_mutations(edits in vec((any::<usize>(), any::<u8>()), 1..6)) {
        let bytes = mutate(valid_json_header(), &edits);
        let _ = RemotingCommand::decode_header(SerializeType::Json, &bytes, Bytes::new());
    }

    #[test]
    fn binary_header_decoder_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        let _ = RemotingCommand::decode_header(SerializeType::RocketMq, &bytes, Bytes::new());
    }

    #[test]
    fn binary_header_decoder_never_panics_on_mutations(
        edits in vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = mutate(valid_binary_header(), &edits);
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = RemotingCommand::decode_header(SerializeType::RocketMq, &bytes, Bytes::new());
    }

    #[test]
    fn typed_headers_never_panic(fields in proptest::collection::btree_map(
        prop_oneof![
            Just("a".to_owned()), Just("e".to_owned()), Just("g".to_owned()), Just("m".to_owned()),
            Just("queueId".to_owned()), Just("queueOffset".to_owned()), Just("topic".to_owned()),
            Just("consumerGroup".to_owned()), Just("committed".to_owned()), Just("offset".to_owned()),
            Just("group".to_owned()), Just("delayLevel".to_owned()), Just("groupName".to_owned()),
            Just("cleanOffset".to_owned()), "\\PC{0,8}",
        ],
        "\\PC{0,12}|-?[0-9]{1,20}|true|false",
        0..12,
    )) {
        let fields: ExtFields = fields;
        let _ = SendMessageRequestHeader::from_command(310, &fields);
        let _ = SendMessageRequestHeader::from_command(10, &fields);
        let _ = PullMessageRequestHeader::from_ext_fields(&fields);
        let _ = QueryConsumerOffsetRequestHeader::from_ext_fields(&fields);
        let _ = GetMaxOffsetRequestHeader::from_ext_fields(&fields);
        let _ = CreateTopicRequestHeader::from_ext_fields(&fields);
        let _ = RegisterBrokerRequestHeader::from_ext_fields(&fields);
        let _ = ConsumerSendMsgBackRequestHeader::from_ext_fields(&fields);
        let _ = DeleteSubscriptionGroupRequestHeader::from_ext_fields(&fields);
        let _ = GetSubscriptionGroupConfigRequestHeader::from_ext_fields(&fields);
    }

    #[test]
    fn json_bodies_never_panic(bytes in vec(any::<u8>(), 0..128)) {
        let _ = LockBatchRequestBody::from_json(&bytes);
        let _ = LockBatchResponseBody::from_json(&bytes);
        let _ = UnlockBatchRequestBody::from_json(&bytes);
        let _ = ConsumerListBody::from_json(&bytes);
    }

    #[test]
    fn properties_decoder_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        let _ = message::decode_properties(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = message::iter_properties(text).count();
            let _ = message::property_value(text, "TAGS");
        }
    }

    #[test]
    fn properties_decoder_never_panics_on_separator_soup(text in "[a\\x01\\x02é]{0,64}") {
        let _ = message::decode_properties(text.as_bytes());
    }

    #[test]
    fn batch_decoder_never_panics(bytes in vec(any::<u8>(), 0..256), messages_max in 0usize..8) {
        let _ = message::decode_batch(&bytes, messages_max);
    }

    #[test]
    fn batch_decoder_never_panics_on_mutations(
        edits in vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = mutate(valid_batch(), &edits);
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = message::decode_batch(&bytes, 16);
    }

    #[test]
    fn message_id_decoders_never_panic(text in "[0-9A-Fa-fxé]{0,60}") {
        let _ = OffsetMessageId::decode(&text);
        let _ = UniqKey::decode(&text);
    }
}
