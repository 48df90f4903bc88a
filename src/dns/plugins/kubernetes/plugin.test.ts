import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';
import { parseCorefile } from '../../corefile/parse.js';
import { parseKubernetes } from './plugin.js';

test('README example: the record forms from the index', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/kubernetes');
  assert.deepEqual(module.result, {
    web: ['10.95.0.10'],
    srv: [{ priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local.' }],
    db0: ['10.245.1.7'],
    ptr: ['web.default.svc.cluster.local.'],
    pod: ['10.245.3.4'],
    missing: 3,
  });
});

test('options parse as CoreDNS reads them; bad ones fail with the line', () => {
  const d = parseCorefile(
    `. {
  kubernetes cluster.local in-addr.arpa {
    pods verified
    ttl 30
    fallthrough in-addr.arpa
    endpoint_pod_names
    namespaces a b
    ignore empty_service
    noendpoints
  }
}
`,
  )[0].directives[0];
  const c = parseKubernetes(d, ['.']);
  assert.deepEqual(c.zones, ['cluster.local.', 'in-addr.arpa.']);
  assert.equal(c.pods, 'verified');
  assert.equal(c.ttl, 30);
  assert.deepEqual(c.fallthrough, ['in-addr.arpa.']);
  assert.ok(c.endpointPodNames && c.ignoreEmptyService && c.noEndpoints);
  assert.deepEqual(c.namespaces, ['a', 'b']);
  for (const [body, re] of [
    ['pods maybe', /Corefile:3 .*pods: expected disabled, insecure or verified/],
    ['ttl 4000', /Corefile:3 .*ttl must be in range \[0, 3600\]/],
    ['frobnicate', /Corefile:3 .*unknown property 'frobnicate'/],
  ] as const) {
    const bad = parseCorefile(`. {\n  kubernetes cluster.local {\n    ${body}\n  }\n}\n`)[0].directives[0];
    assert.throws(() => parseKubernetes(bad, ['.']), re);
  }
});

test('memoised answers follow Service and Pod changes, each on its own generation', async () => {
  const { KubernetesPlugin } = await import('./plugin.js');
  const { service, pod } = await import('./fixtures.js');
  const d = parseCorefile('. {\n kubernetes cluster.local {\n  pods verified\n }\n}\n')[0].directives[0];
  const k = new KubernetesPlugin(parseKubernetes(d, ['.']));
  const ask = (qname: string) =>
    k.serve(
      {
        msg: { id: 1, opcode: 0, rd: false, cd: false, questions: [{ name: qname, type: 1, class: 1 }] },
        qname,
        qtype: 1,
        qclass: 1,
      } as never,
      () => {
        throw new Error('no next');
      },
    ) as { rcode: number; answers: { data: unknown }[] };
  k.index.setNamespace('default');
  const svc = 'web.default.svc.cluster.local.';
  const pd = '10-245-0-9.default.pod.cluster.local.';
  assert.equal(ask(svc).rcode, 3);
  assert.equal(ask(pd).rcode, 3);
  k.index.setService(service('default', 'web', { clusterIP: '10.95.0.10' }));
  const first = ask(svc);
  assert.deepEqual(
    first.answers.map((r) => r.data),
    ['10.95.0.10'],
  );
  k.index.setPod(pod('default', 'p', '10.245.0.9'));
  assert.equal(ask(svc), first, 'a Pod change keeps the Service answer memoised');
  assert.deepEqual(
    ask(pd).answers.map((r) => r.data),
    ['10.245.0.9'],
  );
  k.index.deletePod(pod('default', 'p', '10.245.0.9'));
  assert.equal(ask(pd).rcode, 3);
});
