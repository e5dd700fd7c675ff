#!/usr/bin/env node
/**
 * The `meshlet` command: wires the parts together. Nothing here is logic of its own; the
 * command tree is in program.ts.
 */
import { buildProgram } from './program.js';

const program = await buildProgram(process.argv[2]);
await program.parseAsync(process.argv);
