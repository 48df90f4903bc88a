import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { installCni } from './install.js';

test('install-cni writes launchers a runtime can exec from anywhere, and a conflist', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twill-install-cni-'));
  try {
    const binDir = path.join(dir, 'bin');
    const confDir = path.join(dir, 'net.d');
    const written = installCni({ binDir, confDir });
    assert.deepEqual(written.map((f) => path.relative(dir, f)).sort(), [
      'bin/twill-cni',
      'bin/twill-ipam',
      'bin/twill-portmap',
      'net.d/10-twill.conflist',
    ]);
    const list = JSON.parse(fs.readFileSync(path.join(confDir, '10-twill.conflist'), 'utf8'));
    assert.deepEqual(
      list.plugins.map((p: any) => p.type),
      ['twill-cni', 'twill-portmap'],
    );
    assert.equal(list.plugins[0].ipam.type, 'twill-ipam');
    // VERSION, exec'd the way a runtime does, from another working directory.
    for (const plugin of ['twill-cni', 'twill-ipam', 'twill-portmap']) {
      const r = spawnSync(path.join(binDir, plugin), [], {
        cwd: '/',
        env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION', TWILL_LOG_LEVEL: 'silent' },
        input: '{"cniVersion":"1.0.0"}',
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const v = JSON.parse(r.stdout);
      assert.ok(v.supportedVersions.includes('1.1.0'), plugin);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
