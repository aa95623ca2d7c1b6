// SPDX-License-Identifier: GPL-2.0
/* Fixture: a valid BPF object with no XDP program (a socket filter). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int accept_all(struct __sk_buff *skb)
{
	return skb->len;
}

char _license[] SEC("license") = "GPL";
