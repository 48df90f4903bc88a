/**
 * `twill up --nodes 2` for real: two node namespaces on an underlay bridge, a pod scheduled onto one of them and
 * reached from the host on its IP through the routes twill up added; SIGTERM leaves the host as it was, and
 * `twill down` removes what a SIGKILLed twill up left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  kubectl,
  removeCluster,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  connectEventually,
  runNetexecPod,
} from '../../test/e2e/harness.js';

const netnsList = async (prefix: string) =>
  (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(prefix));

const hostRoutes = async (bridge: string) =>
  (await run('ip', ['-4', 'route', 'show'])).stdout.split('\n').filter((l) => l.includes(`dev ${bridge} `));

const linkExists = async (name: string) => (await run('ip', ['link', 'show', 'dev', name])).code === 0;

/** Whatever happens, the host ends as it was. */
const scrub = removeCluster;

function upArgs(cluster: string, underlay: string): string[] {
  return [
    '--nodes',
    '2',
    '--cluster-name',
    cluster,
    '--underlay-cidr',
    underlay,
    '--cluster-cidr',
    '10.244.128.0/18',
  ];
}

test(
  'twill up --nodes 2: Ready nodes, a pod reachable from the host; SIGTERM removes it all',
  { timeout: 150_000 },
  async () => {
    const dir = tempDir('up-nodes');
    const cluster = `t${crypto.randomBytes(3).toString('hex')}`;
    let twill: Awaited<ReturnType<typeof startTwill>> | undefined;
    try {
      twill = await startTwill({ dataDir: dir, extraArgs: upArgs(cluster, '10.244.250.0/24') });
      const k = (...args: string[]) => kubectl(twill!.kubeconfig, args);
      const nodes = await waitFor(
        'two Ready nodes with podCIDRs',
        async () => {
          const list = JSON.parse(await k('get', 'nodes', '-o', 'json')).items as Array<{
            metadata: { name: string };
            spec: { podCIDR?: string };
            status: {
              addresses?: Array<{ type: string; address: string }>;
              conditions?: Array<{ type: string; status: string }>;
            };
          }>;
          const ready = list.filter(
            (n) =>
              n.spec.podCIDR && n.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
          return ready.length === 2 && list;
        },
        40_000,
      );
      assert.deepEqual(nodes.map((n) => n.metadata.name).sort(), ['node-1', 'node-2']);
      for (const n of nodes) {
        const i = Number(n.metadata.name.slice(5));
        assert.deepEqual(
          n.status.addresses?.find((a) => a.type === 'InternalIP')?.address,
          `10.244.250.${10 + i}`,
        );
      }
      assert.deepEqual((await netnsList(`twill-${cluster}-`)).sort(), [
        `twill-${cluster}-node-1`,
        `twill-${cluster}-node-2`,
      ]);
      // The route to a node's podCIDR follows its agent's start.
      await waitFor(
        'routes to both podCIDRs',
        async () => (await hostRoutes(`twu-${cluster}`)).filter((l) => l.includes(' via ')).length === 2,
        20_000,
      );

      const pod = await runNetexecPod(twill.kubeconfig, 'web');
      const node = nodes.find((n) => n.metadata.name === pod.spec.nodeName)!;
      assert.ok(node, `scheduled onto ${pod.spec.nodeName}`);
      assert.equal(pod.status.hostIP, node.status.addresses!.find((a) => a.type === 'InternalIP')!.address);
      const [net, , third] = node.spec.podCIDR!.split(/[./]/);
      assert.ok(
        pod.status.podIP.startsWith(`${net}.`) &&
          pod.status.podIP.split('.')[2] === node.spec.podCIDR!.split('.')[2],
        `${pod.status.podIP} in ${node.spec.podCIDR} (${third})`,
      );
      // The pod's namespace is named after its node's, and the pod's bridge lives in the node, not the host.
      assert.equal((await netnsList(`twill-${cluster}-${pod.spec.nodeName}-`)).length, 1);
      await connectEventually(`${pod.status.podIP}:8080`);
      await connectEventually(`${pod.status.podIP}:8081`);
      const hostname = await fetch(`http://${pod.status.podIP}:8081/hostname`, {
        signal: AbortSignal.timeout(3000),
      });
      assert.equal(await hostname.text(), 'web');
      // Nodes have no way out: no default route inside a node.
      assert.equal(
        (
          await run('ip', ['netns', 'exec', `twill-${cluster}-node-1`, 'ip', 'route', 'show', 'default'])
        ).stdout.trim(),
        '',
      );

      const podNetns = (await netnsList(`twill-${cluster}-${pod.spec.nodeName}-`))[0];
      const podPids = (await run('ip', ['netns', 'pids', podNetns])).stdout.split(/\s+/).filter(Boolean);
      assert.ok(podPids.length > 0);
      assert.equal(await twill.stop(), 0);
      twill = undefined;
      assert.deepEqual(await netnsList(`twill-${cluster}-`), []);
      assert.equal(await linkExists(`twu-${cluster}`), false);
      const routes = (await run('ip', ['-4', 'route', 'show'])).stdout;
      for (const n of nodes)
        assert.ok(!routes.includes(n.spec.podCIDR!), `no route to ${n.spec.podCIDR} left:\n${routes}`);
      // The pod's IP is no longer routed into the cluster (the uplink may well answer anything sent its way).
      assert.doesNotMatch(
        (await run('ip', ['route', 'get', pod.status.podIP])).stdout,
        new RegExp(`twu-${cluster}`),
      );
      for (const pid of podPids)
        assert.equal(fs.existsSync(`/proc/${pid}`), false, `pod process ${pid} ended`);
    } finally {
      await twill?.stop();
      await scrub(cluster, dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('twill down removes what a SIGKILLed twill up left behind', { timeout: 120_000 }, async () => {
  const dir = tempDir('down-nodes');
  const cluster = `t${crypto.randomBytes(3).toString('hex')}`;
  let twill: Awaited<ReturnType<typeof startTwill>> | undefined;
  try {
    twill = await startTwill({ dataDir: dir, extraArgs: upArgs(cluster, '10.244.251.0/24') });
    await waitFor(
      'both node namespaces and routes',
      async () => (await hostRoutes(`twu-${cluster}`)).filter((l) => l.includes(' via ')).length === 2,
      40_000,
    );
    twill.child.kill('SIGKILL');
    await twill.stop();
    twill = undefined;
    assert.equal((await netnsList(`twill-${cluster}-`)).length, 2);
    assert.ok(fs.existsSync(path.join(dir, 'topology.json')));

    const down = await run(process.execPath, [twillBin, 'down', '--data-dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`removed netns twill-${cluster}-node-1`));
    assert.deepEqual(await netnsList(`twill-${cluster}-`), []);
    assert.equal(await linkExists(`twu-${cluster}`), false);
    assert.deepEqual(await hostRoutes(`twu-${cluster}`), []);
    assert.doesNotMatch((await run('ip', ['-4', 'route', 'show'])).stdout, /10\.244\.251\./);
    // Nothing left to do the second time.
    const again = await run(process.execPath, [
      twillBin,
      'down',
      '--data-dir',
      dir,
      '--cluster-name',
      cluster,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, '');
  } finally {
    await twill?.stop();
    await scrub(cluster, dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
