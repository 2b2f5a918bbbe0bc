#!/usr/bin/env node
// The `rmq` command of the npm package. The servers and the CLI run on Bun (or Deno), so this runs
// cli/bun.ts with the `bun` on PATH; the single-file binary (`npm run build:bin`) needs neither.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("../cli/bun.ts", import.meta.url));
const child = spawn(process.env.BUN ?? "bun", ["run", entry, ...process.argv.slice(2)], { stdio: "inherit" });
child.on("error", (error) => {
  process.stderr.write(`Error: rmq runs on Bun (https://bun.sh), which was not found: ${error.message}\n`);
  process.exit(3);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
