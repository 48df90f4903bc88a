/**
 * `kubectl apply -f -` with a `kind: List` manifest against a real `twill up`: kubectl validates List items
 * client-side from /openapi/v2, which it asks for only as gnostic's OpenAPIv2 protobuf.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { kubectl, kubectlResult, startTwill, tempDir, type TwillProcess } from './harness.js';

let twill: TwillProcess;
let dataDir: string;

before(async () => {
  dataDir = tempDir('kubectl-list');
  twill = await startTwill({ dataDir, store: 'memory' });
});

after(async () => {
  await twill?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const LIST = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: listdemo
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: settings
    namespace: listdemo
  data:
    color: blue
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: listdemo
  spec:
    selector:
      app: web
    ports:
    - port: 80
      targetPort: 8080
`;

test('kubectl apply of a List creates every item, and applying `kubectl get -o yaml` of them back works', async () => {
  const r = await kubectlResult(twill.kubeconfig, ['apply', '-v=6', '-f', '-'], LIST);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'namespace/listdemo created\nconfigmap/settings created\nservice/web created\n');
  // kubectl read the v2 document (as protobuf: it asks for nothing else) to validate the items.
  assert.match(r.stderr, /GET https:\/\/\S+\/openapi\/v2\?timeout=32s 200 OK/);

  const cm = JSON.parse(
    await kubectl(twill.kubeconfig, ['get', '-n', 'listdemo', 'configmap', 'settings', '-o', 'json']),
  );
  assert.deepEqual(cm.data, { color: 'blue' });
  const svc = JSON.parse(
    await kubectl(twill.kubeconfig, ['get', '-n', 'listdemo', 'service', 'web', '-o', 'json']),
  );
  assert.deepEqual(
    svc.spec.ports.map((p: { port: number; targetPort: number }) => [p.port, p.targetPort]),
    [[80, 8080]],
  );
  assert.match(svc.spec.clusterIP, /^\d+\.\d+\.\d+\.\d+$/);

  // What `kubectl get -o yaml` prints for several objects is itself a List, with status and system metadata.
  const dump = await kubectl(twill.kubeconfig, [
    'get',
    '-n',
    'listdemo',
    'configmap/settings',
    'service/web',
    '-o',
    'yaml',
  ]);
  assert.match(dump, /^apiVersion: v1\nitems:/);
  assert.match(dump, /\nkind: List\n/);
  const again = await kubectlResult(twill.kubeconfig, ['apply', '--validate=strict', '-f', '-'], dump);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stdout,
    /^configmap\/settings (unchanged|configured)\nservice\/web (unchanged|configured)\n$/,
  );
});

test('an unknown field inside a List item is refused by kubectl with --validate=strict, and nothing is written', async () => {
  const bad = LIST.replace('listdemo', 'listbad')
    .replaceAll('namespace: listdemo', 'namespace: listbad')
    .replace('    color: blue\n', '    color: blue\n  colour: red\n')
    .replace('      targetPort: 8080\n', '      targetPort: 8080\n      bogus: 1\n');
  const r = await kubectlResult(twill.kubeconfig, ['apply', '--validate=strict', '-f', '-'], bad);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  // kube-apiserver's answer for the same manifest: kubectl's openapi validation of each item, all errors at once.
  assert.equal(
    r.stderr.trim(),
    'error: error validating "STDIN": error validating data: [ValidationError(ConfigMap): unknown field "colour" in io.k8s.api.core.v1.ConfigMap, ' +
      'ValidationError(Service.spec.ports[0]): unknown field "bogus" in io.k8s.api.core.v1.ServicePort]; ' +
      'if you choose to ignore these errors, turn validation off with --validate=false',
  );
  const ns = await kubectlResult(twill.kubeconfig, ['get', 'namespace', 'listbad']);
  assert.equal(ns.code, 1);
  assert.match(ns.stderr, /namespaces "listbad" not found/);
});

test('kubectl explain --output=plaintext-openapiv2 renders fields from the protobuf document', async () => {
  const out = await kubectl(twill.kubeconfig, [
    'explain',
    'service.spec.ports',
    '--output=plaintext-openapiv2',
  ]);
  assert.match(out, /^KIND:\s+Service\nVERSION:\s+v1\n/);
  assert.match(out, /RESOURCE: ports <\[\]Object>/);
  assert.match(out, /\n\s+port\t<integer>\n/);
  assert.match(out, /\n\s+targetPort\t<string>\n/);
});
