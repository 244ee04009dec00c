// Loads every explorer page in headless Chromium (puppeteer-core driving the system browser),
// saves a screenshot of each, and prints what the pages show as one JSON line for the Rust
// test (crates/devnet/tests/it/explorer.rs), which checks it against the canisters.
//
// usage: node test/explorer.mjs <explorer url> <node id hex> <screenshot dir> [<retired node id hex>]
// CHROMIUM: the browser binary (default: /usr/bin/chromium, Debian's package).
import puppeteer from "puppeteer-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [url, nodeId, shots, retiredId] = process.argv.slice(2);
if (!url || !nodeId || !shots) {
  console.error("usage: node test/explorer.mjs <explorer url> <node id hex> <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const out = { errors: [] };
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on("pageerror", (e) => out.errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") out.errors.push(`console: ${m.text()}`);
  });
  const text = (sel) => page.$eval(sel, (e) => e.textContent.trim()).catch(() => null);
  async function open(hash, name) {
    // A fresh load per page: each page reads the canisters when it opens.
    await page.goto(`${url}${hash}`, { waitUntil: "domcontentloaded" });
    await page.waitForFunction(() => document.body.dataset.ready === "true", { timeout: 60_000 });
    const error = await text("[data-testid=error]");
    if (error) out.errors.push(`${name}: ${error}`);
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  }

  await open("#/", "overview");
  out.overview = {
    height: await text("[data-testid=height]"),
    epoch: await text("[data-testid=epoch]"),
    validators: await text("[data-testid=validators]"),
    routers: await text("[data-testid=routers]"),
    compute: await text("[data-testid=compute]"),
    totalStake: await text("[data-testid=total-stake]"),
    rewardsPaid: await text("[data-testid=rewards-paid]"),
    marketVolume: await text("[data-testid=market-volume]"),
    footnote: await text("#footnote"),
  };

  await open(`#/node/${nodeId}`, "node");
  out.node = {
    role: await text("[data-testid=node-role]"),
    stakeE8s: await text("[data-testid=node-stake-e8s]"),
    chartEpochs: await page.$$eval("[data-testid=rewards-chart] rect.bar", (bars) =>
      bars.map((b) => ({ epoch: b.dataset.epoch, e8s: b.dataset.e8s })),
    ),
    checks: await page.$$eval("[data-testid=checks] tbody tr", (rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent.trim())),
    ),
    redCells: await page.$$eval("[data-testid=checks] td.fix-cell", (c) => c.length),
  };

  if (retiredId) {
    await open(`#/node/${retiredId}`, "node-retired");
    out.retired = {
      checks: await page.$$eval("[data-testid=checks] tbody tr", (rows) =>
        rows.map((r) => [...r.cells].map((c) => c.textContent.trim())),
      ),
      redCells: await page.$$eval("[data-testid=checks] td.fix-cell", (c) => c.length),
    };
  }

  await open("#/node/" + "ab".repeat(32), "unknown-node");
  out.unknownNode = await text("[data-testid=unknown-node]");

  await open("#/epochs", "epochs");
  out.epochs = await page.$$eval("[data-testid=epochs-table] tbody tr", (rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent.trim())),
  ).catch(() => []);

  await open("#/checkpoints", "checkpoints");
  out.checkpoints = await page.$$eval("[data-testid=cp-height]", (c) => c.map((e) => e.textContent.trim()));

  await open("#/market", "market");
  out.market = {
    volume: await text("[data-testid=mk-volume]"),
    trades: await text("[data-testid=mk-trades]"),
    offers: await text("[data-testid=mk-offers]"),
  };

  await open("#/nodes", "nodes");
  out.nodes = await page.$$eval("[data-testid=nodes-table] tbody tr", (r) => r.length).catch(() => 0);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
