import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hostNetworkHostsFile,
  hostsFile,
  parseResolvConf,
  podHostname,
  podResolverConfig,
  resolvConfText,
  searchesFitLimits,
} from './etcfiles.js';

const node = {
  resolvConf:
    '# the node\nnameserver 198.51.100.53\nsearch corp.example. lab.example .\noptions timeout:2 rotate\n',
  clusterDNS: ['10.96.0.10'],
  clusterDomain: 'cluster.local',
};
const text = (pod: Parameters<typeof podResolverConfig>[0]) => resolvConfText(podResolverConfig(pod, node));

test('hosts: the localhost lines, the pod IP with its hostname, hostAliases', () => {
  assert.equal(
    hostsFile(
      {
        namespace: 'default',
        name: 'web',
        hostAliases: [{ ip: '203.0.113.7', hostnames: ['a.example', 'b'] }],
      },
      ['10.246.0.5'],
      'cluster.local',
    ),
    '# Kubernetes-managed hosts file.\n' +
      '127.0.0.1\tlocalhost\n' +
      '::1\tlocalhost ip6-localhost ip6-loopback\n' +
      'fe00::0\tip6-localnet\n' +
      'fe00::0\tip6-mcastprefix\n' +
      'fe00::1\tip6-allnodes\n' +
      'fe00::2\tip6-allrouters\n' +
      '10.246.0.5\tweb\n' +
      '\n# Entries added by HostAliases.\n' +
      '203.0.113.7\ta.example\tb\n',
  );
});

test('hosts: hostname.subdomain.ns.svc.zone when subdomain is set', () => {
  const h = hostsFile(
    { namespace: 'shop', name: 'db-0', hostname: 'db', subdomain: 'dbs' },
    ['10.246.0.6'],
    'cluster.local',
  );
  assert.match(h, /\n10\.246\.0\.6\tdb\.dbs\.shop\.svc\.cluster\.local\tdb\n$/);
  assert.equal(podHostname({ name: `${'a'.repeat(62)}-b` }), 'a'.repeat(62));
  assert.equal(
    hostNetworkHostsFile('127.0.0.1 localhost\n'),
    '# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n',
  );
});

test('resolv.conf: ClusterFirst is the cluster DNS, the cluster search domains then the node’s, ndots:5', () => {
  assert.equal(
    text({ namespace: 'shop', name: 'p' }),
    'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n' +
      'nameserver 10.96.0.10\n' +
      'options ndots:5\n',
  );
});

test('resolv.conf: hostNetwork falls back to Default unless ClusterFirstWithHostNet', () => {
  const def = 'search corp.example lab.example\nnameserver 198.51.100.53\noptions timeout:2 rotate\n';
  assert.equal(text({ namespace: 'a', name: 'p', hostNetwork: true }), def);
  assert.equal(text({ namespace: 'a', name: 'p', dnsPolicy: 'Default' }), def);
  assert.match(
    text({ namespace: 'a', name: 'p', hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }),
    /^search a\.svc\.cluster\.local .*\nnameserver 10\.96\.0\.10\n/,
  );
  // No cluster DNS configured: ClusterFirst falls back to Default too.
  assert.equal(
    resolvConfText(podResolverConfig({ namespace: 'a', name: 'p' }, { ...node, clusterDNS: [] })),
    def,
  );
});

test('resolv.conf: None with dnsConfig; dnsConfig merged into a policy’s base; the limits', () => {
  assert.equal(
    text({
      namespace: 'a',
      name: 'p',
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['203.0.113.1', '203.0.113.2'],
        searches: ['x.example'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
      },
    }),
    'search x.example\nnameserver 203.0.113.1\nnameserver 203.0.113.2\noptions ndots:2 edns0\n',
  );
  // Appended, duplicates removed, same-name options overridden, at most 3 nameservers.
  const merged = podResolverConfig(
    {
      namespace: 'a',
      name: 'p',
      dnsConfig: {
        nameservers: ['10.96.0.10', '203.0.113.1', '203.0.113.2', '203.0.113.3'],
        searches: ['cluster.local', 'y.example'],
        options: [{ name: 'ndots', value: '1' }, { name: 'single-request' }],
      },
    },
    node,
  );
  assert.deepEqual(merged.nameservers, ['10.96.0.10', '203.0.113.1', '203.0.113.2']);
  assert.deepEqual(merged.searches.slice(-2), ['lab.example', 'y.example']);
  assert.deepEqual(merged.options, ['ndots:1', 'single-request']);
  const many = Array.from({ length: 40 }, (_, i) => `d${i}.example`);
  assert.equal(searchesFitLimits(many).length, 32);
  const long = Array.from({ length: 30 }, (_, i) => `${'x'.repeat(80)}${i}.example`);
  assert.ok(searchesFitLimits(long).join(' ').length <= 2048);
  assert.equal(searchesFitLimits([`${'a'.repeat(254)}`, 'ok.example']).join(), 'ok.example');
});

test('the node’s resolv.conf as the kubelet reads it: the last search line wins', () => {
  assert.deepEqual(parseResolvConf('search a\nsearch b c\nnameserver 203.0.113.9\n; x\n'), {
    nameservers: ['203.0.113.9'],
    searches: ['b', 'c'],
    options: [],
  });
});
