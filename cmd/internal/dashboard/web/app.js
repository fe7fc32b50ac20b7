// wptfeed dashboard: the run list, a run's results tree, aligned runs side
// by side, and charts. Plain JavaScript, no build step, no outside
// resources. Every view is a URL:
//
//   ./?product=chrome&label=stable        the run list, filtered
//   ./?run=<run id>&path=/css/            one level of a run's results
//   ./?sha=<sha>&label=stable&path=/css/  aligned runs at a revision
//   ./?before=<run>&after=<run>           what changed between two runs
//
// Following a link within the page (a[data-nav], or a click anywhere on a
// row with data-href) changes the URL with history.pushState and loads
// only the new level from the JSON API. When a view is rendered, <body>
// gets data-view (runs, run, aligned, diff) and data-ready="true"; on failure,
// data-error.
'use strict';

(() => {
  // wpt.fyi's pass-rate colours and rule (webapp/components/wpt-colors.js,
  // wpt.getColor): 0 passes or 0 total is red, all passing is green, and
  // the rest is split in five equal bands in between.
  const COLOR_CLASSES = ['passes-none', 'passes-hardly', 'passes-a-few', 'passes-half',
    'passes-lots', 'passes-most', 'passes-all'];

  function passRateClass(passes, total) {
    if (passes === 0 || total === 0) {
      return COLOR_CLASSES[0];
    }
    if (passes >= total) {
      return COLOR_CLASSES[COLOR_CLASSES.length - 1];
    }
    const parts = COLOR_CLASSES.length - 2;
    return COLOR_CLASSES[Math.floor(parts * passes / total) + 1];
  }

  // As wpt.fyi's results table (webapp/views/wpt-results.js): P and O pass;
  // a harness status outside them is flagged on tests with subtests.
  const PASSING_STATUSES = ['O', 'P'];
  const STATUS_NAMES = {
    P: 'PASS', O: 'OK', F: 'FAIL', S: 'SKIP', E: 'ERROR', N: 'NOTRUN',
    C: 'CRASH', T: 'TIMEOUT', PF: 'PRECONDITION_FAILED',
  };

  // A subtest's colour (wpt.fyi's abstract-test-file-results-table.js,
  // colorClass): OK and PASS green, FAIL and ERROR red, the rest grey.
  function statusClass(status) {
    if (status === 'OK' || status === 'PASS') {
      return passRateClass(1, 1);
    }
    if (status === 'FAIL' || status === 'ERROR') {
      return passRateClass(0, 1);
    }
    return 'result';
  }

  const app = document.getElementById('app');
  let generation = 0; // the latest navigation; older loads are dropped

  // ---- Small helpers ----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) {
        continue;
      }
      if (k === 'class') {
        e.className = v;
      } else if (k === 'text') {
        e.textContent = v;
      } else {
        e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat(Infinity)) {
      if (c !== undefined && c !== null && c !== false) {
        e.append(c instanceof Node ? c : document.createTextNode(String(c)));
      }
    }
    return e;
  }

  // encodeValue escapes a query value but keeps '/' readable, so that a
  // path reads ?path=/css/ (a test's '?', '#' and '&' are escaped).
  function encodeValue(v) {
    return encodeURIComponent(v).replace(/%2F/g, '/');
  }

  // qs builds "?k=v&…" from pairs, skipping empty values ("" if none).
  function qs(pairs) {
    const parts = [];
    for (const [k, v] of pairs) {
      if (v !== undefined && v !== null && v !== '') {
        parts.push(encodeURIComponent(k) + '=' + encodeValue(v));
      }
    }
    return parts.length ? '?' + parts.join('&') : '';
  }

  // query is the page's URL for pairs: qs, or "./" for none.
  function query(pairs) {
    return qs(pairs) || './';
  }

  function runHref(runId, path) {
    return query([['run', runId], ['path', path]]);
  }

  function alignedHref(sha, label, path) {
    return query([['sha', sha], ['label', label], ['path', path]]);
  }

  async function getJSON(url) {
    const resp = await fetch(url, { headers: { Accept: 'application/json' } });
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      // not JSON: the status says what went wrong
    }
    if (!resp.ok) {
      throw new Error((body && body.error) || `${resp.status} ${resp.statusText}`);
    }
    return body;
  }

  function formatTime(iso) {
    if (!iso || iso.startsWith('0001-')) {
      return '';
    }
    const d = new Date(iso);
    if (isNaN(d)) {
      return iso;
    }
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function runTime(run) {
    const t = run.time_start && !run.time_start.startsWith('0001-') && !run.time_start.startsWith('1970-')
      ? run.time_start : run.created_at;
    return formatTime(t);
  }

  function percent(passes, total) {
    if (!total) {
      return '';
    }
    // As wpt.fyi's interop view: rounded down, and never 0 or 100 unless
    // exactly so.
    const p = Math.floor(1000 * passes / total) / 10;
    if (passes > 0 && p === 0) {
      return '0.1%';
    }
    if (passes < total && p === 100) {
      return '99.9%';
    }
    return p.toFixed(p === 100 || p === 0 ? 0 : 1) + '%';
  }

  // The alignment filter a run belongs to: stable, experimental or all.
  function filterOf(labels) {
    if (labels.includes('stable')) {
      return 'stable';
    }
    if (labels.includes('experimental')) {
      return 'experimental';
    }
    return 'all';
  }

  function productHeader(run) {
    return [
      el('span', { class: 'product', text: run.browser_name }),
      el('span', { class: 'version', text: run.browser_version }),
      el('span', { class: 'os', text: [run.os_name, run.os_version].filter(Boolean).join(' ') }),
    ];
  }

  function crumbs(path, hrefOf) {
    const nav = el('nav', { class: 'crumbs', 'aria-label': 'path' });
    const isTest = !path.endsWith('/');
    const q = path.indexOf('?');
    const base = q >= 0 ? path.slice(0, q) : path;
    const cut = isTest ? base.lastIndexOf('/') + 1 : path.length;
    const dirs = path.slice(0, cut).split('/').filter(Boolean);
    let acc = '/';
    nav.append(el('a', { href: hrefOf('/'), 'data-nav': true, text: 'wpt' }));
    for (const d of dirs) {
      acc += d + '/';
      nav.append(el('span', { class: 'sep', text: '/' }));
      nav.append(acc === path ? el('span', { class: 'here', text: d }) : el('a', { href: hrefOf(acc), 'data-nav': true, text: d }));
    }
    if (isTest) {
      nav.append(el('span', { class: 'sep', text: '/' }), el('span', { class: 'here', text: path.slice(cut) }));
    }
    return nav;
  }

  // A results cell: wpt.fyi's subtest view, "passes / total", coloured by
  // pass rate, except at the root (class "top", as wpt.fyi leaves its home
  // page uncoloured) and for 0 / 0.
  function resultCell(c, atRoot, runIndex) {
    if (!c) {
      return el('td', { class: 'numbers none', 'data-run': runIndex });
    }
    const passes = c.subtests_passed;
    const total = c.subtests;
    let cls = 'numbers ';
    if (atRoot || (passes === 0 && total === 0)) {
      cls += 'top';
    } else {
      cls += passRateClass(passes, total);
    }
    const text = total === 0 && !c.status ? 'Missing' : `${passes} / ${total}`;
    const td = el('td', {
      class: cls,
      'data-run': runIndex,
      'data-passes': passes,
      'data-total': total,
      'data-tests': c.tests,
      'data-tests-passed': c.tests_passed,
      title: `${percent(passes, total)} of subtests; ${c.tests_passed} of ${c.tests} tests pass; per-test score ${(100 * c.test_rate).toFixed(1)}%`,
    }, text);
    if (c.status && !PASSING_STATUSES.includes(c.status) && c.subtests !== 1) {
      td.append(el('span', { class: 'warn', title: 'Harness ' + (STATUS_NAMES[c.status] || c.status), text: ' ⚠️' }));
    }
    return td;
  }

  function interopCell(node) {
    return el('td', {
      class: 'numbers interop ' + passRateClass(node.interop, 1000),
      'data-interop': node.interop,
      title: `${node.tests} tests; interop score ${node.interop} ‰: the share of each test's subtests passing in every run`,
    }, (node.interop / 10).toFixed(1) + '%');
  }

  function showError(err) {
    app.replaceChildren(el('p', { class: 'error', role: 'alert', text: String(err.message || err) }),
      el('p', {}, el('a', { href: './', 'data-nav': true, text: 'All runs' })));
    document.body.dataset.error = String(err.message || err);
    document.body.dataset.ready = 'true';
  }

  function begin(view) {
    const gen = ++generation;
    document.body.dataset.view = view;
    delete document.body.dataset.ready;
    delete document.body.dataset.error;
    app.setAttribute('aria-busy', 'true');
    return gen;
  }

  function done(gen) {
    app.removeAttribute('aria-busy');
    document.body.dataset.ready = 'true';
    return gen === generation;
  }

  // ---- The run list ----

  let runsCache = null; // the runs of the run list, fetched once per page load

  async function showRuns(params) {
    const gen = begin('runs');
    document.title = 'wptfeed: runs';
    try {
      if (!runsCache) {
        runsCache = await getJSON('api/list?max-count=100');
      }
    } catch (err) {
      if (gen === generation) {
        showError(err);
      }
      return;
    }
    if (gen !== generation) {
      return;
    }
    const runs = runsCache;
    const product = params.get('product') || '';
    const label = params.get('label') || '';
    const products = [...new Set(runs.map(r => r.browser_name).filter(Boolean))].sort();
    const labels = [...new Set(runs.flatMap(r => r.wptfeed.labels))].sort();

    const select = (name, values, current) => {
      const s = el('select', { name, id: 'filter-' + name },
        el('option', { value: '', text: 'all' }),
        values.map(v => el('option', { value: v, text: v, selected: v === current })));
      s.addEventListener('change', () => {
        const p = new URLSearchParams(location.search);
        if (s.value) {
          p.set(name, s.value);
        } else {
          p.delete(name);
        }
        navigate(query([...p.entries()]));
      });
      return s;
    };

    const shown = runs.filter(r => (!product || r.browser_name === product) && (!label || r.wptfeed.labels.includes(label)));
    const chartLabel = ['stable', 'experimental'].includes(label) ? label : '';
    const passChart = 'charts/passrate.svg' + qs([['product', product], ['label', label]]);
    const interopChart = 'charts/interop.svg' + qs([['label', chartLabel]]);

    const table = el('table', { class: 'runs', id: 'runs' },
      el('thead', {}, el('tr', {},
        ['Product', 'Version', 'OS', 'Revision', 'Date', 'Labels', 'State', 'Pass rate (subtests)']
          .map(h => el('th', { text: h })))),
      el('tbody', {}, shown.map(runRow)));

    app.replaceChildren(
      el('h1', { text: 'Runs' }),
      el('p', { class: 'meta' }, `${shown.length} of ${runs.length} runs, newest first. `,
        'Follow a product to browse its results, a revision to compare the runs at it.'),
      el('div', { class: 'filters' },
        el('label', { for: 'filter-product' }, 'Product', select('product', products, product)),
        el('label', { for: 'filter-label' }, 'Label', select('label', labels, label))),
      el('div', { class: 'charts' },
        el('img', { src: passChart, alt: 'pass rate over time', width: 760, height: 300 }),
        el('img', { src: interopChart, alt: 'interop over time', width: 760, height: 300 })),
      table,
      ...(shown.length ? [] : [el('p', { class: 'note', text: 'No run matches.' })]));
    done(gen);
  }

  function runRow(run) {
    const x = run.wptfeed;
    const valid = x.state === 'VALID';
    const m = x.metrics;
    const rev = run.full_revision_hash || '';
    const row = el('tr', { 'data-run-id': x.run_id, 'data-feed': x.feed || null, 'data-state': x.state, 'data-href': valid ? runHref(x.run_id, '/') : null },
      el('td', { class: 'product' }, valid
        ? el('a', { href: runHref(x.run_id, '/'), 'data-nav': true, text: run.browser_name || '?' })
        : (run.browser_name || '?')),
      el('td', { text: run.browser_version }),
      el('td', { text: [run.os_name, run.os_version].filter(Boolean).join(' ') }),
      el('td', { class: 'mono' }, valid && rev
        ? el('a', { href: alignedHref(rev.slice(0, 10), filterOf(x.labels), '/'), 'data-nav': true, title: 'compare the runs at ' + rev, text: rev.slice(0, 10) })
        : rev.slice(0, 10)),
      el('td', { text: runTime(run) }),
      el('td', { class: 'labels' }, x.labels.map(l => el('span', { class: 'label', text: l }))),
      el('td', {}, el('span', { class: 'state state-' + x.state, title: [x.code, x.error].filter(Boolean).join(': '), text: x.state }),
        ...(x.feed ? [' ', el('span', { class: 'feed', title: 'the feed this run came from', text: x.feed })] : [])));
    if (m) {
      row.append(el('td', {
        class: 'numbers ' + (m.subtests ? passRateClass(m.subtests_passed, m.subtests) : 'top'),
        'data-passes': m.subtests_passed, 'data-total': m.subtests,
        title: `${m.subtests_passed} of ${m.subtests} subtests; ${m.tests_passed} of ${m.tests} tests pass; per-test score ${(100 * m.test_rate).toFixed(1)}%`,
      }, percent(m.subtests_passed, m.subtests) + ' ', el('span', { class: 'count', text: `(${m.subtests_passed} / ${m.subtests})` })));
    } else {
      row.append(el('td', { class: 'numbers', text: valid ? `${x.tests} tests` : '' }));
    }
    return row;
  }

  // ---- A run's results ----

  async function showRun(runId, path) {
    const gen = begin('run');
    let res;
    try {
      res = await getJSON('api/tree' + qs([['run', runId], ['path', path]]));
    } catch (err) {
      if (gen === generation) {
        showError(err);
      }
      return;
    }
    if (gen !== generation) {
      return;
    }
    const run = res.run;
    const x = run.wptfeed;
    document.title = `wptfeed: ${res.path} in ${run.browser_name} ${run.browser_version}`;
    const head = [
      el('h1', {}, `${run.browser_name} ${run.browser_version} on ${[run.os_name, run.os_version].filter(Boolean).join(' ')}`),
      el('p', { class: 'meta' },
        el('span', {}, 'revision ', el('code', { text: run.full_revision_hash.slice(0, 10) })),
        el('span', { text: runTime(run) }),
        el('span', {}, x.labels.map(l => el('span', { class: 'label', text: l }))),
        el('span', {}, 'run ', el('code', { text: x.run_id })),
        el('span', {}, el('a', {
          href: alignedHref(run.full_revision_hash.slice(0, 10), filterOf(x.labels), res.path),
          'data-nav': true, text: 'compare at this revision',
        }))),
      crumbs(res.path, p => runHref(x.run_id, p)),
    ];
    if (res.test) {
      app.replaceChildren(...head, ...testTable([run], [res.entry], res.details,
        [res.details ? { status: res.harness_status, message: res.message } : null],
        (res.subtests || []).map(s => ({ name: s.name, results: [s] }))));
      done(gen);
      return;
    }
    const atRoot = res.path === '/';
    const hrefOf = p => runHref(x.run_id, p);
    const table = el('table', { class: 'results', id: 'results', 'data-path': res.path },
      el('thead', {}, el('tr', {}, el('th', { text: 'Path' }), el('th', {}, productHeader(run)))),
      el('tbody', {},
        res.children.map(c => el('tr', { 'data-path': c.path, 'data-href': hrefOf(c.path) },
          el('td', { class: 'path' }, el('a', { href: hrefOf(c.path), 'data-nav': true, text: c.name })),
          resultCell(c, atRoot, 0))),
        el('tr', { class: 'totals', 'data-path': res.path },
          el('td', {}, el('code', {}, el('strong', { text: 'Subtest Total' }))),
          resultCell(res.entry, atRoot, 0))));
    app.replaceChildren(...head, table);
    done(gen);
  }

  // testTable lists a test's harness status and subtests, one column per
  // run, as wpt.fyi's test file results.
  function testTable(runs, entries, details, harness, subtests) {
    const cells = (results) => results.map((r, i) => r
      ? el('td', { class: statusClass(r.status), 'data-run': i, 'data-status': r.status },
        el('code', { text: r.status }), r.message ? el('span', { class: 'message', text: r.message }) : null)
      : el('td', { class: 'result', 'data-run': i }, el('code', { text: 'MISSING' })));
    const counts = el('tr', { class: 'totals' }, el('td', {}, el('strong', { text: 'Subtests passing' })),
      entries.map((e, i) => resultCell(e, false, i)));
    const parts = [el('table', { class: 'subtests', id: 'subtests' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Subtest' }), runs.map(r => el('th', {}, productHeader(r))))),
      el('tbody', {},
        details ? el('tr', { class: 'harness' }, el('td', { class: 'sub-test-name' }, el('code', { text: 'Harness status' })), cells(harness)) : null,
        subtests.map(s => el('tr', { 'data-subtest': s.name },
          el('td', { class: 'sub-test-name' }, el('code', { text: s.name })), cells(s.results))),
        counts))];
    if (!details) {
      parts.unshift(el('p', { class: 'note', text: 'This run was ingested without per-test files: only its counts are known.' }));
    }
    return parts;
  }

  // ---- Aligned runs ----

  async function showAligned(sha, label, path) {
    const gen = begin('aligned');
    let res;
    try {
      res = await getJSON('api/aligned' + qs([['sha', sha], ['label', label], ['path', path]]));
    } catch (err) {
      if (gen === generation) {
        showError(err);
      }
      return;
    }
    if (gen !== generation) {
      return;
    }
    document.title = `wptfeed: ${res.path} at ${res.sha.slice(0, 10)}`;
    const hrefOf = p => alignedHref(sha, res.label, p);
    const head = [
      el('h1', {}, `${res.runs.length} runs at revision `, el('code', { text: res.sha.slice(0, 10) })),
      el('p', { class: 'meta' },
        el('span', {}, 'runs: ', ['all', 'stable', 'experimental'].map((l, i) => [i ? ' | ' : '',
          l === res.label ? el('strong', { text: l }) : el('a', { href: alignedHref(sha, l, res.path), 'data-nav': true, text: l })])),
        el('span', {
          title: res.source === 'index' ? 'chosen from the processed runs' : 'as in ' + res.source,
          text: `the newest ${res.label === 'all' ? '' : res.label + ' '}run of each product`,
        })),
      crumbs(res.path, hrefOf),
    ];
    if (res.test) {
      app.replaceChildren(...head, ...testTable(res.runs, res.entry.results, res.details, res.harness || [],
        res.subtests || []));
      done(gen);
      return;
    }
    const atRoot = res.path === '/';
    const table = el('table', { class: 'results aligned', id: 'results', 'data-path': res.path },
      el('thead', {}, el('tr', {}, el('th', { text: 'Path' }),
        res.runs.map(r => el('th', {}, el('a', { href: runHref(r.wptfeed.run_id, res.path), 'data-nav': true }, productHeader(r)))),
        el('th', { class: 'interop', title: 'results-analysis interop score' }, 'Interop'))),
      el('tbody', {},
        res.children.map(c => el('tr', { 'data-path': c.path, 'data-href': hrefOf(c.path) },
          el('td', { class: 'path' }, el('a', { href: hrefOf(c.path), 'data-nav': true, text: c.name })),
          c.results.map((r, i) => resultCell(r, atRoot, i)),
          interopCell(c))),
        el('tr', { class: 'totals', 'data-path': res.path },
          el('td', {}, el('code', {}, el('strong', { text: 'Subtest Total' }))),
          res.entry.results.map((r, i) => resultCell(r, atRoot, i)),
          interopCell(res.entry))));
    app.replaceChildren(...head, table);
    done(gen);
  }

  // ---- A diff between two runs (/api/diff, docs/diffs.md) ----

  const KIND_NAMES = { A: 'added', D: 'deleted', C: 'changed', U: 'unchanged' };

  function entryText(e) {
    if (!e) {
      return '—';
    }
    const name = STATUS_NAMES[e.s] || e.s;
    return e.c[1] ? `${name} (${e.c[0]} / ${e.c[1]})` : name;
  }

  // diffTable lists tests of a diff: status before and after, wpt.fyi's
  // [newly passing, newly failing, total delta], links to the test's
  // results in both runs.
  function diffTable(id, d, tests) {
    return el('table', { class: 'diff', id },
      el('thead', {}, el('tr', {},
        ['Test', 'Kind', 'Before', 'After', 'Newly passing', 'Newly failing', 'Total Δ'].map(h => el('th', { text: h })))),
      el('tbody', {}, tests.map(c => el('tr', { 'data-test': c.test },
        el('td', {}, el('code', { text: c.test })),
        el('td', { text: KIND_NAMES[c.kind] + (c.expected ? ' (known intermittent)' : '') }),
        el('td', {}, c.before ? el('a', { href: runHref(d.before, c.test), 'data-nav': true, 'data-side': 'before', text: entryText(c.before) }) : '—'),
        el('td', {}, c.after ? el('a', { href: runHref(d.after, c.test), 'data-nav': true, 'data-side': 'after', text: entryText(c.after) }) : '—'),
        c.diff.map(n => el('td', { class: 'num', text: n }))))));
  }

  async function showDiff(before, after, filter, path) {
    const gen = begin('diff');
    let d;
    try {
      d = await getJSON('api/diff' + qs([['before', before], ['after', after], ['filter', filter], ['path', path]]));
    } catch (err) {
      if (gen === generation) {
        showError(err);
      }
      return;
    }
    if (gen !== generation) {
      return;
    }
    document.title = `wptfeed: changes in ${d.after}`;
    const byTest = new Map(d.tests.map(c => [c.test, c]));
    const pick = list => list.map(t => byTest.get(t)).filter(Boolean);
    const listed = new Set([...d.regressions, ...d.improvements, ...d.flaky]);
    const other = d.tests.filter(c => !listed.has(c.test) && c.kind !== 'U');
    const t = d.totals;
    const section = (id, title, tests, note) => tests.length ? [
      el('h2', { id: id + '-title', text: `${title} (${tests.length})` }),
      note ? el('p', { class: 'note', text: note }) : null,
      diffTable(id, d, tests)] : [];
    app.replaceChildren(
      el('h1', { text: 'Changes' }),
      el('p', { class: 'meta' }, 'From run ', el('a', { href: runHref(d.before, '/'), 'data-nav': true, text: d.before }),
        ' to run ', el('a', { href: runHref(d.after, '/'), 'data-nav': true, text: d.after }), '. ',
        `${t.regressions} regressions, ${t.improvements} newly passing, ${t.flaky} flaky; ` +
        `${t.added} added, ${t.deleted} deleted, ${t.changed} changed tests (filter ${d.filter}).`),
      ...section('regressions', 'Regressions', pick(d.regressions)),
      ...section('improvements', 'Newly passing', pick(d.improvements)),
      ...section('other', 'Other changes', other),
      ...section('flaky', 'Flaky', pick(d.flaky), 'Tests whose result changed often in the recent runs of this product: not counted as regressions or newly passing.'),
      ...(d.tests.length ? [] : [el('p', { class: 'note', text: 'Nothing changed.' })]));
    done(gen);
  }

  // ---- Navigation ----

  function route() {
    const p = new URLSearchParams(location.search);
    if (p.get('run')) {
      return showRun(p.get('run'), p.get('path') || '/');
    }
    if (p.get('after')) {
      return showDiff(p.get('before') || '', p.get('after'), p.get('filter') || '', p.get('path') || '');
    }
    if (p.get('sha')) {
      return showAligned(p.get('sha'), p.get('label') || 'all', p.get('path') || '/');
    }
    return showRuns(p);
  }

  function navigate(href) {
    history.pushState(null, '', href);
    window.scrollTo(0, 0);
    route();
  }

  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
      return;
    }
    const a = e.target.closest('a');
    if (a) {
      if (a.hasAttribute('data-nav')) {
        e.preventDefault();
        navigate(a.getAttribute('href'));
      }
      return;
    }
    const row = e.target.closest('tr[data-href]');
    if (row && !window.getSelection().toString()) {
      e.preventDefault();
      navigate(row.getAttribute('data-href'));
    }
  });
  window.addEventListener('popstate', route);

  // For tests: the URL a row's link leads to, and what a click on it does.
  window.wptfeed = { navigate, passRateClass, query };
  route();
})();
