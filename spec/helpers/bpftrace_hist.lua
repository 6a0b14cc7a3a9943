-- SPDX-License-Identifier: GPL-2.0
--- spec/helpers/bpftrace_hist.lua: bpftrace 0.17's own hist() and lhist() output for known
-- values, captured once with `bpftrace -e 'BEGIN { @h = hist(5); ... exit(); }'` and copied
-- here (the specs do not need bpftrace). unit/hist prints them from {value -> count}
-- tables, kernel/hist from the maps a BPF program fills with the SDK's bucket helpers.
--
--   local refs = require "helpers.bpftrace_hist"
--   assert.equal(refs.h.out, hist.log2(refs.h.values, { title = "@h" }))
return {
   -- @h = hist(x) for 5, 100, 0, -3, 1 and 3 x 1500
   h = {
      values = { [5] = 1, [100] = 1, [0] = 1, [-3] = 1, [1] = 1, [1500] = 3 },
      out = "@h: \n" .. [[
(..., 0)               1 |@@@@@@@@@@@@@@@@@                                   |
[0]                    1 |@@@@@@@@@@@@@@@@@                                   |
[1]                    1 |@@@@@@@@@@@@@@@@@                                   |
[2, 4)                 0 |                                                    |
[4, 8)                 1 |@@@@@@@@@@@@@@@@@                                   |
[8, 16)                0 |                                                    |
[16, 32)               0 |                                                    |
[32, 64)               0 |                                                    |
[64, 128)              1 |@@@@@@@@@@@@@@@@@                                   |
[128, 256)             0 |                                                    |
[256, 512)             0 |                                                    |
[512, 1K)              0 |                                                    |
[1K, 2K)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

]],
   },
   -- @l = lhist(x, 0, 100, 10) for -5, 0, 35, 35, 100, 150
   l = {
      values = { [-5] = 1, [0] = 1, [35] = 2, [100] = 1, [150] = 1 },
      out = "@l: \n" .. [[
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0, 10)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[10, 20)               0 |                                                    |
[20, 30)               0 |                                                    |
[30, 40)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[40, 50)               0 |                                                    |
[50, 60)               0 |                                                    |
[60, 70)               0 |                                                    |
[70, 80)               0 |                                                    |
[80, 90)               0 |                                                    |
[90, 100)              0 |                                                    |
[100, ...)             2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

]],
   },
}
