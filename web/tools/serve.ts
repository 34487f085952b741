// `npm run demo:web`: builds the demo page and serves it on http://127.0.0.1:8080/ (PORT to
// change) until interrupted.
import { buildWeb } from './build';
import { serveStatic } from './server';

const dir = await buildWeb();
const port = Number(process.env.PORT ?? 8080);
const { url } = await serveStatic(dir, port).catch((e: NodeJS.ErrnoException) => {
  console.error(e.code === 'EADDRINUSE' ? `port ${port} is in use: set PORT to another one` : e.message);
  process.exit(1);
});
console.log(`ngmm demo: ${url}  (Ctrl-C to stop)`);
