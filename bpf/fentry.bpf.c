// SPDX-License-Identifier: GPL-2.0
/*
 * fentry: the BPF trampoline hooks (fentry/fexit) on getppid(), kept apart from tpcount so
 * that one object both tells whether the kernel allows trampolines (sockhost.features() can
 * try to load it: some kernels refuse with EPERM, e.g. under lockdown or without
 * CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS) and counts calls where it does.
 *
 *   fentry_getppid   fentry on the syscall's entry function -> fentry_hits
 *   fexit_getppid    fexit on it                             -> fexit_hits
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Process (tgid) whose calls count; 0: every process. */
const volatile __u32 target_pid = 0;

__u64 fentry_hits = 0;
__u64 fexit_hits = 0;

static __always_inline bool is_target(void)
{
	return !target_pid || (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

/*
 * The target is resolved by name in the kernel's BTF at load time, and the syscall entry
 * __x64_sys_getppid is not in it: SYSCALL_DEFINE0 makes __x64_sys_getppid an alias of
 * __do_sys_getppid (same address, see arch/x86/include/asm/syscall_wrapper.h) and BTF keeps
 * only the latter, with one const struct pt_regs * argument. The trampoline on that address
 * is the one every getppid() goes through. (kprobes use the symbol, where either name works.)
 */
SEC("fentry/__do_sys_getppid")
int BPF_PROG(fentry_getppid, const struct pt_regs *regs)
{
	if (is_target())
		__sync_fetch_and_add(&fentry_hits, 1);
	return 0;
}

SEC("fexit/__do_sys_getppid")
int BPF_PROG(fexit_getppid, const struct pt_regs *regs, long ret)
{
	if (is_target())
		__sync_fetch_and_add(&fexit_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
