/**
 * Clusters on etcd: `twill up --etcd 3` (a local three-member etcd cluster) keeps acknowledging writes with one
 * member SIGKILLed and loses none; two `twill server` processes on one etcd survive the loss of one server and
 * one member together.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { kubectl, kubectlResult, startTwill, tempDir, waitFor } from '../../test/e2e/harness.js';
import { startEtcdCluster } from '../store/etcd-cluster.js';

/** The pid of the etcd member whose data dir is `dir` (read from /proc: the member is our child's child). */
function memberPid(dir: string): number | undefined {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('etcd') && argv.includes(`--data-dir=${dir}/data`)) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

test(
  'twill up --etcd 3: the cluster keeps working with one etcd member killed',
  { timeout: 120_000 },
  async () => {
    const dir = tempDir('up-etcd');
    let twill: Awaited<ReturnType<typeof startTwill>> | undefined;
    try {
      twill = await startTwill({ dataDir: dir, extraArgs: ['--etcd', '3'], timeoutMs: 60_000 });
      const kc = twill.kubeconfig;
      const cluster = JSON.parse(fs.readFileSync(`${dir}/etcd/cluster.json`, 'utf8')) as {
        members: unknown[];
      };
      assert.equal(cluster.members.length, 3);
      const written: string[] = [];
      for (let i = 0; i < 5; i++) {
        await kubectl(kc, ['create', 'configmap', `before-${i}`, `--from-literal=i=${i}`]);
        written.push(`before-${i}`);
      }
      const pid = memberPid(`${dir}/etcd/etcd-1`);
      assert.ok(pid, 'member etcd-1 runs');
      process.kill(pid, 'SIGKILL');
      await waitFor(
        'etcd-1 to exit',
        async () => !fs.existsSync(`/proc/${pid}/cmdline`) || !memberPid(`${dir}/etcd/etcd-1`),
        10_000,
      );
      for (let i = 0; i < 5; i++) {
        // The first request after the kill may hit the dead member's connection; it is retried as kubectl is.
        await waitFor(
          `configmap after-${i}`,
          async () => (await kubectlResult(kc, ['create', 'configmap', `after-${i}`])).code === 0,
          20_000,
        );
        written.push(`after-${i}`);
      }
      const names = (await kubectl(kc, ['get', 'configmaps', '-o', 'name'])).split('\n');
      for (const w of written) assert.ok(names.includes(`configmap/${w}`), `${w} kept: ${names.join(' ')}`);
      assert.equal(await twill.stop(), 0);
      twill = undefined;
      // The members stop with twill up.
      assert.equal(memberPid(`${dir}/etcd/etcd-0`), undefined);
    } finally {
      await twill?.stop();
      for (const m of ['etcd-0', 'etcd-1', 'etcd-2']) {
        const pid = memberPid(`${dir}/etcd/${m}`);
        if (pid) process.kill(pid, 'SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'two twill servers on one three-member etcd: kill one server and one member, the other serves every acknowledged write and takes the controllers over',
  { timeout: 150_000 },
  async () => {
    const dir = tempDir('ha-servers');
    const etcd = await startEtcdCluster({ members: 3, dataDir: `${dir}/etcd` });
    const store = `etcd://${etcd.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
    const servers: Array<Awaited<ReturnType<typeof startTwill>>> = [];
    try {
      // One data dir: the second server finds the first's PKI and tokens (any one of them serves any client).
      servers.push(await startTwill({ dataDir: `${dir}/cp`, command: 'server', store }));
      servers.push(await startTwill({ dataDir: `${dir}/cp`, command: 'server', store }));
      const [a, b] = servers;
      const kc = b.kubeconfig;
      const via = (s: typeof a, args: string[]) =>
        kubectlResult(kc, ['--request-timeout=10s', '--server', s.url, ...args]);
      const written: string[] = [];
      for (const [s, tag] of [
        [a, 'a'],
        [b, 'b'],
      ] as const) {
        for (let i = 0; i < 5; i++) {
          const r = await via(s, ['create', 'configmap', `${tag}-${i}`]);
          assert.equal(r.code, 0, r.stderr);
          written.push(`${tag}-${i}`);
        }
      }
      a.child.kill('SIGKILL');
      await a.stop();
      await etcd.kill(1);
      for (let i = 0; i < 5; i++) {
        await waitFor(
          `configmap after-${i} through b`,
          async () => (await via(b, ['create', 'configmap', `after-${i}`])).code === 0,
          20_000,
        );
        written.push(`after-${i}`);
      }
      const names = (await via(b, ['get', 'configmaps', '-o', 'name'])).stdout.split('\n');
      for (const w of written) assert.ok(names.includes(`configmap/${w}`), `${w} kept`);
      // The controllers run on b within a lease duration (15 s) of a's death.
      const port = new URL(b.url).port;
      await waitFor(
        'b to lead the controllers',
        async () =>
          (
            await via(b, [
              'get',
              'lease',
              '-n',
              'kube-system',
              'twill-controller-manager',
              '-o',
              'jsonpath={.spec.holderIdentity}',
            ])
          ).stdout.endsWith(`_${port}`),
        30_000,
      );
    } finally {
      for (const s of servers) await s.stop();
      await etcd.stop({ removeData: true });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
