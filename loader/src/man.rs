//! What the man pages say beyond the options: exit statuses, the files
//! xdploader reads and writes, and the tools beside it.

use clikit::ManSections;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(tag, text)| ((*tag).to_owned(), (*text).to_owned()))
        .collect()
}

/// The sections of page `page` (`xdploader`, `xdploader-doctor`, ...).
pub fn sections(page: &str) -> ManSections {
    let verb = page.strip_prefix("xdploader-").unwrap_or("load");
    let mut exit_status = vec![("0", "Done as asked.")];
    match verb {
        "doctor" => exit_status.push((
            "1",
            "Problems are left (each found, with its fix), or an error.",
        )),
        "inspect" => exit_status.push((
            "1",
            "A load would fail (the report says why), or the file cannot be read.",
        )),
        "apply" => exit_status.push((
            "1",
            "A step failed (the report names it); the others were done.",
        )),
        _ => exit_status.push((
            "1",
            "An error, said in one line on stderr; nothing was left half done.",
        )),
    }
    exit_status.push(("2", "The command line is wrong (usage on stderr)."));
    if matches!(verb, "load" | "apply") {
        exit_status.push((
            "130, 143",
            "Interrupted (SIGINT, SIGTERM) before the commit point: rolled back, nothing changed.",
        ));
    }
    let files: &[(&str, &str)] = match verb {
        "inspect" | "bench" | "trafficgen" => &[],
        "capture" => &[(
            "/sys/fs/bpf/xdploader/<iface>/capture/",
            "The running capture's record (pid, start) and ring buffer; gone when it ends.",
        )],
        "tracelog" => &[(
            "/sys/kernel/tracing/instances/xdploader-tracelog-PID/",
            "The tracefs instance it reads, removed when it exits.",
        )],
        _ => &[
            (
                "/sys/fs/bpf/",
                "Pins: maps by name, <iface>/ for maps that ask for no pinning.",
            ),
            (
                "/sys/fs/bpf/xdploader/<iface>/",
                "The link, the load record and the peer fix of each interface.",
            ),
            (
                "/sys/fs/bpf/netns-NAME/",
                "The same, for loads in network namespace NAME.",
            ),
            (
                "/etc/xdploader/config.toml",
                "What apply makes true (xdploader.service).",
            ),
            (
                "/run/xdploader/",
                "Which pin directories each config file's apply made.",
            ),
        ],
    };
    ManSections {
        exit_status: pairs(&exit_status),
        files: pairs(files),
        see_also: vec![
            "statswatch(1)",
            "bpftool(8)",
            "xdp-loader(8)",
            "tc(8)",
            "ip-link(8)",
        ],
    }
}
