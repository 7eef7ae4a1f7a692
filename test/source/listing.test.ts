/** The pure checks of paths and ids from listings and manifests, and the terminal escaping of names. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { printable } from '../../src/printable.js';
import { hubTreeEntry, relativePathProblem, treeProblems } from '../../src/source/listing.js';

describe('paths and ids from a listing', () => {
  it('accepts the paths a repository can hold', () => {
    for (const p of [
      'config.json',
      'a/b/c.safetensors',
      'données/modèle-ü-日本.json',
      '.gitattributes',
      'a\\b',
      'x..y',
    ]) {
      assert.equal(relativePathProblem(p), undefined, p);
    }
  });

  it('refuses paths that climb out, are absolute, empty, hide characters or are not text', () => {
    for (const p of ['', '/etc/passwd', '..', '../x', 'a/../b', 'a/./b', 'a//b', 'a/', 'a\0b', 'a\nb', 'a\x1b[2Jb']) {
      assert.notEqual(relativePathProblem(p), undefined, JSON.stringify(p));
    }
    for (const p of ['a\u202eb', 'a\u0085b', 'a\ud800b', 'x'.repeat(4097), 42, null]) {
      assert.notEqual(relativePathProblem(p), undefined, JSON.stringify(p));
    }
  });

  it('checks each field of a tree entry', () => {
    const good = {
      type: 'file',
      path: 'm.safetensors',
      size: 10,
      oid: 'A'.repeat(40),
      lfs: { oid: 'b'.repeat(64), size: 10 },
    };
    assert.deepEqual(hubTreeEntry(good), {
      type: 'file',
      path: 'm.safetensors',
      size: 10,
      oid: 'a'.repeat(40),
      sha256: 'b'.repeat(64),
    });
    assert.deepEqual(hubTreeEntry({ type: 'directory', path: 'd' }), { type: 'directory', path: 'd' });
    assert.equal(hubTreeEntry({ type: 'submodule', path: 's' }), undefined);
    const bad: Record<string, unknown>[] = [
      { ...good, size: -1 },
      { ...good, size: 0.5 },
      { ...good, size: 2 ** 60 },
      { ...good, size: '10' },
      { ...good, oid: 'a'.repeat(39) },
      { ...good, lfs: { oid: `${'b'.repeat(63)}/`, size: 10 } },
      { ...good, lfs: { oid: 'b'.repeat(64), size: 11 } },
      { ...good, path: '../m' },
      { path: 'x' },
    ];
    for (const e of bad) assert.equal(typeof hubTreeEntry(e), 'string', JSON.stringify(e));
    assert.equal(typeof hubTreeEntry([1]), 'string');
    assert.equal(typeof hubTreeEntry(null), 'string');
  });
});

describe('the set of paths as a tree', () => {
  it('finds a file that is also a directory, duplicates, and a directory entry that is a file', () => {
    assert.deepEqual(treeProblems(['a', 'b/c']), { errors: [], warnings: [] });
    assert.match(treeProblems(['X', 'X/y']).errors[0] ?? '', /"X" is a file and also the directory of "X\/y"/);
    assert.match(treeProblems(['X', 'X/y/z']).errors[0] ?? '', /"X" is a file and also the directory of "X\/y\/z"/);
    assert.match(treeProblems(['a', 'a']).errors[0] ?? '', /"a" is listed twice/);
    assert.match(treeProblems(['a'], ['a']).errors[0] ?? '', /"a" is listed both as a file and as a directory/);
  });

  it('warns about names that are one file on macOS and Windows', () => {
    assert.equal(treeProblems(['Config.json', 'config.json']).warnings.length, 1);
    assert.equal(treeProblems(['caf\u00e9', 'cafe\u0301']).warnings.length, 1, 'NFC and NFD spellings');
    assert.deepEqual(treeProblems(['config.json', 'config2.json']).warnings, []);
  });
});

describe('printable', () => {
  it('escapes every control character and bidirectional override, and leaves other text alone', () => {
    assert.equal(printable('a\nb\tc\r'), 'a\\nb\\tc\\r');
    assert.equal(printable('\x1b[31mred'), '\\x1b[31mred');
    assert.equal(printable('\u009b2J \u202eevil'), '\\x9b2J \\u202eevil');
    assert.equal(printable('données/日本 ok'), 'données/日本 ok');
  });
});
