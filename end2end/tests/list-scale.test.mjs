// How long the server takes to render the scheduler list with 1,000 schedulers (SQLite, release
// binary). Prints the figure; fails only far above the 100 ms goal, so a busy machine does not
// make it flaky.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, ADMIN_PASSWORD, seed, startBaton } from './server.mjs';

const SCHEDULERS = 1000;
let baton;

before(async () => {
  // No health checks: this measures rendering, not 1,000 reconciliations.
  baton = await startBaton({ args: ['--health-tick-ms', '3600000'] });
});

after(async () => {
  await baton?.stop();
});

test(`the scheduler list renders ${SCHEDULERS} schedulers on the server quickly`, async () => {
  for (let start = 0; start < SCHEDULERS; start += 20) {
    await Promise.all(Array.from({ length: 20 }, async (_, k) => {
      const i = start + k;
      const body = { ...seed(`s-${String(i).padStart(4, '0')}`, `game-${i % 10}`), roomsReplicas: 0 };
      const response = await fetch(`${baton.url}/schedulers`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: ADMIN_AUTH },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200, await response.text());
    }));
  }

  const signIn = await fetch(`${baton.url}/api/sign_in`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: 'admin', password: ADMIN_PASSWORD, next: '' }),
    redirect: 'manual',
  });
  assert.equal(signIn.status, 200);
  const cookie = signIn.headers.get('set-cookie').split(';')[0];

  const times = [];
  let html = '';
  for (let run = 0; run < 7; run++) {
    const started = performance.now();
    const response = await fetch(`${baton.url}/ui/schedulers`, { headers: { Cookie: cookie } });
    html = await response.text();
    times.push(performance.now() - started);
    assert.equal(response.status, 200);
  }
  assert.equal(html.match(/<tr data-scheduler=/g)?.length, SCHEDULERS);
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`scheduler list, ${SCHEDULERS} schedulers: median ${median.toFixed(1)} ms, ` +
    `fastest ${times[0].toFixed(1)} ms, slowest ${times[times.length - 1].toFixed(1)} ms ` +
    `(${(html.length / 1024).toFixed(0)} KiB of HTML)`);
  assert.ok(median < 500, `median ${median} ms`);
});
