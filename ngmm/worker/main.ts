// dist/worker.js: a ready-made module worker script that serves fits,
//   new Worker(new URL('ngmm/dist/worker.js', import.meta.url), { type: 'module' })
// (the library included). In a worker file of your own, call serveFits() instead.
import { serveFits } from './serve';

serveFits();
