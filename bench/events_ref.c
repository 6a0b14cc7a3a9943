// SPDX-License-Identifier: GPL-2.0
/*
 * events_ref.c: the plain C libbpf reference of bench/events.lua, and its live
 * producer. Prints one JSON object per run on stdout.
 *
 *   events_ref drain OBJ N        fill the 4 MiB ring of OBJ (build/bench/events.bpf.o) with
 *                                 the `fill` program, time ring_buffer__consume() draining
 *                                 it, repeat until N records: {"records","fills","seconds"}
 *   events_ref live OBJ SECONDS   fork a producer calling getppid() in a loop for SECONDS,
 *                                 record each call with the tracepoint program, consume with
 *                                 ring_buffer__poll(): {"produced","calls","received",
 *                                 "dropped","seconds"}
 *   events_ref produce SECONDS GO OUT
 *                                 the producer alone, for other consumers: wait for the file
 *                                 GO to exist, loop getppid() for SECONDS, write
 *                                 "<calls> <seconds>" to OUT
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "events.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static __u64 sum;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct bench_event *e = data;

	sum += e->seq; /* read a field, as a real consumer would */
	(*(__u64 *)ctx)++;
	return 0;
}

static struct bpf_object *open_obj(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);

	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "events_ref: cannot load %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return obj;
}

static __u64 read_global(struct bpf_object *obj, const char *sec, size_t off)
{
	struct bpf_map *m = NULL;
	size_t sz;
	__u32 zero = 0;
	char buf[4096];

	bpf_object__for_each_map(m, obj)
		if (strstr(bpf_map__name(m), sec))
			break;
	sz = m ? bpf_map__value_size(m) : 0;
	if (!m || sz > sizeof(buf) || bpf_map_lookup_elem(bpf_map__fd(m), &zero, buf))
		return 0;
	return *(__u64 *)(buf + off);
}

static __u64 drops(struct bpf_object *obj)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "events_drops");
	int n = libbpf_num_possible_cpus();
	__u64 v[n > 0 ? n : 1], total = 0;
	__u32 zero = 0;

	if (m && !bpf_map_lookup_elem(bpf_map__fd(m), &zero, v))
		for (int i = 0; i < n; i++)
			total += v[i];
	return total;
}

static int drain(const char *path, long n)
{
	struct bpf_object *obj = open_obj(path);
	struct bpf_program *fill = bpf_object__find_program_by_name(obj, "fill");
	struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
	struct ring_buffer *rb;
	char pkt[64] = { 0 };
	__u64 got = 0;
	double secs = 0;
	long fills = 0;

	rb = ring_buffer__new(bpf_map__fd(events), on_event, &got, NULL);
	if (!fill || !rb) {
		fprintf(stderr, "events_ref: setup failed\n");
		return 1;
	}
	while ((long)got < n) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = 1);
		double t0;

		if (bpf_prog_test_run_opts(bpf_program__fd(fill), &opts)) {
			fprintf(stderr, "events_ref: test_run: %s\n", strerror(errno));
			return 1;
		}
		fills++;
		t0 = now();
		if (ring_buffer__consume(rb) < 0)
			return 1;
		secs += now() - t0;
	}
	printf("{\"records\":%llu,\"fills\":%ld,\"seconds\":%.6f,\"sum\":%llu}\n",
	       (unsigned long long)got, fills, secs, (unsigned long long)sum);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}

/* getppid() in a loop for secs; the clock is read every 1024 calls (vDSO, no syscall). */
static unsigned long produce_loop(double secs, double *took)
{
	unsigned long calls = 0;
	double t0 = now(), t = t0;

	while (t - t0 < secs) {
		for (int i = 0; i < 1024; i++)
			syscall(SYS_getppid);
		calls += 1024;
		t = now();
	}
	*took = t - t0;
	return calls;
}

static int produce(double secs, const char *go, const char *out)
{
	double took;
	unsigned long calls;
	FILE *f;

	while (access(go, F_OK))
		usleep(1000);
	calls = produce_loop(secs, &took);
	f = fopen(out, "w");
	if (!f)
		return 1;
	fprintf(f, "%lu %.6f\n", calls, took);
	return fclose(f) ? 1 : 0;
}

static int live(const char *path, double secs)
{
	struct bpf_object *obj = open_obj(path);
	struct bpf_program *tp = bpf_object__find_program_by_name(obj, "sys_enter_getppid");
	struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
	struct bpf_map *config = bpf_object__find_map_by_name(obj, "bench_config");
	int go[2], res[2], status;
	struct bench_config cfg = { 0 };
	struct bpf_link *link;
	struct ring_buffer *rb;
	__u64 got = 0;
	__u32 zero = 0;
	double result[2] = { 0, 0 };
	pid_t child;
	char c;

	if (pipe(go) || pipe(res))
		return 1;
	child = fork();
	if (child == 0) {
		double took;
		unsigned long calls;

		if (read(go[0], &c, 1) != 1)
			_exit(1);
		calls = produce_loop(secs, &took);
		result[0] = (double)calls;
		result[1] = took;
		_exit(write(res[1], result, sizeof(result)) == sizeof(result) ? 0 : 1);
	}
	cfg.target_pid = (__u32)child;
	bpf_map_update_elem(bpf_map__fd(config), &zero, &cfg, 0);
	link = bpf_program__attach(tp);
	rb = ring_buffer__new(bpf_map__fd(events), on_event, &got, NULL);
	if (!link || !rb) {
		kill(child, SIGKILL);
		fprintf(stderr, "events_ref: attach failed: %s\n", strerror(errno));
		return 1;
	}
	if (write(go[1], "g", 1) != 1)
		return 1;
	while (waitpid(child, &status, WNOHANG) == 0)
		ring_buffer__poll(rb, 100);
	ring_buffer__consume(rb);
	if (read(res[0], result, sizeof(result)) != sizeof(result))
		return 1;
	printf("{\"calls\":%.0f,\"seconds\":%.6f,\"produced\":%llu,\"received\":%llu,"
	       "\"dropped\":%llu}\n",
	       result[0], result[1], (unsigned long long)read_global(obj, ".bss", 8),
	       (unsigned long long)got, (unsigned long long)drops(obj));
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(NULL);
	if (argc == 4 && !strcmp(argv[1], "drain"))
		return drain(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "live"))
		return live(argv[2], atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "produce"))
		return produce(atof(argv[2]), argv[3], argv[4]);
	fprintf(stderr, "usage: events_ref drain OBJ N | live OBJ SECONDS | "
			"produce SECONDS GOFILE OUTFILE\n");
	return 2;
}
