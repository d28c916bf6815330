//! Prometheus text format (0.0.4), read strictly: what the metrics tests
//! accept is what `promtool check metrics` would (promtool is not
//! installed on these machines). HELP and TYPE once per family and before
//! its samples; valid names; quoted, escaped label values; numeric values;
//! no series twice; counters named `_total`; histogram series suffixed
//! `_bucket` (with a numeric or `+Inf` `le`), `_sum`, `_count`.

use std::collections::{HashMap, HashSet};

/// One parsed sample: family, labels, value.
pub type Series = (String, Vec<(String, String)>, f64);

/// Parses Prometheus text format (version 0.0.4) strictly: HELP and TYPE
/// once per family and before its samples, valid names, quoted and escaped
/// label values, numeric values, no series twice, counters named `_total`.
pub fn parse_exposition(text: &str) -> Result<Vec<Series>, String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = HashSet::new();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if !name_ok(name) || !helped.insert(name.to_string()) {
                return Err(bad("bad or repeated HELP"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !name_ok(name)
                || !["counter", "gauge", "histogram"].contains(&kind)
                || types.contains_key(name)
            {
                return Err(bad("bad or repeated TYPE"));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(bad("a counter not named _total"));
            }
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let open = line.find('{').ok_or_else(|| bad("no labels"))?;
        let close = line.rfind("} ").ok_or_else(|| bad("no value"))?;
        let name = &line[..open];
        // A histogram's series carry a suffix on the family's name.
        let histogram_of = ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let family = name.strip_suffix(suffix)?;
            (types.get(family).map(String::as_str) == Some("histogram")).then_some(*suffix)
        });
        if histogram_of.is_none() && types.get(name).is_none_or(|k| k == "histogram") {
            return Err(bad("a sample before its TYPE"));
        }
        let mut labels = Vec::new();
        let mut rest = &line[open + 1..close];
        while !rest.is_empty() {
            let eq = rest.find("=\"").ok_or_else(|| bad("label without value"))?;
            let key = &rest[..eq];
            if !name_ok(key) {
                return Err(bad("bad label name"));
            }
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break eq + 2 + i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        _ => return Err(bad("bad escape")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(bad("unterminated label value")),
                }
            };
            labels.push((key.to_string(), value));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        let value: f64 = line[close + 2..]
            .parse()
            .map_err(|_| bad("value is not a number"))?;
        if histogram_of == Some("_bucket") {
            let le = labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or_else(|| bad("a bucket without le"))?;
            if le.1 != "+Inf" && le.1.parse::<f64>().is_err() {
                return Err(bad("le is not a number"));
            }
        }
        if !seen.insert((name.to_string(), labels.clone())) {
            return Err(bad("the same series twice"));
        }
        out.push((name.to_string(), labels, value));
    }
    Ok(out)
}

/// Sum of a family's series whose labels include every `(key, value)`.
pub fn total(series: &[Series], family: &str, with: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = series
        .iter()
        .filter(|(name, labels, _)| {
            name == family
                && with
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// Fetches `/metrics` from an exporter at `addr` (blocking, 5 s).
pub fn scrape(addr: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: scrape\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => Err(std::io::Error::other(format!(
            "not a 200 answer: {}",
            response.lines().next().unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_parser_refuses_what_prometheus_refuses() {
        let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\\\"\"} 1\n";
        assert_eq!(parse_exposition(ok).unwrap()[0].1[0].1, "v\"");
        let histogram = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum{} 3\nh_count{} 2\n";
        assert_eq!(parse_exposition(histogram).unwrap().len(), 4);
        for bad in [
            "a_total{l=\"v\"} 1\n",                         // no TYPE
            "# TYPE a counter\na{} 1\n",                    // counter without _total
            "# TYPE a gauge\na{l=\"v\"} x\n",               // not a number
            "# TYPE a gauge\na{l=\"v\"} 1\na{l=\"v\"} 2\n", // same series twice
            "# TYPE a gauge\n# TYPE a gauge\n",             // TYPE twice
            "# TYPE a gauge\na{l=\"v} 1\n",                 // unterminated
            "# TYPE h histogram\nh_bucket{l=\"v\"} 1\n",    // a bucket without le
            "# TYPE h histogram\nh{l=\"v\"} 1\n",           // a histogram sample without suffix
        ] {
            assert!(parse_exposition(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
