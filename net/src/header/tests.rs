use super::*;
use crate::code::RequestCode;

fn fields(pairs: &[(&str, &str)]) -> ExtFields {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn send_v2_short_keys_map_to_long_names() {
    let wire = fields(&[
        ("a", "pg"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "-1"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", "TAGS\u{1}TagA\u{2}"),
        ("m", "true"),
        ("n", "broker-a"),
        ("ns", "ignored generic key"),
    ]);
    let header =
        SendMessageRequestHeader::from_command(RequestCode::SEND_BATCH_MESSAGE, &wire).unwrap();
    assert_eq!(header.producer_group, "pg");
    assert_eq!(header.topic, "TopicTest");
    assert_eq!(header.queue_id, -1);
    assert_eq!(header.born_timestamp, 1_700_000_000_000);
    assert_eq!(header.batch, Some(true));
    assert_eq!(header.reconsume_times, None);
    assert_eq!(header.broker_name.as_deref(), Some("broker-a"));

    let mut expected = wire.clone();
    expected.remove("ns");
    assert_eq!(
        header.to_command_fields(RequestCode::SEND_MESSAGE_V2),
        expected
    );
    let v1 = header.to_command_fields(RequestCode::SEND_MESSAGE);
    assert_eq!(v1.get("producerGroup").map(String::as_str), Some("pg"));
    assert_eq!(
        SendMessageRequestHeader::from_command(RequestCode::SEND_MESSAGE, &v1).unwrap(),
        header
    );
}

#[test]
fn missing_required_field_is_named() {
    let wire = fields(&[("consumerGroup", "cg"), ("topic", "T")]);
    assert_eq!(
        QueryConsumerOffsetRequestHeader::from_ext_fields(&wire),
        Err(HeaderError::Missing { field: "queueId" })
    );
    assert_eq!(
        SendMessageRequestHeader::from_command(RequestCode::SEND_MESSAGE_V2, &ExtFields::new()),
        Err(HeaderError::Missing { field: "a" })
    );
}

#[test]
fn wrong_typed_values_are_named_and_quoted_briefly() {
    let long_garbage = "x".repeat(1000);
    let wire = fields(&[
        ("consumerGroup", "cg"),
        ("topic", "T"),
        ("queueId", "0"),
        ("commitOffset", &long_garbage),
    ]);
    match UpdateConsumerOffsetRequestHeader::from_ext_fields(&wire) {
        Err(HeaderError::Invalid {
            field,
            value,
            expected,
        }) => {
            assert_eq!(field, "commitOffset");
            assert_eq!(value.len(), 64);
            assert_eq!(expected, "64-bit integer");
        }
        other => panic!("unexpected {other:?}"),
    }
    let wire = fields(&[("topic", "T"), ("queueId", "2147483648")]);
    assert!(matches!(
        GetMinOffsetRequestHeader::from_ext_fields(&wire),
        Err(HeaderError::Invalid {
            field: "queueId",
            ..
        })
    ));
    let wire = fields(&[("topic", "T"), ("queueId", "1"), ("committed", "yes")]);
    assert!(matches!(
        GetMaxOffsetRequestHeader::from_ext_fields(&wire),
        Err(HeaderError::Invalid {
            field: "committed",
            ..
        })
    ));
}

#[test]
fn pull_response_always_writes_the_four_offsets() {
    let header = PullMessageResponseHeader {
        next_begin_offset: 5,
        max_offset: 9,
        ..Default::default()
    };
    let wire = header.to_ext_fields();
    for key in [
        "suggestWhichBrokerId",
        "nextBeginOffset",
        "minOffset",
        "maxOffset",
    ] {
        assert!(wire.contains_key(key), "{key}");
    }
    assert_eq!(wire.len(), 4);
    assert_eq!(
        PullMessageResponseHeader::from_ext_fields(&wire),
        Ok(header)
    );
}

#[test]
fn lock_body_decodes_spec_example_and_encodes_alphabetically() {
    let spec = br#"{"consumerGroup":"cg","clientId":"10.0.0.5@123#456","onlyThisBroker":false,
 "mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}]}"#;
    let body = LockBatchRequestBody::from_json(spec).unwrap();
    assert_eq!(body.consumer_group.as_deref(), Some("cg"));
    assert_eq!(body.mq_set.len(), 1);
    assert_eq!(
        String::from_utf8(body.to_json()).unwrap(),
        r#"{"clientId":"10.0.0.5@123#456","consumerGroup":"cg","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}],"onlyThisBroker":false}"#
    );
    let response = LockBatchResponseBody {
        lock_ok_mq_set: body.mq_set.clone(),
    };
    assert!(String::from_utf8(response.to_json())
        .unwrap()
        .starts_with(r#"{"lockOKMQSet":[{"brokerName""#));
    assert!(LockBatchRequestBody::from_json(b"{\"mqSet\":7}").is_err());
}

#[test]
fn consumer_list_body_matches_spec() {
    let spec = br#"{"consumerIdList":["10.0.0.5@123#456","10.0.0.6@789#012"]}"#;
    let body = ConsumerListBody::from_json(spec).unwrap();
    assert_eq!(body.consumer_id_list.len(), 2);
    assert_eq!(&body.to_json()[..], &spec[..]);
}
