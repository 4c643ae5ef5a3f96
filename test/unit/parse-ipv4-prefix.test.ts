// One reading of A.B.C.D/LEN for every place that takes one; each caller's own rule on top of it.
import t from 'tap';
import { findHostPart, parseIpv4Prefix } from '../../src/core/parse-ipv4-prefix.js';
import { parseCidr } from '../../src/config/network-config.js';
import { validateClusterSubnet } from '../../src/clusters/validate-cluster-subnet.js';
import { validateNicAddresses } from '../../src/core/validate-ve-spec.js';
import { buildNetworkConfig } from '../../src/core/build-cloud-init-seed.js';

void t.test('the one reading', (t) => {
  t.same(parseIpv4Prefix('10.99.0.10/24'), { address: 0x0a63000a, length: 24 });
  t.same(parseIpv4Prefix('0.0.0.0/0'), { address: 0, length: 0 });
  t.same(parseIpv4Prefix('255.255.255.255/32'), { address: 0xffffffff, length: 32 });
  for (const bad of ['10.99.0.10', '10.99.0.256/24', '10.99.0.1/33', '010.99.0.1/24', '10.99.0.1/08', '10.99.0.1/24 ', ' 10.99.0.1/24', '10.99.0/24', '10.99.0.1.2/24', '10.99.0.1/', 'a.b.c.d/24', '10.99.0.1/24\n', '１0.99.0.1/24']) {
    t.equal(parseIpv4Prefix(bad), undefined, JSON.stringify(bad));
  }
  t.equal(parseIpv4Prefix(42), undefined);
  t.equal(findHostPart({ address: 0x0a63000a, length: 24 }), 10);
  t.equal(findHostPart({ address: 0x0a630000, length: 16 }), 0);
  t.end();
});

void t.test('each caller keeps its rule, and all refuse leading zeros alike', (t) => {
  t.same(parseCidr('10.99.0.0/24'), { base: 0x0a630000, length: 24 });
  t.equal(parseCidr('10.99.0.1/24'), undefined, 'a subnet is a network address');
  t.equal(parseCidr('10.099.0.0/24'), undefined);
  t.equal(validateClusterSubnet('10.99.0.0/24'), '10.99.0.0/24');
  t.throws(() => validateClusterSubnet('10.99.0.0/30'), { code: 'invalid-field', field: 'subnet' });
  t.throws(() => validateClusterSubnet('10.99.0.1/24'), { code: 'invalid-field', message: /network address/ });
  t.throws(() => validateClusterSubnet('10.099.0.0/24'), { code: 'invalid-field', field: 'subnet' });
  t.same(validateNicAddresses(['', '10.99.0.10/24'], ['default', 'lab']), ['', '10.99.0.10/24']);
  t.throws(() => validateNicAddresses(['10.99.0.0/24'], ['lab']), { message: /network or broadcast/ });
  t.throws(() => validateNicAddresses(['10.99.0.255/24'], ['lab']), { message: /network or broadcast/ });
  t.throws(() => validateNicAddresses(['10.99.0.010/24'], ['lab']), { code: 'invalid-field', field: 'network' });
  t.throws(() => validateNicAddresses(['10.99.0.10/31'], ['lab']), { code: 'invalid-field', field: 'network' });
  t.match(buildNetworkConfig([{ mac: '52:54:00:00:00:01', address: '10.99.0.10/24' }]) ?? '', /"addresses":\["10.99.0.10\/24"\]/);
  t.throws(() => buildNetworkConfig([{ mac: '52:54:00:00:00:01', address: '10.99.0.010/24' }]), { code: 'invalid-seed' });
  t.throws(() => buildNetworkConfig([{ mac: '52:54:00:00:00:01', address: '10.99.0.10/7' }]), { code: 'invalid-seed' });
  t.end();
});
