// The room page and the allocation page in Chromium, with the example game room on the local
// runtime: open a room from the scheduler page and see its output, then see a claim made meanwhile
// appear by itself (the server pushes it); allocate a room by hand and see the claim it got,
// listed; a viewer gets no button.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, ADMIN_PASSWORD, hydrated, launchBrowser, signIn, startBaton } from './server.mjs';

const GAME_ROOM = process.env.BATON_GAME_ROOM;
const GAME = 'e2e-rooms-game';

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

async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.errors = errors;
  return page;
}

const json = { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH };

// A scheduler of one room of the example game room; answers the room's id once it is ready.
async function schedulerWithARoom(name, portStart) {
  const created = await fetch(`${baton.url}/schedulers`, {
    method: 'POST', headers: json,
    body: JSON.stringify({
      name, game: GAME, roomsReplicas: 1, maxSurge: '100%',
      portRange: { start: portStart, end: portStart + 99 },
      spec: { terminationGracePeriod: '2s', containers: [{
        name: 'game', image: 'example-game-room', command: [GAME_ROOM],
        environment: [{ name: 'EXAMPLE_PING_SECONDS', value: '0.5' }],
        ports: [{ name: 'game', protocol: 'udp', port: 7777 }] }] },
    }),
  });
  assert.equal(created.status, 200, await created.text());
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await (await fetch(`${baton.url}/schedulers/${name}/rooms`, { headers: json })).json();
    const ready = (answer.rooms ?? []).filter((r) => r.status === 'ready' && r.address);
    if (ready.length === 1) return ready[0].id;
    assert.ok(Date.now() < deadline, `no ready room: ${JSON.stringify(answer)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('a room opened from the scheduler page shows its timeline, address and output, and a new claim by itself', async () => {
  const name = 'e2e-room-page';
  const room = await schedulerWithARoom(name, 32000);

  const page = await newPage();
  await signIn(page, baton.url, 'admin', ADMIN_PASSWORD);
  await page.waitForURL(/\/ui\/schedulers$/);
  await page.goto(`${baton.url}/ui/schedulers/${name}`);
  await hydrated(page);
  await page.click(`#rooms a:has-text("${room}")`);
  await page.waitForURL(new RegExp(`/ui/schedulers/${name}/rooms/${room}$`));
  await hydrated(page);

  // What the room printed when it started.
  const logs = page.locator('[data-testid="room-logs"]');
  await logs.waitFor();
  assert.match(await logs.textContent(), new RegExp(`room ${room} of ${name} up, pinging`));
  await page.locator('#room-timeline li[data-event="created"]').waitFor();
  await page.locator('#room-timeline li[data-event="ready"]').waitFor();
  assert.equal(await page.locator('[data-testid="room-host"]').textContent(), '127.0.0.1');
  assert.match(await page.locator('[data-testid="room-ports"]').textContent(), /game 320\d\d\/udp/);
  assert.match(await page.locator('[data-testid="last-ping"]').textContent(), /s ago/);

  // A matchmaker claims the room while the page is open: the claim shows without a reload.
  const claimed = await fetch(`${baton.url}/schedulers/${name}/allocations`, {
    method: 'POST', headers: json, body: JSON.stringify({ metadata: { match: 'e2e-match' }, ttl: 600 }),
  });
  const claimedBody = await claimed.text();
  assert.equal(claimed.status, 201, claimedBody);
  const { claimId } = JSON.parse(claimedBody);
  await page.locator(`#room-claims tr[data-claim="${claimId}"]`).waitFor({ timeout: 10_000 });
  assert.match(await page.locator(`#room-claims tr[data-claim="${claimId}"]`).textContent(), /e2e-match/);
  await page.locator('#room-timeline li[data-event="claimed"]').waitFor();
  assert.deepEqual(page.errors, []);
});

test('an editor allocates a room by hand and sees the claim; a viewer gets no button', async () => {
  const name = 'e2e-allocation';
  const room = await schedulerWithARoom(name, 32100);
  for (const [username, role] of [['alloc-editor', 'editor'], ['alloc-viewer', 'viewer']]) {
    const created = await fetch(`${baton.url}/users`, {
      method: 'POST', headers: json,
      body: JSON.stringify({ username, password: `${username}-password`, role, games: [GAME] }),
    });
    assert.equal(created.status, 201, await created.text());
  }

  const editor = await newPage();
  await signIn(editor, baton.url, 'alloc-editor', 'alloc-editor-password');
  await editor.waitForURL(/\/ui\/schedulers$/);
  await editor.goto(`${baton.url}/ui/schedulers/${name}`);
  await hydrated(editor);
  await editor.click('a:has-text("Allocation")');
  await editor.waitForURL(new RegExp(`/ui/schedulers/${name}/allocation$`));
  await hydrated(editor);
  // Reached by the client-side router, the list may still be loading: wait for its answer.
  await editor.locator('#allocated-rooms', { hasText: 'No room is allocated' }).waitFor();
  await editor.locator('form.allocate-form [name="metadata"]').fill('{"match": "by-hand"}');
  await editor.click('button:has-text("Allocate a room")');
  const claim = editor.locator('[data-testid="allocated-claim"]');
  await claim.waitFor();
  const claimId = (await claim.textContent()).trim();
  assert.match(claimId, /^[0-9a-f-]{36}$/);
  assert.equal((await editor.locator('[data-testid="allocated-room"]').textContent()).trim(), room);
  // Listed with its room.
  const row = editor.locator(`#allocated-rooms tr[data-room="${room}"]`);
  await row.locator(`li[data-claim="${claimId}"]`).waitFor();
  assert.match(await row.textContent(), /by-hand/);
  // Counted on the rate chart (read again every 5 s), in every window.
  assert.equal(await editor.locator('#allocation-rate svg polyline').count(), 2);
  await editor.waitForFunction(
    () => /^1 allocated, 0 refused/.test(document.querySelector('[data-testid="allocation-totals"]')?.textContent ?? ''),
    null, { timeout: 15_000 },
  );
  await editor.click('#allocation-rate button:has-text("24 h")');
  await editor.locator('#allocation-rate button[aria-pressed="true"]:has-text("24 h")').waitFor();
  await editor.waitForFunction(
    () => /one point per 420 s/.test(document.querySelector('[data-testid="allocation-totals"]')?.textContent ?? ''),
  );
  assert.match(await editor.locator('[data-testid="allocation-totals"]').textContent(), /^1 allocated, 0 refused/);
  assert.deepEqual(editor.errors, []);

  const viewer = await newPage();
  await signIn(viewer, baton.url, 'alloc-viewer', 'alloc-viewer-password');
  await viewer.waitForURL(/\/ui\/schedulers$/);
  await viewer.goto(`${baton.url}/ui/schedulers/${name}/allocation`);
  await hydrated(viewer);
  await viewer.locator(`#allocated-rooms li[data-claim="${claimId}"]`).waitFor();
  assert.equal(await viewer.locator('button:has-text("Allocate a room")').count(), 0);
  // The server function refuses them too.
  const status = await viewer.evaluate(async (name) => {
    const response = await fetch('/api/allocate_room', {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ name, metadata: '' }),
    });
    return response.status;
  }, name);
  assert.equal(status, 403);
  assert.deepEqual(viewer.errors, []);
});
