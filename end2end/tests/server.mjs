// Starts a real Baton server (the release binary) on a free loopback port with a fresh database,
// and launches Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const ADMIN_PASSWORD = 'e2e-admin-password';
export const ADMIN_AUTH = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

export async function startBaton({ args = [] } = {}) {
  const bin = process.env.BATON_BIN;
  if (!bin) throw new Error('BATON_BIN must point at the baton binary (make e2e-test sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'baton-e2e-'));
  const rooms = join(dir, 'rooms');
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--database-url', `sqlite://${dir}/baton.db?mode=rwc`,
    '--local-rooms-dir', rooms, ...args], {
    env: { ...process.env, BATON_ADMIN_PASSWORD: ADMIN_PASSWORD, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`baton did not start: ${out}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/[\d.:]+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`baton exited with ${code}: ${out}`)));
  });
  return {
    url,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      killRooms(rooms);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Rooms outlive their Baton process (another one may adopt them): stop the ones this test's
// Baton recorded, by process group.
function killRooms(rooms) {
  const instances = join(rooms, '.instances');
  let schedulers = [];
  try { schedulers = readdirSync(instances); } catch { return; }
  for (const scheduler of schedulers) {
    let files = [];
    try { files = readdirSync(join(instances, scheduler)); } catch { continue; }
    for (const file of files.filter((f) => f.endsWith('.json'))) {
      try {
        const { pid } = JSON.parse(readFileSync(join(instances, scheduler, file), 'utf8'));
        if (pid > 0) process.kill(-pid, 'SIGKILL');
      } catch { /* gone already */ }
    }
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Signs in through the sign-in page and waits for the scheduler list.
export async function signIn(page, baseUrl, username, password) {
  await page.goto(`${baseUrl}/ui/sign-in`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('form.sign-in-form button[type="submit"]');
}

// Waits until the WASM took over the page (the app marks <body data-hydrated>).
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated]', { timeout: 30_000 });
}

// Waits until the scheduler has no pending or running operation: an exclusive change (a new
// version) is refused with 409 while one runs, e.g. the creation's first rooms on a slow machine.
export async function untilIdle(baseUrl, name, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let unfinished = [];
  while (Date.now() < deadline) {
    unfinished = [];
    for (const stage of ['pending', 'active']) {
      const response = await fetch(`${baseUrl}/schedulers/${name}/operations?stage=${stage}`,
        { headers: { Authorization: ADMIN_AUTH } });
      if (!response.ok) throw new Error(`operations of ${name} answered ${response.status}`);
      unfinished.push(...(await response.json()).operations);
    }
    if (unfinished.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} still has operations after ${timeout} ms: ${JSON.stringify(unfinished)}`);
}

// A scheduler body in the seed's shape.
export function seed(name, game) {
  return {
    name, game, roomsReplicas: 1,
    portRange: { start: 20000, end: 21000 }, maxSurge: '10%',
    spec: { terminationGracePeriod: '100s', containers: [{
      name: 'game-container', image: 'game:1', imagePullPolicy: 'IfNotPresent', command: [],
      environment: [{ name: 'EXAMPLE_NAME', value: 'EXAMPLE_VALUE' }],
      requests: { memory: '100Mi', cpu: '100m' }, limits: { memory: '200Mi', cpu: '200m' },
      ports: [{ name: 'port-name', protocol: 'tcp', port: 12345 }] }] },
    forwarders: [],
  };
}

// A capacity section (zeuz's model) that fits the machine the tests run on, as the demo
// scheduler's: a room holds a twentieth of a core and 64 MB; machine scaling off (recorded only).
export const CAPACITY = {
  PayloadQuota: { CpuCores: 0.05, MemoryMB: 64, StorageGB: 0 },
  SafetyLimits: { CpuRemainingCores: 0.25, MemoryMBFree: 1024, StorageGBFree: 1 },
  MachineMinSpec: { OS: 'linux', CoreCount: 1, MemoryMB: 1024 },
  MaxBareMetalMachines: 1, MaxCloudMachines: 0,
  MinFreePayloadCapacity: 3, MaxFreePayloadCapacity: 1000,
  EnableScaling: false, ManagePayloads: false,
};

// A scheduler body in the seed's shape with the capacity section above and no rooms.
export function seedWithCapacity(name, game) {
  return { ...seed(name, game), roomsReplicas: 0, capacity: CAPACITY };
}
