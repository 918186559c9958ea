// Measures what open dashboards cost Meridian's admin (main) thread: starts the harness (three
// regions under a small load), samples the main thread's CPU time from /proc for SECONDS with
// no page open, then again with N pages of the dashboard open in chromium, and prints both.
//   DASHBOARD_HARNESS=build/tests/dashboard_harness node ten_dashboards.mjs [N=10] [SECONDS=30]
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const pages = Number(process.argv[2] || 10);
const seconds = Number(process.argv[3] || 30);
const hz = 100;  // USER_HZ: /proc reports clock ticks of 1/100 s on Linux

function mainThreadTicks(pid) {
  // Fields after the command name (which is in parentheses and may hold spaces).
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);  // utime + stime (fields 14 and 15)
}
async function measure(pid, label) {
  const before = mainThreadTicks(pid);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const used = (mainThreadTicks(pid) - before) / hz;
  const wall = (Date.now() - t0) / 1000;
  console.log(`${label}: admin thread CPU ${(used * 1000).toFixed(0)} ms in ${wall.toFixed(1)} s = ${((100 * used) / wall).toFixed(2)} % of one core`);
}

const harness = spawn(process.env.DASHBOARD_HARNESS, [], { stdio: ["pipe", "pipe", "inherit"] });
const lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
const hello = JSON.parse((await lines.next()).value);
await measure(hello.pid, "no dashboard open");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
for (let i = 0; i < pages; i++) {
  const page = await context.newPage();
  await page.goto(`http://${hello.admin}/`);
  await page.waitForSelector("#conn[data-state=live]");
}
// Background tabs are throttled by browsers; these are all foreground in headless chromium.
await measure(hello.pid, `${pages} dashboards open`);
await browser.close();
harness.stdin.write("quit\n");
await new Promise((r) => harness.on("exit", r));
