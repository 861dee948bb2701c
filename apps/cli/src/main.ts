/** The `anvil` executable: runs the program and exits with its code. */
import { run } from './program.ts';

process.exitCode = await run(process.argv);
