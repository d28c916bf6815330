use super::*;
use proptest::prelude::*;

fn v4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port)
}

/// One record written out by hand from `spec/store-format.md` §2.1, field by
/// field, independent of the encoder.
#[test]
fn golden_record_matches_spec_layout() {
    let msg = MessageIn {
        topic: "T",
        queue_id: QueueId(1),
        flag: 7,
        body: b"hi",
        properties: b"TAGS\x01A\x02",
        sys_flag: 0,
        born_timestamp_ms: 0x0102_0304_0506_0708,
        born_host: v4([127, 0, 0, 1], 9000),
        store_host: v4([10, 0, 0, 1], 10911),
        reconsume_times: 3,
        prepared_transaction_offset: 0,
    };
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0, 0, 0, 101][..],                 // TOTALSIZE = 91 + 2 + 1 + 7
        &[0xDA, 0xA3, 0x20, 0xA7],           // MAGICCODE V1
        &[0x58, 0x93, 0x2A, 0xAC],           // BODYCRC = crc32("hi") & 0x7FFFFFFF
        &[0, 0, 0, 1],                       // QUEUEID
        &[0, 0, 0, 7],                       // FLAG
        &[0, 0, 0, 0, 0, 0, 0, 5],           // QUEUEOFFSET
        &[0, 0, 0, 0, 0, 0, 0x10, 0],        // PHYSICALOFFSET = 4096
        &[0, 0, 0, 0],                       // SYSFLAG
        &[1, 2, 3, 4, 5, 6, 7, 8],           // BORNTIMESTAMP
        &[127, 0, 0, 1, 0, 0, 0x23, 0x28],   // BORNHOST 127.0.0.1:9000
        &[0, 0, 0, 0, 0, 0, 0x03, 0xE8],     // STORETIMESTAMP = 1000
        &[10, 0, 0, 1, 0, 0, 0x2A, 0x9F],    // STOREHOST 10.0.0.1:10911
        &[0, 0, 0, 3],                       // RECONSUMETIMES
        &[0, 0, 0, 0, 0, 0, 0, 0],           // PREPARED_TRANSACTION_OFFSET
        &[0, 0, 0, 2],                       // BODYLENGTH
        b"hi",                               // BODY
        &[1],                                // TOPICLENGTH (V1: one byte)
        b"T",                                // TOPIC
        &[0, 7],                             // PROPERTIESLENGTH
        b"TAGS\x01A\x02",                    // PROPERTIES
    ]
    .concat();

    let size = record_size(&msg).unwrap();
    assert_eq!(size, 101);
    let mut out = Vec::new();
    let at = Assigned {
        queue_offset: QueueOffset(5),
        physical_offset: CommitLogOffset(4096),
        store_timestamp_ms: 1000,
    };
    encode_record(&msg, size, at, &mut out);
    assert_eq!(out, expected);

    let view = RecordView::parse(&expected).unwrap();
    view.verify_crc().unwrap();
    assert_eq!(view.store_timestamp_ms, 1000);
    assert_eq!(read_store_timestamp(&expected), Some(1000));
    assert_eq!(view.property("TAGS"), Some("A"));
}

#[test]
fn blank_filler_layout() {
    let mut out = Vec::new();
    encode_blank(300, &mut out);
    assert_eq!(out, [0, 0, 1, 44, 0xCB, 0xD4, 0x31, 0x94]);
    assert_eq!(read_head(&out), Ok(Head::Blank));
    assert_eq!(read_head(&[0u8; 8]), Ok(Head::Empty));
}

#[test]
fn java_hash_matches_known_values() {
    // Values of "TagA".hashCode() and "".hashCode() in Java.
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("TagA"), 2_598_919);
    assert_eq!(java_string_hash("hello"), 99_162_322);
    assert_eq!(java_string_hash_parts(&["he", "llo"]), 99_162_322);
    // Beyond ASCII, Java hashes UTF-16 code units (a surrogate pair for
    // U+1F600); ASCII and non-ASCII parts mix.
    assert_eq!(java_string_hash("é"), 233);
    assert_eq!(java_string_hash("日本"), 835_047);
    assert_eq!(java_string_hash("😀"), 1_772_899);
    assert_eq!(
        java_string_hash_parts(&["a", "日本"]),
        java_string_hash("a日本")
    );
    assert_eq!(java_string_hash("a日本"), 97 * 31 * 31 + 835_047);
    // Wraps like Java int arithmetic.
    assert_eq!(
        java_string_hash("polygenelubricants"),
        i32::MIN,
        "a string whose Java hashCode is Integer.MIN_VALUE"
    );
}

fn arb_host() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| v4(a, p)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(a, p)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), p)),
    ]
}

