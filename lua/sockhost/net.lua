-- SPDX-License-Identifier: GPL-2.0
--
-- sockhost.net: pure Lua helpers for network values as BPF programs report them: address
-- bytes to text and back, byte-order swaps, and names for socket families, sock_ops
-- callbacks, TCP states and IP protocols.
--
-- Pure Lua on purpose: no sockhost.core, no require "sockhost", so it loads anywhere (busted
-- under stock lua5.4, a script's formatter, the REPL).
--
-- Conventions:
--   * Addresses are bytes in network order, as BPF structs carry them. The codec decodes a
--     __u8[16] field to a sequence of 16 byte integers (char arrays become strings, typedef'd
--     byte arrays do not, so no byte is lost at a NUL); byte strings are accepted as well.
--     net.pton gives a string; net.bytes turns one into a sequence to store into such a field.
--   * Misuse (wrong type, bad length, out-of-range number) raises an error. Parsing text that
--     may simply be wrong (net.pton) returns nil and a message instead.
--   * The *_name functions return nil for a number they do not know.

local net = {}

local AF_INET, AF_INET6 = 2, 10
net.AF_INET, net.AF_INET6 = AF_INET, AF_INET6

local little_endian = string.pack("=I2", 1):byte(1) == 1

-- math.tointeger, minus the string coercion Lua 5.4.3+ does: "80" is a caller's mistake.
local function toint(v)
   return type(v) == "number" and math.tointeger(v) or nil
end

-- Byte order ----------------------------------------------------------------------------

local function check_uint(n, bits, fname)
   local i = toint(n)
   if not i then
      error(("bad argument #1 to '%s' (integer expected, got %s)"):format(fname,
         type(n) == "number" and "non-integer number" or type(n)), 3)
   end
   if i < 0 or i >> bits ~= 0 then
      error(("bad argument #1 to '%s' (%d does not fit in %d bits)"):format(fname, i, bits), 3)
   end
   return i
end

local function swap16(n)
   return ((n & 0xff) << 8) | (n >> 8)
end

local function swap32(n)
   return ((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >> 8) & 0xff00) | (n >> 24)
end

-- The byte-order function named fname: checks a bits-wide unsigned integer, then swaps it
-- on a little-endian host.
local function byte_order(bits, swap, fname)
   return function(n)
      n = check_uint(n, bits, fname)
      return little_endian and swap(n) or n
   end
end

--- net.ntohs(n) / net.htons(n): swap a 16-bit value between network and host order (a
-- no-op on a big-endian host). The two are the same operation; both names read better.
net.ntohs = byte_order(16, swap16, "ntohs")
net.htons = byte_order(16, swap16, "htons")

--- net.ntohl(n) / net.htonl(n): the same for 32-bit values.
net.ntohl = byte_order(32, swap32, "ntohl")
net.htonl = byte_order(32, swap32, "htonl")

-- Address text --------------------------------------------------------------------------

local family_names = {
   [0] = "unspec", [1] = "unix", [2] = "inet", [10] = "inet6", [16] = "netlink",
   [17] = "packet", [40] = "vsock", [44] = "xdp",
}
local family_numbers = {}
for num, name in pairs(family_names) do family_numbers[name] = num end
family_numbers.ipv4, family_numbers.ipv6 = AF_INET, AF_INET6

--- net.family_name(n) -> "inet", "inet6", ... (AF_* lowercased without the prefix), or nil.
function net.family_name(n)
   local i = toint(n)
   return i and family_names[i] or nil
end

-- 2, 10, "inet", "inet6" ("ipv4"/"ipv6" too) or nil -> 2, 10 or nil.
local function family_number(family, fname)
   if family == nil then return nil end
   local f = toint(family) or family_numbers[family]
   if f ~= AF_INET and f ~= AF_INET6 then
      error(("bad argument #2 to '%s' (address family 2/\"inet\" or 10/\"inet6\" expected, got %s)")
         :format(fname, tostring(family)), 3)
   end
   return f
end

-- A string, or a sequence of byte integers -> string.
local function to_bytes(v, fname)
   if type(v) == "string" then return v end
   if type(v) ~= "table" then
      error(("bad argument #1 to '%s' (string or sequence of bytes expected, got %s)")
         :format(fname, type(v)), 3)
   end
   local out = {}
   for i = 1, #v do
      local b = toint(v[i])
      if not b or b < 0 or b > 255 then
         error(("bad argument #1 to '%s' (element %d is not a byte: %s)")
            :format(fname, i, tostring(v[i])), 3)
      end
      out[i] = string.char(b)
   end
   return table.concat(out)
end

--- net.bytes(s [, len]) -> {b1, b2, ...}: the bytes of string s as a sequence of integers,
-- zero-padded to len when given (for __u8[len] struct fields: net.bytes(net.pton(ip), 16)).
function net.bytes(s, len)
   if type(s) ~= "string" then
      error(("bad argument #1 to 'bytes' (string expected, got %s)"):format(type(s)), 2)
   end
   local n = len == nil and #s or toint(len)
   if not n or n < #s then
      error(("bad argument #2 to 'bytes' (length of at least %d expected, got %s)")
         :format(#s, tostring(len)), 2)
   end
   local out = { s:byte(1, -1) }
   for i = #s + 1, n do out[i] = 0 end
   return out
end

local function ntop4(s)
   return ("%d.%d.%d.%d"):format(s:byte(1, 4))
end

-- RFC 5952: lowercase hex without leading zeros; the longest run of two or more zero groups
-- (the first one on a tie) becomes "::"; IPv4-mapped addresses end in dotted decimal.
local function ntop6(s)
   local g = { string.unpack(">I2I2I2I2I2I2I2I2", s) }
   g[9] = nil -- string.unpack's next position
   if g[1] == 0 and g[2] == 0 and g[3] == 0 and g[4] == 0 and g[5] == 0 and g[6] == 0xffff then
      return "::ffff:" .. ntop4(s:sub(13, 16))
   end
   local best, best_len, i = nil, 1, 1
   while i <= 8 do
      if g[i] == 0 then
         local j = i
         while j < 8 and g[j + 1] == 0 do j = j + 1 end
         if j - i + 1 > best_len then best, best_len = i, j - i + 1 end
         i = j + 1
      else
         i = i + 1
      end
   end
   local parts = {}
   for k = 1, 8 do parts[k] = ("%x"):format(g[k]) end
   if not best then return table.concat(parts, ":") end
   return table.concat(parts, ":", 1, best - 1) .. "::"
      .. table.concat(parts, ":", best + best_len, 8)
end

--- net.ntop(addr, family) -> text.
-- addr: 4 or 16 bytes in network order (string or sequence of byte integers).
-- family: 2/"inet", 10/"inet6", or nil to go by the length (4: IPv4, 16: IPv6). With family
-- 2 a 16-byte addr is the sockhost struct convention (IPv4 in the first 4 bytes), so only
-- the first 4 bytes are used.
function net.ntop(addr, family)
   local s = to_bytes(addr, "ntop")
   local f = family_number(family, "ntop")
   if f == nil then
      f = #s == 4 and AF_INET or #s == 16 and AF_INET6 or nil
   end
   if f == AF_INET and (#s == 4 or #s == 16) then
      return ntop4(s)
   elseif f == AF_INET6 and #s == 16 then
      return ntop6(s)
   end
   error(("bad argument #1 to 'ntop' (%d bytes is not an %s address)")
      :format(#s, f == AF_INET6 and "IPv6" or f == AF_INET and "IPv4" or "IPv4 or IPv6"), 2)
end

--- net.ipv4(n) -> "a.b.c.d" for a __u32 that holds an IPv4 address in network order
-- (struct bpf_sock_ops.remote_ip4, iphdr.saddr ... decoded as a plain integer): the integer's
-- bytes in host memory order are the address bytes.
function net.ipv4(n)
   n = check_uint(n, 32, "ipv4")
   return ntop4(string.pack("=I4", n))
end

--- net.endpoint(addr, family, port) -> "1.2.3.4:80" or "[::1]:80" (RFC 5952 section 6).
function net.endpoint(addr, family, port)
   local text = net.ntop(addr, family)
   if text:find(":", 1, true) then text = "[" .. text .. "]" end
   return ("%s:%d"):format(text, port)
end

local function pton4(str)
   local bytes = {}
   for part in (str .. "."):gmatch("([^.]*)%.") do
      -- decimal only, no leading zeros (inet_pton refuses them: "010" could mean octal)
      if not part:match("^%d+$") or #part > 3 or (#part > 1 and part:sub(1, 1) == "0") then
         return nil
      end
      local b = tonumber(part)
      if b > 255 then return nil end
      bytes[#bytes + 1] = b
   end
   if #bytes ~= 4 then return nil end
   return string.char(table.unpack(bytes))
end

local function parse_groups(text, out)
   if text == "" then return true end
   for part in (text .. ":"):gmatch("([^:]*):") do
      if not part:match("^%x%x?%x?%x?$") then return false end
      out[#out + 1] = tonumber(part, 16)
   end
   return true
end

local function pton6(str)
   -- an embedded IPv4 address may end the text (::ffff:1.2.3.4, 64:ff9b::1.2.3.4)
   local v4
   local head, tail4 = str:match("^(.*:)(%d+%.%d+%.%d+%.%d+)$")
   if head then
      v4 = pton4(tail4)
      if not v4 then return nil end
      str = head .. "0:0" -- placeholder groups, replaced below
   end
   local left, right = {}, {}
   local a, b = str:match("^(.-)::(.*)$")
   if a then
      if b:find("::", 1, true) then return nil end
      if not parse_groups(a, left) or not parse_groups(b, right) then return nil end
      if #left + #right > 7 then return nil end
   else
      if not parse_groups(str, left) or #left ~= 8 then return nil end
   end
   local groups = {}
   for _, v in ipairs(left) do groups[#groups + 1] = v end
   for _ = 1, 8 - #left - #right do groups[#groups + 1] = 0 end
   for _, v in ipairs(right) do groups[#groups + 1] = v end
   local s = string.pack(">I2I2I2I2I2I2I2I2", table.unpack(groups, 1, 8))
   if v4 then s = s:sub(1, 12) .. v4 end
   return s
end

--- net.pton(text) -> bytes, family: 4 bytes and 2 for IPv4 dotted decimal, 16 bytes and 10
-- for IPv6 text (any valid form, including "::" and a trailing dotted IPv4 part); nil and a
-- message for anything else.
function net.pton(text)
   if type(text) ~= "string" then
      error(("bad argument #1 to 'pton' (string expected, got %s)"):format(type(text)), 2)
   end
   local s, f
   if text:find(":", 1, true) then
      s, f = pton6(text), AF_INET6
   else
      s, f = pton4(text), AF_INET
   end
   if not s then
      return nil, ("invalid IP address '%s'"):format(text)
   end
   return s, f
end

-- Names ---------------------------------------------------------------------------------

-- enum BPF_SOCK_OPS_* (op values of struct bpf_sock_ops) in include/uapi/linux/bpf.h, with
-- the prefix dropped and lowercased.
local sockops_ops = {
   [0] = "void",
   "timeout_init",
   "rwnd_init",
   "tcp_connect_cb",
   "active_established_cb",
   "passive_established_cb",
   "needs_ecn",
   "base_rtt",
   "rto_cb",
   "retrans_cb",
   "state_cb",
   "tcp_listen_cb",
   "rtt_cb",
   "parse_hdr_opt_cb",
   "hdr_opt_len_cb",
   "write_hdr_opt_cb",
   "tstamp_sched_cb",
   "tstamp_snd_sw_cb",
   "tstamp_snd_hw_cb",
   "tstamp_ack_cb",
   "tstamp_sendmsg_cb",
}

-- enum BPF_TCP_* / TCP_* (include/net/tcp_states.h), prefix dropped, lowercased.
local tcp_states = {
   "established",
   "syn_sent",
   "syn_recv",
   "fin_wait1",
   "fin_wait2",
   "time_wait",
   "close",
   "close_wait",
   "last_ack",
   "listen",
   "closing",
   "new_syn_recv",
   "bound_inactive",
}

-- IPPROTO_* of include/uapi/linux/in.h and in6.h, prefix dropped, lowercased. 0 is "ip"
-- (IPPROTO_IP; as an IPv6 next header the same number is hop-by-hop options).
local protos = {
   [0] = "ip", [1] = "icmp", [2] = "igmp", [4] = "ipip", [6] = "tcp", [8] = "egp",
   [12] = "pup", [17] = "udp", [22] = "idp", [29] = "tp", [33] = "dccp", [41] = "ipv6",
   [43] = "routing", [44] = "fragment", [46] = "rsvp", [47] = "gre", [50] = "esp", [51] = "ah",
   [58] = "icmpv6", [59] = "none", [60] = "dstopts", [92] = "mtp", [94] = "beetph",
   [98] = "encap", [103] = "pim", [108] = "comp", [115] = "l2tp", [132] = "sctp",
   [135] = "mh", [136] = "udplite", [137] = "mpls", [143] = "ethernet", [255] = "raw",
   [256] = "smc", [262] = "mptcp",
}

-- A number looks up the table; a string is taken as an enumerator name already (the BTF
-- codec decodes enum-typed fields to names) and only normalised: "BPF_SOCK_OPS_STATE_CB" ->
-- "state_cb".
local function namer(tbl, ...)
   local prefixes = { ... }
   return function(v)
      if type(v) == "string" then
         local name = v:lower()
         for _, prefix in ipairs(prefixes) do
            if name:sub(1, #prefix) == prefix then return name:sub(#prefix + 1) end
         end
         return name
      end
      local i = toint(v)
      return i and tbl[i] or nil
   end
end

--- net.sockops_op_name(n) -> "tcp_connect_cb", "active_established_cb", "state_cb", ...
net.sockops_op_name = namer(sockops_ops, "bpf_sock_ops_")
--- net.tcp_state_name(n) -> "established", "syn_sent", ..., "listen", "new_syn_recv", ...
net.tcp_state_name = namer(tcp_states, "bpf_tcp_", "tcp_")
--- net.proto_name(n) -> "tcp", "udp", "icmp", "icmpv6", ...
net.proto_name = namer(protos, "ipproto_")

return net
