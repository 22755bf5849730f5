// The capacity page in Chromium: reached from the scheduler page's Capacity button, it shows
// this machine (the local runtime's machine source) as a labelled bar, then, once machine
// scaling has evaluated the scheduler, the free capacity chart with its MinFree and MaxFree
// lines, refreshed without a reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_AUTH, ADMIN_PASSWORD, hydrated, launchBrowser, seedWithCapacity, signIn, startBaton,
} from './server.mjs';

const SCHEDULER = 'e2e-capacity';

let baton;
let browser;

before(async () => {
  baton = await startBaton();
  browser = await launchBrowser();
  const created = await fetch(`${baton.url}/schedulers`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH },
    body: JSON.stringify(seedWithCapacity(SCHEDULER, 'e2e-capacity-game')),
  });
  assert.equal(created.status, 200, await created.text());
});

after(async () => {
  await browser?.close();
  await baton?.stop();
});

test('the capacity page shows a machine bar and the free capacity chart', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await signIn(page, baton.url, 'admin', ADMIN_PASSWORD);
  await page.waitForURL(/\/ui\/schedulers$/);
  await page.goto(`${baton.url}/ui/schedulers/${SCHEDULER}`);
  await hydrated(page);
  await page.click('a.button:has-text("Capacity")');
  await page.waitForURL(new RegExp(`/ui/schedulers/${SCHEDULER}/capacity$`));

  // This machine, as a bar labelled with its payloads and free capacity.
  const bar = page.locator('li.machine-bar .bar[role="img"]').first();
  await bar.waitFor({ timeout: 30_000 });
  const label = await bar.getAttribute('aria-label');
  assert.match(label, /: \d+ payloads \(\d+ busy\), \d+ free of \d+$/, label);
  assert.ok(await page.locator('#machines [data-region]').count() >= 1, 'a region heading');

  // Machine scaling evaluates the scheduler at its first tick: the chart appears (the page
  // reads again every 5 s), with the free capacity and both bounds.
  // (One sample draws a line of no length, which a browser counts as hidden: attached is enough.)
  await page.locator('#free-capacity svg polyline.series-free').waitFor({ state: 'attached', timeout: 30_000 });
  assert.equal(await page.locator('#free-capacity svg polyline.series-min-free').count(), 1);
  assert.equal(await page.locator('#free-capacity svg polyline.series-max-free').count(), 1);
  // The decisions: machine scaling is off, so each one says so.
  await page.locator('#machine-decisions table.machine-decisions tbody tr').first().waitFor({ timeout: 30_000 });
  assert.match(await page.locator('#machine-decisions').innerText(), /scaling disabled/);

  // Another window is one click away, and says which one is chosen.
  const day = page.locator('#free-capacity button:has-text("24 h")');
  await day.click();
  await page.waitForFunction(
    () => document.querySelector('#free-capacity button[aria-pressed="true"]')?.textContent?.trim() === '24 h',
  );
  assert.deepEqual(errors, []);
  await context.close();
});
