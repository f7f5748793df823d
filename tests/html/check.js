// Loads pcapstat HTML reports (`--html`) in a real browser, Debian's Chromium driven by the npm
// package playwright-core, and checks each page: no console error, no page error, no request
// leaving the file (no network); the page is drawn within the time budget; the waterfall has
// the expected number of rows (the http table's rows, or the row cap); its charts, tables and
// hover work; strings from the capture did not become markup. Saves a full-page screenshot of
// each page. Run by .ci/run:
//   npm install --prefix DIR --no-save playwright-core@1.65.2
//   NODE_PATH=DIR/node_modules node tests/html/check.js --out SHOTS_DIR --budget-ms 5000 \
//     PAGE.html=ROWS[,cap=N][,hostile] ...
// ROWS is the number of waterfall rows expected (from the JSON report run beside it). Nothing
// is installed in the repository. Prints one line per page and `N passed, M failed`.
'use strict'
const path = require('path')
const fs = require('fs')
const { chromium } = require('playwright-core')

function parseArgs (argv) {
  const o = { out: '.', budget: 5000, exe: process.env.CHROMIUM || '/usr/bin/chromium', pages: [] }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') o.out = argv[++i]
    else if (argv[i] === '--budget-ms') o.budget = Number(argv[++i])
    else if (argv[i] === '--chromium') o.exe = argv[++i]
    else {
      const at = argv[i].indexOf('.html=')
      const file = at < 0 ? argv[i] : argv[i].slice(0, at + 5)
      const spec = at < 0 ? '' : argv[i].slice(at + 6)
      const parts = (spec || '').split(',')
      const p = { file, rows: Number(parts[0]), cap: null, hostile: false }
      for (const x of parts.slice(1)) {
        if (x.startsWith('cap=')) p.cap = Number(x.slice(4))
        if (x === 'hostile') p.hostile = true
      }
      o.pages.push(p)
    }
  }
  return o
}

async function checkPage (browser, p, o) {
  const problems = []
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 })
  const page = await context.newPage()
  page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') problems.push('console ' + m.type() + ': ' + m.text()) })
  page.on('pageerror', e => problems.push('page error: ' + e.message))
  page.on('request', r => {
    const u = r.url()
    if (!u.startsWith('file:') && !u.startsWith('data:')) problems.push('network request: ' + u)
  })
  page.on('dialog', d => { problems.push('dialog: ' + d.message()); d.dismiss() })
  const url = 'file://' + path.resolve(p.file)
  const t0 = Date.now()
  await page.goto(url, { waitUntil: 'load', timeout: o.budget * 4 })
  await page.waitForSelector('body[data-ready="true"]', { timeout: o.budget * 4 })
  const wall = Date.now() - t0
  const ready = Number(await page.getAttribute('body', 'data-ready-ms'))
  if (!(ready <= o.budget)) problems.push(`drawn in ${ready} ms, over the budget of ${o.budget} ms`)
  const dom = await page.evaluate(() => ({
    rows: document.querySelectorAll('#wf-labels .wf-row').length,
    hidden: !!document.getElementById('wf-hidden'),
    capBanner: (document.getElementById('wf-cap') || {}).textContent || '',
    histograms: document.querySelectorAll('[data-histogram]').length,
    histBars: document.querySelectorAll('[data-histogram] svg rect').length,
    charts: document.querySelectorAll('[data-chart]').length,
    hosts: document.querySelectorAll('#hosts-table tbody tr').length,
    scripts: document.scripts.length,
    imgs: document.images.length,
    title: document.title,
    canvas: (() => { const c = document.getElementById('wf-canvas'); return c ? c.width * c.height : 0 })(),
    labels: (document.getElementById('wf-labels') || {}).textContent || '',
    text: document.body.innerText
  }))
  if (dom.rows !== p.rows) problems.push(`waterfall rows ${dom.rows}, expected ${p.rows}`)
  if (p.cap !== null) {
    if (!dom.hidden) problems.push('capped waterfall without its "not drawn" row')
    if (!dom.capBanner.includes('cap of ' + p.cap.toLocaleString('en-US'))) problems.push('no cap banner naming ' + p.cap)
  } else if (dom.hidden) problems.push('a "not drawn" row below the cap')
  if (dom.histograms !== 4) problems.push(`${dom.histograms} histograms`)
  if (dom.charts !== 5) problems.push(`${dom.charts} over-time charts`)
  if (dom.scripts !== 2) problems.push(`${dom.scripts} script elements`)
  if (dom.imgs !== 0) problems.push(`${dom.imgs} img elements`)
  if (!dom.canvas) problems.push('empty waterfall canvas')
  if (/pwned/.test(dom.title)) problems.push('title changed by the capture: ' + dom.title)
  if (p.hostile) {
    for (const s of ['<script>document.title="pwned-host"</script>', '<img src=x onerror=document.title="pwned-dns">.example.test']) {
      if (!dom.text.includes(s)) problems.push('not shown as text: ' + s)
    }
  }
  // Hover a row: its tooltip; zoom in: the axis range changes.
  if (dom.rows > 0) {
    await page.hover('#wf-labels .wf-row')
    const tip = await page.evaluate(() => { const t = document.getElementById('tooltip'); return t.hidden ? '' : t.textContent })
    if (!/status/.test(tip) || !/connection/.test(tip)) problems.push('no tooltip on hover: ' + tip)
    const before = await page.textContent('.wf-toolbar .range')
    await page.click('text=Zoom in')
    await page.waitForFunction(b => document.querySelector('.wf-toolbar .range').textContent !== b, before, { timeout: 2000 }).catch(() => problems.push('zoom did not change the range'))
    await page.click('#wf-reset')
    // The filter box: nothing matches a string no row holds; the hostile page's 404 is one row.
    await page.fill('input.filter', p.hostile ? '404' : 'no-such-request-zz')
    const dimmed = await page.evaluate(() => document.querySelectorAll('#wf-labels .wf-row.dim').length)
    const wantDim = p.hostile ? dom.rows - 1 : dom.rows
    if (dimmed !== wantDim) problems.push(`filter dimmed ${dimmed} rows, expected ${wantDim}`)
    await page.fill('input.filter', '')
    // Another order keeps every row.
    await page.selectOption('select.order', 'total')
    const reordered = await page.evaluate(() => document.querySelectorAll('#wf-labels .wf-row').length)
    if (reordered !== dom.rows) problems.push(`${reordered} rows slowest first, expected ${dom.rows}`)
    await page.selectOption('select.order', 'connection')
    await page.mouse.move(0, 0)
  }
  fs.mkdirSync(o.out, { recursive: true })
  const shot = path.join(o.out, path.basename(p.file).replace(/\.html$/, '') + '.png')
  await page.screenshot({ path: shot, fullPage: true })
  await context.close()
  return { problems, wall, ready, dom, shot }
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const browser = await chromium.launch({
    executablePath: o.exe,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync']
  })
  let passed = 0; let failed = 0
  for (const p of o.pages) {
    try {
      const r = await checkPage(browser, p, o)
      if (r.problems.length) {
        failed++
        console.log(`FAIL ${p.file}`)
        for (const x of r.problems) console.log('  ' + x)
      } else {
        passed++
        console.log(`ok   ${p.file}: ${r.dom.rows} rows, ${r.dom.hosts} servers, drawn in ${r.ready} ms (load ${r.wall} ms); ${r.shot}`)
      }
    } catch (e) {
      failed++
      console.log(`FAIL ${p.file}: ${e.message}`)
    }
  }
  await browser.close()
  if (o.pages.length === 0) { console.log('no page given'); failed++ }
  console.log(`html: ${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

main()
