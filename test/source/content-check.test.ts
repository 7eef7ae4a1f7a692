import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { checkedStream, type VerifiedSink } from '../../src/source/content-check.js';
import { gitBlobSha1 } from '../support/hub-double.js';

const data = Buffer.from('hello, model bytes');
const sha = createHash('sha256').update(data).digest('hex');
const chunks = () => Readable.from([data.subarray(0, 5), data.subarray(5, 11), data.subarray(11)]);

function recordingSink(): VerifiedSink & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    write: async (c) => {
      log.push(`write ${c.length}`);
    },
    commit: async () => {
      log.push('commit');
    },
    abort: async () => {
      log.push('abort');
    },
  };
}

async function drain(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('checkedStream', () => {
  it('passes matching bytes and commits the sink before the end', async () => {
    const sink = recordingSink();
    const out = checkedStream(chunks(), {
      label: 'f',
      size: data.length,
      expected: { algorithm: 'sha256', hex: sha, size: data.length },
      sink,
    });
    assert.deepEqual(await drain(out), data);
    assert.deepEqual(sink.log, ['write 5', 'write 6', 'write 7', 'commit']);
  });
  it('checks git blob sha1s', async () => {
    const hex = gitBlobSha1(data);
    const out = checkedStream(chunks(), {
      label: 'f',
      size: data.length,
      expected: { algorithm: 'git-sha1', hex, size: data.length },
    });
    assert.deepEqual(await drain(out), data);
  });
  it('holds back the last chunk of a mismatch, errors, and aborts the sink', async () => {
    const sink = recordingSink();
    const wrong = '0'.repeat(64);
    const out = checkedStream(chunks(), {
      label: 'f',
      size: data.length,
      expected: { algorithm: 'sha256', hex: wrong, size: data.length },
      sink,
    });
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const c of out) got += (c as Buffer).length;
      })(),
      { message: `f: sha256 mismatch: expected ${wrong}, got ${sha}` },
    );
    assert.ok(got <= 11, 'the last chunk never reached the consumer');
    assert.ok(!sink.log.includes('commit'));
    assert.equal(sink.log.at(-1), 'abort');
  });
  it('errors when fewer or more bytes arrive than promised', async () => {
    await assert.rejects(
      drain(checkedStream(chunks(), { label: 'f', size: data.length + 1 })),
      /fewer bytes than the 19 promised \(got 18\)/,
    );
    await assert.rejects(drain(checkedStream(chunks(), { label: 'f', size: 10 })), /more bytes than the 10 promised/);
  });
});
