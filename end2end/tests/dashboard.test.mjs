// The dashboard in Chromium: sign in, create a scheduler with the form running the example game
// room on the local runtime, watch its rooms become ready, edit it, switch back to v1, sign out;
// a wrong password and a viewer trying to edit are refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_AUTH, ADMIN_PASSWORD, hydrated, launchBrowser, seed, signIn, startBaton, untilIdle,
} from './server.mjs';

const GAME_ROOM = process.env.BATON_GAME_ROOM;

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

const field = (page, name) => page.locator(`[name="${name}"]`);
const fieldErrors = (page, name) => page.locator(`label:has([name="${name}"]) .field-error`);

test('a wrong password is refused', async () => {
  const page = await newPage();
  await signIn(page, baton.url, 'admin', 'not-the-password');
  await page.locator('.error-box').waitFor();
  assert.match(await page.locator('.error-box').textContent(), /Wrong username or password/);
  assert.match(page.url(), /\/ui\/sign-in/);
  // Still signed out.
  await page.goto(`${baton.url}/ui/schedulers`);
  assert.match(page.url(), /\/ui\/sign-in/);
});

test('an admin creates a scheduler with the form, sees its rooms ready, edits it, rolls back and signs out', async () => {
  const page = await newPage();
  await signIn(page, baton.url, 'admin', ADMIN_PASSWORD);
  await page.waitForURL(/\/ui\/schedulers$/);
  await hydrated(page);
  assert.equal(await page.locator('.topbar .username').textContent(), 'admin');

  await page.click('text=New scheduler');
  await page.waitForURL(/\/ui\/new-scheduler$/);
  await field(page, 'name').fill('e2e-rooms');
  await field(page, 'game').fill('e2e-game');
  await field(page, 'roomsReplicas').fill('2');
  await field(page, 'portRange.start').fill('31000');
  await field(page, 'portRange.end').fill('31100');
  await field(page, 'spec.terminationGracePeriod').fill('5s');
  await field(page, 'spec.containers[0].image').fill('example-game-room');
  await field(page, 'spec.containers[0].command').fill(GAME_ROOM);
  await page.click('text=Add variable');
  await field(page, 'spec.containers[0].environment[0].name').fill('EXAMPLE_PING_SECONDS');
  await field(page, 'spec.containers[0].environment[0].value').fill('1');

  // A mistake shows at its field, found in the browser by the server's validation code.
  await field(page, 'spec.containers[0].requests.memory').fill('100MB');
  await page.click('button:has-text("Create scheduler")');
  await fieldErrors(page, 'spec.containers[0].requests.memory').first().waitFor();
  assert.match(await fieldErrors(page, 'spec.containers[0].requests.memory').first().textContent(), /./);
  assert.match(page.url(), /\/ui\/new-scheduler$/);
  await field(page, 'spec.containers[0].requests.memory').fill('100Mi');
  assert.equal(await fieldErrors(page, 'spec.containers[0].requests.memory').count(), 0);
  await page.click('button:has-text("Create scheduler")');

  await page.waitForURL(/\/ui\/schedulers\/e2e-rooms$/);
  await page.locator('[data-active-version="v1"]').waitFor();
  // The rooms list refreshes by itself until both rooms report ready.
  await page.waitForFunction(
    () => document.querySelectorAll('#rooms tr[data-status="ready"]').length === 2,
    null, { timeout: 60_000 },
  );
  assert.match(await page.locator('#rooms').textContent(), /127\.0\.0\.1:310\d\d\/udp/);

  // The list shows it with its counts.
  await page.click('.topbar >> text=Schedulers');
  await page.waitForFunction(
    () => document.querySelector('tr[data-scheduler="e2e-rooms"] td.ready')?.textContent === '2',
    null, { timeout: 30_000 },
  );

  // The room status chart samples the rooms: 2 ready, one line per status.
  await page.goto(`${baton.url}/ui/schedulers/e2e-rooms`);
  await hydrated(page);
  await page.waitForFunction(
    () => /2 ready/.test(document.querySelector('[data-testid="room-history-latest"]')?.textContent ?? ''),
    null, { timeout: 30_000 },
  );
  assert.equal(await page.locator('#room-history svg polyline').count(), 4);
  await page.click('#room-history button:has-text("1 h")');
  await page.locator('#room-history button.active:has-text("1 h")').waitFor();

  // Autoscaling: a fixed buffer, whose preview changes with the amount before anything is saved.
  await page.click('a:has-text("Autoscaling")');
  await page.waitForURL(/\/ui\/schedulers\/e2e-rooms\/autoscaling$/);
  await hydrated(page);
  await page.selectOption('select[name="mode"]', 'fixedBuffer');
  const amount = 'autoscaling.policy.parameters.fixedBuffer.amount';
  await field(page, amount).fill('2');
  const summary = page.locator('[data-testid="day-summary"]');
  await summary.waitFor();
  const small = await summary.textContent();
  assert.match(small, /Between \d+ and \d+ rooms/);
  await field(page, amount).fill('30');
  await page.waitForFunction(
    (before) => document.querySelector('[data-testid="day-summary"]')?.textContent !== before, small,
  );
  assert.equal(await page.locator('[data-testid="autoscaling-preview"] svg').first().locator('polyline').count(), 3);
  // The scheduler's own recorded minutes, replayed through the policy being edited.
  const replayed = page.locator('[data-testid="replay-summary"]');
  await replayed.waitFor();
  assert.match(await replayed.textContent(), /Over the last \d+ minutes recorded: between \d+ and \d+ rooms wanted; at least \d+ ready rooms left; \d+ minutes with no ready room/);
  // A bad amount shows at its field and cannot be saved.
  await field(page, amount).fill('0');
  await fieldErrors(page, amount).first().waitFor();
  assert.equal(await page.locator('button:has-text("Save new version")').isDisabled(), true);
  await field(page, amount).fill('2');
  await page.click('button:has-text("Save new version")');
  await page.waitForURL(/\/ui\/schedulers\/e2e-rooms$/);
  await page.locator('[data-active-version="v1.1"]').waitFor();
  const saved = await (await fetch(`${baton.url}/schedulers/e2e-rooms`, { headers: { Authorization: ADMIN_AUTH } })).json();
  assert.deepEqual(saved.scheduler.autoscaling.policy, { type: 'fixedBuffer', parameters: { fixedBuffer: { amount: 2 } } });
  await page.locator('#autoscaling-decisions').waitFor();

  // A new version from the edit form.
  await page.goto(`${baton.url}/ui/schedulers/e2e-rooms/edit`);
  await hydrated(page);
  assert.equal(await field(page, 'name').inputValue(), 'e2e-rooms');
  await field(page, 'spec.containers[0].environment[0].value').fill('2');
  await page.click('button:has-text("Save new version")');
  await page.waitForURL(/\/ui\/schedulers\/e2e-rooms$/);
  await page.locator('[data-active-version="v2"]').waitFor();

  // Back to v1.
  await page.click('tr[data-version="v1"] button:has-text("Make active")');
  await page.locator('[data-active-version="v1"]').waitFor();
  await page.locator('tr[data-version="v2"] button:has-text("Make active")').waitFor();
  const versions = await (await fetch(`${baton.url}/schedulers/e2e-rooms/versions`, { headers: { Authorization: ADMIN_AUTH } })).json();
  assert.deepEqual(
    versions.versions.map((v) => [v.version, v.isActive]),
    [['v1', true], ['v1.1', false], ['v2', false]],
  );

  await page.click('button:has-text("Sign out")');
  await page.waitForURL(/\/ui\/sign-in/);
  await page.goto(`${baton.url}/ui/schedulers`);
  assert.match(page.url(), /\/ui\/sign-in/);
  assert.deepEqual(page.errors, []);
});

