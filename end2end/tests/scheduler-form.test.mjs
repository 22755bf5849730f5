// The scheduler form's whole scheduler in Chromium: labels and a forwarder (with its type and
// metadata) filled in the edit form are saved and answered by the API; the JSON view finds a
// mistake by its field path (capacity's too), and what it applies to the form is saved the same
// way; the capacity section is switched on and filled in the form.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, ADMIN_PASSWORD, hydrated, launchBrowser, signIn, startBaton } from './server.mjs';

const GAME_ROOM = process.env.BATON_GAME_ROOM;
const NAME = 'e2e-form';

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

const field = (page, name) => page.locator(`[name="${name}"]`);
const fieldErrors = (page, name) => page.locator(`label:has([name="${name}"]) .field-error`);

async function api(path, init = {}) {
  const response = await fetch(`${baton.url}${path}`, {
    ...init,
    headers: { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH, ...init.headers },
  });
  return { status: response.status, body: await response.json() };
}

// The example game room on the local runtime (new major versions start a validation room),
// no rooms wanted, ports apart from the other test files'.
function scheduler() {
  return {
    name: NAME, game: 'e2e-form-game', roomsReplicas: 0,
    portRange: { start: 32000, end: 32100 }, maxSurge: '10%',
    spec: { terminationGracePeriod: '5s', containers: [{
      name: 'game', image: 'example-game-room', imagePullPolicy: 'IfNotPresent', command: [GAME_ROOM],
      environment: [{ name: 'EXAMPLE_PING_SECONDS', value: '1' }],
      requests: { memory: '100Mi', cpu: '100m' }, limits: { memory: '200Mi', cpu: '200m' },
      ports: [{ name: 'game', protocol: 'udp', port: 7777 }] }] },
    forwarders: [],
  };
}

// Saves the form and waits for `version` to be active (a new major version runs its validation
// room first).
async function saveAndWait(page, version) {
  await page.click('button:has-text("Save new version")');
  await page.waitForURL(new RegExp(`/ui/schedulers/${NAME}$`), { timeout: 60_000 });
  await hydrated(page);
  await page.locator(`[data-active-version="${version}"]`).waitFor({ timeout: 60_000 });
}

