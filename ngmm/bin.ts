// The executable behind `ngmm` (package.json "bin"): runs the CLI and exits with its status.
import { main } from './cli';

process.exitCode = await main(process.argv.slice(2));