test('a viewer created on the users page can read but not edit', async () => {
  const created = await fetch(`${baton.url}/schedulers`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH },
    body: JSON.stringify(seed('e2e-view', 'e2e-game')),
  });
  assert.equal(created.status, 200);

  const admin = await newPage();
  await signIn(admin, baton.url, 'admin', ADMIN_PASSWORD);
  await admin.waitForURL(/\/ui\/schedulers$/);
  await admin.goto(`${baton.url}/ui/users`);
  await hydrated(admin);
  const form = admin.locator('form.new-user');
  await form.locator('[name="username"]').fill('vera');
  await form.locator('[name="password"]').fill('vera-password');
  await form.locator('select[name="role"]').selectOption('viewer');
  await form.locator('[name="games"]').fill('e2e-game');
  await form.locator('button[type="submit"]').click();
  await admin.locator('tr[data-user="vera"]').waitFor();

  const viewer = await newPage();
  await signIn(viewer, baton.url, 'vera', 'vera-password');
  await viewer.waitForURL(/\/ui\/schedulers$/);
  await hydrated(viewer);
  assert.equal(await viewer.locator('text=New scheduler').count(), 0);
  assert.equal(await viewer.locator('.topbar >> text=Users').count(), 0);
  await viewer.click('a:has-text("e2e-view")');
  await viewer.waitForURL(/\/ui\/schedulers\/e2e-view$/);
  await viewer.locator('#versions').waitFor();
  assert.equal(await viewer.locator('a:has-text("Edit")').count(), 0);

  // The edit page refuses, and so does the server function behind the form.
  await viewer.goto(`${baton.url}/ui/schedulers/e2e-view/edit`);
  assert.match(await viewer.locator('.error-box').textContent(), /may not change schedulers of game e2e-game/);
  assert.equal(await viewer.locator('form.scheduler-form').count(), 0);
  const config = { ...seed('e2e-view', 'e2e-game'), roomsReplicas: 3 };
  const status = await viewer.evaluate(async (config) => {
    const response = await fetch('/api/save_scheduler', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ config, create: false }),
    });
    return response.status;
  }, config);
  assert.equal(status, 403);
  const stored = await (await fetch(`${baton.url}/schedulers/e2e-view`, { headers: { Authorization: ADMIN_AUTH } })).json();
  assert.equal(stored.scheduler.roomsReplicas, 1);
});

