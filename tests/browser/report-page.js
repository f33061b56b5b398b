// Opens the HTML history report in headless Chromium, takes a screenshot,
// and prints what the page shows: the embedded data, each chart's series
// and the summary table, for the Rust test to check against the history.
// Usage: node report-page.js REPORT.html SCREENSHOT.png
const path = require('path');
const { chromium } = require(path.resolve(process.env.PLAYWRIGHT_DIR || '.cache/npm-playwright', 'node_modules/playwright-core'));

(async () => {
  const [page_file, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    const requests = [];
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    await page.goto('file://' + path.resolve(page_file));
    await page.screenshot({ path: screenshot, fullPage: true });
    const shown = await page.evaluate(() => ({
      data: JSON.parse(document.getElementById('report-data').textContent),
      charts: [...document.querySelectorAll('svg.open-findings')].map((svg) =>
        Object.fromEntries([...svg.querySelectorAll('polyline')].map((l) =>
          [l.dataset.severity, l.dataset.values.split(',').map(Number)]))),
      summary: [...document.querySelectorAll('#summary tr')].slice(1).map((tr) =>
        [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      chartBoxes: [...document.querySelectorAll('svg.open-findings')].map((svg) => {
        const r = svg.getBoundingClientRect(); return [r.width, r.height];
      }),
    }));
    shown.externalRequests = requests;
    console.log(JSON.stringify(shown));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
