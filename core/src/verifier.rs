//! Verifier rejections explained: from the kernel's log, the C source line
//! the failing instruction comes from (the log carries the object's BTF line
//! info, `-g`), the instruction, the kernel's message, and for the common
//! causes one sentence of cause and one of fix.
//!
//! The log's shape (kernel/bpf/verifier.c, log level 1): for each new source
//! line `; <text> @ <file>:<line>` (the ` @ file:line` part since 6.4), then
//! instruction lines `<n>: (<opcode>) <insn>  ; <register state>`, and after
//! the failing one the message, then statistics.

use serde::Serialize;

use crate::elf::SourcePlace;

/// One line of the program's C source, as the verifier log names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLine {
    /// The file, as the compiler saw it (None on kernels before 6.4).
    pub file: Option<String>,
    pub line: Option<u32>,
    pub text: String,
}

impl std::fmt::Display for SourceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: {}", self.text),
            _ => write!(f, "{}", self.text),
        }
    }
}

/// What the verifier refused, read off its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The kernel's own words (several lines joined with "; ").
    pub message: String,
    /// The instruction it stopped at, as the log prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insn: Option<String>,
    /// The source line that instruction comes from (needs `-g`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLine>,
    /// Why, for a cause we know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    /// The usual fix, for a cause we know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<&'static str>,
}

/// The message of a log cut off when its buffer filled.
const LOG_FILLED: &str = "the verifier's log filled before it finished (before Linux 6.4 the load then fails with ENOSPC and the reason is lost)";

impl Rejection {
    /// For a load refused with ENOSPC: the log filled its buffer, and
    /// kernels before 6.4 then fail whatever the refusal was and keep only
    /// the log's start. Where the walk had got to stays (the last
    /// instruction and its line); the usual cause of a log that long is a
    /// walk the verifier cannot bound.
    #[must_use]
    pub fn log_filled(mut self) -> Self {
        self.message = LOG_FILLED.to_owned();
        if let Some(walk) = CAUSES
            .iter()
            .find(|c| c.matches.contains(&"BPF program is too large"))
        {
            self.cause = Some(walk.cause);
            self.fix = Some(walk.fix);
        }
        self
    }

    /// Fills in the file and line from the program's BTF line info when the
    /// log gives only the source text (kernels before 6.4): the line of the
    /// failing instruction, if its text is the one the log printed (an index
    /// past the main function, in a subprogram, is not looked up).
    pub fn locate(&mut self, lines: &[SourcePlace]) {
        if self.place().is_some() {
            return;
        }
        let Some(index) = self
            .insn
            .as_deref()
            .and_then(|insn| insn.split_once(':'))
            .and_then(|(n, _)| n.trim().parse::<u32>().ok())
        else {
            return;
        };
        let Some(found) = lines
            .iter()
            .filter(|l| l.insn <= index)
            .max_by_key(|l| l.insn)
        else {
            return;
        };
        match &mut self.source {
            Some(source) if source.text == found.text.trim_end() => {
                source.file = Some(found.file.clone());
                source.line = Some(found.line);
            }
            Some(_) => {}
            None => {
                self.source = Some(SourceLine {
                    file: Some(found.file.clone()),
                    line: Some(found.line),
                    text: found.text.trim_end().to_owned(),
                });
            }
        }
    }

    /// `at FILE:LINE` when the log names the source line.
    pub fn place(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        Some(format!("{}:{}", source.file.as_ref()?, source.line?))
    }
}

/// Log lines that are statistics, not the verifier's reasoning.
fn is_statistic(line: &str) -> bool {
    line.is_empty()
        || line.starts_with("processed ")
        || line.starts_with("verification time")
        || line.starts_with("stack depth")
        || line.starts_with("-- END PROG LOAD LOG --")
}

/// `<n>: (<opcode>) …`: an instruction line.
fn is_insn(line: &str) -> bool {
    let Some((index, rest)) = line.split_once(": (") else {
        return false;
    };
    !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) && rest.len() > 3
}

