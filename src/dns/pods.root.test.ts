/**
 * Pods resolve names through the cluster DNS, for real: `twill up --nodes 1` (cluster dns1, underlay
 * 172.31.245.0/24), the kube-dns Service on the tenth address of the service range with its endpoint on the
 * host's underlay address, pods' resolv.conf naming it, and `getent hosts` inside a pod answering for a
 * Service by its short, namespaced and full names. Non-cluster names go to a stub upstream on loopback (the
 * Corefile from the ConfigMap kube-system/coredns), never to a real resolver.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  forwardDnsToStub,
  kubectl,
  removeCluster,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  type TwillProcess,
} from '../../test/e2e/harness.js';
import { startStubUpstream, type StubUpstream } from './stub.js';

const CLUSTER = 'dns1';
const UNDERLAY = '172.31.245.0/24';
const HOST_IP = '172.31.245.1';
const DNS_IP = '10.95.0.10';

let twill: TwillProcess | undefined;
let stub: StubUpstream | undefined;
let dir = '';
const k = (...args: string[]) => kubectl(twill!.kubeconfig, args);

const scrub = () => removeCluster(CLUSTER, dir);

/** `twill exec default/POD -- argv`. */
const execIn = (pod: string, argv: string[]) =>
  run(process.execPath, [
    twillBin,
    'exec',
    `default/${pod}`,
    '--kubeconfig',
    twill!.kubeconfig,
    '--',
    ...argv,
  ]);

before(async () => {
  dir = tempDir('dns-pods');
  await scrub();
  stub = await startStubUpstream({ 'outside.example.': '198.51.100.7' });
  twill = await startTwill({
    dataDir: dir,
    timeoutMs: 60_000,
    extraArgs: [
      '--nodes',
      '1',
      '--cluster-name',
      CLUSTER,
      '--underlay-cidr',
      UNDERLAY,
      '--cluster-cidr',
      '10.245.0.0/16',
      '--service-cidr',
      '10.95.0.0/16',
    ],
  });
  // Everything outside the cluster zone goes to the stub, before any pod asks.
  const port = await forwardDnsToStub(twill, stub.port);
  const outside = await run('dig', ['@127.0.0.1', '-p', port, '+short', 'outside.example']);
  assert.equal(outside.stdout.trim(), '198.51.100.7');
});

after(async () => {
  await twill?.stop();
  await stub?.stop();
  await scrub();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('kube-system/kube-dns: the tenth service address, its endpoint the host on the underlay', async () => {
  await waitFor(
    'twill up to expose the DNS to pods',
    async () => /DNS for pods at/.test(twill!.stdout()),
    60_000,
  );
  const svc = JSON.parse(await k('get', 'svc', '-n', 'kube-system', 'kube-dns', '-o', 'json'));
  assert.equal(svc.spec.clusterIP, DNS_IP);
  assert.deepEqual(
    svc.spec.ports.map((p: any) => `${p.name}/${p.protocol}/${p.port}`),
    ['dns/UDP/53', 'dns-tcp/TCP/53'],
  );
  const slices = JSON.parse(
    await k(
      'get',
      'endpointslices',
      '-n',
      'kube-system',
      '-l',
      'kubernetes.io/service-name=kube-dns',
      '-o',
      'json',
    ),
  );
  assert.equal(slices.items.length, 1);
  assert.deepEqual(slices.items[0].endpoints[0].addresses, [HOST_IP]);
});

test('a pod resolves a Service by short, namespaced and full name (dnsPolicy ClusterFirst)', async () => {
  await k('create', 'service', 'clusterip', 'web', '--tcp', '80:8080');
  const web = JSON.parse(await k('get', 'svc', 'web', '-o', 'json'));
  await k('run', 'client', '--image=busybox', '--restart=Never', '--', 'sleep', '3600');
  await waitFor(
    'the client pod to run',
    async () => JSON.parse(await k('get', 'pod', 'client', '-o', 'json')).status?.phase === 'Running',
    40_000,
  );
  const resolv = await execIn('client', ['cat', '/etc/resolv.conf']);
  assert.equal(resolv.code, 0, resolv.stderr);
  assert.match(resolv.stdout, new RegExp(`^nameserver ${DNS_IP.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(resolv.stdout, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/m);
  assert.match(resolv.stdout, /^options ndots:5$/m);

  for (const name of ['web', 'web.default', 'web.default.svc.cluster.local']) {
    const r = await waitFor(
      `getent hosts ${name} inside the pod`,
      async () => {
        const g = await execIn('client', ['getent', 'ahostsv4', name]);
        return g.code === 0 && g;
      },
      20_000,
    );
    assert.match(
      r.stdout,
      new RegExp(`^${web.spec.clusterIP.replace(/\./g, '\\.')}\\s`, 'm'),
      `${name}: ${r.stdout}`,
    );
  }
  const full = await execIn('client', ['getent', 'hosts', 'web.default.svc.cluster.local']);
  assert.equal(full.code, 0, full.stderr);
  assert.match(
    full.stdout,
    new RegExp(`^${web.spec.clusterIP.replace(/\./g, '\\.')}\\s+web\\.default\\.svc\\.cluster\\.local`),
  );
  // A name that does not exist fails inside the pod, as with CoreDNS.
  const missing = await execIn('client', ['getent', 'ahostsv4', 'nothere.default.svc.cluster.local']);
  assert.notEqual(missing.code, 0);
});
