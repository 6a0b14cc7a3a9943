/* SPDX-License-Identifier: GPL-2.0 */
/*
 * obj/ringsize.h: the size of an object's event rings, chosen from memory at open.
 */
#ifndef SOCKHOST_OBJ_RINGSIZE_H
#define SOCKHOST_OBJ_RINGSIZE_H

#include <stddef.h>
#include <bpf/libbpf.h>

/* Bytes an event ring gets by default on this machine (a power of 2, cached). */
size_t sh_ring_default_size(void);
/* Grow every ring buffer map of obj (not yet loaded) to the default size, where it declares
 * less; the log ring (sockhost_log) keeps its size. opts.maps applied afterwards wins.
 * -1 when SOCKHOST_RING_SIZE is not a power of 2 of at least a page (up to 2 GiB). */
int sh_rings_autosize(struct bpf_object *obj);

#endif
