// The operations page in Chromium: a rollout (a new major version) started while the page is
// open shows up without a reload, with its progress bar, and moves to Finished when done, its
// history still open across refreshes; an operation that cannot finish is canceled from the page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, ADMIN_PASSWORD, hydrated, launchBrowser, signIn, startBaton } from './server.mjs';

const GAME_ROOM = process.env.BATON_GAME_ROOM;
const HEADERS = { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH };

let baton;
let browser;

before(async () => {
  if (!GAME_ROOM) throw new Error('BATON_GAME_ROOM must point at the example game room (make e2e-test sets it)');
  baton = await startBaton();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await baton?.stop();
});

// Three example rooms that ping every half second, replaced one at a time.
function scheduler(pingSeconds, command = [GAME_ROOM]) {
  return {
    name: 'e2e-ops', game: 'e2e-ops-game', roomsReplicas: 3, maxSurge: '1',
    portRange: { start: 32000, end: 32100 },
    roomTimeouts: { ping: '10s', initialization: '120s', termination: '5s' },
    spec: { terminationGracePeriod: '2s', containers: [{
      name: 'game', image: 'example-game-room', command,
      environment: [{ name: 'EXAMPLE_PING_SECONDS', value: pingSeconds }],
      ports: [{ name: 'game', protocol: 'udp', port: 7777 }] }] },
    forwarders: [],
  };
}

async function api(method, path, body) {
  const response = await fetch(`${baton.url}${path}`, {
    method, headers: HEADERS, body: body && JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

async function waitForRooms(done, what, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  let rooms = [];
  while (Date.now() < deadline) {
    rooms = (await api('GET', '/schedulers/e2e-ops/rooms')).rooms;
    if (done(rooms)) return rooms;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`waited for ${what}; rooms: ${JSON.stringify(rooms)}`);
}

async function operationsPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.errors = errors;
  await signIn(page, baton.url, 'admin', ADMIN_PASSWORD);
  await page.waitForURL(/\/ui\/schedulers$/);
  await page.goto(`${baton.url}/ui/schedulers/e2e-ops`);
  await hydrated(page);
  await page.click('a:has-text("Operations")');
  await page.waitForURL(/\/ui\/schedulers\/e2e-ops\/operations$/);
  await page.locator('#running').waitFor();
  return page;
}

test('a rollout started while the page is open shows its progress and finishes', async () => {
  await api('POST', '/schedulers', scheduler('0.5'));
  await waitForRooms(
    (rooms) => rooms.filter((r) => r.status === 'ready' && r.version === 'v1').length === 3,
    '3 ready v1 rooms',
  );
  const page = await operationsPage();
  assert.equal(await page.locator('#running article').count(), 0);

  // A new major version (another ping interval), started from outside the page.
  const { operationId: id } = await api('POST', '/schedulers/e2e-ops', scheduler('0.4'));
  assert.ok(id, 'the change queued an operation');
  const running = page.locator(`#running article[data-operation="${id}"]`);
  // The server pushes it: the operation appears without a reload, with its progress bar.
  await running.locator('.rollout progress').waitFor({ timeout: 30_000 });
  const bar = await running.locator('.rollout').evaluate((el) => ({ floor: el.dataset.floor, text: el.textContent }));
  assert.equal(bar.floor, '3', 'the floor is the desired count');
  assert.match(bar.text, /rooms on the new version/);
  // The rooms move to v2 on the bar: some rollout state with rooms of v2 shows.
  await page.waitForFunction(
    (id) => Number(document.querySelector(`[data-operation="${id}"] .rollout`)?.dataset.new ?? 0) >= 1
      || document.querySelector(`#finished [data-operation="${id}"]`),
    id, { timeout: 60_000 },
  );
  const finished = page.locator(`#finished article[data-operation="${id}"][data-status="finished"]`);
  await finished.waitFor({ timeout: 120_000 });
  assert.equal(await running.count(), 0);
  assert.equal(await finished.locator('.rollout').count(), 0, 'no progress once ended');

  // Its history opens, and stays open across the page's refreshes.
  await finished.locator('summary').click();
  await page.waitForTimeout(4_500);
  const history = page.locator(`#finished article[data-operation="${id}"] details[open] ol.history`);
  assert.match(await history.textContent(), /Rolling update to v2 finished/);
  assert.match(await history.textContent(), /Validation room .* is ready/);

  const rooms = await api('GET', '/schedulers/e2e-ops/rooms');
  assert.ok(rooms.rooms.filter((r) => !['terminating', 'terminated'].includes(r.status)).every((r) => r.version === 'v2'),
    JSON.stringify(rooms));
  assert.deepEqual(page.errors, []);
});

test('an operation that cannot finish is canceled from the page', async () => {
  // A major version whose rooms never ping: its validation room waits (up to 120 s).
  const page = await operationsPage();
  const { operationId: id } = await api(
    'POST', '/schedulers/e2e-ops', scheduler('0.5', ['/bin/sleep', '300']),
  );
  const running = page.locator(`#running article[data-operation="${id}"]`);
  await running.locator('.rollout').waitFor({ timeout: 30_000 });
  assert.match(await running.locator('.rollout').textContent(), /Validating v3/);

  await running.locator('button:has-text("Cancel")').click();
  const canceled = page.locator(`#finished article[data-operation="${id}"][data-status="canceled"]`);
  await canceled.waitFor({ timeout: 30_000 });
  await canceled.locator('summary').click();
  assert.match(
    await canceled.locator('ol.history').textContent(),
    /Canceled before version v3 became active/,
  );
  const { scheduler: stored } = await api('GET', '/schedulers/e2e-ops');
  assert.equal(stored.version, 'v2', 'v2 keeps serving');
  assert.deepEqual(page.errors, []);
});
