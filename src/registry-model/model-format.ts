/** The `modelFormatName`/`modelFormatVersion` a ModelArtifact records; free text in the API. */
export interface ModelFormat {
  name: string;
  version?: string;
}

/**
 * Guess the model format from the file names an image carries. Weights formats win over framework formats because a
 * Hugging Face repo often ships both (safetensors plus a legacy pytorch_model.bin). Versions are only given where the
 * format has a single, stable container version; GGUF's lives in the file header, which a name cannot tell.
 */
export function modelFormatFromFiles(paths: readonly string[]): ModelFormat | undefined {
  const names = paths.map((p) => p.toLowerCase());
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  const has = (test: (p: string) => boolean) => names.some(test);
  if (has((p) => p.endsWith('.safetensors'))) return { name: 'safetensors', version: '1' };
  if (has((p) => p.endsWith('.gguf'))) return { name: 'gguf' };
  if (has((p) => p.endsWith('.onnx'))) return { name: 'onnx', version: '1' };
  if (has((p) => p.endsWith('.xml')) && has((p) => p.endsWith('.bin')) && has((p) => /(^|\/)\d+\//.test(p))) {
    return { name: 'openvino_ir' };
  }
  if (has((p) => base(p) === 'saved_model.pb')) return { name: 'tensorflow' };
  if (has((p) => p.endsWith('.tflite'))) return { name: 'tflite' };
  if (
    has((p) => p.endsWith('.pt') || p.endsWith('.pth') || p.endsWith('.mar') || /^pytorch_model.*\.bin$/.test(base(p)))
  ) {
    return { name: 'pytorch' };
  }
  if (has((p) => p.endsWith('.bst'))) return { name: 'xgboost' };
  return undefined;
}