/// `; text @ file:line` (or `; text` on older kernels); None for the empty
/// ones the compiler emits for line 0.
fn source_line(line: &str) -> Option<SourceLine> {
    let rest = line.strip_prefix(';')?.trim();
    let (text, file, number) = match rest.rsplit_once(" @ ").or_else(|| {
        // `;  @ file:0`: the text is empty.
        rest.strip_prefix("@ ").map(|place| ("", place))
    }) {
        Some((text, place)) => match place.rsplit_once(':') {
            Some((file, n)) => (text.trim(), Some(file.to_owned()), n.parse::<u32>().ok()),
            None => (rest, None, None),
        },
        None => (rest, None, None),
    };
    if text.is_empty() || number == Some(0) {
        return None;
    }
    Some(SourceLine {
        file,
        line: number,
        text: text.to_owned(),
    })
}

/// Reads the rejection off a verifier log.
pub fn explain(log: &str) -> Rejection {
    let lines: Vec<&str> = log.lines().map(str::trim_end).collect();
    let end = lines
        .iter()
        .rposition(|l| !is_statistic(l.trim()))
        .map_or(0, |i| i + 1);
    let last_insn = lines[..end].iter().rposition(|l| is_insn(l));
    // The message: what follows the last instruction (or the last line).
    let message_lines: Vec<&str> = match last_insn {
        Some(i) if i + 1 < end => lines[i + 1..end]
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .collect(),
        _ => lines[..end].last().map(|l| l.trim()).into_iter().collect(),
    };
    let message = if message_lines.is_empty() {
        "no verifier log".to_owned()
    } else {
        message_lines.join("; ")
    };
    let insn = last_insn.map(|i| {
        // The register state after `;` is noise here.
        let line = lines[i];
        line.split_once("  ;")
            .map_or(line, |(insn, _)| insn)
            .trim()
            .to_owned()
    });
    let source = last_insn.and_then(|i| lines[..i].iter().rev().find_map(|l| source_line(l)));
    let (cause, fix) = match CAUSES
        .iter()
        .find(|c| c.matches.iter().any(|m| message.contains(m)))
    {
        Some(c) => (Some(c.cause), Some(c.fix)),
        None => (None, None),
    };
    Rejection {
        message,
        insn,
        source,
        cause,
        fix,
    }
}

/// A cause we know, by what the kernel says.
struct Cause {
    matches: &'static [&'static str],
    cause: &'static str,
    fix: &'static str,
}

