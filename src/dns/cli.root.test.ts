/**
 * The commands for real: `twill up --dns-listen` answers dig for a Service created with the real kubectl, a
 * taken port is a clear error naming the flag, and `twill dns` serves a cluster from its kubeconfig.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { kubectl, startTwill, tempDir, twillBin } from '../../test/e2e/harness.js';
import { eventually } from '../cli/testing.js';
import { dig } from './testing.js';

function dnsPort(stdout: string): number | undefined {
  const m = /DNS at 127\.0\.0\.1:(\d+)/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

test('twill up --dns-listen: names of Services created with kubectl resolve at once', async () => {
  const dir = tempDir('twd-up');
  const twill = await startTwill({
    dataDir: dir,
    extraArgs: ['--service-cidr', '10.95.0.0/16', '--cluster-cidr', '10.245.0.0/16'],
  });
  try {
    const port = await eventually('DNS address printed', async () => dnsPort(twill.stdout()));
    const k = await dig('127.0.0.1', port, ['kubernetes.default.svc.cluster.local']);
    assert.deepEqual(k.answer, ['kubernetes.default.svc.cluster.local. 30 IN A 10.95.0.1']);
    await kubectl(twill.kubeconfig, ['create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
    const ip = (
      await kubectl(twill.kubeconfig, ['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])
    ).trim();
    const r = await eventually(
      'web resolves',
      async () => {
        const d = await dig('127.0.0.1', port, ['web.default.svc.cluster.local']);
        return d.answer.length ? d : undefined;
      },
      5000,
    );
    assert.deepEqual(r.answer, [`web.default.svc.cluster.local. 30 IN A ${ip}`]);
    const srv = await dig('127.0.0.1', port, ['_80-8080._tcp.web.default.svc.cluster.local', 'SRV']);
    assert.deepEqual(srv.answer, [
      '_80-8080._tcp.web.default.svc.cluster.local. 30 IN SRV 0 100 80 web.default.svc.cluster.local.',
    ]);
  } finally {
    await twill.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a taken DNS port stops twill up with an error that names --dns-listen', async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  const dir = tempDir('twd-taken');
  try {
    await assert.rejects(
      startTwill({ dataDir: dir, extraArgs: ['--dns-listen', `127.0.0.1:${port}`] }),
      (err: Error) =>
        /twill: DNS server cannot listen on udp 127\.0\.0\.1:\d+: the address is already in use .* --dns-listen \[TWILL_DNS_LISTEN\]/.test(
          err.message,
        ),
    );
  } finally {
    sock.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('twill dns serves a cluster from its kubeconfig and a Corefile file', async () => {
  const dir = tempDir('twd-dnscmd');
  const twill = await startTwill({
    dataDir: dir,
    extraArgs: ['--dns-listen', 'off', '--service-cidr', '10.95.0.0/16'],
  });
  const corefile = path.join(dir, 'Corefile');
  fs.writeFileSync(corefile, 'cluster.local {\n  errors\n  kubernetes cluster.local\n}\n');
  const child = spawn(
    process.execPath,
    [twillBin, 'dns', '--listen', '127.0.0.1:0', '--kubeconfig', twill.kubeconfig, '--corefile', corefile],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TWILL_LOG_LEVEL: 'warn' },
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  try {
    const port = await eventually('twill dns address', async () => dnsPort(out), 15_000);
    const r = await dig('127.0.0.1', port, ['kubernetes.default.svc.cluster.local']);
    assert.deepEqual(r.answer, ['kubernetes.default.svc.cluster.local. 5 IN A 10.95.0.1']);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await twill.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
