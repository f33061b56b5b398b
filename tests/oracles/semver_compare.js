// Reads 'A<TAB>B' lines and prints semver.compare(A, B) (npm's node-semver),
// or E when node-semver refuses either version.
const path = require('path');
const semver = require(path.resolve(process.env.SEMVER_DIR || '.cache/npm-semver', 'node_modules/semver'));
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(Boolean);
process.stdout.write(lines.map((l) => { const [a, b] = l.split('\t'); return semver.valid(a) && semver.valid(b) ? semver.compare(a, b) : 'E'; }).join('\n') + '\n');
