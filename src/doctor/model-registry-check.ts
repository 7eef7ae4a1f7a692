import { messageOf } from '../errors.js';
import { ModelRegistryClient } from '../registry-model/client.js';
import { tokenSource } from '../registry-model/token.js';
import type { Check } from './check.js';

/** The Kubeflow Model Registry: reachable, and our token accepted, proven by a read that finds nothing. */
export const modelRegistryCheck: Check = {
  id: 'model-registry',
  title: 'Model Registry',
  async run(ctx) {
    const url = ctx.options.modelRegistry;
    if (!url) return { id: 'model-registry', title: this.title, status: 'skip', summary: 'no --model-registry URL' };
    const token = tokenSource({
      env: ctx.env,
      ...(ctx.options.modelRegistryTokenFile ? { tokenFile: ctx.options.modelRegistryTokenFile } : {}),
    });
    const client = new ModelRegistryClient({
      url,
      token,
      timeoutMs: 15_000,
      env: ctx.env,
      ...(ctx.options.registry?.caFile ? { caFile: ctx.options.registry.caFile } : {}),
    });
    try {
      await client.findRegisteredModel('modelcar-doctor-probe');
      return {
        id: 'model-registry',
        title: this.title,
        status: 'ok',
        summary: `${client.displayUrl} answered; ${token.kind === 'none' ? 'no token needed' : `token from ${token.describe} accepted`}; ${client.route}`,
      };
    } catch (e) {
      const text = messageOf(e);
      const auth = /\b40[13]\b|unauthori[sz]ed|forbidden/i.test(text);
      return {
        id: 'model-registry',
        title: this.title,
        status: 'fail',
        summary: text,
        ...(auth
          ? {
              symptom: 'HTTP 401 Unauthorized / 403 Forbidden from the Model Registry REST route',
              cause: `The token from ${token.describe} is missing, expired, or its user lacks the registry-user-<name> role.`,
            }
          : { cause: 'The URL is wrong or the route is not reachable from here.' }),
        fix:
          (e as { hint?: string }).hint ?? 'check --model-registry and the token (--token-file, MODEL_REGISTRY_TOKEN)',
      };
    } finally {
      await client.close();
    }
  },
};