const CAUSES: &[Cause] = &[
    Cause {
        matches: &["invalid access to packet", "outside of the packet"],
        cause: "the program touches the packet beyond what it has checked: every access needs a check against data_end first, on the same pointer",
        fix: "check right before the access: `if ((void *)(eth + 1) > data_end) return XDP_DROP;` (for a read of N bytes at p: `if (p + N > data_end)`)",
    },
    Cause {
        matches: &["map_value_or_null", "_or_null'"],
        cause: "bpf_map_lookup_elem() returns NULL when the key is not in the map, and the program uses the result without checking",
        fix: "check it before use: `if (!value) return XDP_PASS;` right after the lookup",
    },
    Cause {
        matches: &["invalid indirect read from stack", "invalid read from stack"],
        cause: "a helper reads stack bytes the program never wrote: typically the padding of a struct used as a map key",
        fix: "zero the whole struct first: `struct flow key = {};` or `__builtin_memset(&key, 0, sizeof(key));` (root on recent kernels allows it; other users do not)",
    },
    Cause {
        matches: &[
            "back-edge",
            "BPF program is too large",
            "infinite loop detected",
            "jumps is too complex",
        ],
        cause: "the verifier walks every path and cannot bound a loop (its bound comes from data it cannot see), or the paths exceed its 1,000,000-instruction budget",
        fix: "give the loop a constant bound as well (`for (i = 0; i < 64 && i < n; i++)`), use bpf_loop() (5.17+), or split the work across tail calls",
    },
    Cause {
        // elf::kfunc_link's poison: before the generic "unknown#" below.
        matches: &["invalid func unknown#2002000000"],
        cause: "the program calls a __weak kfunc this kernel does not have (inspect lists it as not on this kernel), on a path that does not check for it first",
        fix: "call it only where `bpf_ksym_exists(the_kfunc)` is true (libbpf's bpf_helpers.h; `#define bpf_ksym_exists(sym) (!!(sym))` with older headers): that branch is dead code on a kernel without it",
    },
    Cause {
        // What a kernel says of a helper newer than itself: it has no name for it.
        matches: &["invalid func unknown#"],
        cause: "the program calls a helper this kernel does not have: one added in a newer kernel (its number is in the message, the source line shows the call), e.g. bpf_xdp_get_buff_len (#188, Linux 5.18)",
        fix: "run a kernel that has it (`bpftool feature probe kernel | grep bpf_` lists the helpers here), or build a variant of the program without that call for this kernel",
    },
    Cause {
        matches: &["unknown func", "cannot use helper"],
        cause: "the program calls a helper this kernel does not have, or one XDP programs may not call",
        fix: "use the XDP counterpart (bpf_xdp_load_bytes for bpf_skb_load_bytes, bpf_xdp_adjust_head for bpf_skb_adjust_room); `bpftool feature probe` lists the helpers XDP may use here",
    },
    Cause {
        matches: &["GPL-restricted", "GPL-incompatible", "non-GPL compatible"],
        cause: "the helper is GPL-only and the object's license is not GPL-compatible",
        fix: "declare a GPL-compatible license: `char _license[] SEC(\"license\") = \"GPL\";` (or \"Dual BSD/GPL\")",
    },
    Cause {
        matches: &["combined stack size", "stack limit", "invalid write to stack R10 off=-5"],
        cause: "a BPF call chain has 512 bytes of stack for all its frames together",
        fix: "move large buffers into a one-entry per-CPU array map (looked up once at entry), or mark small callees `static __always_inline`",
    },
    Cause {
        matches: &[" expected=", "cannot pass map_type"],
        cause: "a helper gets the wrong kind of argument: the verifier tracks what each register holds, and this one is not what the helper takes",
        fix: "pass what the helper's signature wants: a map as `&my_map` (of the type the helper needs: a BPF_MAP_TYPE_PROG_ARRAY for bpf_tail_call), pointers into the stack or a map value, sizes as constants",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: &str = "0: R1=ctx() R10=fp0
; unsigned char *data = (void *)(long)ctx->data; @ verifier_reject.c:9
0: (61) r1 = *(u32 *)(r1 +0)          ; R1=pkt(r=0)
; return data[100] ? XDP_PASS : XDP_DROP; @ verifier_reject.c:11
1: (71) r1 = *(u8 *)(r1 +100)
invalid access to packet, off=100 size=1, R1(id=0,off=100,r=0)
R1 offset is outside of the packet
verification time 21 usec
stack depth 0
processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
";

    #[test]
    fn the_failing_insn_its_source_line_and_the_message() {
        let r = explain(PACKET);
        assert_eq!(
            r.message,
            "invalid access to packet, off=100 size=1, R1(id=0,off=100,r=0); R1 offset is outside of the packet"
        );
        assert_eq!(r.insn.as_deref(), Some("1: (71) r1 = *(u8 *)(r1 +100)"));
        let source = r.source.clone().expect("a source line");
        assert_eq!(source.file.as_deref(), Some("verifier_reject.c"));
        assert_eq!(source.line, Some(11));
        assert_eq!(source.text, "return data[100] ? XDP_PASS : XDP_DROP;");
        assert_eq!(r.place().as_deref(), Some("verifier_reject.c:11"));
        assert!(r.cause.is_some_and(|c| c.contains("data_end")));
    }

    #[test]
    fn a_kernel_without_file_and_line_still_gives_the_text() {
        // 6.1's log: `; text` with no ` @ file:line`.
        let log = PACKET.replace(" @ verifier_reject.c:11", "");
        let source = explain(&log).source.expect("a source line");
        assert_eq!((source.file, source.line), (None, None));
        assert_eq!(source.text, "return data[100] ? XDP_PASS : XDP_DROP;");
    }

    #[test]
    fn the_objects_line_info_gives_the_place_a_kernel_left_out() {
        let log = PACKET.replace(" @ verifier_reject.c:11", "");
        let place = |insn, line, text: &str| SourcePlace {
            insn,
            file: "verifier_reject.c".into(),
            line,
            text: text.into(),
        };
        let lines = [
            place(0, 10, "void *data = (void *)(long)ctx->data;"),
            place(1, 11, "return data[100] ? XDP_PASS : XDP_DROP;"),
            place(4, 12, "}"),
        ];
        let mut r = explain(&log);
        r.locate(&lines);
        assert_eq!(r.place().as_deref(), Some("verifier_reject.c:11"));
        // A record whose text is not the log's (a subprogram's index) is not taken.
        let mut r = explain(&log);
        r.locate(&lines[..1]);
        assert_eq!(r.place(), None);
        // A log that names the place keeps it.
        let mut r = explain(PACKET);
        r.locate(&[place(1, 99, "return data[100] ? XDP_PASS : XDP_DROP;")]);
        assert_eq!(r.place().as_deref(), Some("verifier_reject.c:11"));
    }

    #[test]
    fn an_unguarded_call_of_a_missing_weak_kfunc_says_bpf_ksym_exists() {
        let log = "; bpf_xdploader_made_up(ctx);\n3: (85) call unknown#2002000000\ninvalid func unknown#2002000000\nprocessed 4 insns\n";
        let r = explain(log);
        assert!(r.cause.is_some_and(|c| c.contains("__weak kfunc")));
        assert!(r.fix.is_some_and(|f| f.contains("bpf_ksym_exists")));
    }

    #[test]
    fn a_helper_newer_than_the_kernel_is_named_as_such() {
        // Linux 5.10 on the skeleton's count(): the helper came in 5.18.
        let log = "; rec->rx_bytes += bpf_xdp_get_buff_len(ctx);\n12: (bf) r1 = r6\n13: (85) call unknown#188\ninvalid func unknown#188\nprocessed 14 insns\n";
        let r = explain(log);
        assert_eq!(r.message, "invalid func unknown#188");
        assert!(r
            .cause
            .is_some_and(|c| c.contains("a helper this kernel does not have")));
        assert_eq!(
            r.source.map(|s| s.text).as_deref(),
            Some("rec->rx_bytes += bpf_xdp_get_buff_len(ctx);")
        );
    }

    #[test]
    fn a_log_that_filled_its_buffer_keeps_where_the_walk_was() {
        // 6.1 on an unbounded loop: the log ends mid-walk, the errno is ENOSPC.
        let log = "; sum += i; @ rejected_loop.c:19\n14: (61) r1 = *(u32 *)(r10 -4)        ; R1_w=scalar()\n";
        let r = explain(log).log_filled();
        assert!(
            r.message.starts_with("the verifier's log filled"),
            "{}",
            r.message
        );
        assert_eq!(r.insn.as_deref(), Some("14: (61) r1 = *(u32 *)(r10 -4)"));
        assert_eq!(r.place().as_deref(), Some("rejected_loop.c:19"));
        assert!(r.cause.is_some_and(|c| c.contains("cannot bound a loop")));
    }

    #[test]
    fn line_zero_is_not_a_source_line() {
        let log = "; key = 0; @ a.c:10\n3: (bf) r2 = r10\n;  @ a.c:0\n4: (07) r2 += -4\n5: (85) call bpf_map_lookup_elem#1\nR1 type=scalar expected=map_ptr\n";
        let r = explain(log);
        assert_eq!(r.source.map(|s| s.line), Some(Some(10)));
        assert_eq!(r.message, "R1 type=scalar expected=map_ptr");
        assert!(r.fix.is_some_and(|f| f.contains("&my_map")));
    }

    #[test]
    fn a_log_without_instructions_gives_its_last_line() {
        let r = explain("combined stack size of 2 calls is 640. Too large\nverification time 1 usec\nstack depth 320+320\n");
        assert_eq!(
            r.message,
            "combined stack size of 2 calls is 640. Too large"
        );
        assert_eq!((r.insn, r.source), (None, None));
        assert!(r.cause.is_some_and(|c| c.contains("512")));
        assert_eq!(explain("").message, "no verifier log");
    }

    #[test]
    fn an_uninitialised_stack_read_is_explained() {
        // What the kernel says to a user without CAP_PERFMON (root may).
        let log = "; return bpf_map_lookup_elem(&flows, &key); @ pad.c:25\n9: (85) call bpf_map_lookup_elem#1\ninvalid indirect read from stack R2 off -8+1 size 8\n";
        let r = explain(log);
        assert!(r.fix.is_some_and(|f| f.contains("= {}")));
        assert_eq!(r.place().as_deref(), Some("pad.c:25"));
    }
}
