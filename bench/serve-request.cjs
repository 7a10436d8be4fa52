// autocannon's setupRequest for bench/serve.ts, run in autocannon's worker thread (functions cannot be passed to
// it, so it reads the request bodies from the JSON file named by CDMM_BENCH_BODIES and cycles through them).
const { readFileSync } = require('node:fs');

const bodies = JSON.parse(readFileSync(process.env.CDMM_BENCH_BODIES, 'utf8'));
let next = 0;
module.exports = (req) => ({ ...req, body: bodies[next++ % bodies.length] });
