/** Chooses and loads the configured backend, once per process and only when a method needs it. */
import type { CallContext, CpiBackend } from '../cpi/backend';
import { loadChunk } from '../runtime/chunks';

export function backendLoader(call: CallContext): () => CpiBackend {
  let backend: CpiBackend | undefined;
  return () => {
    if (!backend) {
      switch (call.config.backend) {
        case 'docker':
          backend = loadChunk('docker').createBackend(call);
          break;
        case 'omnicloud':
          backend = loadChunk('omnicloud').createBackend(call);
          break;
      }
    }
    return backend;
  };
}
