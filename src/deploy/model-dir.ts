/** Reads what `modelFacts` needs from a model directory or a lone config.json. The only I/O of the facts path. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelcarError, messageOf } from '../errors.js';
import { type ModelFacts, type ModelFile, modelFacts } from './model-facts.js';

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelcarError('source', `cannot read ${file}: ${messageOf(e)}`, 'check the path and its permissions', {
      cause: e,
    });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ModelcarError('source', `${file} is not a JSON object: ${messageOf(e)}`, 'pass the model config.json', {
      cause: e,
    });
  }
}

async function listFiles(root: string, dir = ''): Promise<ModelFile[]> {
  const out: ModelFile[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue; // .git, .cache/huggingface: not part of the model
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(root, rel)));
    else if (entry.isFile()) out.push({ path: rel, size: (await stat(join(root, rel))).size });
  }
  return out;
}

export async function readModelDir(dir: string): Promise<ModelFacts> {
  let files: ModelFile[];
  try {
    files = await listFiles(dir);
  } catch (e) {
    throw new ModelcarError(
      'source',
      `cannot list model directory ${dir}: ${messageOf(e)}`,
      'pass an existing model directory',
      {
        cause: e,
      },
    );
  }
  const config = await readJson(join(dir, 'config.json'));
  const params = await readJson(join(dir, 'params.json'));
  return modelFacts({ files, ...(config ? { config } : {}), ...(params ? { params } : {}) });
}

export async function readModelConfig(file: string): Promise<ModelFacts> {
  const config = await readJson(file);
  if (!config) throw new ModelcarError('source', `no such file: ${file}`, 'pass the path of the model config.json');
  return modelFacts({ config });
}
