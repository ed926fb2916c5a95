// Validate GLB files with the Khronos glTF validator: node validate_gltf.mjs VALIDATOR_DIR FILE...
// Prints one JSON report per file ({file, numErrors, numWarnings, numInfos, numHints, messages}).
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const require = createRequire(path.resolve(process.argv[2]) + '/');
const validator = require('gltf-validator');
const reports = [];
for (const file of process.argv.slice(3)) {
  const data = new Uint8Array(fs.readFileSync(file));
  const r = await validator.validateBytes(data, { maxIssues: 100, externalResourceFunction: () => Promise.reject('no external resources') });
  reports.push({ file, validatorVersion: r.validatorVersion, ...r.issues });
}
console.log(JSON.stringify(reports));
