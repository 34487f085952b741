// The executable behind `ngmm` (package.json "bin"): runs the CLI and exits with its status.
// An error that escapes main (an event handler's, say) still ends as one line, not a stack trace.
import { errorText, main } from './cli';

process.on('uncaughtException', (e) => {
  process.stderr.write(errorText(e) + '\n');
  process.exit(1);
});
process.exitCode = await main(process.argv.slice(2));