test('labels, a forwarder and the JSON view are saved through the form', async () => {
  const created = await api('/schedulers', { method: 'POST', body: JSON.stringify(scheduler()) });
  assert.equal(created.status, 200, JSON.stringify(created.body));

  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await signIn(page, baton.url, 'admin', ADMIN_PASSWORD);
  await page.waitForURL(/\/ui\/schedulers$/);
  await page.goto(`${baton.url}/ui/schedulers/${NAME}/edit`);
  await hydrated(page);

  // A label: a key Kubernetes refuses shows at the row once submitted, then a good one.
  await page.click('button:has-text("Add label")');
  await field(page, 'labels[0].key').fill('bad key');
  await field(page, 'labels[0].value').fill('blue');
  await page.click('button:has-text("Save new version")');
  await fieldErrors(page, 'labels[0].key').first().waitFor();
  assert.match(await fieldErrors(page, 'labels[0].key').first().textContent(), /not a valid Kubernetes key/);
  assert.match(await page.locator('form .error-box').textContent(), /labels\.bad key/);
  assert.match(page.url(), /\/edit$/);
  await field(page, 'labels[0].key').fill('team');
  assert.equal(await fieldErrors(page, 'labels[0].key').count(), 0);

  // A forwarder: http, with its address, timeout and one metadata entry.
  await page.click('button:has-text("Add forwarder")');
  await field(page, 'forwarders[0].name').fill('matchmaker');
  await page.selectOption('select[name="forwarders[0].type"]', 'http');
  await field(page, 'forwarders[0].address').fill('http://127.0.0.1:9/events');
  await field(page, 'forwarders[0].options.timeout').fill('250');
  await page.click('[data-forwarder="0"] button:has-text("Add metadata")');
  await field(page, 'forwarders[0].options.metadata[0].key').fill('roomType');
  await field(page, 'forwarders[0].options.metadata[0].value').fill('red');
  await field(page, 'matchAllocation.maxMatches').fill('2');
  await saveAndWait(page, 'v2');

  // The scheduler page lists the forwarder; the API answers every field as filled in.
  await page.locator('text=matchmaker (http://127.0.0.1:9/events)').waitFor();
  let saved = (await api(`/schedulers/${NAME}`)).body.scheduler;
  assert.deepEqual(saved.labels, { team: 'blue' });
  assert.equal(saved.matchAllocation.maxMatches, 2);
  assert.equal(saved.forwarders.length, 1);
  const [forwarder] = saved.forwarders;
  assert.deepEqual(
    [forwarder.name, forwarder.enable, forwarder.type, forwarder.address, forwarder.options.timeout],
    ['matchmaker', true, 'http', 'http://127.0.0.1:9/events', 250],
  );
  assert.deepEqual(forwarder.options.metadata, { roomType: 'red' });

  // The JSON view holds the saved scheduler. A mistake is found in place, by its field path.
  await page.goto(`${baton.url}/ui/schedulers/${NAME}/edit`);
  await hydrated(page);
  const json = field(page, 'json');
  const shown = JSON.parse(await json.inputValue());
  assert.deepEqual(shown.labels, { team: 'blue' });
  assert.equal(shown.forwarders[0].options.metadata.roomType, 'red');
  await json.fill(JSON.stringify({ ...shown, matchAllocation: { maxMatches: 0 }, roomTimeouts: { ping: 'soon' } }, null, 2));
  await page.click('button:has-text("Validate")');
  const outcome = page.locator('.json-outcome');
  await outcome.waitFor();
  assert.match(await outcome.textContent(), /roomTimeouts\.ping/);
  assert.match(await outcome.textContent(), /matchAllocation\.maxMatches: must be at least 1/);
  // Text that is no JSON says where.
  await json.fill('{"name": ');
  await page.click('button:has-text("Validate")');
  await page.waitForFunction(() => /not a scheduler's JSON/.test(document.querySelector('.json-outcome')?.textContent ?? ''));

  // Capacity is checked in place too, and a bad one applied to the form shows at its field.
  const badCapacity = { ...shown, capacity: { payloadQuota: { cpuCores: 0, memoryMB: 256 } } };
  await json.fill(JSON.stringify(badCapacity, null, 2));
  await page.click('button:has-text("Validate")');
  await page.waitForFunction(() => /capacity\.payloadQuota\.cpuCores/.test(document.querySelector('.json-outcome')?.textContent ?? ''));
  await page.click('button:has-text("Apply to form")');
  await page.waitForFunction(() => /Loaded into the form/.test(document.querySelector('.json-outcome')?.textContent ?? ''));
  assert.equal(await field(page, 'capacity').isChecked(), true);
  assert.equal(await field(page, 'capacity.payloadQuota.memoryMB').inputValue(), '256');
  await page.click('button:has-text("Save new version")');
  await page.waitForFunction(() => [...document.querySelectorAll('.error-box')]
    .some((box) => /capacity\.payloadQuota\.cpuCores/.test(box.textContent)), null, { timeout: 30_000 });
  assert.match(await fieldErrors(page, 'capacity.payloadQuota.cpuCores').first().textContent(), /must be above 0/);
  assert.match(page.url(), /\/edit$/);

  // A good scheduler is loaded into the form, and saved through it.
  const good = { ...shown, labels: { team: 'blue', tier: 'gold' }, roomTimeouts: { ping: '45s' }, allowTokenlessPings: true };
  await json.fill(JSON.stringify(good, null, 2));
  await page.click('button:has-text("Validate")');
  await page.waitForFunction(() => /No problems found/.test(document.querySelector('.json-outcome')?.textContent ?? ''));
  await page.click('button:has-text("Apply to form")');
  await page.waitForFunction(() => document.querySelector('[name="labels[1].key"]')?.value === 'tier');
  assert.equal(await field(page, 'roomTimeouts.ping').inputValue(), '45s');
  assert.equal(await field(page, 'allowTokenlessPings').isChecked(), true);
  await saveAndWait(page, 'v3');
  saved = (await api(`/schedulers/${NAME}`)).body.scheduler;
  assert.deepEqual(saved.labels, { team: 'blue', tier: 'gold' });
  assert.deepEqual(saved.roomTimeouts, { ping: '45s' });
  assert.equal(saved.allowTokenlessPings, true);
  assert.deepEqual(saved.forwarders[0].options.metadata, { roomType: 'red' });

  // The capacity section, off without one, switched on and filled in the form (labelled inputs).
  await page.goto(`${baton.url}/ui/schedulers/${NAME}/edit`);
  await hydrated(page);
  assert.equal(await field(page, 'capacity').isChecked(), false);
  await page.getByLabel(/Capacity section/).check();
  await page.getByLabel('Cores per payload').fill('0.5');
  await page.getByLabel('Memory per payload (MB)').fill('256');
  await page.getByLabel('Cores left free').fill('0.25');
  await page.getByLabel('Minimum spec: OS version').fill('Ubuntu 16.04*;');
  await page.getByLabel('Minimum unreserved payloads').fill('1');
  await page.getByLabel('Maximum unreserved payloads').fill('2');
  await page.getByLabel(/Manage payloads/).check();
  await page.click('button:has-text("Save new version")');
  await fieldErrors(page, 'capacity.machineMinSpec.osVersion').first().waitFor();
  await page.getByLabel('Minimum spec: OS version').fill('Ubuntu 16.04*');
  assert.equal(await fieldErrors(page, 'capacity.machineMinSpec.osVersion').count(), 0);
  await page.click('button:has-text("Save new version")');
  await page.waitForURL(new RegExp(`/ui/schedulers/${NAME}$`), { timeout: 60_000 });
  for (let i = 0; i < 120 && !saved.capacity; i++) {
    saved = (await api(`/schedulers/${NAME}`)).body.scheduler;
    if (!saved.capacity) await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(saved.capacity.payloadQuota.cpuCores, 0.5);
  assert.equal(saved.capacity.payloadQuota.memoryMB, 256);
  assert.equal(saved.capacity.safetyLimits.cpuRemainingCores, 0.25);
  assert.equal(saved.capacity.machineMinSpec.osVersion, 'Ubuntu 16.04*');
  assert.deepEqual([saved.capacity.minUnreservedPayloads, saved.capacity.maxUnreservedPayloads], [1, 2]);
  assert.equal(saved.capacity.managePayloads, true);

  assert.deepEqual(errors, []);
  await context.close();
});
