/** Which checks a doctor run holds, and the run itself (closing what the checks opened). */

import { type Check, type DoctorContext, type DoctorReport, runChecks } from './check.js';
import { clusterCheck } from './cluster-check.js';
import { diskCheck } from './disk-check.js';
import { manifestsCheck } from './manifests.js';
import { modelRegistryCheck } from './model-registry-check.js';
import { registryCheck } from './registry-check.js';
import { servingCheck } from './serving-check.js';
import { signCheck } from './sign-check.js';
import { sourceCheck } from './source-check.js';

export function selectChecks(options: DoctorContext['options']): Check[] {
  const checks: Check[] = [];
  if (options.source) checks.push(sourceCheck, diskCheck);
  else if (options.to?.startsWith('oci:') === false) checks.push(diskCheck);
  if (options.to && !options.to.startsWith('oci:')) checks.push(registryCheck);
  checks.push(clusterCheck);
  if (options.source) checks.push(servingCheck);
  if (options.modelRegistry) checks.push(modelRegistryCheck);
  if (options.signKey || options.signIdentityTokenFile) checks.push(signCheck);
  if (options.manifests && options.manifests.length > 0) checks.push(manifestsCheck);
  const only = options.only;
  return only ? checks.filter((c) => only.includes(c.id)) : checks;
}

export async function runDoctor(base: Omit<DoctorContext, 'signal'>): Promise<DoctorReport> {
  try {
    return await runChecks(selectChecks(base.options), base);
  } finally {
    await base.facts.kube?.close();
  }
}
