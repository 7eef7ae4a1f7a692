/**
 * The tar writer (src/image/tar.ts), read back by GNU tar and by an independent reader in test/support.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeHeader, entrySize, headerSize, padding, type TarHeader, TRAILER_SIZE } from '../../src/image/tar.js';
import { run } from '../support/cli.js';
import { removeTemp, sha256Hex, tempDir } from '../support/fixtures.js';
import { checksumOk, decodeSize, readTar } from '../support/tar-reader.js';
import { requireTool } from '../support/tools.js';

const GiB = 1024 ** 3;
const file = (path: string, size: number, mtime = 0): TarHeader => ({ path, type: 'file', size, mode: 0o644, mtime });

function archive(entries: readonly { header: TarHeader; content?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { header, content } of entries) {
    parts.push(encodeHeader(header));
    if (content) parts.push(content, Buffer.alloc(padding(content.length)));
  }
  parts.push(Buffer.alloc(TRAILER_SIZE));
  return Buffer.concat(parts);
}

const LONG = `models/${'a'.repeat(80)}/${'b'.repeat(120)}.safetensors`;
const UTF8 = 'models/données/modèle-日本.json';

describe('tar headers', () => {
  it('writes a short ASCII name in one ustar block with a valid checksum', () => {
    const h = encodeHeader(file('models/config.json', 42, 1_700_000_000));
    assert.equal(h.length, 512);
    assert.equal(headerSize(file('models/config.json', 42)), 512);
    assert.ok(checksumOk(h));
    assert.equal(h.subarray(257, 263).toString('latin1'), 'ustar\0');
    const [entry] = readTar(Buffer.concat([h, Buffer.alloc(512), Buffer.alloc(TRAILER_SIZE)]));
    assert.equal(entry?.name, 'models/config.json');
    assert.equal(entry?.size, 42);
    assert.equal(entry?.mtime, 1_700_000_000);
    assert.equal(entry?.uid, 0);
    assert.equal(entry?.gid, 0);
  });

  it('adds a PAX path record for long and UTF-8 names, with an ASCII ustar fallback', () => {
    for (const name of [LONG, UTF8]) {
      const h = encodeHeader(file(name, 7));
      assert.equal(h.length, headerSize(file(name, 7)));
      assert.ok(h.length > 512);
      assert.equal(String.fromCharCode(h[156] as number), 'x', 'first header is a PAX extended header');
      assert.ok(checksumOk(h.subarray(0, 512)), 'PAX header checksum');
      assert.ok(checksumOk(h.subarray(h.length - 512)), 'ustar header checksum');
      const fallback = h.subarray(h.length - 512, h.length - 412).toString('latin1');
      assert.match(fallback, /^[\x20-\x7e]*\0*$/);
      const [entry] = readTar(Buffer.concat([h, Buffer.alloc(512), Buffer.alloc(TRAILER_SIZE)]));
      assert.equal(entry?.name, name);
      assert.equal(entry?.pax.path, name);
    }
  });

  it('writes PAX record lengths right where the length gains a digit', () => {
    // Record " path=<name>\n" plus its own length digits: around 99/100 and 999/1000 bytes.
    for (const n of [85, 86, 87, 88, 89, 90, 985, 986, 987, 988, 989, 990]) {
      const name = `m/${'x'.repeat(n)}`;
      const [entry] = readTar(Buffer.concat([encodeHeader(file(name, 0)), Buffer.alloc(TRAILER_SIZE)]));
      assert.equal(entry?.name, name, `name of ${n + 2} bytes`);
    }
  });

  it('uses GNU base-256 for sizes of 8 GiB and more, octal below', () => {
    const below = encodeHeader(file('models/a', 8 * GiB - 1));
    assert.equal(below.subarray(124, 136).toString('latin1'), '77777777777\0');
    for (const size of [8 * GiB, 9 * GiB, 700 * GiB + 12345]) {
      const h = encodeHeader(file('models/big.safetensors', size));
      assert.equal(h[124], 0x80, 'base-256 marker');
      assert.equal(decodeSize(h.subarray(124, 136)), size);
      assert.ok(checksumOk(h));
      assert.equal(entrySize(file('models/big.safetensors', size)), 512 + size + padding(size));
    }
  });
});

describe('tar archives read by GNU tar', () => {
  let work: string;
  before(async () => {
    work = await tempDir();
  });
  after(() => removeTemp(work));

  it('lists a 9 GiB entry with its size from the base-256 field', async () => {
    const path = join(work, 'big-header.tar');
    // The header alone: GNU tar lists the entry before it finds the content missing.
    await writeFile(path, encodeHeader(file('models/big.safetensors', 9 * GiB)));
    const r = await run([requireTool('tar'), '--numeric-owner', '-tvf', path]);
    assert.match(r.stdout, /^-rw-r--r-- 0\/0\s+9663676416 1970-01-01 00:00 models\/big\.safetensors$/m);
  });

  it('extracts a small archive with directories, files, long and UTF-8 names and a symlink byte for byte', async () => {
    const content = (s: string, n: number) => Buffer.from(s.repeat(Math.ceil(n / s.length)).slice(0, n));
    const files = new Map<string, Buffer>([
      ['models/config.json', content('{"a":1}', 7)],
      ['models/sub/empty.txt', Buffer.alloc(0)],
      ['models/sub/block.bin', content('z', 512)],
      ['models/sub/odd.bin', content('q', 513)],
      [LONG, content('long', 1000)],
      [UTF8, content('é', 30)],
    ]);
    const dirs = ['models', 'models/sub', LONG.slice(0, LONG.lastIndexOf('/')), 'models/données'];
    const tar = archive([
      ...dirs.map((d) => ({ header: { path: d, type: 'dir', size: 0, mode: 0o755, mtime: 0 } as TarHeader })),
      ...[...files].map(([path, c]) => ({ header: file(path, c.length), content: c })),
      { header: { path: 'models/link', type: 'symlink', size: 0, mode: 0o777, mtime: 0, linkname: 'config.json' } },
    ]);
    const tarPath = join(work, 'small.tar');
    await writeFile(tarPath, tar);
    const out = join(work, 'x');
    await mkdir(out);
    const tarBin = requireTool('tar');
    const list = await run([tarBin, '--numeric-owner', '-tvf', tarPath]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stderr, '', 'GNU tar has no complaint');
    for (const line of list.stdout.trim().split('\n')) assert.match(line, /^[-dl]rw.* 0\/0 /);
    const x = await run([tarBin, '-xf', tarPath, '-C', out]);
    assert.equal(x.code, 0, x.stderr);
    assert.equal(x.stderr, '');
    for (const [path, c] of files) {
      assert.equal(sha256Hex(await readFile(join(out, path))), sha256Hex(c), path);
    }
    assert.equal(await readlink(join(out, 'models/link')), 'config.json');
    assert.deepEqual(
      readTar(tar).map((e) => e.name),
      [...dirs.map((d) => `${d}/`), ...files.keys(), 'models/link'],
    );
  });
});
