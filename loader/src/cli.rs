//! Command-line interface of `xdploader` (clap derive). Go-style `-file`
//! works too: see [`crate::args`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::attach::Mode;

const EXAMPLES: &str = "\
Examples:
  xdploader -file kern/xdp.elf -i veth1            load, fill jmp_map and if_redirect, pin, attach
  xdploader -file kern/xdp.elf -i veth1,veth2 --mode skb
  xdploader --json -file kern/xdp.elf -i veth1     the same, as one JSON document
  xdploader unload -i veth1                        detach and remove the pins (same as --unload)";

#[derive(Debug, Parser)]
#[command(
    name = "xdploader",
    version,
    about = "Load an XDP ELF object, fill its jump table and devmap, pin its maps and attach it",
    long_about = None,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Same as `xdploader unload`: detach from -i and remove the pins the load made
    #[arg(long)]
    pub unload: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and attach (what xdploader does without a subcommand)
    Load(LoadArgs),
    /// Detach from the interfaces and remove the pins the load made
    #[command(after_help = "Example:\n  xdploader unload -i veth1")]
    Unload(UnloadArgs),
}

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Interfaces, comma-separated or repeated
    #[arg(
        short = 'i',
        long = "interfaces",
        visible_alias = "interface",
        value_delimiter = ',',
        value_name = "IF[,IF...]"
    )]
    pub interfaces: Vec<String>,
    /// Directory on bpffs for the pins (mounted there if it is not bpffs)
    #[arg(long, value_name = "DIR", default_value = crate::DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The XDP ELF object (clang -target bpf)
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
    /// Entry program (default: the XDP program that is no other's `_<N>` tail target)
    #[arg(long, value_name = "NAME")]
    pub prog: Option<String>,
    /// Prog array to fill with `<entry>_<N>` programs (default: jmp_map)
    #[arg(long, value_name = "NAME")]
    pub jmp_map: Option<String>,
    /// Devmap to fill with the interfaces (default: if_redirect)
    #[arg(long, value_name = "NAME")]
    pub devmap: Option<String>,
    /// Attach mode: native, falling back to skb (auto), or only one of them
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: Mode,
    /// Replace pinned maps that do not match the object instead of refusing
    #[arg(long)]
    pub fresh: bool,
    /// Print the verifier log when the verifier rejects a program
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UnloadArgs {
    #[command(flatten)]
    pub target: Target,
}
