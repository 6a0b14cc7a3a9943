-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/netns.lua: network namespaces of the spec's own and veth pairs into them:
-- sockhost.testing.netns (create, delete, exec, veth_pair, veth_delete, scratch), re-exported.
-- The spec deletes what it made in finally/teardown.
return require "sockhost.testing.netns"
