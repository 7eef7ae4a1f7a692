/**
 * The ModelCar base-image trap: KServe's sidecar runs `sh -c 'ln -sf /proc/$$/root/models /mnt/models && sleep
 * infinity'` inside the model image, so a final stage with no shell (scratch, distroless) cannot serve as a modelcar.
 */

const SHELLLESS =
  /^(scratch|(?:[^/\s]+\/)*distroless[^\s]*|gcr\.io\/distroless\/\S+|cgr\.dev\/chainguard\/static\S*)$/i;

export interface ShelllessModelcar {
  base: string;
  /** 1-based line of the final FROM. */
  line: number;
}

/** The final stage's FROM when it has no shell and copies files into /models; undefined otherwise. */
export function shelllessModelcarStage(text: string): ShelllessModelcar | undefined {
  const lines = text.split('\n');
  let from: ShelllessModelcar | undefined;
  let copiesModels = false;
  lines.forEach((raw, i) => {
    const l = raw.trim();
    const f = /^FROM\s+(?:--\S+\s+)*(\S+)/i.exec(l);
    if (f) {
      from = { base: f[1] ?? '', line: i + 1 };
      copiesModels = false;
      return;
    }
    if (/^(COPY|ADD)\s/i.test(l) && /\s\/?models(\/|\s|$)/.test(`${l} `)) copiesModels = true;
  });
  return from && copiesModels && SHELLLESS.test(from.base) ? from : undefined;
}
