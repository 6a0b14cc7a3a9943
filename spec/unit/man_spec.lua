-- SPDX-License-Identifier: GPL-2.0
-- sockhost.man (pure Lua): roff man pages from an argparse parser and from the README's
-- environment table.
describe("sockhost.man #unit", function()
   local man = require "sockhost.man"
   local argparse = require "argparse"

   it("makes a tool's page from its parser: usage, description, epilog, options", function()
      local parser = argparse("sockhost x", "Do x.", "Fields:\n  a   the a\n.dot starts a line")
      parser:option("--port", "Only this port."):argname("<port>"):default("80")
      parser:flag("--secret", "Not shown."):hidden(true)
      assert.equal(table.concat({
         '.TH SOCKHOST-X 1 "" "sockhost 1.2" "sockhost manual"',
         ".ad l", ".nh",
         ".SH NAME", "sockhost\\-x \\- Do x.",
         ".SH SYNOPSIS", "sockhost x [\\-h] [\\-\\-port <port>]",
         ".SH DESCRIPTION", "Do x.",
         ".PP", "Fields:", ".nf", "  a   the a", ".fi", "\\&.dot starts a line",
         ".SH OPTIONS",
         ".TP", "\\fB\\-h, \\-\\-help\\fR", "Show this help message and exit.",
         ".TP", "\\fB\\-\\-port <port>\\fR", "Only this port. (default: 80)",
         ".SH SEE ALSO", "\\fBsockhost\\fR(1)",
      }, "\n") .. "\n", man.tool(parser, "x", "1.2"))
   end)

   it("escapes backslashes and hyphens", function()
      assert.equal("a\\eb \\-\\-c", man.escape("a\\b --c"))
      assert.equal("x\n\\&'y", man.escape("x\n'y"))
   end)

   it("reads the environment table of a README", function()
      local readme = "# t\n\n## Environment\n\ntext\n\n| variable | read by | what |\n|---|---|---|\n"
         .. "| `A_B` | `x.c` | does `a` |\n| `C`, `D` | y | cd |\n\n## Next\n| `E` | z | no |\n"
      assert.same({ { name = "A_B", text = "does a" }, { name = "C, D", text = "cd" } },
         man.environment(readme))
      assert.same({}, man.environment("# no table\n"))
   end)
end)
