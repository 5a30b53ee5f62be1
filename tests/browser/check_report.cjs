// check_report.cjs — opens a ticketrush HTML report in Debian's Chromium through playwright-core
// (the DevTools protocol; no browser is downloaded), takes full-page screenshots (screen and
// print media) and asserts what a person would check by eye:
//   - every SVG chart is laid out with a non-empty box and draws non-empty marks (bars, dots,
//     lines) of its kind;
//   - the audit table has one row per run section, each with the eight rules R1-R8;
//   - the console shows no error or warning, no script error, and nothing is fetched;
//   - the print stylesheet hides the navigation and the page prints to PDF.
// usage: node check_report.cjs --deps DIR --report FILE --profile DIR --shot FILE
//        [--print-shot FILE] [--pdf FILE] [--runs N] [--chromium PATH]
// Prints one line per check and exits 1 when any fails. check_report.sh is the way in.
'use strict';

const path = require('path');

function args(argv) {
  const out = { runs: -1, chromium: '/usr/bin/chromium' };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    out[k] = argv[i + 1];
  }
  out.runs = Number(out.runs);
  return out;
}

// What each chart must draw, and what counts as a visible mark of it.
const CHARTS = {
  'chart-summary': 'g.run-bar rect',
  'chart-throughput': 'rect.bar-all',
  'chart-latency': 'rect.bar-lat',
  'chart-outcomes': 'g.outcome rect',
  'chart-scatter': 'g.points circle',
  'chart-spectrum': 'g[data-series] circle',
  'chart-sweep': 'g.sweep-line circle',
};

async function main() {
  const a = args(process.argv);
  const { chromium } = require(path.join(a.deps, 'node_modules', 'playwright-core'));
  const failures = [];
  const check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };

  const context = await chromium.launchPersistentContext(a.profile, {
    executablePath: a.chromium,
    headless: true,
    viewport: { width: 1366, height: 900 }, // a laptop screen
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const consoleProblems = [];
    const requests = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleProblems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleProblems.push(`page error: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    page.on('requestfailed', (r) => consoleProblems.push(`request failed: ${r.url()}`));

    const url = 'file://' + path.resolve(a.report);
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForTimeout(300); // let late console messages arrive

    const facts = await page.evaluate((charts) => {
      const out = { charts: [], scripts: document.scripts.length };
      for (const svg of document.querySelectorAll('svg.chart')) {
        const kind = Object.keys(charts).find((k) => svg.classList.contains(k)) || '?';
        const box = svg.getBoundingClientRect();
        let marks = 0;
        for (const el of svg.querySelectorAll(charts[kind] || 'rect,circle,path,polyline')) {
          const b = el.getBBox();
          if (b.width > 0 && b.height > 0) marks++;
        }
        // A scatter of a queue strategy's run has no seat to draw and says so in text.
        if (marks === 0 && svg.dataset.empty) {
          for (const t of svg.querySelectorAll('text')) {
            const b = t.getBBox();
            if (b.width > 0 && b.height > 0) marks++;
          }
        }
        const section = svg.closest('section');
        out.charts.push({ kind, width: box.width, height: box.height, marks,
          section: section ? (section.dataset.strategy || section.id) : '' });
      }
      out.sections = [...document.querySelectorAll('section.run')].map((s) => s.dataset.strategy);
      out.auditRows = [...document.querySelectorAll('table#audit tbody tr')].map((tr) => ({
        strategy: tr.dataset.strategy,
        rules: [...tr.querySelectorAll('td[data-rule]')].map((td) => td.dataset.rule).join(','),
        height: tr.getBoundingClientRect().height,
      }));
      out.tables = [...document.querySelectorAll('.scroll')].map((d) => ({
        name: (d.querySelector('table') || d).className, over: d.scrollWidth - d.clientWidth }));
      out.pageWidth = document.documentElement.scrollWidth;
      out.viewportWidth = window.innerWidth;
      return out;
    }, CHARTS);

    const runs = a.runs >= 0 ? a.runs : facts.sections.length;
    check(facts.sections.length === runs, `${facts.sections.length} run sections (want ${runs})`);
    check(facts.scripts === 0, `no script element (found ${facts.scripts})`);
    const sweeps = facts.charts.filter((c) => c.kind === 'chart-sweep').length;
    check(sweeps <= 1, `${sweeps} open-loop sweep charts (want at most 1)`);
    check(facts.charts.length === 1 + sweeps + 5 * runs,
      `${facts.charts.length} SVG charts (want 1 summary + ${sweeps} sweep + 5 per run = ` +
      `${1 + sweeps + 5 * runs})`);
    for (const c of facts.charts) {
      check(c.width > 100 && c.height > 50 && c.marks > 0,
        `${c.kind} of ${c.section || 'summary'}: ${Math.round(c.width)}x${Math.round(c.height)} px, ` +
        `${c.marks} non-empty marks`);
    }
    check(facts.auditRows.length === runs, `audit table: ${facts.auditRows.length} rows (want ${runs})`);
    const want = 'R1,R2,R3,R4,R5,R6,R7,R8';
    facts.auditRows.forEach((r, i) => {
      check(r.strategy === facts.sections[i] && r.rules === want,
        `audit row ${i + 1}: ${r.strategy}, rules ${r.rules}, ${Math.round(r.height)} px high`);
    });
    check(facts.pageWidth <= facts.viewportWidth,
      `no horizontal scrolling at ${facts.viewportWidth} px (page ${facts.pageWidth} px)`);
    for (const t of facts.tables)
      check(t.over <= 1, `table ${t.name} fits the page width (overflow ${t.over} px)`);
    const fetched = requests.filter((u) => u !== url);
    check(fetched.length === 0, `nothing fetched${fetched.length ? ': ' + fetched.join(' ') : ''}`);
    check(consoleProblems.length === 0,
      `console clean${consoleProblems.length ? ': ' + consoleProblems.join(' | ') : ''}`);

    await page.screenshot({ path: a.shot, fullPage: true });
    console.log(`screenshot: ${a.shot}`);

    await page.emulateMedia({ media: 'print' });
    const navHidden = await page.evaluate(() => {
      const nav = document.querySelector('nav');
      return !nav || getComputedStyle(nav).display === 'none';
    });
    check(navHidden, 'print media hides the navigation');
    if (a.printShot) {
      await page.screenshot({ path: a.printShot, fullPage: true });
      console.log(`print-media screenshot: ${a.printShot}`);
    }
    if (a.pdf) {
      await page.pdf({ path: a.pdf, format: 'A4', printBackground: true });
      console.log(`pdf: ${a.pdf}`);
    }
    check(consoleProblems.length === 0, 'console still clean after print emulation');
  } finally {
    await context.close();
  }
  console.log(failures.length ? `${failures.length} checks failed` : 'all checks passed');
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`check_report: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
