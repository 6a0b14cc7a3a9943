-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/cgroup.lua: the specs' own cgroups, <cgroup2 root>/sockhost-spec-<tag>-<pid>-<n>:
-- sockhost.testing.cgroup (root, current, within, new, remove, scratch), re-exported. The spec
-- removes what it made in finally/teardown.
return require "sockhost.testing.cgroup"
