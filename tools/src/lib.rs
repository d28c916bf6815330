//! RingMQ's operator tools. `mqbench` drives any RocketMQ-protocol broker
//! (RingMQ, rocketmq-rust, Apache RocketMQ) through `ringmq-net`'s client.

pub mod admin;
pub mod auth;
pub mod dashboard;
pub mod load;
pub mod promtext;
pub mod report;
pub mod route;
pub mod stats;
pub mod workload;
