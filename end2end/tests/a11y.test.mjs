// Accessibility: axe-core (npm) runs inside Chromium on every dashboard page, hydrated, and finds
// no serious or critical violation (unlabelled form controls among them); signing in works with
// the keyboard alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ADMIN_AUTH, hydrated, launchBrowser, seed, seedWithCapacity, startBaton, ADMIN_PASSWORD } from './server.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const SCHEDULER = 'a11y';

let baton;
let browser;
let signedIn;

before(async () => {
  baton = await startBaton();
  browser = await launchBrowser();
  const created = await fetch(`${baton.url}/schedulers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: ADMIN_AUTH },
    body: JSON.stringify(seed(SCHEDULER, 'a11y-game')),
  });
  assert.equal(created.status, 200, await created.text());
  // The capacity page shows machines, a chart and decisions only with a capacity section.
  const withCapacity = await fetch(`${baton.url}/schedulers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: ADMIN_AUTH },
    body: JSON.stringify(seedWithCapacity(`${SCHEDULER}-cap`, 'a11y-game')),
  });
  assert.equal(withCapacity.status, 200, await withCapacity.text());
});

after(async () => {
  await browser?.close();
  await baton?.stop();
});

// The serious and critical violations axe finds on the page as it is now.
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
    }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

test('signing in works with the keyboard alone', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${baton.url}/ui/sign-in`);
  await hydrated(page);
  const focusedName = () => page.evaluate(() => document.activeElement?.getAttribute('name'));
  for (let i = 0; i < 20 && (await focusedName()) !== 'username'; i++) await page.keyboard.press('Tab');
  assert.equal(await focusedName(), 'username', 'Tab reaches the username field');
  await page.keyboard.type('admin');
  await page.keyboard.press('Tab');
  assert.equal(await focusedName(), 'password', 'Tab goes on to the password field');
  await page.keyboard.type(ADMIN_PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/ui\/schedulers$/);
  signedIn = await context.storageState();
  await context.close();
});

test('no page has a serious or critical axe violation', async () => {
  assert.ok(signedIn, 'the keyboard sign-in ran first');
  const pages = [
    ['/ui/sign-in', undefined],
    ['/ui/schedulers', signedIn],
    ['/ui/new-scheduler', signedIn],
    [`/ui/schedulers/${SCHEDULER}`, signedIn],
    [`/ui/schedulers/${SCHEDULER}/edit`, signedIn],
    [`/ui/schedulers/${SCHEDULER}/autoscaling`, signedIn],
    [`/ui/schedulers/${SCHEDULER}/operations`, signedIn],
    ['/ui/users', signedIn],
    ['/ui/audit', signedIn],
    [`/ui/schedulers/${SCHEDULER}/rooms/${SCHEDULER}-none`, signedIn],
    [`/ui/schedulers/${SCHEDULER}/allocation`, signedIn],
    [`/ui/schedulers/${SCHEDULER}-cap/capacity`, signedIn],
  ];
  const report = [];
  for (const [path, storageState] of pages) {
    const context = await browser.newContext({ storageState });
    const page = await context.newPage();
    await page.goto(`${baton.url}${path}`);
    await hydrated(page);
    await page.waitForLoadState('networkidle');
    const found = await violations(page);
    report.push({ path, found });
    await context.close();
  }
  for (const { path, found } of report) {
    console.log(`${path}: ${found.length} serious or critical`);
    for (const v of found) console.log(`  ${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(', ')}`);
  }
  assert.deepEqual(report.filter((r) => r.found.length > 0).map((r) => r.path), []);
});
