import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runReadmeExample } from '../../../util/readme-example.js';
import { parseCorefile } from '../../corefile/parse.js';
import { setupReload } from './plugin.js';
import { startDns } from '../../service.js';
import { query } from '../../client.js';
import { Rcode } from '../../codec/constants.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: a changed Corefile is applied within a few seconds', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/reload');
  assert.deepEqual(module.result, { before: '203.0.113.1', after: '203.0.113.2' });
});

test('interval and jitter limits', () => {
  const d = (s: string) => parseCorefile(`. {\n reload ${s}\n}\n`)[0].directives[0];
  assert.equal(setupReload(d('')).intervalMs, 30_000);
  assert.equal(setupReload(d('10s 2s')).jitterMs, 2000);
  assert.throws(() => setupReload(d('1s')), /Corefile:2 .*greater or equal to 2s/);
  assert.throws(() => setupReload(d('4s 3s')), /less than half/);
});

test('a broken Corefile keeps the running one; a new server block and port appear on reload', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twd-reload-'));
  const file = path.join(dir, 'Corefile');
  fs.writeFileSync(file, 'example.test {\n  reload 2s 1s\n  kubernetes example.test\n}\n');
  const dns = await startDns({ listen: '127.0.0.1:0', corefilePath: file });
  try {
    assert.equal((await query('127.0.0.1', dns.port, 'dns-version.example.test', 'TXT')).answers.length, 1);
    fs.writeFileSync(
      file,
      'example.test {\n  reload 2s 1s\n  kubernetes example.test {\n    nonsense\n  }\n}\n',
    );
    assert.equal(await dns.reloadNow(), false);
    assert.equal((await query('127.0.0.1', dns.port, 'dns-version.example.test', 'TXT')).answers.length, 1);
    fs.writeFileSync(
      file,
      'example.test {\n  reload 2s 1s\n  kubernetes example.test\n}\nother.test {\n  kubernetes other.test\n}\n',
    );
    assert.equal(await dns.reloadNow(), true);
    assert.equal((await query('127.0.0.1', dns.port, 'dns-version.other.test', 'TXT')).answers.length, 1);
    fs.writeFileSync(file, 'other.test {\n  reload 2s 1s\n  kubernetes other.test\n}\n');
    assert.equal(await dns.reloadNow(), true);
    assert.equal(
      (await query('127.0.0.1', dns.port, 'dns-version.example.test', 'TXT')).rcode,
      Rcode.REFUSED,
    );
  } finally {
    await dns.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
