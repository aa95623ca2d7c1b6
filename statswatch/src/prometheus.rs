//! `--prometheus ADDR:PORT`: `/metrics` in the Prometheus text format, read
//! from the map at each scrape (no sampling thread, nothing cached).
//!
//! Served by hyper on one thread's event loop, so that what a network gives
//! an exporter costs a socket and never a worker: Prometheus (and an HA
//! pair, a readiness probe, a curl) keeps connections open between scrapes,
//! and anyone who can reach the port can open more. Each connection must
//! send a request's headers within [`HEADER_TIMEOUT`] (which also closes an
//! idle keep-alive connection), and at most [`MAX_CONNECTIONS`] are open at
//! once: past that a new one is closed at once, never queued.

use std::{
    convert::Infallible,
    fmt::Write as _,
    path::{Path, PathBuf},
    rc::Rc,
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use http_body_util::Full;
use hyper::{
    body::{Bytes, Incoming},
    header::{HeaderValue, ALLOW, CONTENT_TYPE},
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use xdp_core::{
    state::InterfaceNames,
    stats::{ActionStats, StatsMap},
};

use crate::{
    stages::StageTotals,
    xdp_errors::{ErrorCounters, ErrorRow},
};

/// The time a connection has to send a request's headers, and the longest
/// a keep-alive connection may sit idle between requests (Prometheus
/// reconnects when it was closed).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections open at once; a new one past it is closed. Also bounded by
/// the file descriptors the process may have (the soft limit is raised to
/// the hard one first).
pub const MAX_CONNECTIONS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("cannot serve /metrics on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the exporter's event loop")]
    Runtime(#[source] std::io::Error),
}

/// A running exporter; it stops when dropped.
#[derive(Debug)]
pub struct Exporter {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    pub addr: String,
}

/// What a scrape reads.
enum Source {
    /// The stats map (re-opened at each scrape) and the error counters.
    Map {
        path: PathBuf,
        per_cpu: bool,
        errors: Option<ErrorCounters>,
    },
    /// What `--stages` has counted so far.
    Stages(Arc<Mutex<StageTotals>>),
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
    serve_source(
        addr,
        Source::Map {
            path,
            per_cpu,
            errors,
        },
    )
}

/// Serves `/metrics` for `statswatch --stages`: the per-stage counters as
/// the sampler adds them up.
pub fn serve_stages(
    addr: &str,
    totals: Arc<Mutex<StageTotals>>,
) -> Result<Exporter, PrometheusError> {
    serve_source(addr, Source::Stages(totals))
}

fn serve_source(addr: &str, source: Source) -> Result<Exporter, PrometheusError> {
    let bind_err = |source| PrometheusError::Bind {
        addr: addr.to_owned(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let bound = listener
        .local_addr()
        .map_or_else(|_| addr.to_owned(), |a| a.to_string());
    let max_connections = MAX_CONNECTIONS.min(raise_fd_limit().saturating_sub(64).max(16));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PrometheusError::Runtime)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let thread = thread::spawn(move || {
        // Owned by the event loop's thread: shared by its tasks without a lock.
        let source = Rc::new(source);
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            tokio::select! {
                () = accept_loop(listener, source, max_connections) => {}
                _ = stopped => {}
            }
        });
    });
    Ok(Exporter {
        stop: Some(stop),
        thread: Some(thread),
        addr: bound,
    })
}

