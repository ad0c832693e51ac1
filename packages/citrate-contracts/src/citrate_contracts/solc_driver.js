#!/usr/bin/env node
// Runs solc-js (the npm package `solc`) on a Solidity standard-JSON input read from stdin and
// writes the standard-JSON output to stdout. Adapted from Citrate's shared solc-shim.js.
//
//   node solc_driver.js --solc-dir DIR [--version] [--root DIR]...
//
// `--solc-dir` is a folder from which `require('solc')` resolves. Imports resolve only inside
// the `--root` folders (the source tree and the library folders): a path that escapes them,
// or an absolute path, is "not found", so compiling an untrusted source cannot read other files.
// Output is written synchronously: an asynchronous write followed by exit cuts it at 64 KiB.
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const roots = [];
let solcDir = null;
let wantVersion = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--root') roots.push(path.resolve(args[++i]));
  else if (args[i] === '--solc-dir') solcDir = args[++i];
  else if (args[i] === '--version') wantVersion = true;
  else {
    process.stderr.write('solc_driver: unknown argument ' + JSON.stringify(args[i]) + '\n');
    process.exit(2);
  }
}
const writeAll = (s) => {
  const b = Buffer.from(s);
  let off = 0;
  while (off < b.length) off += fs.writeSync(1, b, off);
};
let solc;
try {
  solc = require(require.resolve('solc', { paths: [solcDir || __dirname] }));
} catch (e) {
  process.stderr.write('solc_driver: cannot load the npm package `solc` from ' + solcDir + ': ' + e.message + '\n');
  process.exit(3);
}
if (wantVersion) {
  writeAll(solc.version() + '\n');
  process.exit(0);
}
const findImports = (p) => {
  if (path.isAbsolute(p)) return { error: 'File not found: ' + p + ' (absolute imports are not allowed)' };
  for (const r of roots) {
    const f = path.resolve(r, p);
    if (f !== r && !f.startsWith(r + path.sep)) continue;
    if (fs.existsSync(f) && fs.statSync(f).isFile()) return { contents: fs.readFileSync(f, 'utf8') };
  }
  return { error: 'File not found: ' + p };
};
const input = fs.readFileSync(0, 'utf8');
writeAll(solc.compile(input, { import: findImports }));
