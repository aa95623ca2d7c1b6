//! `--prometheus ADDR:PORT`: `/metrics` in the Prometheus text format, read
//! from the map at each scrape (no sampling thread, nothing cached).

use std::{fmt::Write as _, path::PathBuf, sync::Arc, thread};

use xdp_core::{
    state::InterfaceNames,
    stats::{ActionStats, StatsMap},
};

use crate::xdp_errors::{ErrorCounters, ErrorRow};

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("cannot serve /metrics on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A running exporter; it stops when dropped.
pub struct Exporter {
    server: Arc<tiny_http::Server>,
    thread: Option<thread::JoinHandle<()>>,
    pub addr: String,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Serves `/metrics` for the map pinned at `path` (re-opened at each scrape,
/// so a reload that pins a new map is followed), and the XDP error counters
/// when --errors attached them.
pub fn serve(
    addr: &str,
    path: PathBuf,
    per_cpu: bool,
    errors: Option<ErrorCounters>,
) -> Result<Exporter, PrometheusError> {
    let server = tiny_http::Server::http(addr).map_err(|source| PrometheusError::Bind {
        addr: addr.to_owned(),
        source,
    })?;
    let bound = server
        .server_addr()
        .to_ip()
        .map_or_else(|| addr.to_owned(), |a| a.to_string());
    let server = Arc::new(server);
    let serving = Arc::clone(&server);
    let thread = thread::spawn(move || {
        for request in serving.incoming_requests() {
            let response = if request.url() == "/metrics" {
                let body = StatsMap::open(&path)
                    .and_then(|m| m.read(per_cpu))
                    .map_err(|e| e.to_string())
                    .and_then(|rows| {
                        let mut text = metrics(&path, &rows);
                        if let Some(errors) = &errors {
                            let names = InterfaceNames::for_pins(&path);
                            let rows = errors.read(&names).map_err(|e| e.to_string())?;
                            text.push_str(&error_metrics(&rows));
                        }
                        Ok(text)
                    });
                match body {
                    Ok(text) => tiny_http::Response::from_string(text)
                        .with_header(content_type("text/plain; version=0.0.4")),
                    Err(e) => {
                        tiny_http::Response::from_string(format!("{e}\n")).with_status_code(503)
                    }
                }
            } else {
                tiny_http::Response::from_string("see /metrics\n").with_status_code(404)
            };
            let _ = request.respond(response);
        }
    });
    Ok(Exporter {
        server,
        thread: Some(thread),
        addr: bound,
    })
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn content_type(value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes("Content-Type", value).expect("a valid header")
}

/// A label value with `\` and `"` escaped, as the text format requires.
/// A label value escaped as the exposition format wants: backslash, double
/// quote and line feed (a name from a file or the kernel may hold any).
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The XDP error counters (--errors): events and dropped frames per
/// tracepoint, interface, action and errno.
pub fn error_metrics(rows: &[ErrorRow]) -> String {
    let mut out = String::new();
    for (metric, help, drops) in [
        (
            "xdp_error_events_total",
            "Times an XDP error tracepoint fired, since statswatch attached.",
            false,
        ),
        (
            "xdp_error_drops_total",
            "Frames lost, as the XDP error tracepoints report them.",
            true,
        ),
    ] {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for r in rows {
            let _ = writeln!(
                out,
                "{metric}{{tracepoint=\"{}\",ifindex=\"{}\",ifname=\"{}\",to_ifindex=\"{}\",action=\"{}\",errno=\"{}\"}} {}",
                r.tracepoint,
                r.ifindex,
                label_value(r.ifname.as_deref().unwrap_or("")),
                r.to_ifindex.unwrap_or(0),
                r.action,
                r.errno.as_deref().unwrap_or(""),
                if drops { r.drops } else { r.events }
            );
        }
    }
    out
}

/// The exposition text: packets and bytes counters per action (and per CPU).
pub fn metrics(path: &std::path::Path, rows: &[ActionStats]) -> String {
    let map = label_value(&path.display().to_string());
    let mut out = String::new();
    for (metric, help, value) in [
        (
            "xdp_packets_total",
            "Packets the XDP program counted, by verdict.",
            (|r: &ActionStats| r.packets) as fn(&ActionStats) -> u64,
        ),
        (
            "xdp_bytes_total",
            "Bytes the XDP program counted, by verdict.",
            |r: &ActionStats| r.bytes,
        ),
    ] {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for r in rows {
            let _ = writeln!(
                out,
                "{metric}{{map=\"{map}\",action=\"{}\"}} {}",
                r.action,
                value(r)
            );
        }
    }
    if rows.iter().any(|r| !r.per_cpu.is_empty()) {
        for (metric, bytes) in [
            ("xdp_cpu_packets_total", false),
            ("xdp_cpu_bytes_total", true),
        ] {
            let what = if bytes { "Bytes" } else { "Packets" };
            let _ = writeln!(
                out,
                "# HELP {metric} {what} the XDP program counted, by verdict and CPU.\n# TYPE {metric} counter"
            );
            for r in rows {
                for (cpu, rec) in r.per_cpu.iter().enumerate() {
                    let v = if bytes { rec.rx_bytes } else { rec.rx_packets };
                    let _ = writeln!(
                        out,
                        "{metric}{{map=\"{map}\",action=\"{}\",cpu=\"{cpu}\"}} {v}",
                        r.action
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::label_value;

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed() {
        // An interface or errno name is text from the kernel or a file: a
        // raw line feed would end the sample line and corrupt the scrape.
        assert_eq!(label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(label_value("veth1"), "veth1");
    }
}
