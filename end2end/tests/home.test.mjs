import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startBaton } from './server.mjs';

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

test('the home page renders on the server and hydrates in the browser', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const wasm = page.waitForResponse((r) => r.url().endsWith('.wasm') && r.ok());
  await page.goto(baton.url);
  assert.equal(await page.title(), 'Baton');
  assert.equal(await page.locator('h1').textContent(), 'Baton');
  await wasm;
  assert.deepEqual(errors, []);
});

test('the API reference lists the scheduler endpoints', async () => {
  const page = await browser.newPage();
  await page.goto(`${baton.url}/docs`);
  assert.match(await page.locator('table.api').textContent(), /\/schedulers\/info/);
});

test('the seed scheduler is created and shown by the JSON API', async () => {
  const auth = 'Basic ' + Buffer.from('admin:e2e-admin-password').toString('base64');
  const body = {
    name: 'e2e-scheduler', game: 'e2e-game', roomsReplicas: 1,
    portRange: { start: 20000, end: 21000 }, maxSurge: '10%',
    spec: { terminationGracePeriod: '100s', containers: [{
      name: 'game-container', image: 'game:1', imagePullPolicy: 'IfNotPresent', command: [],
      environment: [{ name: 'EXAMPLE_NAME', value: 'EXAMPLE_VALUE' }],
      requests: { memory: '100Mi', cpu: '100m' }, limits: { memory: '200Mi', cpu: '200m' },
      ports: [{ name: 'port-name', protocol: 'tcp', port: 12345 }] }] },
    forwarders: [],
  };
  const created = await fetch(`${baton.url}/schedulers`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: auth },
    body: JSON.stringify(body),
  });
  assert.equal(created.status, 200);
  const info = await (await fetch(`${baton.url}/schedulers/info?game=e2e-game`, { headers: { Authorization: auth } })).json();
  assert.equal(info.schedulers[0].name, 'e2e-scheduler');
});
