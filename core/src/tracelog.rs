//! What XDP programs print with `bpf_printk` (bpf_trace_printk), as
//! `bpftool prog tracelog` shows it, read from a tracefs instance of our
//! own: the global `trace_pipe` is a queue that one reader empties, so
//! reading it would take the lines from whoever else reads it (and theirs
//! from us). The `bpf_trace:bpf_trace_printk` event is enabled in the
//! instance only, and the instance goes (with its buffer) when dropped;
//! a reader killed before that leaves `xdploader-tracelog-PID`, which the
//! next one removes.
//!
//! The kernel's line names the task and CPU the program ran on, not the
//! program: a printk says which program it comes from only in its text.

use std::{
    fs,
    io::{self, Read as _},
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

use serde::Serialize;

const INSTANCE_PREFIX: &str = "xdploader-tracelog-";
const EVENT: &str = "events/bpf_trace/bpf_trace_printk/enable";

#[derive(Debug, thiserror::Error)]
pub enum TraceLogError {
    #[error("tracefs is not mounted and cannot be (mount -t tracefs nodev /sys/kernel/tracing)")]
    NoTracefs,
    #[error("this kernel has no bpf_trace:bpf_trace_printk event ({path} is missing)")]
    NoEvent { path: PathBuf },
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TraceLogError + 'a {
    move |source| TraceLogError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// One line a program printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PrintkLine {
    /// The task the program ran in (`<idle>-0` for a frame in softirq).
    pub task: String,
    pub cpu: u32,
    /// Seconds since boot, as the trace clock says.
    pub time: String,
    pub message: String,
}

/// A tracefs instance with only bpf_trace_printk enabled.
#[derive(Debug)]
pub struct TraceLog {
    dir: PathBuf,
    /// None only while dropping: the instance cannot go while it is open.
    pipe: Option<fs::File>,
    partial: String,
}

impl TraceLog {
    pub fn open() -> Result<Self, TraceLogError> {
        let root = crate::bpffs::tracefs().ok_or(TraceLogError::NoTracefs)?;
        let global_event = root.join(EVENT);
        if !global_event.exists() {
            return Err(TraceLogError::NoEvent { path: global_event });
        }
        let instances = root.join("instances");
        crate::bpffs::remove_dead_trace_instances(&instances, INSTANCE_PREFIX);
        let dir = instances.join(format!("{INSTANCE_PREFIX}{}", std::process::id()));
        fs::create_dir(&dir).map_err(io_err("creating the tracefs instance", &dir))?;
        // From here the instance is ours to remove, failure or not.
        let remove = RemoveOnError(Some(dir.clone()));
        let event = dir.join(EVENT);
        fs::write(&event, "1").map_err(io_err("enabling", &event))?;
        let pipe_path = dir.join("trace_pipe");
        let pipe = fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&pipe_path)
            .map_err(io_err("opening", &pipe_path))?;
        remove.keep();
        Ok(Self {
            dir,
            pipe: Some(pipe),
            partial: String::new(),
        })
    }

    /// The lines printed since the last call (none when nothing came).
    pub fn read(&mut self) -> Result<Vec<PrintkLine>, TraceLogError> {
        let mut buf = [0u8; 65536];
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(Vec::new());
        };
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.partial.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("reading", &self.dir.join("trace_pipe"))(e)),
            }
        }
        let Some(end) = self.partial.rfind('\n') else {
            return Ok(Vec::new());
        };
        let complete: String = self.partial.drain(..=end).collect();
        Ok(complete.lines().filter_map(parse).collect())
    }
}

impl Drop for TraceLog {
    fn drop(&mut self) {
        // rmdir of an instance removes it with its buffer and events; the
        // kernel refuses it (EBUSY) while its trace_pipe is open.
        drop(self.pipe.take());
        let _ = fs::remove_dir(&self.dir);
    }
}

struct RemoveOnError(Option<PathBuf>);
impl RemoveOnError {
    fn keep(mut self) {
        self.0 = None;
    }
}
impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// `          <idle>-0       [001] ..s2.  1234.567890: bpf_trace_printk: text`
fn parse(line: &str) -> Option<PrintkLine> {
    let (head, message) = line.split_once(": bpf_trace_printk: ")?;
    let open = head.find('[')?;
    let close = open + head[open..].find(']')?;
    let task = head[..open].trim().to_owned();
    let cpu = head[open + 1..close].trim().parse().ok()?;
    let time = head[close + 1..]
        .split_whitespace()
        .last()?
        .trim_end_matches(':')
        .to_owned();
    Some(PrintkLine {
        task,
        cpu,
        time,
        message: message.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printk_line_is_parsed_as_the_kernel_writes_it() {
        let line = "          <idle>-0       [001] ..s2.  1234.567890: bpf_trace_printk: frame of 98 bytes: 10.0.0.1";
        assert_eq!(
            parse(line),
            Some(PrintkLine {
                task: "<idle>-0".into(),
                cpu: 1,
                time: "1234.567890".into(),
                message: "frame of 98 bytes: 10.0.0.1".into(),
            })
        );
        // Older kernels: no 5th flag column, a task with spaces in its name.
        let line = " ping worker-4242 [000] d.s1  17.000001: bpf_trace_printk: hi";
        let parsed = parse(line).unwrap();
        assert_eq!((parsed.task.as_str(), parsed.cpu), ("ping worker-4242", 0));
        assert_eq!(parse("# tracer: nop"), None);
    }
}
