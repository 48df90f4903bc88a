import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterIndex, defaultKubernetesOptions, type KubernetesOptions } from './index.js';
import { Rcode, Type } from '../../codec/constants.js';
import { pod, service, slice } from './fixtures.js';

function index(o: Partial<KubernetesOptions> = {}): ClusterIndex {
  const ix = new ClusterIndex({ ...defaultKubernetesOptions, ...o });
  ix.setNamespace('default');
  ix.setNamespace('kube-system');
  ix.setService(
    service('default', 'web', {
      type: 'ClusterIP',
      clusterIP: '10.95.0.10',
      clusterIPs: ['10.95.0.10', 'fd00:95::a'],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    }),
  );
  ix.setEndpointSlice(
    slice(
      'default',
      'web',
      'web-1',
      'IPv4',
      [{ ip: '10.245.1.5' }, { ip: '10.245.1.6', ready: false }],
      [{ name: 'http', port: 8080 }],
    ),
  );
  ix.setService(service('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }));
  ix.setEndpointSlice(
    slice(
      'default',
      'db',
      'db-1',
      'IPv4',
      [
        { ip: '10.245.1.7', hostname: 'db-0' },
        { ip: '10.245.1.8', pod: 'db-x' },
        { ip: '10.245.1.9', ready: false },
      ],
      [{ name: 'pg', port: 5432 }],
    ),
  );
  ix.setEndpointSlice(
    slice(
      'default',
      'db',
      'db-2',
      'IPv6',
      [{ ip: 'fd00:245::7', hostname: 'db-0' }],
      [{ name: 'pg', port: 5432 }],
    ),
  );
  ix.setService(service('default', 'ext', { type: 'ExternalName', externalName: 'example.org' }));
  ix.setService(
    service('default', 'alias', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }),
  );
  ix.setPod(pod('default', 'p1', '10.245.1.5'));
  return ix;
}

const data = (a: ReturnType<ClusterIndex['lookup']>) => a!.answers.map((r) => r.data);

test('ClusterIP services: A, AAAA, SRV per named port, PTR both families', () => {
  const ix = index();
  assert.deepEqual(data(ix.lookup('web.default.svc.cluster.local.', Type.A)), ['10.95.0.10']);
  assert.deepEqual(data(ix.lookup('web.default.svc.cluster.local.', Type.AAAA)), ['fd00:95::a']);
  const srv = ix.lookup('_http._tcp.web.default.svc.cluster.local.', Type.SRV)!;
  assert.deepEqual(srv.answers[0].data, {
    priority: 0,
    weight: 100,
    port: 80,
    target: 'web.default.svc.cluster.local.',
  });
  assert.deepEqual(
    srv.additional.map((r) => r.data),
    ['10.95.0.10', 'fd00:95::a'],
  );
  assert.equal(
    ix.lookup('_dns._udp.web.default.svc.cluster.local.', Type.SRV)!.answers[0].name,
    '_dns._udp.web.default.svc.cluster.local.',
  );
  assert.equal(ix.lookup('_dns._tcp.web.default.svc.cluster.local.', Type.SRV)!.rcode, Rcode.NXDOMAIN);
  assert.deepEqual(data(ix.lookup('10.0.95.10.in-addr.arpa.', Type.PTR)), ['web.default.svc.cluster.local.']);
  const v6rev = `a.${'0.'.repeat(23)}5.9.0.0.0.0.d.f.ip6.arpa.`;
  assert.deepEqual(data(ix.lookup(v6rev, Type.PTR)), ['web.default.svc.cluster.local.']);
});

test('headless services: ready endpoints, hostnames, SRV targets, not-ready hidden unless published', () => {
  const ix = index();
  assert.deepEqual(data(ix.lookup('db.default.svc.cluster.local.', Type.A)).sort(), [
    '10.245.1.7',
    '10.245.1.8',
  ]);
  assert.deepEqual(data(ix.lookup('db.default.svc.cluster.local.', Type.AAAA)), ['fd00:245::7']);
  assert.deepEqual(data(ix.lookup('db-0.db.default.svc.cluster.local.', Type.A)), ['10.245.1.7']);
  assert.deepEqual(data(ix.lookup('10-245-1-8.db.default.svc.cluster.local.', Type.A)), ['10.245.1.8']);
  const srv = ix.lookup('_pg._tcp.db.default.svc.cluster.local.', Type.SRV)!;
  assert.deepEqual(srv.answers.map((r) => (r.data as { target: string }).target).sort(), [
    '10-245-1-8.db.default.svc.cluster.local.',
    'db-0.db.default.svc.cluster.local.',
    'db-0.db.default.svc.cluster.local.',
  ]);
  assert.equal((srv.answers[0].data as { weight: number }).weight, 33);
  assert.deepEqual(data(ix.lookup('7.1.245.10.in-addr.arpa.', Type.PTR)), [
    'db-0.db.default.svc.cluster.local.',
  ]);
  assert.equal(ix.lookup('10-245-1-9.db.default.svc.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  ix.setService(service('default', 'db', { clusterIP: 'None', publishNotReadyAddresses: true }));
  assert.equal(data(ix.lookup('db.default.svc.cluster.local.', Type.A)).length, 3);
});

test('endpoint_pod_names names endpoints after their pods', () => {
  const ix = index({ endpointPodNames: true });
  assert.deepEqual(data(ix.lookup('db-x.db.default.svc.cluster.local.', Type.A)), ['10.245.1.8']);
});

test('ExternalName is a CNAME, chased inside the zone', () => {
  const ix = index();
  const a = ix.lookup('ext.default.svc.cluster.local.', Type.A)!;
  assert.deepEqual(
    a.answers.map((r) => [r.type, r.data]),
    [[Type.CNAME, 'example.org.']],
  );
  const b = ix.lookup('alias.default.svc.cluster.local.', Type.A)!;
  assert.deepEqual(
    b.answers.map((r) => r.data),
    ['web.default.svc.cluster.local.', '10.95.0.10'],
  );
});

test('negative answers: NXDOMAIN vs NODATA, both with the SOA', () => {
  const ix = index();
  const nx = ix.lookup('nope.default.svc.cluster.local.', Type.A)!;
  assert.equal(nx.rcode, Rcode.NXDOMAIN);
  assert.equal(nx.authority[0].type, Type.SOA);
  assert.equal(nx.authority[0].ttl, 5);
  for (const [name, type] of [
    ['web.default.svc.cluster.local.', Type.TXT],
    ['_tcp.web.default.svc.cluster.local.', Type.A],
    ['default.svc.cluster.local.', Type.A],
    ['svc.cluster.local.', Type.A],
    ['cluster.local.', Type.A],
  ] as const) {
    const a = ix.lookup(name, type)!;
    assert.equal(a.rcode, Rcode.NOERROR, name);
    assert.equal(a.answers.length, 0, name);
    assert.equal(a.authority[0].type, Type.SOA, name);
  }
  assert.equal(ix.lookup('nons.svc.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  assert.equal(ix.lookup('other.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  assert.equal(ix.lookup('example.org.', Type.A), undefined);
});

test('apex SOA and NS, dns-version TXT', () => {
  const ix = index();
  ix.setService(service('kube-system', 'kube-dns', { clusterIP: '10.95.0.53' }));
  assert.equal(ix.lookup('cluster.local.', Type.SOA)!.answers[0].type, Type.SOA);
  const ns = ix.lookup('cluster.local.', Type.NS)!;
  assert.equal(ns.answers[0].data, 'ns.dns.cluster.local.');
  assert.deepEqual(
    ns.additional.map((r) => r.data),
    ['10.95.0.53'],
  );
  assert.deepEqual(data(ix.lookup('dns-version.cluster.local.', Type.TXT)), [['1.1.0']]);
});

test('pod records: disabled, insecure, verified', () => {
  assert.equal(index().lookup('10-245-1-5.default.pod.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  const ins = index({ pods: 'insecure' });
  assert.deepEqual(data(ins.lookup('10-245-9-9.default.pod.cluster.local.', Type.A)), ['10.245.9.9']);
  assert.deepEqual(data(ins.lookup('fd00--1.default.pod.cluster.local.', Type.AAAA)), ['fd00::1']);
  const ver = index({ pods: 'verified' });
  assert.deepEqual(data(ver.lookup('10-245-1-5.default.pod.cluster.local.', Type.A)), ['10.245.1.5']);
  assert.equal(ver.lookup('10-245-9-9.default.pod.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  assert.equal(ver.lookup('10-245-1-5.kube-system.pod.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
});

test('namespaces, ignore empty_service and noendpoints options', () => {
  const only = index({ namespaces: ['kube-system'] });
  assert.equal(only.lookup('web.default.svc.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  const ign = index({ ignoreEmptyService: true });
  ign.setService(service('default', 'empty', { clusterIP: '10.95.0.99' }));
  assert.equal(ign.lookup('empty.default.svc.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  assert.equal(ign.lookup('web.default.svc.cluster.local.', Type.A)!.rcode, Rcode.NOERROR);
  const noep = index({ noEndpoints: true });
  assert.equal(noep.lookup('db-0.db.default.svc.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  assert.deepEqual(data(noep.lookup('web.default.svc.cluster.local.', Type.A)), ['10.95.0.10']);
});

test('deletes take records away, shared reverse names survive a partial delete', () => {
  const ix = index();
  ix.deleteEndpointSlice(slice('default', 'db', 'db-1', 'IPv4', [], []));
  assert.equal(data(ix.lookup('db.default.svc.cluster.local.', Type.A)).length, 0);
  assert.deepEqual(data(ix.lookup('db.default.svc.cluster.local.', Type.AAAA)), ['fd00:245::7']);
  ix.deleteService(service('default', 'web', {}));
  assert.equal(ix.lookup('web.default.svc.cluster.local.', Type.A)!.rcode, Rcode.NXDOMAIN);
  assert.equal(ix.lookup('_http._tcp.web.default.svc.cluster.local.', Type.SRV)!.rcode, Rcode.NXDOMAIN);
  assert.equal(ix.lookup('10.0.95.10.in-addr.arpa.', Type.PTR)!.rcode, Rcode.NXDOMAIN);
});

test('an address behind two Services: both PTR targets, and one stays when the other Service goes', () => {
  const ix = new ClusterIndex({ ...defaultKubernetesOptions });
  for (const name of ['a', 'b']) {
    ix.setService(service('default', name, { clusterIP: 'None' }));
    ix.setEndpointSlice(
      slice('default', name, `${name}-1`, 'IPv4', [{ ip: '10.245.9.9', hostname: 'h' }], []),
    );
  }
  assert.deepEqual(data(ix.lookup('9.9.245.10.in-addr.arpa.', Type.PTR)).sort(), [
    'h.a.default.svc.cluster.local.',
    'h.b.default.svc.cluster.local.',
  ]);
  ix.deleteService(service('default', 'a', {}));
  assert.deepEqual(data(ix.lookup('9.9.245.10.in-addr.arpa.', Type.PTR)), ['h.b.default.svc.cluster.local.']);
  ix.deleteService(service('default', 'b', {}));
  assert.equal(ix.lookup('9.9.245.10.in-addr.arpa.', Type.PTR)!.rcode, Rcode.NXDOMAIN);
  assert.deepEqual(ix.stats(), { services: 0, names: 0, ptrs: 0, pods: 0 });
});
