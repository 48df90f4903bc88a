/**
 * The DNS server fed by a real API for what needs Pods and ConfigMaps: autopath @kubernetes (the client's pod
 * found by its address), pods verified, and the Corefile read from the ConfigMap kube-system/coredns and
 * reloaded when it changes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestControlPlane, eventually, type TestControlPlane } from '../cli/testing.js';
import { Resources } from '../client/rest.js';
import { startDns } from './service.js';
import { dig } from './testing.js';

process.env.TWILL_LOG_LEVEL ??= 'warn';

let tcp: TestControlPlane;

before(async () => {
  tcp = await startTestControlPlane('twd-dnsapi-');
  const c = tcp.client;
  for (const ns of ['dns1', 'other'])
    await c.create(Resources.namespaces, undefined, { metadata: { name: ns } });
  await c.create(Resources.services, 'other', { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } });
  // A pod whose address is the loopback the test's dig sends from: the server takes dig for that pod.
  await c.create(Resources.pods, 'dns1', {
    metadata: { name: 'client' },
    spec: { nodeName: 'nowhere', containers: [{ name: 'c', image: 'agnhost' }] },
  });
  const pod = await c.get(Resources.pods, 'dns1', 'client');
  await c.updateStatus(Resources.pods, 'dns1', {
    ...pod,
    status: { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] },
  });
});

after(async () => {
  await tcp?.stop();
});

test('autopath @kubernetes: a short name from a pod costs one round trip', async () => {
  const dns = await startDns({
    listen: '127.0.0.1:0',
    client: tcp.client,
    corefile: 'cluster.local {\n autopath @kubernetes\n kubernetes cluster.local {\n  pods verified\n }\n}\n',
  });
  try {
    const svc = (await tcp.client.get(Resources.services, 'other', 'web')) as unknown as {
      spec: { clusterIP: string };
    };
    const r = await eventually(
      'autopath answer',
      async () => {
        const d = await dig('127.0.0.1', dns.port, ['web.other.dns1.svc.cluster.local', 'A']);
        return d.answer.length === 2 ? d : undefined;
      },
      10_000,
    );
    assert.deepEqual(r.answer, [
      'web.other.dns1.svc.cluster.local. 5 IN CNAME web.other.svc.cluster.local.',
      `web.other.svc.cluster.local. 5 IN A ${svc.spec.clusterIP}`,
    ]);
    // pods verified: the pod's own record exists, a made-up one does not.
    assert.equal((await dig('127.0.0.1', dns.port, ['127-0-0-1.dns1.pod.cluster.local'])).answer.length, 1);
    assert.equal((await dig('127.0.0.1', dns.port, ['10-9-9-9.dns1.pod.cluster.local'])).status, 'NXDOMAIN');
  } finally {
    await dns.stop();
  }
});

test('the Corefile comes from the ConfigMap kube-system/coredns and is reloaded when it changes', async () => {
  const corefile = (zone: string) => `${zone} {\n reload 2s 1s\n kubernetes ${zone}\n}\n`;
  await tcp.client.create(Resources.configmaps, 'kube-system', {
    metadata: { name: 'coredns' },
    data: { Corefile: corefile('one.test') },
  } as never);
  const dns = await startDns({ listen: '127.0.0.1:0', client: tcp.client, configMap: true });
  try {
    assert.equal((await dig('127.0.0.1', dns.port, ['dns-version.one.test', 'TXT'])).answer.length, 1);
    await tcp.client.patch(
      Resources.configmaps,
      'kube-system',
      'coredns',
      { data: { Corefile: corefile('two.test') } },
      'merge',
    );
    const t0 = Date.now();
    await eventually(
      'the new Corefile served',
      async () => {
        const d = await dig('127.0.0.1', dns.port, ['dns-version.two.test', 'TXT']);
        return d.answer.length === 1 ? true : undefined;
      },
      10_000,
    );
    process.stderr.write(`# ConfigMap change → served: ${Date.now() - t0} ms\n`);
    assert.equal((await dig('127.0.0.1', dns.port, ['dns-version.one.test', 'TXT'])).status, 'REFUSED');
  } finally {
    await dns.stop();
  }
});
