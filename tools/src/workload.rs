//! OpenMessaging Benchmark workload files: the flat `key: value` YAML
//! those files are written in (no nesting, no lists), read by hand so the
//! tool needs no YAML library. Unknown keys are refused, so a typo does not
//! silently run a different benchmark.

use anyhow::{bail, Context, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub name: String,
    pub topics: usize,
    pub partitions_per_topic: usize,
    pub message_size: usize,
    pub payload_file: Option<String>,
    pub subscriptions_per_topic: usize,
    pub consumer_per_subscription: usize,
    pub producers_per_topic: usize,
    /// Messages per second across all producers; 0 = as fast as possible.
    pub producer_rate: f64,
    pub consumer_backlog_size_gb: f64,
    pub test_duration_minutes: f64,
    pub warmup_duration_minutes: f64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            name: String::new(),
            topics: 1,
            partitions_per_topic: 1,
            message_size: 1024,
            payload_file: None,
            subscriptions_per_topic: 1,
            consumer_per_subscription: 1,
            producers_per_topic: 1,
            producer_rate: 0.0,
            consumer_backlog_size_gb: 0.0,
            test_duration_minutes: 1.0,
            warmup_duration_minutes: 0.0,
        }
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v)
}

pub fn parse(text: &str) -> Result<Workload> {
    let mut w = Workload::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split(" #").next().unwrap_or("").trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line.trim() == "---" {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            bail!("line {}: expected `key: value`", n + 1);
        };
        let (key, value) = (key.trim(), unquote(value));
        let ctx = || format!("line {}: {key}: {value:?}", n + 1);
        match key {
            "name" => w.name = value.to_string(),
            "topics" => w.topics = value.parse().with_context(ctx)?,
            "partitionsPerTopic" => w.partitions_per_topic = value.parse().with_context(ctx)?,
            "messageSize" => w.message_size = value.parse().with_context(ctx)?,
            "payloadFile" => w.payload_file = Some(value.to_string()),
            "subscriptionsPerTopic" => {
                w.subscriptions_per_topic = value.parse().with_context(ctx)?;
            }
            "consumerPerSubscription" => {
                w.consumer_per_subscription = value.parse().with_context(ctx)?;
            }
            "producersPerTopic" => w.producers_per_topic = value.parse().with_context(ctx)?,
            "producerRate" => w.producer_rate = value.parse().with_context(ctx)?,
            "consumerBacklogSizeGB" => {
                w.consumer_backlog_size_gb = value.parse().with_context(ctx)?;
            }
            "testDurationMinutes" => w.test_duration_minutes = value.parse().with_context(ctx)?,
            "warmupDurationMinutes" => {
                w.warmup_duration_minutes = value.parse().with_context(ctx)?;
            }
            // OMB keys that do not change what mqbench does.
            "keyDistributor"
            | "useRandomizedPayloads"
            | "randomBytesRatio"
            | "randomizedPayloadPoolSize" => {}
            other => bail!("line {}: unknown workload key {other:?}", n + 1),
        }
    }
    if w.topics == 0 || w.partitions_per_topic == 0 || w.producers_per_topic == 0 {
        bail!("topics, partitionsPerTopic and producersPerTopic must be at least 1");
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_omb_workload() {
        let w = parse(
            "name: 1 topic / 16 partitions / 1Kb\n\ntopics: 1\npartitionsPerTopic: 16\n\
             messageSize: 1024\npayloadFile: \"payload/payload-1Kb.data\"\nsubscriptionsPerTopic: 1\n\
             consumerPerSubscription: 1\nproducersPerTopic: 1\nproducerRate: 50000\n\
             consumerBacklogSizeGB: 0\ntestDurationMinutes: 15\n",
        )
        .unwrap();
        assert_eq!(w.partitions_per_topic, 16);
        assert_eq!(w.payload_file.as_deref(), Some("payload/payload-1Kb.data"));
        assert_eq!(w.producer_rate, 50000.0);
        assert!(parse("topicz: 1\n").is_err());
    }
}
