/**
 * Proxy selection as curl, Go and huggingface_hub users expect: which variable applies to which scheme, NO_PROXY
 * names, suffixes, `*`, CIDRs and ports, loopback always direct unless asked, credentials never in a printable label.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelcarError } from '../../src/errors.js';
import { bypassesProxy, parseNoProxy, proxySettings, routeFor } from '../../src/http/proxy.js';
import { redact } from '../../src/http/redact.js';

const route = (url: string, env: NodeJS.ProcessEnv) => routeFor(new URL(url), proxySettings(env));
const bypass = (url: string, noProxy: string) => bypassesProxy(new URL(url), parseNoProxy(noProxy));

describe('proxy selection', () => {
  it('uses HTTPS_PROXY for https and HTTP_PROXY for http, lower case first, scheme-less as http://', () => {
    const env = { HTTPS_PROXY: 'http://upper:3128', https_proxy: 'lower:8080', HTTP_PROXY: 'http://plain:3128' };
    const s = route('https://quay.io/v2/', env);
    assert.equal(s.kind, 'proxy');
    assert.equal(s.kind === 'proxy' && s.proxyOrigin, 'http://lower:8080');
    assert.equal(s.kind === 'proxy' && s.variable, 'https_proxy');
    const h = route('http://registry.corp:5000/v2/', env);
    assert.equal(h.kind === 'proxy' && h.proxyOrigin, 'http://plain:3128');
    assert.equal(route('https://quay.io/', { HTTP_PROXY: 'http://plain:3128' }).kind, 'direct');
  });

  it('never prints the proxy credentials, and registers them as secrets', () => {
    const r = route('https://quay.io/', { HTTPS_PROXY: 'http://alice:pa%24%24word-9@proxy.corp:3128' });
    assert.equal(r.label, 'via proxy http://proxy.corp:3128 (HTTPS_PROXY)');
    assert.doesNotMatch(JSON.stringify(r.label), /alice|word-9/);
    assert.equal(redact('login pa$$word-9 failed'), 'login <redacted> failed');
  });

  it('keeps loopback direct unless MODELCAR_PROXY_LOOPBACK=1', () => {
    const env = { HTTPS_PROXY: 'http://p:3128', HTTP_PROXY: 'http://p:3128' };
    for (const url of [
      'http://localhost:5000/',
      'http://127.0.0.1:5000/',
      'https://127.3.4.5/',
      'http://[::1]:80/',
      'http://a.localhost/',
    ]) {
      assert.equal(route(url, env).kind, 'direct', url);
    }
    assert.equal(route('http://127.0.0.1:5000/', { ...env, MODELCAR_PROXY_LOOPBACK: '1' }).kind, 'proxy');
  });

  it('reads NO_PROXY names as curl does: the name and its subdomains, a leading dot ignored', () => {
    assert.ok(bypass('https://corp.example/', 'corp.example'));
    assert.ok(bypass('https://a.b.corp.example/', 'corp.example'));
    assert.ok(bypass('https://a.corp.example/', '.corp.example'));
    assert.ok(bypass('https://corp.example/', '.corp.example'));
    assert.ok(!bypass('https://notcorp.example/', 'corp.example'));
    assert.ok(bypass('https://QUAY.IO/', 'quay.io'));
    assert.ok(bypass('https://quay.io./', 'quay.io'));
    assert.ok(bypass('https://x.svc.cluster.local/', 'foo, .svc.cluster.local  bar'), 'comma and space separated');
    assert.ok(bypass('https://anything/', '*'));
    assert.ok(bypass('https://anything/', 'foo,*'));
  });

  it('matches addresses against IPs and CIDR blocks, never against names', () => {
    assert.ok(bypass('https://10.1.2.3/', '10.0.0.0/8'));
    assert.ok(!bypass('https://11.1.2.3/', '10.0.0.0/8'));
    assert.ok(bypass('https://192.168.7.9:5000/', '192.168.0.0/16'));
    assert.ok(bypass('https://172.30.0.1/', '172.30.0.1'));
    assert.ok(!bypass('https://172.30.0.2/', '172.30.0.1'));
    assert.ok(bypass('https://[fd00::1]/', 'fd00::/8'));
    assert.ok(!bypass('https://[fe80::1]/', 'fd00::/8'));
    assert.ok(!bypass('https://10.0.0.1/', 'example.com'));
    assert.ok(!bypass('https://10.0.0.1/', '10.0.0.0/99'), 'an unreadable CIDR is ignored');
  });

  it('honours a port in a NO_PROXY entry (as Go and Python do): only that port goes direct', () => {
    assert.ok(bypass('https://registry.corp:5000/', 'registry.corp:5000'));
    assert.ok(!bypass('https://registry.corp/', 'registry.corp:5000'));
    assert.ok(bypass('https://registry.corp/', 'registry.corp:443'), 'the scheme default port counts');
    assert.ok(bypass('https://10.0.0.1:5000/', '10.0.0.1:5000'));
  });

  it('labels a direct route by why it is direct', () => {
    const env = { HTTPS_PROXY: 'http://p:3128', NO_PROXY: 'quay.io' };
    assert.equal(route('https://quay.io/', env).label, 'direct (NO_PROXY)');
    assert.equal(route('https://quay.io/', {}).label, 'direct');
  });

  it('refuses a proxy URL it cannot use, naming the variable', () => {
    assert.throws(
      () => proxySettings({ HTTPS_PROXY: 'socks5://p:1080' }),
      (e: unknown) => e instanceof ModelcarError && /HTTPS_PROXY: socks5 proxies are not supported/.test(e.message),
    );
  });
});
