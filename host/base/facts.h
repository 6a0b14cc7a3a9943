/* SPDX-License-Identifier: GPL-2.0 */
/*
 * base/facts.h: the machine facts scripts read directly: sockhost.cgroup2_root, bpf_dir,
 * scripts_dir, tool_names, pid, now, cgroup_id, term_columns.
 */
#ifndef SOCKHOST_BASE_FACTS_H
#define SOCKHOST_BASE_FACTS_H

#include <lua.h>

/* Set the facts' functions into the module table at -1. */
int sh_facts_open(lua_State *L);

#endif
