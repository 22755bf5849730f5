// Starts a real Baton server (the release binary) on a free loopback port with a fresh database,
// and launches Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const ADMIN_PASSWORD = 'e2e-admin-password';

export async function startBaton() {
  const bin = process.env.BATON_BIN;
  if (!bin) throw new Error('BATON_BIN must point at the baton binary (make e2e-test sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'baton-e2e-'));
  const child = spawn(bin, ['--listen', '127.0.0.1:0', '--database-url', `sqlite://${dir}/baton.db?mode=rwc`], {
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
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
