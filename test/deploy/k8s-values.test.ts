/**
 * The value rules against Kubernetes' own test tables: the good and bad cases below are those of
 * k8s.io/apimachinery pkg/util/validation/validation_test.go (TestIsDNS1123Label, TestIsDNS1123Subdomain,
 * TestIsDNS1035Label, TestIsValidLabelValue, TestIsQualifiedName) and pkg/api/resource/quantity_test.go, so the module cannot drift into
 * rules of its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkK8sValue, type K8sValueKind, k8sValueProblem } from '../../src/deploy/k8s-values.js';
import { isModelcarError } from '../../src/errors.js';

const LABEL_GOOD = ['a', 'ab', 'abc', 'a1', 'a-1', 'a--1--2--b', '0', '01', '012', '1a', '1-a', '1--a--b--2'];
const COMMON_BAD = ['', 'A', 'ABC', 'aBc', 'A1', 'A-1', '1-A', '-', 'a-', '-a', '1-', '-1', '_', 'a_', '_a', 'a_b'];
const SPACES_BAD = ['1_', '_1', '1_2', ' ', 'a ', ' a', 'a b', '1 ', ' 1', '1 2'];

const TABLE: Record<K8sValueKind, { good: string[]; bad: string[] }> = {
  'dns1123-label': {
    good: [...LABEL_GOOD, 'a'.repeat(63)],
    bad: [...COMMON_BAD, ...SPACES_BAD, '.', 'a.', '.a', 'a.b', '1.', '.1', '1.2', 'a'.repeat(64), 'Prod', '../..'],
  },
  'dns1123-subdomain': {
    good: [
      ...LABEL_GOOD,
      'a.a',
      'ab.a',
      'a--1--2--b.a',
      '0.a',
      '1.2.3.4.5',
      'a.b.c.d.e',
      'aa.bb.cc.dd.ee',
      'a'.repeat(253),
    ],
    bad: [
      ...COMMON_BAD,
      ...SPACES_BAD,
      '.',
      'a.',
      '.a',
      'a..b',
      '1..2',
      'A.a',
      'ab.A',
      '0.A',
      'a.B.c.d.e',
      'a@b',
      'a,b',
      'a;b',
      'a:b',
      'a%b',
      'a?b',
      'a$b',
      'a'.repeat(254),
      'my secret',
    ],
  },
  'dns1035-label': {
    good: ['a', 'ab', 'abc', 'a1', 'a-1', 'a--1--2--b', 'a'.repeat(63)],
    bad: ['0', '01', '012', '1a', '1-a', '1--a--b--2', ...COMMON_BAD, ...SPACES_BAD, 'a.b', 'a'.repeat(64)],
  },
  'label-value': {
    good: ['simple', 'now-with-dashes', '1-starts-with-num', 'end-with-num-1', '1234', 'a'.repeat(63), '', 'A_b.c'],
    bad: [
      'nospecialchars%^=@',
      'Tama-nui-te-rā',
      '\u000bunprintable',
      'spaces in the middle',
      'a'.repeat(64),
      '-starts-with-dash',
      'ends-with-dash-',
      '.starts.with.dot',
      'ends.with.dot.',
      '../..',
    ],
  },
  'qualified-name': {
    good: [
      'simple',
      'now-with-dashes',
      '1-starts-with-num',
      '1234',
      'simple/simple',
      'now-with-dashes/simple',
      'now.with.dots/simple',
      '1-num.2-num/3-num',
      '1.2.3.4/5678',
      'Uppercase_Is_OK_123',
      'example.com/Uppercase_Is_OK_123',
      'requests.storage-foo',
      'nvidia.com/gpu.present',
      'a'.repeat(63),
      `${'a'.repeat(253)}/${'b'.repeat(63)}`,
    ],
    bad: [
      'nospecialchars%^=@',
      'cantendwithadash-',
      '-cantstartwithadash-',
      'only/one/slash',
      'Example.com/abc',
      'example_com/abc',
      'example.com/',
      '/simple',
      'a'.repeat(64),
      `${'a'.repeat(254)}/abc`,
    ],
  },
  quantity: {
    good: [
      '1',
      '1m',
      '100m',
      '500m',
      '4',
      '1Ki',
      '1Mi',
      '1.5Gi',
      '100Gi',
      '1e3',
      '1E-3',
      '.5',
      '5.',
      '+1',
      '2Ei',
      '3n',
    ],
    bad: ['0', '0.0', '0Gi', '-1', 'lots', '1.1.M', '1+1.0M', '0.1mi', '0.1am', 'aoeu', '.5i', '1i', '1 Gi', '1GB', ''],
  },
};

describe('Kubernetes value rules', () => {
  for (const [kind, { good, bad }] of Object.entries(TABLE) as [K8sValueKind, { good: string[]; bad: string[] }][]) {
    it(`${kind}: accepts what Kubernetes accepts`, () => {
      for (const v of good) assert.equal(k8sValueProblem(kind, v), undefined, `${JSON.stringify(v)} is valid`);
    });
    it(`${kind}: refuses what Kubernetes refuses`, () => {
      for (const v of bad) assert.notEqual(k8sValueProblem(kind, v), undefined, `${JSON.stringify(v)} is invalid`);
    });
  }

  it('a refusal is a usage error naming the flag and the rule, with a value that passes', () => {
    try {
      checkK8sValue('dns1123-label', 'Prod', '--namespace');
      assert.fail('expected a refusal');
    } catch (e) {
      assert.ok(isModelcarError(e));
      assert.equal(e.kind, 'usage');
      assert.match(e.message, /^--namespace "Prod" is not a valid Kubernetes RFC 1123 label: .*lower case/);
      assert.equal(e.hint, 'use --namespace prod');
    }
  });

  it('a tighter length limit is named as such', () => {
    assert.throws(
      () => checkK8sValue('dns1035-label', 'a'.repeat(50), '--name', 45),
      /no more than 45 characters \(generated names add suffixes/,
    );
  });
});
