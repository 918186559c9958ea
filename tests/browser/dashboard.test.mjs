// Browser tests of the admin dashboard: Debian's chromium, driven by playwright-core, against
// the real meridian binary in front of three regions of FakeUpstreams under a small load
// (dashboard_harness). Each state the page reaches is written as a screenshot to
// $SCREENSHOT_DIR, for a person to look at. Run by tests/browser/run.sh (ctest: dashboard_browser).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const HARNESS = process.env.DASHBOARD_HARNESS;
const SHOTS = process.env.SCREENSHOT_DIR || "dashboard-screenshots";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WAIT = 15000;  // the longest any state may take to show (health checks run every 300 ms)

let harness, lines, hello, browser, page;
const errors = [];   // console errors and page errors: {phase, text}
let phase = "load";

// One command to the harness, its one-line JSON answer.
async function ask(cmd) {
  harness.stdin.write(cmd + "\n");
  const { value, done } = await lines.next();
  assert.ok(!done, `harness ended before answering ${cmd}`);
  return JSON.parse(value);
}
async function shot(name) {
  await page.screenshot({ path: join(SHOTS, name + ".png"), fullPage: true });
}
const region = (name) => page.locator(`#region-list li[data-region="${name}"]`);
async function waitState(name, state) {
  await page.waitForSelector(`#region-list li[data-region="${name}"][data-state="${state}"]`, { timeout: WAIT });
  await page.waitForSelector(`#map g.region.${state}[data-region="${name}"]`, { timeout: WAIT });
}
// Polls the harness until `ok(counts)`; bounded by a deadline.
async function untilCounts(ok, what) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const c = await ask("counts");
    if (ok(c)) return c;
    if (Date.now() > deadline) assert.fail(`${what}: upstream counts ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 200));  // polling interval, bounded by the deadline
  }
}
const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);

before(async () => {
  assert.ok(HARNESS, "DASHBOARD_HARNESS must name the harness binary");
  mkdirSync(SHOTS, { recursive: true });
  harness = spawn(HARNESS, [], { stdio: ["pipe", "pipe", "inherit"] });
  lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
  hello = JSON.parse((await lines.next()).value);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (m) => { if (m.type() === "error") errors.push({ phase, text: m.text().slice(0, 200) }); });
  page.on("pageerror", (e) => errors.push({ phase, text: String(e).slice(0, 200) }));
  await page.goto(`http://${hello.admin}/`);
  // A marker that a reload of the page would lose: every later check runs on this same page.
  await page.evaluate(() => { window.__sameDocument = true; });
});

after(async () => {
  if (browser) await browser.close();
  if (harness) { harness.stdin.write("quit\n"); await new Promise((r) => harness.on("exit", r)); }
});

async function samePage() {
  assert.equal(await page.evaluate(() => window.__sameDocument === true), true, "the page was reloaded");
}

test("the page loads with no console error and shows three regions, all up", async () => {
  await page.waitForSelector("#conn[data-state=live]", { timeout: WAIT });
  for (const r of ["fra", "iad", "sin"]) await waitState(r, "up");
  assert.equal(await page.locator("#region-list li").count(), 3);
  // Not colour alone: each state has its word and shape.
  assert.match(await region("fra").innerText(), /● up/);
  await page.waitForFunction(() => document.querySelectorAll("#map polygon.land").length > 20);
  await shot("01-loaded-all-up");
  assert.deepEqual(errors, [], "console errors on load");
});

test("the served split of the 90/10 route matches what the upstreams counted", async () => {
  // The process is younger than the dashboard's one-minute window, so the page's counts and
  // the upstreams' cover the same requests, up to the last second's.
  await untilCounts((c) => sum(c.blue) + sum(c.green) >= 400, "400 requests served");
  await page.waitForTimeout(1500);  // lets one more sample in, so the page is not behind
  const served = await page.evaluate(async () => {
    const s = await (await fetch("/dashboard/state")).json();
    return s.routes.find((r) => r.name === "app").backends;
  });
  const c = await ask("counts");
  const blue = sum(c.blue), green = sum(c.green);
  const upstreamBluePct = (100 * blue) / (blue + green);
  const shown = await page.locator('.route[data-route="app"] tr[data-backend="blue"] td.served').innerText();
  const shownPct = parseFloat(shown);
  assert.ok(Math.abs(shownPct - upstreamBluePct) <= 3, `page says blue ${shown}, upstreams ${upstreamBluePct.toFixed(1)} % of ${blue + green}`);
  assert.ok(Math.abs(shownPct - 90) <= 5, `blue served ${shownPct} %, configured 90 %`);
  assert.equal(served.find((b) => b.cluster === "blue").weight, 90);
  assert.match(await page.locator('.route[data-route="app"] tr[data-backend="blue"]').innerText(), /90 %/);
  await shot("02-served-split");
});

test("an unhealthy endpoint turns its region's state on the map, and back, without a reload", async () => {
  assert.deepEqual(await ask("health blue fra down"), { ok: true });
  await waitState("fra", "degraded");
  assert.match(await region("fra").innerText(), /▲ some endpoints down/);
  await region("fra").getByRole("button", { name: "Endpoints" }).click();
  await page.waitForSelector("#endpoints tbody tr td.down", { timeout: WAIT });
  await shot("03-fra-degraded");
  assert.deepEqual(await ask("health green fra down"), { ok: true });
  await waitState("fra", "down");
  assert.match(await region("fra").innerText(), /✕ no endpoint up/);
  await shot("04-fra-down");
  await ask("health blue fra up");
  await ask("health green fra up");
  await waitState("fra", "up");
  await shot("05-fra-up-again");
  await samePage();
});

