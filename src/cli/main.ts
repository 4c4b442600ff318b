#!/usr/bin/env node
import { run } from "./run.js";

const code = await run(process.argv.slice(2), {
  stdout: (text) => console.log(text),
  stderr: (text) => console.error(text),
  env: process.env,
});
process.exitCode = code;
// Every command closes what it opened, so the process ends by itself; should anything still hold
// the event loop open (a library's stray timer or socket), exit anyway rather than hang a script.
setTimeout(() => process.exit(code), 3000).unref();
