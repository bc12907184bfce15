// hitexport integrations console. Plain JavaScript, no framework, no build.
//
// Safety rules kept throughout (a unit test checks the file):
// - every value from the API reaches the page as text (textContent, Text
//   nodes, setAttribute of plain attributes), never as markup;
// - the admin token lives in sessionStorage and goes out only as the
//   Authorization header of same-origin requests (credentials: 'omit').
'use strict';

(function () {
  const API = '/api/v1/integrations';
  const TOKEN_KEY = 'hitexport.adminToken';
  const REFRESH_MS = 3000;

  const FORMATS = { json: 'JSON Array', ndjson: 'NDJSON', ocsf: 'OCSF', 'ocsf-json': 'OCSF (JSON array)' };
  const STATES = { active: 'active', disabled: 'disabled', failing: 'failing', auto_disabled: 'auto-disabled' };

  const $ = (id) => document.getElementById(id);

  // el builds an element; children that are strings become Text nodes.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c !== null && c !== undefined && c !== false) e.append(c);
    }
    return e;
  }

  // ---------- token and API ----------

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }
  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the session lasts as long as the page */ }
    memToken = t || '';
  }
  let memToken = '';

  class APIError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field || '';
    }
  }

  async function api(method, path, body, tok) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + (tok || token() || memToken) };
    const init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'network', 'Cannot reach the admin API: ' + (e && e.message ? e.message : String(e)));
    }
    const text = await resp.text().catch(() => '');
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!resp.ok) {
      const err = (data && typeof data === 'object' && data.error) || {};
      const msg = typeof err.message === 'string' && err.message ? err.message : (resp.status + ' ' + resp.statusText);
      throw new APIError(resp.status, String(err.code || ('http_' + resp.status)), msg, typeof err.field === 'string' ? err.field : '');
    }
    if (resp.status !== 204 && text && data === null) {
      throw new APIError(resp.status, 'bad_response', 'The admin API answered with something that is not JSON.');
    }
    return data;
  }

  const itemPath = (id) => API + '/' + encodeURIComponent(id);

  // ---------- small helpers ----------

  function show(id) {
    for (const v of ['signin-view', 'list-view', 'form-view']) $(v).hidden = v !== id;
  }

  function focusEl(e) {
    if (e) e.focus({ preventScroll: false });
  }

  function banner(msg) {
    const b = $('banner');
    b.textContent = msg || '';
    b.hidden = !msg;
  }

  function message(msg) {
    const m = $('list-message');
    m.textContent = msg || '';
    m.hidden = !msg;
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  // fmtTime renders an RFC 3339 time as "YYYY-MM-DD HH:MM:SS UTC".
  function fmtTime(s) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d.getTime())) return String(s);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + ' UTC';
  }

  function ago(s) {
    const d = new Date(s);
    if (!s || isNaN(d.getTime())) return '';
    let sec = Math.round((Date.now() - d.getTime()) / 1000);
    if (sec < 0) sec = 0;
    if (sec < 60) return sec + ' s ago';
    if (sec < 3600) return Math.floor(sec / 60) + ' min ago';
    if (sec < 86400) return Math.floor(sec / 3600) + ' h ago';
    return Math.floor(sec / 86400) + ' d ago';
  }

  function num(n) {
    const v = Number(n);
    return isFinite(v) ? v.toLocaleString('en-US') : '0';
  }

  function str(v) {
    return v === null || v === undefined ? '' : String(v);
  }

  // guard runs an async event handler, turning any failure into a banner
  // (never an unhandled rejection).
  function guard(fn) {
    return function (ev) {
      Promise.resolve().then(() => fn.call(this, ev)).catch((e) => {
        if (e && e.status === 401) { signOut('The admin token was not accepted; sign in again.'); return; }
        banner(e && e.message ? e.message : String(e));
      });
    };
  }

  // ---------- sign in / out ----------

  async function signIn(t) {
    await api('GET', API, undefined, t); // throws on a wrong token
    setToken(t);
    $('signout').hidden = false;
    banner('');
    await openList();
  }

  function signOut(why) {
    stopRefresh();
    setToken('');
    rows.forEach((r) => r.tr.remove());
    rows.clear();
    $('signout').hidden = true;
    $('row-test').hidden = true;
    message('');
    banner('');
    show('signin-view');
    const err = $('signin-error');
    err.textContent = why || '';
    err.hidden = !why;
    $('signin-token').value = '';
    focusEl($('signin-token'));
  }

  // ---------- list ----------

  const rows = new Map(); // id → {tr, cells, item}
  let timer = null;
  let lastOK = null;

  function startRefresh() {
    stopRefresh();
    timer = setInterval(() => { refresh().catch(() => {}); }, REFRESH_MS);
  }
  function stopRefresh() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  async function openList() {
    show('list-view');
    await refresh();
    startRefresh();
  }

  // refresh reloads the list. A call while one is in flight waits for it
  // and runs once more (so a change just made is always shown).
  let inflight = null;
  let queued = null;
  function refresh() {
    if (!(token() || memToken)) return Promise.resolve();
    if (inflight) {
      if (!queued) queued = inflight.then(() => { queued = null; return refresh(); });
      return queued;
    }
    inflight = load().finally(() => { inflight = null; });
    return inflight;
  }

  async function load() {
    try {
      const data = await api('GET', API);
      if (!(token() || memToken)) return; // signed out meanwhile
      const items = data && Array.isArray(data.integrations) ? data.integrations : [];
      renderList(items);
      lastOK = new Date();
      $('list-status').textContent = items.length + (items.length === 1 ? ' integration' : ' integrations') +
        ' · updated ' + lastOK.toLocaleTimeString('en-GB') + ' · refreshes every ' + (REFRESH_MS / 1000) + ' s';
      if ($('banner').dataset.source === 'refresh') { banner(''); delete $('banner').dataset.source; }
    } catch (e) {
      if (e.status === 401) { signOut('The admin token was not accepted; sign in again.'); return; }
      banner('Could not refresh the list: ' + e.message + (lastOK ? ' (showing the list as of ' + lastOK.toLocaleTimeString('en-GB') + ')' : ''));
      $('banner').dataset.source = 'refresh';
    }
  }

  function renderList(items) {
    items = items.filter((it) => it && typeof it === 'object' && it.id !== undefined);
    items.sort((a, b) => str(a.name).localeCompare(str(b.name)) || str(a.id).localeCompare(str(b.id)));
    const tbody = $('rows');
    const seen = new Set();
    let prev = null;
    for (const it of items) {
      const id = str(it.id);
      seen.add(id);
      let r = rows.get(id);
      if (!r) {
        r = makeRow(id);
        rows.set(id, r);
      }
      updateRow(r, it);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== r.tr) tbody.insertBefore(r.tr, want);
      prev = r.tr;
    }
    for (const [id, r] of rows) {
      if (!seen.has(id)) { r.tr.remove(); rows.delete(id); }
    }
    $('empty').hidden = items.length > 0;
    $('list-wrap').hidden = items.length === 0;
  }

  function makeRow(id) {
    const cell = (label, cls) => el('td', { 'data-label': label, class: cls });
    const cells = {
      name: cell('Name', 'c-name'),
      state: cell('State', 'c-state'),
      format: cell('Format', 'c-format'),
      dest: cell('Destination', 'c-dest'),
      delivery: cell('Last delivery', 'c-delivery'),
      error: cell('Last error', 'c-error'),
      lag: cell('Lag', 'c-lag'),
      actions: cell('Actions', 'c-actions'),
    };
    const r = { id: id, cells: cells, item: null };
    r.test = el('button', { type: 'button', class: 'secondary small', 'data-action': 'test', text: 'Test' });
    r.toggle = el('button', { type: 'button', class: 'secondary small', 'data-action': 'toggle', text: 'Disable' });
    r.edit = el('button', { type: 'button', class: 'secondary small', 'data-action': 'edit', text: 'Edit' });
    r.del = el('button', { type: 'button', class: 'danger small', 'data-action': 'delete', text: 'Delete' });
    r.test.addEventListener('click', guard(() => testSaved(r)));
    r.toggle.addEventListener('click', guard(() => toggle(r)));
    r.edit.addEventListener('click', guard(() => openEdit(r.id)));
    r.del.addEventListener('click', guard(() => confirmDelete(r)));
    cells.actions.append(el('div', { class: 'row-actions' }, r.test, r.toggle, r.edit, r.del));
    r.tr = el('tr', { 'data-id': id });
    for (const k of Object.keys(cells)) r.tr.append(cells[k]);
    return r;
  }

  function line(cls, ...parts) {
    return el('div', { class: cls }, ...parts);
  }

  // fill sets a cell's content (one wrapper, so the narrow layout can put
  // the label beside it).
  function fill(td, ...parts) {
    td.replaceChildren(el('div', { class: 'cell' }, ...parts));
  }

  function muted(text) {
    return el('span', { class: 'muted', text: text });
  }

  function updateRow(r, it) {
    r.item = it;
    const name = str(it.name);
    const st = (it.status && typeof it.status === 'object') ? it.status : {};
    const d = (it.destination && typeof it.destination === 'object') ? it.destination : {};
    const c = r.cells;

    fill(c.name, line('name', name), line('id muted', str(it.id)));

    const state = str(st.state) || (it.enabled === false ? 'disabled' : 'active');
    const badge = el('span', { class: 'badge state-' + state.replace(/[^a-z_]/g, ''), 'data-state': state, text: STATES[state] || state });
    const stateParts = [line('', badge)];
    if (st.reason) stateParts.push(line('reason', str(st.reason)));
    if (Number(st.failure_ratio) > 0) stateParts.push(line('muted', 'failure ratio ' + Math.round(Number(st.failure_ratio) * 100) + '%'));
    if (Number(st.lost_records) > 0) stateParts.push(line('warn', num(st.lost_records) + ' records lost (retention expired first)'));
    fill(c.state, ...stateParts);

    const fmtParts = [line('', (FORMATS[it.format] || str(it.format) || 'NDJSON') + ', ' + (it.compression && it.compression !== 'none' ? str(it.compression) : 'no compression'))];
    const f = (it.filter && typeof it.filter === 'object') ? it.filter : {};
    if (f.topic) fmtParts.push(line('muted', 'topic ' + str(f.topic)));
    if (f.match && typeof f.match === 'object') {
      for (const k of Object.keys(f.match).sort()) {
        const vals = Array.isArray(f.match[k]) ? f.match[k] : [f.match[k]];
        fmtParts.push(line('muted match', k + ' = ' + vals.map((v) => JSON.stringify(v)).join(' or ')));
      }
    }
    fill(c.format, ...fmtParts);

    const destParts = [line('endpoint', str(d.endpoint), d.tls ? muted(' · TLS') : ''), line('', muted('bucket '), str(d.bucket))];
    if (it.key_prefix) destParts.push(line('', muted('prefix '), str(it.key_prefix)));
    fill(c.dest, ...destParts);

    const ld = st.last_delivery;
    if (ld && typeof ld === 'object' && (ld.time || ld.key)) {
      fill(c.delivery, line('', fmtTime(ld.time)), line('muted', ago(ld.time)), line('key', str(ld.key)));
    } else {
      fill(c.delivery, muted('none yet'));
    }

    const le = st.last_error;
    if (le && typeof le === 'object' && (le.class || le.message)) {
      fill(c.error, line('', el('span', { class: 'badge err', text: str(le.class) || 'error' })),
        line('errmsg', str(le.message)), line('muted', fmtTime(le.time)));
    } else {
      fill(c.error, muted('none'));
    }

    const lagParts = [line('', num(st.lag_records) + ' records')];
    if (st.oldest_undelivered) lagParts.push(line('muted', 'oldest ' + fmtTime(st.oldest_undelivered)));
    fill(c.lag, ...lagParts);

    const enabled = it.enabled !== false;
    r.toggle.textContent = enabled ? 'Disable' : 'Enable';
    r.toggle.dataset.action = enabled ? 'disable' : 'enable';
    r.test.setAttribute('aria-label', 'Test ' + name);
    r.toggle.setAttribute('aria-label', (enabled ? 'Disable ' : 'Enable ') + name);
    r.edit.setAttribute('aria-label', 'Edit ' + name);
    r.del.setAttribute('aria-label', 'Delete ' + name);
    r.tr.dataset.state = state;
  }

  // ---------- row actions ----------

  // Disabling is immediate; enabling asks where to resume (where it stopped,
  // or from now on).
  async function toggle(r) {
    const enabled = r.item && r.item.enabled !== false;
    const name = r.item ? str(r.item.name) : r.id;
    if (!enabled) {
      openEnable(r);
      return;
    }
    r.toggle.disabled = true;
    try {
      await api('PATCH', itemPath(r.id), { enabled: false });
      message('Disabled “' + name + '”.');
      await refresh();
    } finally {
      r.toggle.disabled = false;
    }
  }

  let pendingEnable = null;

  function openEnable(r) {
    const name = r.item ? str(r.item.name) : r.id;
    const st = (r.item && r.item.status) || {};
    pendingEnable = { r: r, name: name };
    $('enable-title').textContent = 'Enable “' + name + '”';
    $('enable-text').textContent = st.state === 'auto_disabled'
      ? 'It was disabled automatically' + (st.reason ? ': ' + str(st.reason) : '') + '. Check its destination with Test first.'
      : 'It starts sending hits to its bucket again.';
    $('resume-stopped').checked = true;
    $('enable-error').hidden = true;
    const dlg = $('enable-dialog');
    if (!dlg.open) dlg.showModal();
    focusEl($('enable-ok'));
  }

  function closeEnable() {
    const dlg = $('enable-dialog');
    if (dlg.open) dlg.close();
    const p = pendingEnable;
    pendingEnable = null;
    if (p && p.r.tr.isConnected) focusEl(p.r.toggle);
  }

  async function doEnable() {
    const p = pendingEnable;
    if (!p) return;
    const body = { enabled: true };
    if ($('resume-latest').checked) body.resume = 'latest';
    $('enable-ok').disabled = true;
    try {
      await api('PATCH', itemPath(p.r.id), body);
      closeEnable();
      message('Enabled “' + p.name + '”' + (body.resume ? ', from now on.' : ', from where it stopped.'));
      await refresh();
    } catch (e) {
      if (e.status === 401) throw e;
      const err = $('enable-error');
      err.textContent = e.message;
      err.hidden = false;
    } finally {
      $('enable-ok').disabled = false;
    }
  }

  async function testSaved(r) {
    const name = r.item ? str(r.item.name) : r.id;
    const panel = $('row-test');
    const out = $('row-test-result');
    $('row-test-title').textContent = 'Test of “' + name + '”';
    out.replaceChildren(el('p', { class: 'muted', text: 'Testing…' }));
    panel.hidden = false;
    r.test.disabled = true;
    try {
      const res = await api('POST', itemPath(r.id) + '/test', {});
      renderSteps(out, res);
    } catch (e) {
      if (e.status === 401) throw e;
      out.replaceChildren(el('p', { class: 'fail', text: 'The test could not run: ' + e.message }));
    } finally {
      r.test.disabled = false;
    }
    focusEl(panel);
  }

  function renderSteps(out, res) {
    const steps = res && Array.isArray(res.steps) ? res.steps : [];
    const ok = !!(res && res.ok);
    const failed = steps.find((s) => s && !s.ok);
    const summary = el('p', { class: 'summary ' + (ok ? 'ok' : 'fail'), 'data-ok': String(ok) },
      ok ? 'All checks passed.' : ('Test failed' + (failed ? ' at step “' + str(failed.step) + '”.' : '.')));
    const list = el('ol', { class: 'steps' });
    for (const s of steps) {
      if (!s || typeof s !== 'object') continue;
      list.append(el('li', { class: s.ok ? 'ok' : 'fail', 'data-step': str(s.step), 'data-ok': String(!!s.ok) },
        el('span', { class: 'mark', 'aria-hidden': 'true', text: s.ok ? '✓' : '✗' }),
        el('span', { class: 'sr-only', text: s.ok ? 'passed: ' : 'failed: ' }),
        el('strong', { text: str(s.step) }),
        ' ',
        el('span', { class: 'step-msg', text: str(s.message) })));
    }
    out.replaceChildren(summary, list);
  }

  // The confirmation is an in-page <dialog>: keyboard and automation friendly.
  let pendingDelete = null;

  function confirmDelete(r) {
    const name = r.item ? str(r.item.name) : r.id;
    pendingDelete = { r: r, name: name };
    $('confirm-text').textContent = 'Delete the integration “' + name + '”? Its export stops and its progress is removed; ' +
      'the files already in its bucket stay.';
    $('confirm-ok').textContent = 'Delete “' + name + '”';
    const dlg = $('confirm-dialog');
    if (!dlg.open) dlg.showModal();
    focusEl($('confirm-cancel'));
  }

  function closeConfirm() {
    const dlg = $('confirm-dialog');
    if (dlg.open) dlg.close();
    const p = pendingDelete;
    pendingDelete = null;
    if (p && p.r.tr.isConnected) focusEl(p.r.del);
  }

  async function doDelete() {
    const p = pendingDelete;
    if (!p) return;
    $('confirm-ok').disabled = true;
    try {
      await api('DELETE', itemPath(p.r.id));
      pendingDelete = null;
      $('confirm-dialog').close();
      p.r.tr.remove();
      rows.delete(p.r.id);
      message('Deleted “' + p.name + '”.');
      if ($('row-test').hidden === false && $('row-test-title').textContent.indexOf(p.name) >= 0) $('row-test').hidden = true;
      await refresh();
      focusEl($('list-title'));
    } catch (e) {
      pendingDelete = null;
      $('confirm-dialog').close();
      if (e.status === 404) { // already gone
        await refresh();
        return;
      }
      throw e;
    } finally {
      $('confirm-ok').disabled = false;
    }
  }

  // ---------- add / edit form ----------

  let editing = null; // the integration being edited, or null when adding
  let matchSeq = 0;

  function addMatchRow(field, values) {
    const n = ++matchSeq;
    const fid = 'm-field-' + n;
    const vid = 'm-values-' + n;
    const eid = 'm-error-' + n;
    const row = el('div', { class: 'match-row' },
      el('div', { class: 'field' }, el('label', { for: fid, text: 'Hit field' }),
        el('input', { id: fid, type: 'text', class: 'm-field', autocomplete: 'off', spellcheck: 'false', placeholder: 'application_id', 'aria-describedby': eid })),
      el('div', { class: 'field' }, el('label', { for: vid, text: 'Values' }),
        el('input', { id: vid, type: 'text', class: 'm-values', autocomplete: 'off', spellcheck: 'false', placeholder: '1, 2', 'aria-describedby': eid })),
      el('button', { type: 'button', class: 'link m-remove', text: 'Remove' }),
      el('p', { id: eid, class: 'field-error m-error', hidden: true }));
    row.querySelector('.m-field').value = field || '';
    row.querySelector('.m-values').value = values || '';
    row.querySelector('.m-remove').setAttribute('aria-label', 'Remove field match ' + n);
    row.querySelector('.m-remove').addEventListener('click', () => {
      row.remove();
      focusEl($('add-match'));
    });
    $('matches').append(row);
    return row;
  }

  // parseValues turns "1, 2" into [1, 2] and "a.example, \"1\"" into ["a.example", "1"].
  function parseValues(s) {
    s = s.trim();
    if (!s) return [];
    try {
      const v = JSON.parse('[' + s + ']');
      if (Array.isArray(v)) return v;
    } catch (e) { /* not a JSON list: split by commas below */ }
    return s.split(',').map((x) => x.trim()).filter((x) => x !== '').map((x) => {
      try { return JSON.parse(x); } catch (e) { return x; }
    });
  }

  function valuesText(vals) {
    if (!Array.isArray(vals)) vals = [vals];
    return vals.map((v) => (typeof v === 'string' && !/^[-+0-9."\[{]|^(true|false|null)$|,/.test(v)) ? v : JSON.stringify(v)).join(', ');
  }

  function clearErrors() {
    for (const p of document.querySelectorAll('#itg-form .field-error')) {
      p.textContent = '';
      p.hidden = true;
    }
    for (const i of document.querySelectorAll('#itg-form [aria-invalid]')) i.removeAttribute('aria-invalid');
    const fe = $('form-error');
    fe.textContent = '';
    fe.hidden = true;
  }

  const fieldInputs = {
    name: 'f-name', 'destination.endpoint': 'f-endpoint', 'destination.bucket': 'f-bucket',
    'destination.access_key': 'f-access-key', 'destination.secret_key': 'f-secret-key', 'destination.tls': 'f-tls',
    'destination.region': 'f-region', 'destination.ca_pem': 'f-ca', key_prefix: 'f-prefix', notify_url: 'f-notify-url',
    'destination.sse': 'f-sse', 'destination.sse_kms_key_id': 'f-sse-kms-key-id', 'destination.role_arn': 'f-role-arn',
    'destination.external_id': 'f-external-id', 'destination.role_session_name': 'f-role-session-name',
    'destination.sts_endpoint': 'f-sts-endpoint',
    format: 'f-format-ndjson', compression: 'f-compression', 'filter.topic': 'f-topic', start: 'f-start-at', enabled: 'f-regular',
  };

  // showFieldError puts an API error next to its field (error.field is a
  // dotted path); unknown fields go to the top of the form.
  function showFieldError(field, msg) {
    let target = null;
    let input = null;
    const m = /^filter\.match\.(.+)$/.exec(field);
    if (m) {
      for (const row of document.querySelectorAll('#matches .match-row')) {
        if (row.querySelector('.m-field').value.trim() === m[1]) {
          target = row.querySelector('.m-error');
          input = row.querySelector('.m-values');
          break;
        }
      }
      if (!target) { target = $('e-filter.match'); input = $('add-match'); }
    } else if (field) {
      let f = field;
      while (f && !document.querySelector('#itg-form .field-error[data-field="' + f + '"]')) {
        f = f.indexOf('.') >= 0 ? f.slice(0, f.lastIndexOf('.')) : '';
      }
      if (f) {
        target = document.querySelector('#itg-form .field-error[data-field="' + f + '"]');
        input = $(fieldInputs[f] || '');
        if (f === 'format') input = document.querySelector('input[name="format"]:checked');
        if (f === 'destination' || f === 'filter') target = null;
      }
    }
    if (!target) {
      const fe = $('form-error');
      fe.textContent = (field ? field + ': ' : '') + msg;
      fe.hidden = false;
      return fe;
    }
    target.textContent = msg;
    target.hidden = false;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      if (!$('f-advanced').open && $('f-advanced').contains(input)) $('f-advanced').open = true;
    }
    return input || target;
  }

  function resetForm() {
    $('itg-form').reset();
    $('matches').replaceChildren();
    clearErrors();
    $('test-result').hidden = true;
    $('test-stale').hidden = true;
    $('test-result-body').replaceChildren();
    $('f-advanced').open = false;
  }

  function openAdd() {
    editing = null;
    resetForm();
    $('form-title').textContent = 'Add MinIO integration';
    $('save-button').textContent = 'Add integration';
    for (const id of ['f-access-key', 'f-secret-key']) {
      $(id).required = true;
      $(id).placeholder = '';
    }
    $('f-keys-hint').textContent = 'Keys are stored sealed and never shown again.';
    $('f-external-id').placeholder = '';
    setStartEnabled(true);
    show('form-view');
    focusEl($('f-name'));
  }

  async function openEdit(id) {
    const it = await api('GET', itemPath(id));
    editing = it;
    resetForm();
    $('form-title').textContent = 'Edit “' + str(it.name) + '”';
    $('save-button').textContent = 'Save changes';
    const d = it.destination || {};
    $('f-name').value = str(it.name);
    $('f-endpoint').value = str(d.endpoint);
    $('f-bucket').value = str(d.bucket);
    $('f-region').value = str(d.region);
    $('f-tls').checked = !!d.tls;
    $('f-ca').value = str(d.ca_pem);
    $('f-prefix').value = str(it.key_prefix);
    $('f-notify-url').value = str(it.notify_url);
    $('f-sse').value = ['none', 's3', 'kms'].indexOf(str(d.sse)) >= 0 ? str(d.sse) : 'none';
    $('f-sse-kms-key-id').value = str(d.sse_kms_key_id);
    $('f-role-arn').value = str(d.role_arn);
    $('f-role-session-name').value = str(d.role_session_name);
    $('f-sts-endpoint').value = str(d.sts_endpoint);
    $('f-external-id').value = '';
    $('f-external-id').placeholder = d.external_id_set ? 'unchanged' : '';
    for (const k of ['f-access-key', 'f-secret-key']) {
      $(k).value = '';
      $(k).required = false;
      $(k).placeholder = 'unchanged';
    }
    $('f-keys-hint').textContent = 'Leave both keys blank to keep the stored ones; they are never shown.';
    const fr = document.querySelector('input[name="format"][value="' + CSS.escape(str(it.format) || 'ndjson') + '"]');
    if (fr) fr.checked = true;
    $('f-compression').value = str(it.compression) || 'none';
    const f = it.filter || {};
    $('f-topic').value = str(f.topic);
    if (f.match && typeof f.match === 'object') {
      for (const k of Object.keys(f.match).sort()) addMatchRow(k, valuesText(f.match[k]));
    }
    const start = str(it.start) || 'latest';
    if (start === 'latest' || start === 'earliest') {
      $('f-start-' + start).checked = true;
    } else {
      $('f-start-time').checked = true;
      $('f-start-at').value = toLocalInput(start);
    }
    // Where a new integration begins reading is fixed once it exists.
    setStartEnabled(false);
    $('f-regular').checked = it.enabled !== false;
    if ((d.region && d.region !== 'us-east-1') || it.key_prefix || d.ca_pem || it.notify_url ||
        (d.sse && d.sse !== 'none') || d.role_arn) $('f-advanced').open = true;
    show('form-view');
    focusEl($('form-title'));
  }

  function setStartEnabled(on) {
    for (const i of document.querySelectorAll('input[name="start"], #f-start-at')) i.disabled = !on;
    $('start-fixed').hidden = on;
  }

  function toLocalInput(s) {
    const d = new Date(s);
    if (isNaN(d.getTime())) return '';
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  // formBody builds the integration from the form; it throws {field, message}
  // for what cannot be sent at all.
  function formBody() {
    const v = (id) => $(id).value.trim();
    const dest = { endpoint: v('f-endpoint'), bucket: v('f-bucket'), tls: $('f-tls').checked };
    const ak = $('f-access-key').value;
    const sk = $('f-secret-key').value;
    if (ak || !editing) dest.access_key = ak;
    if (sk || !editing) dest.secret_key = sk;
    if (v('f-region')) dest.region = v('f-region');
    if (v('f-ca') || editing) dest.ca_pem = $('f-ca').value.trim() ? $('f-ca').value : '';
    // Server-side encryption and AssumeRole. The external ID is write-only:
    // sent only when typed (blank keeps the stored one).
    if ($('f-sse').value !== 'none' || editing) dest.sse = $('f-sse').value;
    if (v('f-sse-kms-key-id') || editing) dest.sse_kms_key_id = v('f-sse-kms-key-id');
    if (v('f-role-arn') || editing) dest.role_arn = v('f-role-arn');
    if ($('f-external-id').value) dest.external_id = $('f-external-id').value;
    if (v('f-role-session-name') || editing) dest.role_session_name = v('f-role-session-name');
    if (v('f-sts-endpoint') || editing) dest.sts_endpoint = v('f-sts-endpoint');
    const body = {
      name: v('f-name'),
      destination: dest,
      format: (document.querySelector('input[name="format"]:checked') || { value: 'ndjson' }).value,
      compression: $('f-compression').value,
    };
    // The 10-minute regular notification is the integration's enabled flag.
    // An edit sends it only when changed, so editing an auto-disabled
    // integration keeps its state and reason.
    if (!editing || $('f-regular').checked !== (editing.enabled !== false)) body.enabled = $('f-regular').checked;
    if (v('f-prefix') || editing) body.key_prefix = v('f-prefix');
    if (v('f-notify-url') || editing) body.notify_url = v('f-notify-url');
    const filter = {};
    if (v('f-topic')) filter.topic = v('f-topic');
    const match = {};
    for (const row of document.querySelectorAll('#matches .match-row')) {
      const k = row.querySelector('.m-field').value.trim();
      const vals = parseValues(row.querySelector('.m-values').value);
      if (!k && vals.length === 0) continue;
      if (!k) throw { field: 'filter.match', message: 'Name the hit field of each match.' };
      if (vals.length === 0) throw { field: 'filter.match.' + k, message: 'Give at least one value for ' + k + '.' };
      match[k] = vals;
    }
    if (Object.keys(match).length > 0 || editing) filter.match = match;
    if (Object.keys(filter).length > 0) body.filter = filter;
    if (!editing) {
      const s = (document.querySelector('input[name="start"]:checked') || { value: 'latest' }).value;
      if (s === 'time') {
        const t = $('f-start-at').value;
        const d = new Date(t);
        if (!t || isNaN(d.getTime())) throw { field: 'start', message: 'Choose the time to start from.' };
        body.start = d.toISOString();
      } else {
        body.start = s;
      }
    }
    return body;
  }

  function buildOrShow() {
    clearErrors();
    try {
      return formBody();
    } catch (e) {
      if (e && e.field) { focusEl(showFieldError(e.field, e.message)); return null; }
      throw e;
    }
  }

  async function testForm() {
    const body = buildOrShow();
    if (!body) return;
    const box = $('test-result');
    const out = $('test-result-body');
    out.replaceChildren(el('p', { class: 'muted', text: 'Testing…' }));
    $('test-stale').hidden = true;
    box.hidden = false;
    $('test-button').disabled = true;
    try {
      let res;
      const storedExtID = editing && editing.destination && editing.destination.external_id_set;
      if (editing && !body.destination.access_key && !body.destination.secret_key) {
        res = await api('POST', itemPath(editing.id) + '/test', {});
        renderSteps(out, res);
        out.prepend(el('p', { class: 'muted', text: storedExtID ?
          'Tested the saved settings with the stored keys and external ID (enter the keys and the external ID to test unsaved changes).' :
          'Tested the saved settings with the stored keys (enter the keys to test unsaved changes).' }));
      } else {
        if (storedExtID && body.destination.role_arn && !body.destination.external_id) {
          throw { field: 'destination.external_id', message: 'Enter the external ID as well to test unsaved changes (the stored one is never sent back).' };
        }
        if (editing) body.destination = Object.assign({}, editing.destination, body.destination);
        delete body.destination.credentials_set;
        delete body.destination.external_id_set;
        res = await api('POST', API + '/test', body);
        renderSteps(out, res);
      }
      focusEl(box);
    } catch (e) {
      if (e.status === 401) throw e;
      if (e.field) {
        out.replaceChildren(el('p', { class: 'fail', text: 'Not tested: ' + e.message }));
        focusEl(showFieldError(e.field, e.message));
      } else {
        out.replaceChildren(el('p', { class: 'fail', text: 'The test could not run: ' + e.message }));
        focusEl(box);
      }
    } finally {
      $('test-button').disabled = false;
    }
  }

  async function saveForm() {
    const body = buildOrShow();
    if (!body) return;
    $('save-button').disabled = true;
    try {
      if (editing) {
        await api('PATCH', itemPath(editing.id), body);
        message('Saved “' + body.name + '”.');
      } else {
        await api('POST', API, body);
        message('Added “' + body.name + '”.');
      }
      editing = null;
      resetForm();
      await openList();
      focusEl($('list-title'));
    } catch (e) {
      if (e.status === 401) throw e;
      let field = e.field;
      if (!field && e.code === 'conflict') field = 'name';
      focusEl(showFieldError(field, e.message));
    } finally {
      $('save-button').disabled = false;
    }
  }

  function cancelForm() {
    editing = null;
    resetForm();
    openList().catch(() => {});
    focusEl($('list-title'));
  }

  // ---------- wiring ----------

  function init() {
    $('signin-form').addEventListener('submit', guard(async (ev) => {
      ev.preventDefault();
      const t = $('signin-token').value.trim();
      const err = $('signin-error');
      err.hidden = true;
      if (!t) {
        err.textContent = 'Enter the admin token.';
        err.hidden = false;
        focusEl($('signin-token'));
        return;
      }
      $('signin-button').disabled = true;
      try {
        await signIn(t);
        focusEl($('list-title'));
      } catch (e) {
        err.textContent = e.status === 401 ? 'This token was not accepted.' : e.message;
        err.hidden = false;
        $('signin-token').setAttribute('aria-invalid', 'true');
        focusEl($('signin-token'));
      } finally {
        $('signin-button').disabled = false;
      }
    }));
    $('signin-token').addEventListener('input', () => $('signin-token').removeAttribute('aria-invalid'));
    $('signout').addEventListener('click', () => signOut(''));
    $('add-button').addEventListener('click', () => { message(''); openAdd(); });
    $('back-button').addEventListener('click', cancelForm);
    $('cancel-button').addEventListener('click', cancelForm);
    $('add-match').addEventListener('click', () => {
      const row = addMatchRow('', '');
      focusEl(row.querySelector('.m-field'));
    });
    $('test-button').addEventListener('click', guard(testForm));
    const markStale = () => { if (!$('test-result').hidden) $('test-stale').hidden = false; };
    $('itg-form').addEventListener('input', markStale);
    $('itg-form').addEventListener('change', markStale);
    $('itg-form').addEventListener('submit', guard(async (ev) => {
      ev.preventDefault();
      await saveForm();
    }));
    $('f-start-at').addEventListener('input', () => { $('f-start-time').checked = true; });
    $('row-test-close').addEventListener('click', () => {
      $('row-test').hidden = true;
      focusEl($('list-title'));
    });
    $('confirm-cancel').addEventListener('click', closeConfirm);
    $('confirm-ok').addEventListener('click', guard(doDelete));
    $('confirm-dialog').addEventListener('cancel', (ev) => { ev.preventDefault(); closeConfirm(); });
    $('enable-cancel').addEventListener('click', closeEnable);
    $('enable-ok').addEventListener('click', guard(doEnable));
    $('enable-dialog').addEventListener('cancel', (ev) => { ev.preventDefault(); closeEnable(); });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) stopRefresh();
      else if (token() && !$('list-view').hidden) { refresh().catch(() => {}); startRefresh(); }
    });

    const t = token();
    if (!t) {
      signOut('');
      return;
    }
    $('signout').hidden = false;
    show('list-view');
    openList().then(() => focusEl($('list-title'))).catch((e) => {
      banner(e && e.message ? e.message : String(e));
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
