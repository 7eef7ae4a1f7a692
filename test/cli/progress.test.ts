/**
 * Progress as a CI log sees it: stderr is a pipe, the upload goes through a rate-capped proxy to the real registry
 * (distribution), and the registry refuses the first PATCH with a 503. Lines must arrive while the bytes move (their
 * arrival times are recorded), the retry must be named, and --json must keep stdout a single JSON object. copy,
 * verify and inspect use the same renderer.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, modelcar, modelcarOk } from '../support/cli.js';
import { type FaultProxy, isUploadPatch, startFaultProxy } from '../support/fault-proxy.js';
import { MiB, removeTemp, tempDir, writeFiles } from '../support/fixtures.js';
import { pseudoRandomBytes } from '../support/hub-double.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const LAYER = 16 * MiB;
const RATE = 4 * MiB;

/** The first line matching `pattern`, with its arrival time. */
function lineAt(r: CliResult, pattern: RegExp): { at: number; line: string } {
  const found = r.stderrLines.find((l) => pattern.test(l.line));
  assert.ok(found, `no stderr line matches ${pattern}:\n${r.stderr}`);
  return found;
}

describe('progress in a pipe (CI logs)', () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let model: string;
  let built: CliResult;

  before(async () => {
    work = await tempDir();
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.port);
    model = (
      await writeFiles(join(work, 'model'), {
        'config.json': '{"model_type":"test"}\n',
        'model.safetensors': pseudoRandomBytes('progress', LAYER),
      })
    ).dir;
    // The first PATCH is refused (503); the retry is throttled to RATE, so the upload takes about 4 s.
    proxy.inject(isUploadPatch, { kind: 'respond', status: 503 }, 1);
    proxy.inject(isUploadPatch, { kind: 'throttle', bytesPerSecond: RATE }, 1);
    built = await modelcar(
      ['build', model, '--base', 'scratch', '--image-volume', '--to', `${proxy.host}/progress/m:v1`, '--json'],
      { env: { MODELCAR_CACHE_HOME: join(work, 'cache') } },
    );
    assert.equal(built.code, 0, built.stderr);
  });
  after(async () => {
    await proxy?.close();
    await registry?.stop();
    await removeTemp(work);
  });

  it('keeps stdout one JSON object with --json', () => {
    const parsed = JSON.parse(built.stdout) as { digest: string };
    assert.match(parsed.digest, /^sha256:[a-f0-9]{64}$/);
  });

  it('names the retry: what, why, which attempt and how long it waits', () => {
    const retry = lineAt(built, /^modelcar: .*; retry 1 in [\d.]+ m?s$/);
    assert.match(retry.line, /progress\/m: upload of layer 1 \(2 files\): .*HTTP 503/);
  });

  it('prints a line at 25, 50 and 75% while the layer moves, with bytes, rate and ETA', () => {
    const quarters = [25, 50, 75].map((q) =>
      lineAt(built, new RegExp(`^layer 1/1 \\(2 files\\): [\\d.]+ MiB / 16\\.0 MiB \\((${q}|${q + 1}|${q + 2})%\\)`)),
    );
    const done = lineAt(built, /^layer 1\/1 \(2 files\) sha256:[a-f0-9]{12} uploaded$/);
    assert.match(quarters[2]?.line as string, /MiB\/s, ETA \d+s$/, 'rate and ETA once a second has passed');
    // At 4 MiB/s the quarters are about a second apart and the last one comes well before the end of the upload.
    const first = quarters[0]?.at as number;
    const last = quarters[2]?.at as number;
    assert.ok(last - first >= 1000, `quarter lines spread over the upload (${first} ms .. ${last} ms)`);
    assert.ok(done.at - first >= 1500, `the first line came ${done.at - first} ms before the layer was done`);
    assert.ok(
      built.stderrLines.indexOf(quarters[0] as never) < built.stderrLines.indexOf(done as never),
      'progress before completion',
    );
  });

  it('copy, verify and inspect use the same renderer', async () => {
    const layout = join(work, 'copied');
    proxy.clearFaults();
    const copied = await modelcarOk(['copy', `${proxy.host}/progress/m:v1`, `oci:${layout}:v1`]);
    assert.match(copied.stderr, /^layer sha256:[a-f0-9]{12} \(16\.0 MiB\) copied$/m);
    assert.match(copied.stderr, /^config sha256:[a-f0-9]{12} \(\d+ B\) copied$/m);

    const verified = await modelcarOk(['verify', `oci:${layout}:v1`, '--progress', 'plain']);
    assert.match(verified.stderr, /^layer 1 sha256:[a-f0-9]{12}: [\d.]+ MiB \/ 16\.0 MiB \(\d+%\)/m);
    assert.match(verified.stderr, /^layer 1 sha256:[a-f0-9]{12} ok$/m);

    const quiet = await modelcarOk(['verify', `oci:${layout}:v1`, '-q']);
    assert.equal(quiet.stderr, '', 'nothing on stderr with -q');

    const none = await modelcarOk(['copy', `oci:${layout}:v1`, `${proxy.host}/progress/copy:v1`, '--progress=none']);
    assert.doesNotMatch(none.stderr, /sha256:[a-f0-9]{12} .*copied$/m);

    const bad = await modelcar(['copy', `oci:${layout}:v1`, `oci:${layout}:v2`, '--progress', 'fancy']);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--progress <mode>' argument 'fancy' is invalid\. Allowed choices are auto, tty, plain, none/,
    );
  });
});
