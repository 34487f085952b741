// dist/worker.js: a ready-made module worker script that serves fits,
//   new Worker(new URL('ngmm/dist/worker.js', import.meta.url), { type: 'module' })
// (the library included). In a worker file of your own, call serveFits(self) instead.
import { serveFits } from './serve';
import type { WorkerScopeLike } from './protocol';

serveFits(self as unknown as WorkerScopeLike);
