/** The one redaction function: registered secrets in every form, and what looks like a secret without registration. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addCredentialPair, addSecret, addUrlSecrets, redact, safeUrl } from '../../src/http/redact.js';

describe('redact', () => {
  it('removes a registered secret, raw, URL-encoded and inside a Basic value', () => {
    addCredentialPair('bob', 'unique s3cret/+');
    const basic = Buffer.from('bob:unique s3cret/+').toString('base64');
    const text = `pw=unique s3cret/+ enc=${encodeURIComponent('unique s3cret/+')} hdr=${basic}`;
    assert.doesNotMatch(redact(text), /unique|s3cret/);
    assert.doesNotMatch(redact(text), new RegExp(basic.replace(/[+/=]/g, '.')));
  });

  it('strips userinfo of any URL and registers it', () => {
    addUrlSecrets('http://hfuser:hf-mirror-pass-77@mirror.corp/');
    assert.equal(redact('GET http://x:y@host/a'), 'GET http://<redacted>@host/a');
    assert.equal(redact('the password hf-mirror-pass-77 leaked'), 'the password <redacted> leaked');
  });

  it('catches Authorization values, JWTs, Hub tokens and token parameters it was never told about', () => {
    assert.equal(redact('Authorization: Bearer abc.def'), 'Authorization: Bearer <redacted>');
    assert.match(redact('tok eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl end'), /<redacted-jwt>/);
    assert.equal(redact('hf_abcdefghijklmnopqrstuvwxyz'), 'hf_<redacted>');
    assert.equal(redact('https://cdn/x?sig=abc&name=y'), 'https://cdn/x?sig=<redacted>&name=y');
  });

  it('leaves short values alone (a 3-character password would garble every message)', () => {
    addSecret('abc');
    assert.equal(redact('abcdef'), 'abcdef');
  });

  it('prints a URL as scheme, host and path only', () => {
    assert.equal(
      safeUrl('https://u:p@cdn-lfs.hf.co/repos/aa/bb/cc?X-Amz-Signature=secret#f'),
      'https://cdn-lfs.hf.co/repos/aa/bb/cc',
    );
  });
});