test('a change just made shows on the audit log page, with what changed', async () => {
  const auth = { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH };
  const created = await fetch(`${baton.url}/schedulers`, {
    method: 'POST', headers: auth, body: JSON.stringify(seed('e2e-audit', 'e2e-audit-game')),
  });
  assert.equal(created.status, 200);
  await untilIdle(baton.url, 'e2e-audit');
  const changed = await fetch(`${baton.url}/schedulers/e2e-audit`, {
    method: 'PATCH', headers: auth, body: JSON.stringify({ roomsReplicas: 2 }),
  });
  assert.ok(changed.ok, `PATCH answered ${changed.status}`);

  const page = await newPage();
  await signIn(page, baton.url, 'admin', ADMIN_PASSWORD);
  await page.waitForURL(/\/ui\/schedulers$/);
  await page.click('.topbar >> text=Audit log');
  await page.waitForURL(/\/ui\/audit$/);
  await hydrated(page);
  await field(page, 'scheduler').fill('e2e-audit');
  await page.click('button:has-text("Filter")');
  await page.waitForURL(/\/ui\/audit\?.*scheduler=e2e-audit/);
  const rows = page.locator('table.audit tbody tr');
  await rows.first().waitFor();
  // Newest first: the new version, then the creation; nothing of other schedulers.
  assert.equal(await rows.count(), 2);
  const newest = await rows.nth(0).textContent();
  assert.match(newest, /admin/);
  assert.match(newest, /new version/);
  assert.match(newest, /roomsReplicas: 1 → 2/);
  assert.match(await rows.nth(1).textContent(), /scheduler created/);
  assert.deepEqual(page.errors, []);
});
