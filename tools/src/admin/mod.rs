//! `mqadmin`: RocketMQ's admin commands, with its command names, flags and
//! output (RocketMQ 5.x's format strings), against any RocketMQ-protocol
//! cluster. Every command can print JSON instead (`--json`).
//!
//! RingMQ registers each shard of a broker as its own broker
//! `<brokerName>-<i>`; the views that list brokers (`clusterList`,
//! `brokerStatus -c`) group shards under their broker unless asked for
//! shard rows (`--shards`). Runtime info says which broker and shard a
//! RingMQ address is (`ringmqBrokerName`, `ringmqShard`).

pub mod client;
pub mod cluster;
pub mod group;
pub mod message;
pub mod progress;
pub mod topic;

pub use message::TOOLS_CONSUMER;

use std::io::Write;

use anyhow::Result;

pub use client::Admin;

/// Where a command writes: text as RocketMQ prints it, or JSON.
pub struct Output<'w> {
    pub json: bool,
    pub out: &'w mut dyn Write,
    /// Message bodies are also written under [`message::BODY_DIR`], as
    /// RocketMQ's tools do (not by the dashboard).
    pub save_bodies: bool,
}

impl<'w> Output<'w> {
    pub fn new(json: bool, out: &'w mut dyn Write) -> Output<'w> {
        Output {
            json,
            out,
            save_bodies: true,
        }
    }

    /// Writes text (ignored under `--json`).
    pub fn text(&mut self, text: &str) -> Result<()> {
        if !self.json {
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    /// Writes `value` as JSON (ignored without `--json`).
    pub fn value(&mut self, value: &serde_json::Value) -> Result<()> {
        if self.json {
            serde_json::to_writer_pretty(&mut *self.out, value)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// RocketMQ's `UtilAll.frontStringAtLeast`: at most `n` characters.
pub fn front(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Local time of `ms` since the epoch: (year, month, day, hour, minute,
/// second, millisecond).
fn local_time(ms: i64) -> (i32, u32, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000) as libc::time_t;
    let millis = ms.rem_euclid(1000) as u32;
    // SAFETY: `tm` is a plain C struct that `localtime_r` fills; both
    // pointers are valid for the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::localtime_r(&raw const secs, &raw mut tm) };
    (
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
        millis,
    )
}

/// RocketMQ's `UtilAll.timeMillisToHumanString2`: `2024-01-02 03:04:05,006`.
pub fn human_ms(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = local_time(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02},{milli:03}")
}

/// `yyyy-MM-dd HH:mm:ss`.
pub fn date_time(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = local_time(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// Reads a command-line time as RocketMQ does: `now`, milliseconds since
/// the epoch, or local `yyyy-MM-dd#HH:mm:ss:SSS`.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || anyhow::anyhow!("{text:?} is not `now`, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS");
    let (date, time) = t.split_once('#').ok_or_else(bad)?;
    let d: Vec<i32> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let c: Vec<i32> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let in_range = d.len() == 3
        && c.len() == 4
        && (1970..=9999).contains(&d[0])
        && (1..=12).contains(&d[1])
        && (1..=31).contains(&d[2])
        && (0..24).contains(&c[0])
        && (0..60).contains(&c[1])
        && (0..=60).contains(&c[2])
        && (0..1000).contains(&c[3]);
    if !in_range {
        return Err(bad());
    }
    // SAFETY: `tm` is a plain C struct; `mktime` reads and normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = d[0] - 1900;
    tm.tm_mon = d[1] - 1;
    tm.tm_mday = d[2];
    tm.tm_hour = c[0];
    tm.tm_min = c[1];
    tm.tm_sec = c[2];
    tm.tm_isdst = -1;
    // SAFETY: `tm` is valid for the call.
    let secs = unsafe { libc::mktime(&raw mut tm) };
    if secs == -1 {
        return Err(bad());
    }
    Ok(secs as i64 * 1000 + i64::from(c[3]))
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// RocketMQ's `PermName.perm2String`: `RW-`.
pub fn perm_text(perm: i32) -> String {
    let bit = |b: i32, c: char| if perm & b != 0 { c } else { '-' };
    [bit(4, 'R'), bit(2, 'W'), bit(1, 'X')].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back() {
        let ms = 1_700_000_000_123;
        assert_eq!(parse_time(&ms.to_string(), 0).unwrap(), ms);
        assert_eq!(parse_time("now", 42).unwrap(), 42);
        let human = human_ms(ms);
        let (date, rest) = human.split_once(' ').unwrap();
        let cli = format!("{date}#{}", rest.replace(',', ":"));
        assert_eq!(parse_time(&cli, 0).unwrap(), ms);
        assert!(parse_time("2024-01-02", 0).is_err());
        assert!(parse_time("x#1:2:3:4", 0).is_err());
        assert!(parse_time("2024-13-45#00:00:00:000", 0).is_err());
        assert!(parse_time("-2147483648-01-01#00:00:00:000", 0).is_err());
        assert!(parse_time("2024-01-01#00:00:00:5000", 0).is_err());
    }

    #[test]
    fn perms_print_as_rocketmq() {
        assert_eq!(perm_text(6), "RW-");
        assert_eq!(perm_text(4), "R--");
        assert_eq!(perm_text(7), "RWX");
    }
}
