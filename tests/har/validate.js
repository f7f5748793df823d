// Loads HAR files with a real HAR consumer, the npm package har-validator (5.x, which checks
// against har-schema with ajv), and prints its verdict per file; exit 1 if one is refused.
// Run by .ci/run: `npm install --prefix DIR --no-save har-validator@5.1.5`, then
// `NODE_PATH=DIR/node_modules node tests/har/validate.js FILE.har...` (nothing installed in the
// repository).
'use strict'
const fs = require('fs')
const validator = require('har-validator')

async function main (files) {
  let failed = 0
  for (const file of files) {
    try {
      const har = JSON.parse(fs.readFileSync(file, 'utf8'))
      await validator.har(har)
      const n = har.log.entries.length
      console.log(`valid: ${file} (${n} entries, ${(har.log.pages || []).length} pages)`)
    } catch (e) {
      failed++
      console.log(`INVALID: ${file}: ${e.message}`)
      for (const err of e.errors || []) {
        console.log(`  ${err.dataPath || err.instancePath || ''} ${err.message}`)
      }
    }
  }
  if (files.length === 0) {
    console.log('no HAR file given')
    failed++
  }
  process.exit(failed ? 1 : 0)
}

main(process.argv.slice(2))
