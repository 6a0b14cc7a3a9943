// SPDX-License-Identifier: GPL-2.0
/*
 * tpcount: count getppid() calls of one process through every kind of tracing hook, so the
 * host's attach kinds can be tested against a syscall a spec can make on demand. Each program
 * counts into its own global; choose programs with autoload, e.g. kprobes cannot load on a
 * kernel without CONFIG_KPROBES while the rest can.
 *
 *   sys_enter_getppid   tracepoint syscalls/sys_enter_getppid -> hits, plus a tp_event
 *   raw_sys_enter       raw_tp sys_enter (all syscalls, filtered by id)  -> raw_hits
 *   btf_sys_enter       tp_btf sys_enter (same hook, BTF-typed args)    -> btf_hits
 *   kprobe_getppid      kprobe on the syscall's entry function           -> kprobe_hits
 *   kretprobe_getppid   kretprobe on it                                  -> kretprobe_hits
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "sockhost/sockhost.bpf.h"
#include "tpcount.h"

/*
 * vmlinux.h has no syscall numbers (they are macros, not BTF) and raw_tp/tp_btf sys_enter
 * give only the number, so name it here per architecture.
 */
#if defined(__TARGET_ARCH_x86)
#define NR_getppid 110
#elif defined(__TARGET_ARCH_arm64) || defined(__TARGET_ARCH_riscv)
#define NR_getppid 173
#else
#error "tpcount.bpf.c: add __NR_getppid for this architecture"
#endif

/* Process (tgid) whose calls count; 0: every process. */
const volatile __u32 target_pid = 0;
/*
 * Syscall the raw_tp and tp_btf programs count (they see every syscall and filter by id).
 * getppid by default; a spec running inside Lua, which cannot call getppid, picks one it
 * can make on demand (openat) and attaches the tracepoint program to that syscall's event.
 */
const volatile __u32 target_nr = NR_getppid;

__u64 hits = 0;
__u64 raw_hits = 0;
__u64 btf_hits = 0;
__u64 kprobe_hits = 0;
__u64 kretprobe_hits = 0;
/* tp_events that do not fit are counted in `events_drops` (the loss ledger) */
SH_RINGBUF(events, 64 * 1024);

/*
 * The host decodes ring buffer records by BTF type name ("struct tp_event"), but clang
 * emits BTF only for types reachable from globals, maps and function signatures, not from
 * locals, and a ring buffer map has no value type to name. This unused global keeps the type
 * in the object's BTF. A struct rather than the usual pointer: the host sees it as a global
 * too, and its codec has no use for pointers (this one reads as an all-zero struct).
 */
struct tp_event tp_event_type __attribute__((unused));

static __always_inline bool is_target(void)
{
	return !target_pid || (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int sys_enter_getppid(void *ctx)
{
	struct tp_event *e;

	if (!is_target())
		return 0;
	/* built for BPF CPU v3, so the add returns the old value atomically (BPF_FETCH) */
	__u64 seq = __sync_fetch_and_add(&hits, 1) + 1;
	e = sh_ringbuf_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->seq = seq;
	e->ts = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* raw_tp: the tracepoint's raw arguments; sys_enter is (struct pt_regs *regs, long id). */
SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == target_nr && is_target())
		__sync_fetch_and_add(&raw_hits, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_sys_enter, struct pt_regs *regs, long id)
{
	if (id == target_nr && is_target())
		__sync_fetch_and_add(&btf_hits, 1);
	return 0;
}

/*
 * The entry point of a syscall is arch-specific (__x64_sys_getppid on x86-64, __arm64_... on
 * arm64); the host may retarget these with prog:attach(func).
 */
SEC("kprobe/__x64_sys_getppid")
int BPF_KPROBE(kprobe_getppid)
{
	if (is_target())
		__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("kretprobe/__x64_sys_getppid")
int BPF_KRETPROBE(kretprobe_getppid, long ret)
{
	if (is_target())
		__sync_fetch_and_add(&kretprobe_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
