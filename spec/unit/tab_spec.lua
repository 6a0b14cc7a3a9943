-- SPDX-License-Identifier: GPL-2.0
-- sockhost.tab (pure Lua): rows from maps and tables, rendered as aligned text tables.
local tab = require "sockhost.tab"
local errors = require "helpers.errors"
local fake_map = require("helpers.fakemap").new

describe("sockhost.tab #unit", function()
   local rows

   before_each(function()
      rows = {
         { addr = "10.0.0.9", bytes = 512, pkts = 4 },
         { addr = "10.0.0.2", bytes = 1536, pkts = 12 },
         { addr = "fe80::1", bytes = 3 * 1048576, pkts = 2100 },
      }
   end)

   it("aligns auto-width columns: numbers right, text left, all keys sorted", function()
      assert.equal(
         "ADDR        BYTES  PKTS\n"
         .. "10.0.0.9      512     4\n"
         .. "10.0.0.2     1536    12\n"
         .. "fe80::1   3145728  2100\n",
         tab.render(rows))
   end)

   it("takes titles, fmt names, sorting and top-N", function()
      local opts = {
         columns = { { key = "addr", title = "DEST" }, { key = "bytes", fmt = "bytes" }, "pkts" },
         sort = "bytes", desc = true, top = 2,
      }
      assert.equal(
         "DEST        BYTES  PKTS\n"
         .. "fe80::1   3.0 MiB  2100\n"
         .. "10.0.0.2  1.5 KiB    12\n",
         tab.render(rows, opts))
      opts.desc, opts.top = nil, 1
      assert.equal("DEST      BYTES  PKTS\n10.0.0.9  512 B     4\n", tab.render(rows, opts))
      assert.equal(3, #rows, "render must not change rows")
      assert.equal("10.0.0.9", rows[1].addr)
   end)

   it("sorts text columns and keeps input order on ties", function()
      local r = { { n = "b", v = 1 }, { n = "a", v = 2 }, { n = "c", v = 1 }, { n = "d", v = 2 } }
      assert.equal("N  V\na  2\nd  2\nb  1\nc  1\n", tab.render(r, { sort = "v", desc = true }))
      assert.equal("N  V\nb  1\nc  1\na  2\nd  2\n", tab.render(r, { sort = "v" }))
      assert.equal("N  V\na  2\nb  1\nc  1\nd  2\n", tab.render(r, { sort = "n" }))
      assert.equal("N  V\na  2\nd  2\nb  1\nc  1\n",
         tab.render(r, { sort = function(x, y) return x.v > y.v end }))
   end)

   it("sorts missing values last in both directions and prints them as opts.missing", function()
      local r = { { k = "x" }, { k = "y", n = 1 }, { k = "z", n = 3 } }
      assert.equal("K  N\ny  1\nz  3\nx  -\n", tab.render(r, { sort = "n", missing = "-" }))
      assert.equal("K  N\nz  3\ny  1\nx   \n", tab.render(r, { sort = "n", desc = true }))
   end)

   it("renders sequence rows, custom formatters, alignment and no header", function()
      local r = { { "lo", 1.5, 3 }, { "eth0", 22.25, 4.0 } }
      assert.equal("lo     1.50  3\neth0  22.25  4\n", tab.render(r, { header = false }))
      local out = tab.render(r, {
         columns = {
            { key = 1, title = "IF", align = "right" },
            { key = 2, title = "MS",
               fmt = function(v, row) return ("%g/%s"):format(v, row[1]) end },
            { key = 3, title = "N", align = "left" },
         },
         sep = " | ",
      })
      assert.equal("  IF |         MS | N\n"
         .. "  lo |     1.5/lo | 3\n"
         .. "eth0 | 22.25/eth0 | 4\n", out)
   end)

   it("counts UTF-8 characters for widths and leaves no trailing blanks", function()
      local out = tab.render({ { name = "é", n = 1 }, { name = "xyz", n = 22 } })
      assert.equal(" N  NAME\n 1  é\n22  xyz\n", out)
   end)

   it("renders nothing for no rows and no columns, and a header for columns only", function()
      assert.equal("", tab.render({}))
      assert.equal("A  B\n", tab.render({}, { columns = { "a", "b" } }))
   end)

   it("writes to a file handle", function()
      local fh = io.tmpfile()
      tab.write(fh, { { a = 1 } })
      fh:seek("set")
      assert.equal("A\n1\n", fh:read("a"))
      fh:close()
   end)

   it("turns {key -> value} tables and maps into rows", function()
      local r = tab.rows(fake_map({ [6] = 100, [17] = 5 }), { key = "proto", value = "bytes" })
      assert.equal("PROTO  BYTES\n    6    100\n   17      5\n",
         tab.render(r, { sort = "proto", columns = { "proto", "bytes" } }))
      r = tab.rows({ [{ ip = "10.0.0.1", port = 80 }] = { pkts = 2, bytes = 120 } })
      assert.same({ { ip = "10.0.0.1", port = 80, pkts = 2, bytes = 120 } }, r)
   end)

   it("rejects bad options", function()
      errors.raises(function() tab.render("x") end,
         "bad argument #1 to 'render' (table expected, got string)")
      errors.raises(function() tab.render(rows, { columns = { { title = "X" } } }) end,
         "bad option 'columns' to 'render' (column 1 has no key)")
      errors.raises(function() tab.render(rows, { columns = { { key = "a", fmt = "kb" } } }) end,
         "bad option 'columns' to 'render' (column 1: unknown fmt 'kb')")
      errors.raises(function() tab.render(rows, { columns = { { key = "a", align = "mid" } } }) end,
         "bad option 'columns' to 'render' (column 1: align must be 'left' or 'right')")
      errors.raises(function() tab.render(rows, { top = -1 }) end,
         "bad option 'top' to 'render' (non-negative integer expected, got -1)")
   end)
end)
