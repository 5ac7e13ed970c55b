// Compiles the Solidity contracts in this directory with the npm solc
// compiler pinned in package.json and writes, for each contract,
//   <out>/<Name>.abi  the JSON ABI, pretty-printed with a 2-space indent and
//                     a trailing newline
//   <out>/<Name>.bin  the creation bytecode as lowercase hex, without 0x and
//                     without a trailing newline
// where <out> is ./build beside this file, or the directory given with
// --out DIR (build.sh --check uses that to compile into a temporary
// directory).
//
// Settings: optimizer on with 200 runs, evmVersion "prague" (solc 0.8.37
// supports it and it is that compiler's default; the contracts use
// Cancun-era opcodes: TSTORE/TLOAD and MCOPY, plus Shanghai's PUSH0).
//
// The output depends only on the sources and these settings: sources are
// given to the compiler under their bare file names (never absolute
// paths), so the metadata hash appended to the bytecode is the same on
// every machine.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const EXPECTED_SOLC = '0.8.37';
const EVM_VERSION = 'prague';
const SOURCES = ['Token.sol', 'Probe.sol'];

function parseArgs(argv) {
  let out = path.join(__dirname, 'build');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) {
      out = path.resolve(argv[++i]);
    } else {
      throw new Error(`compile.js: unknown argument ${JSON.stringify(argv[i])} (usage: node compile.js [--out DIR])`);
    }
  }
  return { out };
}

function main() {
  const { out } = parseArgs(process.argv.slice(2));

  const version = solc.version();
  if (!version.startsWith(EXPECTED_SOLC + '+')) {
    throw new Error(`compile.js: solc ${version} found, ${EXPECTED_SOLC} expected (run: npm ci --prefix ledger/eth/contracts)`);
  }

  const sources = {};
  for (const file of SOURCES) {
    sources[file] = { content: fs.readFileSync(path.join(__dirname, file), 'utf8') };
  }

  const input = {
    language: 'Solidity',
    sources,
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: {
        '*': { '*': ['abi', 'evm.bytecode.object'] },
      },
    },
  };

  const output = JSON.parse(solc.compile(JSON.stringify(input)));

  let failed = false;
  for (const e of output.errors || []) {
    const text = e.formattedMessage || e.message;
    if (e.severity === 'error') {
      failed = true;
      process.stderr.write(text + '\n');
    } else {
      process.stderr.write(text + '\n');
    }
  }
  if (failed) {
    throw new Error('compile.js: compilation failed');
  }

  fs.mkdirSync(out, { recursive: true });
  const names = [];
  for (const file of SOURCES) {
    const contracts = (output.contracts && output.contracts[file]) || {};
    for (const name of Object.keys(contracts).sort()) {
      const c = contracts[name];
      const bin = c.evm.bytecode.object;
      if (!bin) {
        throw new Error(`compile.js: ${file}:${name} has no bytecode (abstract?)`);
      }
      if (bin.includes('__$')) {
        throw new Error(`compile.js: ${file}:${name} needs library linking, which build.sh does not do`);
      }
      fs.writeFileSync(path.join(out, `${name}.abi`), JSON.stringify(c.abi, null, 2) + '\n');
      fs.writeFileSync(path.join(out, `${name}.bin`), bin.toLowerCase());
      names.push(name);
    }
  }
  if (names.length === 0) {
    throw new Error('compile.js: no contracts compiled');
  }
  process.stdout.write(`compiled ${names.join(', ')} with solc ${version} (evmVersion ${EVM_VERSION}) into ${out}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write((err && err.message ? err.message : String(err)) + '\n');
  process.exit(1);
}
