// Makes docs/dashboard.png, the README's picture of the dashboard: the harness's three regions
// under load, one endpoint of fra down, an explain drawn on the map, at 1280x800.
//   DASHBOARD_HARNESS=build/tests/dashboard_harness node readme_screenshot.mjs OUT.png
// (then shrink it: pngquant --quality 60-80 OUT.png)
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const out = process.argv[2] || "dashboard.png";
const harness = spawn(process.env.DASHBOARD_HARNESS, [], { stdio: ["pipe", "pipe", "inherit"] });
const lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
const hello = JSON.parse((await lines.next()).value);
const ask = async (cmd) => { harness.stdin.write(cmd + "\n"); return (await lines.next()).value; };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(`http://${hello.admin}/`);
await ask("health green fra down");
await page.waitForSelector('#region-list li[data-region="fra"][data-state="degraded"]', { timeout: 15000 });
await page.waitForTimeout(6000);  // a few seconds of load, so the rates and the split fill in
await page.fill('#explain-form input[name="client_ip"]', "198.51.100.20");
await page.fill('#explain-form input[name="host"]', "app.test");
await page.click('#explain-form button[type="submit"]');
await page.waitForSelector("#explain-order li");
await page.locator('#region-list li[data-region="fra"]').getByRole("button", { name: "Endpoints" }).click();
await page.evaluate(() => window.scrollTo(0, 0));
await page.screenshot({ path: out });
await browser.close();
harness.stdin.write("quit\n");
await new Promise((r) => harness.on("exit", r));
