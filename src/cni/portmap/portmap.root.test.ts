/**
 * hostPorts for real on `twill up --nodes 1` (cluster pod1, underlay 172.31.244.0/24): `twill run -p` makes a
 * pod whose hostPort is reached from the host through the node's underlay address (DNAT in the node's
 * namespace by twill-portmap), and deleting the pod removes the rule.
 */
import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { run, startTwill, tempDir, twillBin, waitFor, connectEventually } from '../../../test/e2e/harness.js';

const cluster = 'pod1';
const nodeNs = `twill-${cluster}-node-1`;

async function scrub(dataDir: string): Promise<void> {
  await run(process.execPath, [twillBin, 'down', '--data-dir', dataDir, '--cluster-name', cluster]);
}

const hostportRules = async () => {
  const r = await run('ip', ['netns', 'exec', nodeNs, 'nft', 'list', 'table', 'ip', 'twill-portmap']);
  return r.stdout.split('\n').filter((l) => l.includes('dnat to'));
};

test('a hostPort is reached from the host through the node’s address', { timeout: 150_000 }, async () => {
  const dir = tempDir('twq-hostport');
  let up: Awaited<ReturnType<typeof startTwill>> | undefined;
  try {
    up = await startTwill({
      dataDir: dir,
      extraArgs: [
        '--nodes',
        '1',
        '--cluster-name',
        cluster,
        '--underlay-cidr',
        '172.31.244.0/24',
        '--cluster-cidr',
        '10.246.0.0/16',
        '--service-cidr',
        '10.94.0.0/16',
      ],
      timeoutMs: 60_000,
    });
    const env = { KUBECONFIG: up.kubeconfig, TWILL_LOG_LEVEL: 'warn' };
    const twill = (...args: string[]) => run(process.execPath, [twillBin, ...args], { env });
    const created = await twill(
      'run',
      'web',
      '-p',
      '18080:8080',
      '--',
      process.execPath,
      twillBin,
      'netexec',
      '--http',
      '8080',
    );
    assert.equal(created.code, 0, created.stderr);
    const pod = await waitFor(
      'web Running',
      async () => {
        const r = await twill('get', 'pod', 'web', '-o', 'json');
        const p = r.code === 0 ? JSON.parse(r.stdout) : undefined;
        return p?.status?.phase === 'Running' && p;
      },
      60_000,
    );
    const nodeIP = pod.status.hostIP as string;
    assert.ok(nodeIP.startsWith('172.31.244.'), nodeIP);
    assert.deepEqual(pod.spec.containers[0].ports, [
      { containerPort: 8080, hostPort: 18080, protocol: 'TCP' },
    ]);
    await connectEventually(`${nodeIP}:18080`, 30_000);
    // An HTTP answer from the pod's netexec, through the node's address.
    const hostname = await run('curl', ['-s', '--max-time', '3', `http://${nodeIP}:18080/hostname`]);
    assert.equal(hostname.stdout, 'web');
    assert.equal((await hostportRules()).length, 1);

    // On twill up too: twill exec finds the pod's namespace under the node's, and twill logs the node's data dir.
    const resolv = await twill('exec', 'default/web', '--', 'cat', '/etc/resolv.conf');
    assert.equal(resolv.code, 0, resolv.stderr);
    assert.match(resolv.stdout, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    // The kube-dns address: the tenth of the service range (10.94.0.0/16), as twill up gives its agents.
    assert.match(resolv.stdout, /\nnameserver 10\.94\.0\.10\noptions ndots:5\n$/);
    const addr = await twill('exec', 'web', '--', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0');
    assert.ok(addr.stdout.includes(`inet ${pod.status.podIP}/`), addr.stdout + addr.stderr);
    const logs = await twill('logs', 'web', '--data-dir', dir);
    assert.equal(logs.code, 0, logs.stderr);
    assert.ok(
      fs.existsSync(
        path.join(dir, 'nodes', 'node-1', 'pods', `default_web_${pod.metadata.uid}`, 'web', '0.log'),
      ),
    );

    const del = await twill('delete', 'pod', 'web');
    assert.equal(del.code, 0, del.stderr);
    await waitFor('the hostPort rule removed', async () => (await hostportRules()).length === 0, 30_000);
  } finally {
    await up?.stop();
    await scrub(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
