#!/usr/bin/env node
// The `anvil` command. The CLI is TypeScript run through tsx, as the server is, so there is no
// build step: register tsx's loader in this process, then load the entry point.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
