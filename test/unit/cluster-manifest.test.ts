// Virtual cluster manifests (issue 13): the shipped examples parse, members get stable names, and every
// bad manifest is refused before any service is asked, with the line and the field in the message.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listClusterMembers, parseClusterManifest } from '../../src/clusters/parse-cluster-manifest.js';

const examples = join(import.meta.dirname, '../../../examples');

void t.test('the shipped examples parse; members are <cluster>-<role> or <cluster>-<role><n>', (t) => {
  const batch = parseClusterManifest(readFileSync(join(examples, 'batch-cluster.yaml'), 'utf8'), 'batch-cluster.yaml');
  t.equal(batch.name, 'batch');
  t.equal(batch.leaseSeconds, 4 * 3600);
  t.equal(batch.network, 'batchnet');
  t.equal(batch.sshKeys.length, 1);
  t.same(listClusterMembers(batch).map((m) => m.name), ['batch-head', 'batch-c1', 'batch-c2', 'batch-c3', 'batch-c4']);
  const shop = parseClusterManifest(readFileSync(join(examples, 'three-tier-web.yaml'), 'utf8'), 'three-tier-web.yaml');
  t.same(listClusterMembers(shop).map((m) => m.name), ['shop-lb', 'shop-web1', 'shop-web2', 'shop-db']);
  t.equal(shop.network, 'shop', 'the private network defaults to the cluster name');
  t.equal(shop.roles.find((r) => r.role === 'db')?.memoryMiB, 128);
  t.end();
});

void t.test('JSON is YAML too', (t) => {
  const m = parseClusterManifest('{"name": "lab", "roles": [{"role": "head", "type": "kvm", "image": "tinyvm", "memory": "128M"}]}');
  t.same(listClusterMembers(m).map((x) => x.name), ['lab-head']);
  t.end();
});

void t.test('errors name the line and the field', (t) => {
  const cases: [string, RegExp][] = [
    ['name: lab\nroles:\n  - role: head\n    type: xen\n    image: tiny\n', /^m\.yaml:4: roles\[0\]\.type: must be lxc or kvm \(got "xen"\)/],
    ['name: Lab\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n', /^m\.yaml:1: name: must be 1-20 lowercase/],
    ['name: lab\nroles:\n  - role: head\n    type: lxc\n    image: ../etc/passwd\n', /^m\.yaml:5: roles\[0\]\.image: must be a catalog image name/],
    ['name: lab\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n    memory: lots\n', /^m\.yaml:6: roles\[0\]\.memory: must be a size/],
    ['name: lab\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n    count: 0\n', /^m\.yaml:6: roles\[0\]\.count: must be a whole number from 1 to 64/],
    ['name: lab\nroles:\n  - role: c\n    type: lxc\n    image: tiny\n    count: 65\n', /roles\[0\]\.count: must be a whole number from 1 to 64/],
    ['name: lab\nlease: forever\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n', /^m\.yaml:2: lease: must be a duration/],
    ['name: lab\nnetwork: default\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n', /^m\.yaml:2: network: must be a private network name/],
    ['name: lab\nssh_keys:\n  - "ssh-rsa not-a-key; rm -rf /"\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n', /^m\.yaml:3: ssh_keys\[0\]/],
    ['name: lab\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n  - role: head\n    type: lxc\n    image: tiny\n', /^m\.yaml:6: roles\[1\]\.role: must be unique/],
    ['name: lab\nroles:\n  - role: head\n    type: lxc\n    image: tiny\n    cpus: 2\n', /^m\.yaml:6: roles\[0\]\.cpus: unknown field/],
    ['name: lab\nowner: root\nroles: []\n', /^m\.yaml:2: owner: unknown field/],
    ['name: lab\nroles: []\n', /roles: must be a non-empty list/],
    ['name: lab\nroles:\n  - role: head\n    type: lxc\n  image: tiny\n', /^m\.yaml(:\d+)?: /],
    ['name: lab\nname: other\nroles: []\n', /^m\.yaml:2: not valid YAML or JSON/],
    ['- just\n- a list\n', /^m\.yaml: manifest: must be a mapping/],
  ];
  for (const [text, expected] of cases) {
    t.throws(() => parseClusterManifest(text, 'm.yaml'), expected, text.replace(/\n/g, ' | '));
  }
  t.end();
});
