/** The shape of `modelcar doctor --json`, and a lookup that fails the test with the whole report when a check is absent. */
import assert from 'node:assert/strict';

export interface DoctorResult {
  id: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  summary: string;
  symptom?: string;
  cause?: string;
  fix?: string;
  details?: Record<string, unknown>;
}

export interface DoctorJson {
  ok: boolean;
  checks: DoctorResult[];
}

export function result(report: DoctorJson, id: string): DoctorResult {
  const found = report.checks.find((c) => c.id === id);
  assert.ok(found, `no check ${id} in:\n${JSON.stringify(report.checks, null, 2)}`);
  return found;
}
