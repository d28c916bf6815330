//! What a run prints and writes: the live progress line, the summary
//! table, the machine description, and SVG plots.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::stats::{Phase, Run};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kernel, CPU, cores, memory, host: written beside every result.
pub fn machine() -> Value {
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    json!({
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "hostname": read("/proc/sys/kernel/hostname").trim(),
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "memory_gib": mem_kb as f64 / 1048576.0,
    })
}

/// CPU seconds this process used (user + system).
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &raw mut u);
        u
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn phase_progress(p: &Phase, last: &mut u64, out: &mut String) {
    let msgs = p.msgs.load(Ordering::Relaxed);
    let rate = msgs.saturating_sub(*last);
    *last = msgs;
    p.timeline.lock().expect("stats lock").push(rate);
    let _ = write!(
        out,
        " | {} {rate} msg/s p99 {}us err {}",
        p.name,
        p.percentile_us(0.99),
        p.errors.load(Ordering::Relaxed)
    );
}

/// Last per-second counts, for the progress line.
#[derive(Default)]
pub struct Progress {
    produce: u64,
    consume: u64,
    e2e: u64,
    bytes: u64,
}

impl Progress {
    /// One progress line; call once a second.
    pub fn line(&mut self, run: &Run, elapsed_s: u64, phases: (bool, bool, bool)) -> String {
        let mut out = format!("[{elapsed_s:>4}s]");
        if !run.measuring.load(Ordering::Relaxed) {
            out.push_str(" warm-up");
        }
        if phases.0 {
            let bytes = run.produce.bytes.load(Ordering::Relaxed);
            let _ = write!(
                out,
                " {:.1} MB/s",
                bytes.saturating_sub(self.bytes) as f64 / 1e6
            );
            self.bytes = bytes;
            phase_progress(&run.produce, &mut self.produce, &mut out);
        }
        if phases.1 {
            phase_progress(&run.consume, &mut self.consume, &mut out);
        }
        if phases.2 {
            phase_progress(&run.e2e, &mut self.e2e, &mut out);
        }
        out
    }
}

/// The summary table of the phases that ran.
pub fn table(results: &[(&str, &Value)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>12} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "phase",
        "msgs/s",
        "MB/s",
        "errors",
        "p50us",
        "p90us",
        "p99us",
        "p999us",
        "p9999us",
        "max_us"
    );
    for (name, v) in results {
        let l = &v["latency_us"];
        let _ = writeln!(
            out,
            "{:<8} {:>12.0} {:>9.1} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            name,
            v["msgs_per_sec"].as_f64().unwrap_or(0.0),
            v["mb_per_sec"].as_f64().unwrap_or(0.0),
            v["errors"],
            l["p50"],
            l["p90"],
            l["p99"],
            l["p999"],
            l["p9999"],
            l["max"]
        );
    }
    out
}

const W: f64 = 720.0;
const H: f64 = 400.0;
const M: f64 = 60.0;

fn svg_frame(title: &str, x_label: &str, y_label: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{title}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x_label}</text>\
         <text x=\"15\" y=\"{}\" transform=\"rotate(-90 15 {})\" text-anchor=\"middle\">{y_label}</text>\
         <line x1=\"{M}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\
         <line x1=\"{M}\" y1=\"{M}\" x2=\"{M}\" y2=\"{}\" stroke=\"black\"/>",
        W / 2.0,
        W / 2.0,
        H - 15.0,
        H / 2.0,
        H / 2.0,
        H - M,
        W - 20.0,
        H - M,
        H - M
    )
}

const COLORS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

/// One labelled line of a plot; `i` picks its color and legend row.
fn polyline(svg: &mut String, points: &[String], i: usize, name: &str) {
    let color = COLORS[i % COLORS.len()];
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\
         <text x=\"{}\" y=\"{}\" fill=\"{color}\">{name}</text>",
        points.join(" "),
        W - 120.0,
        M + 16.0 * i as f64,
    );
}

/// Latency by percentile (log scale of 1/(1-p)), one line per phase.
pub fn latency_svg(phases: &[&Phase]) -> String {
    let quantiles: Vec<f64> = (0..=40)
        .map(|i| 1.0 - 10f64.powf(-f64::from(i) / 10.0))
        .collect();
    let max_us = phases
        .iter()
        .map(|p| p.histogram().max())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut svg = svg_frame(
        "latency by percentile",
        "percentile (log scale)",
        "latency (us)",
    );
    for (k, label) in ["50%", "90%", "99%", "99.9%", "99.99%"].iter().enumerate() {
        let x = M + (k as f64 + 1.0) * 10.0 / 40.0 * (W - 20.0 - M);
        let _ = write!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            H - M + 15.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max_us:.0}</text>",
        M - 4.0,
        M + 4.0
    );
    for (i, p) in phases.iter().enumerate() {
        let h = p.histogram();
        if h.is_empty() {
            continue;
        }
        let points: Vec<String> = quantiles
            .iter()
            .enumerate()
            .map(|(j, q)| {
                let x = M + j as f64 / 40.0 * (W - 20.0 - M);
                let y = H - M - h.value_at_quantile(*q) as f64 / max_us * (H - 2.0 * M);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        polyline(&mut svg, &points, i, p.name);
    }
    svg.push_str("</svg>");
    svg
}

/// Messages per second over time, one line per phase.
pub fn throughput_svg(phases: &[&Phase]) -> String {
    let series: Vec<Vec<u64>> = phases
        .iter()
        .map(|p| p.timeline.lock().expect("stats lock").clone())
        .collect();
    let max = series.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let len = series.iter().map(Vec::len).max().unwrap_or(1).max(2) as f64;
    let mut svg = svg_frame("throughput over time", "seconds", "messages / s");
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max:.0}</text>",
        M - 4.0,
        M + 4.0
    );
    for (i, s) in series.iter().enumerate() {
        if s.is_empty() {
            continue;
        }
        let points: Vec<String> = s
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let x = M + j as f64 / (len - 1.0) * (W - 20.0 - M);
                let y = H - M - *v as f64 / max * (H - 2.0 * M);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        polyline(&mut svg, &points, i, phases[i].name);
    }
    svg.push_str("</svg>");
    svg
}