proptest! {
    #[test]
    fn record_round_trips(
        topic in "[a-zA-Z0-9_%-]{1,200}",
        queue_id in any::<i32>(),
        flag in any::<i32>(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        properties in proptest::collection::vec(any::<u8>(), 0..512),
        sys_flag in any::<i32>(),
        born in any::<i64>(),
        born_host in arb_host(),
        store_host in arb_host(),
        reconsume in any::<i32>(),
        prepared in any::<i64>(),
        queue_offset in 0u64..(1 << 62),
        physical_offset in 0u64..(1 << 62),
        store_ts in any::<i64>(),
    ) {
        let msg = MessageIn {
            topic: &topic, queue_id: QueueId(queue_id), flag, body: &body, properties: &properties, sys_flag,
            born_timestamp_ms: born, born_host, store_host, reconsume_times: reconsume,
            prepared_transaction_offset: prepared,
        };
        if properties.last() == Some(&0) {
            prop_assert_eq!(record_size(&msg), Err(IllegalMessage::PropertiesEndWithNul));
            return Ok(());
        }
        let size = record_size(&msg).unwrap();
        let mut out = vec![0xEE; 3];
        encode_record(&msg, size, Assigned { queue_offset: QueueOffset(queue_offset), physical_offset: CommitLogOffset(physical_offset), store_timestamp_ms: store_ts }, &mut out);
        let v = RecordView::parse(&out[3..]).unwrap();
        v.verify_crc().unwrap();
        prop_assert_eq!(v.size_bytes(), size);
        prop_assert_eq!(v.topic, topic.as_str());
        prop_assert_eq!(v.queue_id, queue_id);
        prop_assert_eq!(v.flag, flag);
        prop_assert_eq!(v.body, &body[..]);
        prop_assert_eq!(v.properties, &properties[..]);
        prop_assert_eq!(v.born_timestamp_ms, born);
        prop_assert_eq!(v.born_host, born_host);
        prop_assert_eq!(v.store_host, store_host);
        prop_assert_eq!(v.store_timestamp_ms, store_ts);
        prop_assert_eq!(read_store_timestamp(&out[3..]), Some(store_ts));
        prop_assert_eq!(v.reconsume_times, reconsume);
        prop_assert_eq!(v.prepared_transaction_offset, prepared);
        prop_assert_eq!(v.queue_offset as u64, queue_offset);
        prop_assert_eq!(v.physical_offset as u64, physical_offset);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_head(&bytes);
        if let Ok(v) = RecordView::parse(&bytes) {
            let _ = v.verify_crc();
            prop_assert!(v.size_bytes() <= bytes.len());
        }
        let _ = property(&bytes, "TAGS");
        let _ = read_store_timestamp(&bytes);
    }

    #[test]
    fn corrupted_records_are_rejected(pos in 0usize..101, xor in 1u8..=255) {
        let msg = MessageIn {
            topic: "T", queue_id: QueueId(1), flag: 0, body: b"hi", properties: b"TAGS\x01A\x02",
            sys_flag: 0, born_timestamp_ms: 1, born_host: v4([127,0,0,1], 1),
            store_host: v4([127,0,0,1], 2), reconsume_times: 0, prepared_transaction_offset: 0,
        };
        let mut out = Vec::new();
        encode_record(&msg, 101, Assigned { queue_offset: QueueOffset(0), physical_offset: CommitLogOffset(0), store_timestamp_ms: 0 }, &mut out);
        out[pos] ^= xor;
        // A flipped bit in a length, magic or the body must be caught; flips
        // in other fixed fields change values but not validity.
        let result = RecordView::parse(&out).and_then(|v| v.verify_crc());
        let structural = pos < 12 || (84..88).contains(&pos) || (88..90).contains(&pos) || pos == 90 || (92..94).contains(&pos);
        if structural {
            prop_assert!(result.is_err(), "flip at {} accepted", pos);
        }
    }
}

/// Waiting messages' consume-queue tag codes are times the broker reads
/// without reading records: store time in the schedule topic, delivery
/// time in the timer topic; everything else the tag's hash.
#[test]
fn tag_codes_of_waiting_messages_are_times() {
    let code = |topic: &str, properties: &[u8]| {
        let msg = MessageIn {
            topic,
            queue_id: QueueId(0),
            flag: 0,
            body: b"b",
            properties,
            sys_flag: 0,
            born_timestamp_ms: 1,
            born_host: v4([127, 0, 0, 1], 1),
            store_host: v4([127, 0, 0, 1], 2),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        let size = record_size(&msg).unwrap();
        let mut out = Vec::new();
        let at = Assigned {
            queue_offset: QueueOffset(0),
            physical_offset: CommitLogOffset(0),
            store_timestamp_ms: 5_000,
        };
        encode_record(&msg, size, at, &mut out);
        crate::dispatch::tags_code(&RecordView::parse(&out).unwrap())
    };
    let props = b"TAGS\x01A\x02TIMER_OUT_MS\x019000\x02";
    assert_eq!(code(crate::dispatch::SCHEDULE_TOPIC, props), 5_000);
    assert_eq!(code(crate::dispatch::TIMER_TOPIC, props), 9_000);
    assert_eq!(code("T", props), i64::from(java_string_hash("A")));
}
