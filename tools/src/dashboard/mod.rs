//! `mqdashboard`: a web dashboard for a RocketMQ-protocol cluster, in the
//! spirit of rocketmq-dashboard. A separate program, not part of the
//! broker: it sees the whole cluster through the name server (every broker
//! and shard, RingMQ or not), like `mqadmin`, whose commands answer every
//! API call, and a page load never costs a shard anything but the admin
//! requests it makes. The page and its script are embedded in the binary
//! (no CDN: the machines have no internet).
//!
//! Pages: cluster and shards (rates, disk, replication), topics (queue
//! offsets, creation), consumer groups (lag per queue, offset reset with
//! confirmation), message lookup by id, key or offset, live throughput.
//! With `aclEnable=true` it signs its requests with `--accessKey` /
//! `--secretKey`. It listens on 127.0.0.1 unless told otherwise: it has no
//! login of its own.

pub mod api;
pub mod http;

/// The page, its script and its style.
pub const INDEX_HTML: &str = include_str!("assets/index.html");
pub const APP_JS: &str = include_str!("assets/app.js");
pub const STYLE_CSS: &str = include_str!("assets/style.css");
