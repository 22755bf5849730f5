import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, hydrated, launchBrowser, seed, startBaton } from './server.mjs';

let baton;
let browser;

before(async () => {
  baton = await startBaton();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await baton?.stop();
});

test('the root leads to the sign-in page, rendered on the server and hydrated', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const wasm = page.waitForResponse((r) => r.url().endsWith('.wasm') && r.ok());
  await page.goto(baton.url);
  assert.match(page.url(), /\/ui\/sign-in\?next=\/ui\/schedulers$/);
  assert.equal(await page.title(), 'Baton');
  assert.equal(await page.locator('h1').textContent(), 'Baton');
  await wasm;
  await hydrated(page);
  assert.deepEqual(errors, []);
});

test('the API reference lists the scheduler endpoints', async () => {
  const page = await browser.newPage();
  await page.goto(`${baton.url}/docs`);
  assert.match(await page.locator('table.api').textContent(), /\/schedulers\/info/);
});

test('the seed scheduler is created and shown by the JSON API', async () => {
  const created = await fetch(`${baton.url}/schedulers`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH },
    body: JSON.stringify(seed('e2e-scheduler', 'e2e-game')),
  });
  assert.equal(created.status, 200);
  const info = await (await fetch(`${baton.url}/schedulers/info?game=e2e-game`, { headers: { Authorization: ADMIN_AUTH } })).json();
  assert.equal(info.schedulers[0].name, 'e2e-scheduler');
});