test("the explain form draws the same decision as `meridian route explain`", async () => {
  const args = ["route", "explain", "-c", hello.config, "--client-ip", "203.0.113.7", "--host", "app.test", "--path", "/page"];
  const cli = JSON.parse(execFileSync(hello.binary, args, { encoding: "utf8" }));
  await page.fill('#explain-form input[name="client_ip"]', "203.0.113.7");
  await page.fill('#explain-form input[name="host"]', "app.test");
  await page.fill('#explain-form input[name="path"]', "/page");
  await page.click('#explain-form button[type="submit"]');
  await page.waitForSelector("#explain-order li", { timeout: WAIT });
  const order = await page.locator("#explain-order li").evaluateAll((lis) => lis.map((li) => li.dataset.region));
  const expected = cli.candidates.filter((c) => !c.excluded).map((c) => c.region);
  assert.deepEqual(order, expected);
  assert.equal(await page.locator("#explain-order li.chosen").getAttribute("data-region"), cli.chosen);
  // On the map: one numbered badge per candidate and a ring on the chosen region.
  assert.equal(await page.locator("#explain-layer text.explain-rank").count(), expected.length);
  const ring = await page.locator("#explain-layer circle.chosen-ring").evaluate((c) => [Number(c.getAttribute("cx")), Number(c.getAttribute("cy"))]);
  const chosen = (await page.evaluate(async () => (await (await fetch("/dashboard/state")).json()).regions)).find((r) => r.name === cli.chosen);
  assert.deepEqual(ring, [chosen.lon + 180, 85 - chosen.lat]);
  await shot("06-explain");
});

test("drain from the page needs the token, then moves traffic, and undrain brings it back", async () => {
  phase = "drain";  // the refused POSTs log "401" in the console: expected here
  const yamlBefore = readFileSync(hello.config, "utf8");
  // By keyboard: focus the Drain button and press Enter.
  await region("fra").locator('button[data-action="drain"]').focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector("#token-dialog[open]", { timeout: WAIT });
  await shot("07-token-asked");
  await page.fill("#token-input", "not-the-token");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#token-dialog[open]", { timeout: WAIT });
  assert.match(await page.locator("#token-why").innerText(), /refused/);
  await page.fill("#token-input", hello.token);
  await page.keyboard.press("Enter");
  await waitState("fra", "drained");
  assert.match(await region("fra").innerText(), /◇ drained.*runtime override: drained/s);
  await ask("reset");
  const moved = await untilCounts((c) => sum(c.blue) + sum(c.green) >= 200, "200 requests after the drain");
  const fra = moved.blue.fra + moved.green.fra;
  const total = sum(moved.blue) + sum(moved.green);
  assert.ok(fra <= total * 0.02, `fra still served ${fra} of ${total}`);
  assert.ok(moved.blue.iad + moved.green.iad >= total * 0.95, `iad (next nearest) served ${JSON.stringify(moved)}`);
  await shot("08-fra-drained");
  assert.equal(readFileSync(hello.config, "utf8"), yamlBefore, "the YAML file was changed");
  // The token is kept for the session: undrain asks nothing.
  await region("fra").locator('button[data-action="undrain"]').click();
  await waitState("fra", "up");
  assert.equal(await page.locator("#token-dialog[open]").count(), 0);
  await ask("reset");
  const back = await untilCounts((c) => sum(c.blue) + sum(c.green) >= 200, "200 requests after the undrain");
  assert.ok(back.blue.fra + back.green.fra >= (sum(back.blue) + sum(back.green)) * 0.95, `fra not back: ${JSON.stringify(back)}`);
  await shot("09-fra-undrained");
  const unexpected = errors.filter((e) => !/status of 401/.test(e.text));
  assert.deepEqual(unexpected, [], "console errors other than the refused token");
  errors.length = 0;
  phase = "after-drain";
});

test("the page reconnects by itself when meridian restarts", async () => {
  phase = "restart";  // failed polls while meridian is away log network errors: expected here
  assert.equal((await ask("stop")).ok, true);
  await page.waitForSelector("#conn[data-state=reconnecting]", { timeout: WAIT });
  await shot("10-reconnecting");
  const again = await ask("start");
  assert.equal(again.admin, hello.admin);
  hello = again;
  await page.waitForSelector("#conn[data-state=live]", { timeout: WAIT });
  await page.waitForFunction(() => /start/.test(document.getElementById("config").innerText), null, { timeout: WAIT });
  for (const r of ["fra", "iad", "sin"]) await waitState(r, "up");
  await shot("11-reconnected");
  await samePage();
  const unexpected = errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e.text));
  assert.deepEqual(unexpected, []);
  errors.length = 0;
  phase = "after-restart";
});

test("keyboard and phone width: regions open with Enter, nothing overflows sideways", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);  // lets layout settle after the resize
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow} px wider than a phone`);
  await page.locator('#map g.region[data-region="sin"]').focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector("#region-section:not([hidden])", { timeout: WAIT });
  assert.match(await page.locator("#region-h").innerText(), /sin/);
  await shot("12-phone-width");
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot("13-desktop-final");
  assert.deepEqual(errors, [], "console errors");
});
