//! `xdploader trafficgen -i IF`: UDP frames (or ICMP echo requests) out of IF at the rate the
//! machine allows (see [`crate::trafficgen`]), for benches on veth pairs.

use std::time::Duration;

use super::{require_capabilities, Error};
use crate::{
    bench, iface,
    trafficgen::{self, Sent, Traffic},
};

#[derive(Clone, Debug)]
pub struct TrafficgenOptions {
    pub interface: String,
    /// Frame size in bytes (without FCS).
    pub size: usize,
    pub template: bench::Template,
    pub dst_mac: [u8; 6],
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub duration: Duration,
    pub threads: usize,
    pub batch: u32,
}

pub fn run(opts: &TrafficgenOptions) -> Result<Sent, Error> {
    require_capabilities("trafficgen")?;
    let interfaces = iface::resolve(std::slice::from_ref(&opts.interface))?;
    let frame = bench::template_frame(opts.template, opts.dst_mac, opts.src, opts.dst, opts.size)?;
    Ok(trafficgen::send(&Traffic {
        ifindex: interfaces[0].ifindex,
        frame,
        duration: opts.duration,
        threads: opts.threads,
        batch: opts.batch,
    })?)
}
