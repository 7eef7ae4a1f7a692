import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nameMismatchWarning, namesFromSource } from '../../src/source/names.js';

const SHA = '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d';
const hf = (repo: string, ref?: string) => ({
  uri: `hf://${repo}@${SHA}`,
  title: repo.split('/')[1] ?? repo,
  revision: SHA,
  ...(ref ? { ref } : {}),
});

describe('namesFromSource', () => {
  it('lower-cases and sanitises the repo name and tags a branch with its short commit', () => {
    assert.deepEqual(namesFromSource(hf('mistralai/Mistral-7B-Instruct-v0.3', 'main')), {
      repository: 'mistral-7b-instruct-v0.3',
      tag: 'main-1a2b3c4',
    });
  });
  it('turns refs/pr/N into a valid tag', () => {
    assert.equal(namesFromSource(hf('acme/x', 'refs/pr/12')).tag, 'refs-pr-12-1a2b3c4');
  });
  it('tags a commit revision with the 12-char commit alone', () => {
    assert.equal(namesFromSource(hf('acme/x', SHA)).tag, '1a2b3c4d5e6f');
    assert.equal(namesFromSource(hf('acme/x')).tag, '1a2b3c4d5e6f');
  });
  it('names a local directory by its name and leaves the tag to the caller', () => {
    assert.deepEqual(namesFromSource({ uri: 'file:///models/My_Model__v2', title: 'My_Model__v2' }), {
      repository: 'my_model-v2',
    });
  });
});

describe('nameMismatchWarning', () => {
  const src = hf('mistralai/Mistral-Small-24B-Instruct-2501', 'main');
  it('stays quiet when the given name shares a distinctive word with the source', () => {
    assert.equal(nameMismatchWarning('mistral-24b', src), undefined);
    assert.equal(nameMismatchWarning('quay.io/team/models/mistral-small:v1', src), undefined);
  });
  it('warns when the names share nothing but sizes and generic words', () => {
    const w = nameMismatchWarning('llama-24b-instruct', src);
    assert.match(
      w ?? '',
      /"llama-24b-instruct" shares no word with the source "mistralai\/Mistral-Small-24B-Instruct-2501"/,
    );
  });
  it('does not guess when the given name has no distinctive word', () => {
    assert.equal(nameMismatchWarning('model-7b', src), undefined);
  });
});
