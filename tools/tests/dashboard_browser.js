// Drives the dashboard in headless Chromium (Debian's /usr/bin/chromium,
// through playwright-core): reads what the cluster, topics and groups
// pages show, creates a topic through the form, saves screenshots, and
// prints one JSON object for the Rust test to check.
//
//   node dashboard_browser.js <url> <screenshot prefix> <new topic>
"use strict";

const { chromium } = require("playwright-core");

const [url, shot, newTopic] = process.argv.slice(2);
const cells = (sel) => (rows) => rows.map((r) => [...r.children].map((c) => c.textContent));

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("dialog", (d) => d.accept());
    page.setDefaultTimeout(20000);
    await page.goto(url);
    await page.waitForSelector("#cluster-table tbody tr");
    // Two refreshes: the throughput chart has a line.
    await page.waitForFunction(() => samples.length >= 2);
    // The latency chart's input: every send so far, from the brokers.
    await page.waitForFunction(() => lastLatency !== null);
    const sendsTimed = await page.evaluate(() => lastLatency[lastLatency.length - 1]);
    const cluster = await page.$$eval("#cluster-table tbody tr", cells());
    const shards = await page.$$eval("#shards-table tbody tr", cells());
    await page.screenshot({ path: shot + "-cluster.png" });

    await page.click("nav button[data-tab=topics]");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#topics-table tbody tr")];
      return rows.length > 0 && rows.every((r) => r.children[1].textContent !== "");
    });
    const topics = await page.$$eval("#topics-table tbody tr", cells());

    await page.click("nav button[data-tab=groups]");
    await page.waitForSelector("#groups-table tbody tr");
    const groups = await page.$$eval("#groups-table tbody tr", cells());
    await page.click("#groups-table tbody tr");
    await page.waitForSelector("#group-queues");
    const groupQueues = await page.$$eval("#group-queues tr", cells());
    await page.screenshot({ path: shot + "-groups.png", fullPage: true });

    await page.click("nav button[data-tab=topics]");
    await page.fill("#new-topic-name", newTopic);
    await page.fill("#new-topic-queues", "2");
    await page.click("#create-topic-btn");
    await page.waitForFunction(() => document.querySelector("#create-result").textContent !== "");
    const created = await page.textContent("#create-result");
    await page.screenshot({ path: shot + "-topics.png", fullPage: true });

    console.log(JSON.stringify({ cluster, shards, topics, groups, groupQueues, created, sendsTimed, errors }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
