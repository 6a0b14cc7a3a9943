-- SPDX-License-Identifier: GPL-2.0
-- spec/helpers/traffic.lua: traffic a spec makes itself, so it knows exactly what to expect
-- (loopback TCP with exact byte counts, UDP datagrams, openat() calls):
-- sockhost.testing.traffic, re-exported.
return require "sockhost.testing.traffic"
