//! One module per subcommand: its arguments become the library's options,
//! its report is rendered as terse text or (`--json`) as one JSON document,
//! and it decides the exit status.

pub mod apply;
pub mod bench;
pub mod capture;
pub mod doctor;
pub mod inspect;
pub mod load;
pub mod status;
pub mod tracelog;
pub mod trafficgen;
pub mod unload;