async fn accept_loop(listener: tokio::net::TcpListener, source: Rc<Source>, max: usize) {
    let open = Rc::new(std::cell::Cell::new(0usize));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // EMFILE and the like: give the open connections a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if open.get() >= max {
            drop(stream);
            continue;
        }
        open.set(open.get() + 1);
        let (open, source) = (Rc::clone(&open), Rc::clone(&source));
        tokio::task::spawn_local(async move {
            let service = hyper::service::service_fn(|request| {
                let source = Rc::clone(&source);
                async move { Ok::<_, Infallible>(respond(&source, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            open.set(open.get() - 1);
        });
    }
}

/// GET (or HEAD) /metrics: the counters; another method: 405; another
/// path: 404.
fn respond(source: &Source, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |status, text: String| {
        let mut response = Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "see /metrics\n".to_owned());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "/metrics answers GET\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match scrape(source) {
        Ok(text) => {
            let mut response = reply(StatusCode::OK, text);
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        Err(e) => reply(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

fn scrape(source: &Source) -> Result<String, String> {
    let (path, per_cpu, errors) = match source {
        Source::Map {
            path,
            per_cpu,
            errors,
        } => (path, *per_cpu, errors),
        Source::Stages(totals) => {
            let totals = totals.lock().map_err(|_| "the stage sampler failed")?;
            return Ok(stage_metrics(&totals));
        }
    };
    let rows = StatsMap::open(path)
        .and_then(|m| m.read(per_cpu))
        .map_err(|e| e.to_string())?;
    let mut text = metrics(path, &rows);
    if let Some(errors) = errors {
        let names = InterfaceNames::for_pins(path);
        let rows = errors.read(&names).map_err(|e| e.to_string())?;
        text.push_str(&error_metrics(&rows));
    }
    Ok(text)
}

/// Raises the soft limit of open files to the hard one (systemd gives 1024
/// soft, 524288 hard): the connections a network holds open are files.
/// Returns the soft limit in force.
fn raise_fd_limit() -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let wanted = hard.min(65_536).max(soft);
    let limit = if setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
        wanted
    } else {
        soft
    };
    usize::try_from(limit).unwrap_or(usize::MAX)
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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

/// `statswatch --stages --prometheus`: per stage of the chain (labels
/// `stage`, as `entry` or `jmp_table[1]`, and `program`), frames into it and
/// frames it decided by verdict since the recorders went in, and its time
/// over the last interval; whole frames and lost records for the chain.
pub fn stage_metrics(totals: &StageTotals) -> String {
    let iface = label_value(&totals.iface);
    let mut out = String::new();
    let labels = |stage: &crate::stages::StageTotal| {
        format!(
            "interface=\"{iface}\",stage=\"{}\",program=\"{}\"",
            label_value(&stage.label),
            label_value(&stage.program)
        )
    };
    let _ = writeln!(
        out,
        "# HELP xdp_stage_frames_total Frames into each stage of the chain since the recorders went in.\n# TYPE xdp_stage_frames_total counter"
    );
    for stage in totals.stages.values() {
        let _ = writeln!(
            out,
            "xdp_stage_frames_total{{{}}} {}",
            labels(stage),
            stage.frames
        );
    }
    let _ = writeln!(
        out,
        "# HELP xdp_stage_decided_total Frames whose verdict each stage decided, by verdict.\n# TYPE xdp_stage_decided_total counter"
    );
    for stage in totals.stages.values() {
        for (action, n) in &stage.decided {
            let _ = writeln!(
                out,
                "xdp_stage_decided_total{{{},action=\"{action}\"}} {n}",
                labels(stage)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP xdp_stage_ns Nanoseconds from a stage's entry to the next stage's (the last stage's to the verdict) over the last interval, by quantile.\n# TYPE xdp_stage_ns gauge"
    );
    for stage in totals.stages.values() {
        for (quantile, ns) in [("0.5", stage.ns_p50), ("0.99", stage.ns_p99)] {
            let _ = writeln!(
                out,
                "xdp_stage_ns{{{},quantile=\"{quantile}\"}} {ns}",
                labels(stage)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP xdp_stage_chain_frames_total Frames seen from the chain's entry to its verdict.\n# TYPE xdp_stage_chain_frames_total counter\nxdp_stage_chain_frames_total{{interface=\"{iface}\"}} {}",
        totals.frames
    );
    let _ = writeln!(
        out,
        "# HELP xdp_stage_records_lost_total Stage records the capture ring had no room for.\n# TYPE xdp_stage_records_lost_total counter\nxdp_stage_records_lost_total{{interface=\"{iface}\"}} {}",
        totals.lost
    );
    out
}

/// The exposition text: packets and bytes counters per action (and per CPU).
pub fn metrics(path: &Path, rows: &[ActionStats]) -> String {
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
