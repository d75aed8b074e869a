/* A meeting slip (测评会): one slip, several forms (/v/m/#M<meeting>.<token>).
 *
 * POST /api/v1/meeting-slip answers each form with its own token (derived from the
 * slip's) and its ballot form, or its state (already submitted, not open, closed).
 * vote.js renders and checks one form at a time (window.pingyiMeeting is its hook);
 * each form is then an ordinary ballot of its round with its own token, one request
 * each. "end" holds every confirmed form on this phone and sends them one after
 * another, in a random order, at the end. "each" lets the voter choose per form, on
 * the confirmation sheet: send it now (提交本份), or hold it (暂存) and go on; the held
 * forms are then sent at the end as in "end" mode. So in one meeting some voters send
 * form by form and some all at once.
 *
 * Kept on this phone only, in sessionStorage (this tab): the slip's token, the
 * receipts received and the forms confirmed but not yet sent (held), so a reload
 * resumes where the voter was. Nothing of it is sent anywhere but the API.
 */
(function () {
  'use strict';

  var STORE = 'pingyi.meeting';
  var SLIP_RE = /^M[1-9][0-9]{0,9}\.[2-9A-HJKMNP-Z]{26}$/;
  var V = null;      // vote.js's hooks
  var M = null;      // {token, meeting, forms, receipts: {rid: code}, held: {rid: answers}}
  var current = null; // the form open in vote.js
  var sending = false;
  var holding = false; // "each" mode: the voter chose 暂存 for the form being confirmed

  function $(id) { return document.getElementById(id); }

  function slipCode(raw) {
    var s = String(raw || '');
    var i = s.indexOf('#');
    if (i >= 0) s = s.slice(i + 1);
    try { s = decodeURIComponent(s); } catch (e) { /* as is */ }
    s = (s.normalize ? s.normalize('NFKC') : s).replace(/。/g, '.').replace(/[\s-]+/g, '').toUpperCase();
    return SLIP_RE.test(s) ? s : null;
  }

  function saved() {
    try { return JSON.parse(sessionStorage.getItem(STORE) || 'null'); } catch (e) { return null; }
  }

  function save() {
    try {
      sessionStorage.setItem(STORE, JSON.stringify({ token: M.token, receipts: M.receipts, held: M.held }));
    } catch (e) { /* private mode: no resume after a reload */ }
  }

  function formOf(rid) {
    return M.forms.filter(function (f) { return f.round_id === rid; })[0];
  }

  function todo() {  // forms still to fill in, in order
    return M.forms.filter(function (f) { return f.state === 'open' && !M.receipts[f.round_id] && !M.held[f.round_id]; });
  }

  function heldForms() {
    return M.forms.filter(function (f) { return M.held[f.round_id] && f.state === 'open' && !M.receipts[f.round_id]; });
  }

  /* ---------- loading a slip ---------- */

  async function load(token) {
    V.loading('正在加载测评会…');
    var data;
    try {
      data = await V.api('/meeting-slip', { token: token });
    } catch (err) {
      if (err.code === 'token_unknown' || err.code === 'token_malformed') {
        try { sessionStorage.removeItem(STORE); } catch (e) { /* nothing kept */ }
      }
      return V.showErrorState(err, 'load', function () { load(token); });
    }
    var old = saved();
    var same = old && old.token === token;
    M = { token: token, meeting: data.meeting, forms: data.forms,
          receipts: same ? old.receipts || {} : {}, held: same ? old.held || {} : {} };
    M.forms.forEach(function (f) {  // what this phone sent and the server has since counted
      if (f.state !== 'open') delete M.held[f.round_id];
    });
    save();
    overview();
  }

  /* ---------- the overview: progress across forms ---------- */

  function screen() {
    var node = $('screen-meeting');
    if (!node) {
      node = V.h('section', { id: 'screen-meeting', class: 'screen screen-meeting', hidden: true });
      $('app').appendChild(node);
    }
    return node;
  }

  function stateText(f) {
    var r = M.receipts[f.round_id];
    if (r) return ['已提交', 'ok'];
    if (f.state === 'spent') return ['已提交', 'ok'];
    if (M.held[f.round_id]) return ['已填写，待提交', 'held'];
    if (f.state === 'open') return ['待填写', 'todo'];
    if (f.state === 'not_open') return ['尚未开始', 'wait'];
    if (f.state === 'closed') return ['已结束', 'wait'];
    return [(f.error && f.error.message) || '暂不可用', 'wait'];
  }

  function overview(notice) {
    var h = V.h, node = screen();
    V.clear(node);
    var n = M.forms.length;
    var done = M.forms.filter(function (f) { return stateText(f)[1] === 'ok'; }).length;
    var end = M.meeting.submit_mode === 'end';
    var held = heldForms();
    node.appendChild(h('header', { class: 'hero' }, [
      h('h1', { class: 'hero-title', text: M.meeting.title }),
      h('p', { class: 'hero-sub', id: 'meeting-count', text: '共 ' + n + ' 份测评表 · 已提交 ' + done + ' 份' }),
      h('div', { class: 'hero-tags' }, [
        h('span', { class: 'tag', text: end ? '全部填写后一并提交' : '逐份提交' }),
        h('span', { class: 'tag tag-green', text: '无记名' })
      ])
    ]));
    if (notice) node.appendChild(h('p', { class: 'meeting-notice', role: 'status', text: notice }));
    if (!end && done + held.length < n) {
      node.appendChild(h('p', { class: 'muted small meeting-how', id: 'meeting-how',
        text: '每份填好后可立即提交，也可选择“暂存”，全部填完后一并提交。' }));
    }
    var list = h('ol', { class: 'meeting-forms', id: 'meeting-forms' });
    M.forms.forEach(function (f) {
      var st = stateText(f), r = M.receipts[f.round_id];
      list.appendChild(h('li', { class: 'meeting-form is-' + st[1], 'data-round': f.round_id }, [
        h('div', { class: 'meeting-form-head' }, [
          h('span', { class: 'meeting-form-no', text: '第' + f.position + '/' + n + '份' }),
          h('strong', { class: 'meeting-form-title', text: f.title }),
          h('span', { class: 'meeting-form-state', text: st[0] })
        ]),
        r ? h('p', { class: 'meeting-receipt' }, [
          '回执码 ', h('span', { class: 'mono receipt-inline', translate: 'no', text: r }),
          h('span', { class: 'muted', text: '  测评编号 ' + f.round_id })
        ]) : null,
        (!r && f.state === 'spent') ? h('p', { class: 'muted small',
          text: '本份已提交。为保护匿名，回执码只在提交时显示一次。' }) : null,
        (M.held[f.round_id] && !sending) ? h('button', { type: 'button', class: 'btn btn-default btn-small',
          'data-refill': f.round_id, text: '重新填写' }) : null
      ]));
    });
    node.appendChild(list);
    var next = todo()[0];
    var actions = h('div', { class: 'state-actions' });
    if (next) {
      actions.appendChild(h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'meeting-next',
        text: (done || held.length ? '填写下一份：' : '开始填写：') + '第' + next.position + '份' }));
    } else if (held.length) {
      actions.appendChild(h('button', { type: 'button', class: 'btn btn-primary btn-block', id: 'meeting-send',
        text: sending ? '提交中…' : '全部提交（' + held.length + ' 份）', disabled: sending }));
    } else if (done === n) {
      node.appendChild(h('div', { class: 'note-card' }, [
        h('p', null, [h('strong', { text: '全部测评表已提交，感谢您的参与。' })]),
        h('p', { text: '各份选票分别记录，互不关联；回执码随机生成，不包含您的任何身份信息。请截图保存回执码，结果公布后可核对。' })
      ]));
    } else {
      node.appendChild(h('p', { class: 'muted meeting-wait', text: '其余测评表尚未开始或已结束。开始后请点“刷新”。' }));
      actions.appendChild(h('button', { type: 'button', class: 'btn btn-default btn-block', id: 'meeting-reload', text: '刷新' }));
    }
    node.appendChild(actions);
    V.showScreen('meeting');
    document.title = M.meeting.title;
  }

  document.addEventListener('click', function (ev) {
    var t = ev.target;
    if (!M || !t || !t.closest) return;
    if (t.closest('#meeting-next')) return openForm(todo()[0]);
    if (t.closest('#meeting-send')) return sendHeld();
    if (t.closest('#meeting-reload')) return load(M.token);
    var refill = t.closest('[data-refill]');
    if (refill) {
      var rid = Number(refill.getAttribute('data-refill'));
      delete M.held[rid];
      save();
      return openForm(formOf(rid));
    }
  });

  /* ---------- one form, in vote.js ---------- */

  function openForm(f) {
    if (!f) return overview();
    current = f;
    V.open(f.token, f.ballot);
    var n = M.forms.length, end = M.meeting.submit_mode === 'end';
    var band = $('meeting-band');
    if (!band) {
      band = V.h('div', { id: 'meeting-band', class: 'meeting-band', role: 'status' });
      var form = $('screen-form');
      form.insertBefore(band, form.firstChild);
    }
    V.clear(band);
    band.appendChild(V.h('span', { text: M.meeting.title }));
    band.appendChild(V.h('strong', { id: 'meeting-progress', text: '第' + f.position + '/' + n + '份' }));
    var last = todo().length === 1;
    $('submit-btn').textContent = end ? (last ? '完成填写' : '下一份') : '提交本份';
    var sub = document.querySelector('#confirm .sheet-sub');
    if (sub) sub.textContent = end ? '确认后暂存在本机，全部填写完后一并提交' : '提交后不能修改；也可暂存在本机，最后一并提交';
    var choice = holdChoice();
    V.show(choice, !end && !(f.ballot && f.ballot.per_subject));
    choice.querySelector('button').textContent = last ? '暂存，回到列表一并提交' : '暂存，继续填写下一份';
  }

  /* "each" mode: the confirmation sheet's second way out, 暂存 (hold this form). */
  function holdChoice() {
    var row = $('meeting-hold-row');
    if (!row) {
      row = V.h('div', { id: 'meeting-hold-row', class: 'meeting-hold-row', hidden: true }, [
        V.h('button', { type: 'button', id: 'meeting-hold', class: 'btn btn-default btn-block' })
      ]);
      var actions = document.querySelector('#confirm .sheet-actions');
      actions.parentNode.insertBefore(row, actions.nextSibling);
    }
    return row;
  }

  document.addEventListener('click', function (ev) {
    if (!ev.target || !ev.target.closest || !ev.target.closest('#meeting-hold')) return;
    if ($('confirm-ok').disabled) return;
    holding = true;  // vote.js's submit asks hold() before it sends anything
    try { $('confirm-ok').click(); } finally { holding = false; }
  });

  /* vote.js asks before sending: the form is held here in "end" mode, or in "each"
   * mode when the voter chose 暂存. */
  function hold(token, answers) {
    if (!M || !current || current.token !== token) return false;
    if (M.meeting.submit_mode !== 'end' && !holding) return false;
    M.held[current.round_id] = answers;
    save();
    var next = todo()[0];
    if (next) {
      openForm(next);
      V.toptips('已暂存第' + current.position + '份，请继续填写', true);
    } else {
      current = null;
      overview('全部测评表已填写，请核对后点“全部提交”。');
    }
    return true;
  }

  /* vote.js reports a ballot sent ("each" mode). */
  function done(res) {
    var f = formOf(res.round_id);
    M.receipts[res.round_id] = res.receipt;
    save();
    current = null;
    var next = todo()[0];
    overview('第' + (f ? f.position : '') + '份已提交' + (next ? '，请继续填写下一份。' : '。'));
  }

  async function sendHeld() {
    if (sending) return;
    var forms = heldForms();
    for (var i = forms.length - 1; i > 0; i--) {  // a random order, one after another
      var j = Math.floor(Math.random() * (i + 1));
      var x = forms[i]; forms[i] = forms[j]; forms[j] = x;
    }
    sending = true;
    overview('正在提交…');
    var problem = null;
    for (var k = 0; k < forms.length; k++) {
      var f = forms[k];
      try {
        var res = await V.api('/ballots', { token: f.token, answers: M.held[f.round_id] });
        M.receipts[f.round_id] = res.receipt;
        delete M.held[f.round_id];
      } catch (err) {
        if (err.code === 'token_spent') {  // sent before (a cut connection): it counts
          f.state = 'spent';
          delete M.held[f.round_id];
        } else {
          problem = '第' + f.position + '份未能提交：' + (err.message || '请稍后重试') + '。已填写的内容仍保留，请点“全部提交”重试。';
          break;
        }
      }
      save();
    }
    sending = false;
    overview(problem || '全部测评表已提交。');
  }

  // A meeting code typed by hand: registered before vote.js's own handler (this script
  // runs first), which takes the rest (a round's code).
  $('entry-form').addEventListener('submit', function (ev) {
    var code = slipCode($('entry-token').value);
    if (!code || !V) return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    $('entry-token').value = '';
    load(code);
  });

  function start(vote) {
    V = vote;
    var token = slipCode(V.takeToken());
    if (!token) token = (saved() || {}).token || null;
    if (token) load(token); else V.showEntry();
  }

  /* vote.js's way back from a form that cannot be sent (already submitted, e.g. from
   * another phone or before a cut connection; or closed): the slip read again. */
  function back() {
    current = null;
    if (M) load(M.token); else V.showEntry();
  }

  window.pingyiMeeting = { start: start, hold: hold, done: done, back: back };
}());
