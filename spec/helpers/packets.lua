-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/packets.lua: crafted frames for socket filter specs (prog:test_run):
-- sockhost.testing.packets, re-exported.
return require "sockhost.testing.packets"
