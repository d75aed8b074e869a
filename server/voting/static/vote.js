/* pingyi voting page (/v/#<token>).
 *
 * The token arrives in the URL fragment (never sent to a server, never in a log)
 * and is moved into memory at once; the address bar is cleaned with
 * history.replaceState. Plain ES2017, no build step, no external resources:
 * the page runs under "script-src 'self'" and inside WeChat's in-app browser.
 */
(function () {
  'use strict';

  var app = document.getElementById('app');
  var API = ((app && app.getAttribute('data-api-base')) || '/api/v1').replace(/\/$/, '');
  // A token as printed (server/tokens/codec.py): 26 characters without look-alikes,
  // or the older 22 case-sensitive url-safe characters.
  var TOKEN_RE = /^[1-9][0-9]{0,9}\.(?:[A-Za-z0-9_-]{22}|[2-9A-HJKMNP-Z]{26})$/;
  var TYPED_RE = /^[1-9][0-9]{0,9}\.[2-9A-HJKMNP-Z]{26}$/;
  var REQUEST_TIMEOUT_MS = 20000;

  var S = {
    token: null,        // in memory only
    signature: null,    // a session-QR token's unblinded blind signature (session.js)
    data: null,         // the ballot-form answer
    kind: null,
    grades: {},         // appraisal: {sid: {criterion: grade}}
    sec: {},            // appraisal: {sid: its form section (criteria, grades)}
    choices: [],        // recommendation: [ids] in list order
    triedSubmit: false, // after the first submit attempt, missing rows stay marked
    submitting: false,
    uncertain: false,   // a submit may have reached the server (network cut / 500)
    formScroll: 0,
    done: false,
    perSubject: false,  // scoring as each report ends: each subject sent on its own
    sent: {},           // perSubject: {sid: receipt or true} already sent
    pendingSid: null,   // perSubject: the subject the confirmation sheet sends
    draftKey: null      // perSubject: where unsent scores are kept on this phone
  };

  /* ---------- small helpers ---------- */

  function $(id) { return document.getElementById(id); }

  // A grade's colour from its place on its own scale (any designed scale): the upper
  // half good, the lower half a warning, the last one bad, a not-counted grade grey.
  function gradeTone(grades, g) {
    if (g.abstain) return 'abstain';
    var counted = grades.filter(function (x) { return !x.abstain; });
    var i = counted.indexOf(g), n = counted.length;
    if (n > 1 && i === n - 1) return 'low';
    return i >= n / 2 ? 'mid' : 'high';
  }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') node.textContent = v;
        else if (k === 'class') node.className = v;
        else if (v === true) node.setAttribute(k, '');
        else node.setAttribute(k, String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function show(node, on) { if (node) node.hidden = !on; }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fmtNum(x, decimals) {
    var s = Number(x).toFixed(decimals || 0);
    return decimals ? s.replace(/\.?0+$/, '') || '0' : s;
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  function fmtDeadline(epoch) {
    var d = new Date(epoch * 1000);
    var now = new Date();
    var hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    if (d.toDateString() === now.toDateString()) return '今天 ' + hm;
    return (d.getMonth() + 1) + '月' + d.getDate() + '日 ' + hm;
  }

  function ApiError(code, message, status, field) {
    this.code = code;
    this.message = message;
    this.status = status || 0;
    this.field = field || null;
  }

  var NET_MESSAGE = '网络连接失败，请检查网络后重试';
  var BUSY_MESSAGE = '服务暂时不可用，请稍候重试';

  async function api(path, body) {
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, REQUEST_TIMEOUT_MS) : null;
    var resp;
    try {
      resp = await fetch(API + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: ctrl ? ctrl.signal : undefined
      });
    } catch (e) {
      throw new ApiError('network', NET_MESSAGE, 0);
    } finally {
      if (timer) clearTimeout(timer);
    }
    var data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (resp.ok && data && !data.error) return data;
    var err = data && data.error;
    if (err && err.code) throw new ApiError(err.code, err.message || err.message_en, resp.status, err.field);
    if (resp.status >= 500 || resp.status === 0) {
      throw new ApiError('service_unavailable', BUSY_MESSAGE, resp.status);
    }
    throw new ApiError('http_' + resp.status, '请求失败（' + resp.status + '），请稍后重试', resp.status);
  }

  // A session-QR token goes with its signature (server/voting/static/session.js).
  function signed(body) {
    if (S.signature && body.token === S.token) body.signature = S.signature;
    return body;
  }

  /* ---------- screens ---------- */

  var SCREENS = ['loading', 'entry', 'form', 'done', 'state', 'meeting'];
  var current = 'loading';

  function showScreen(name) {
    if (current === 'form' && name !== 'form') S.formScroll = window.pageYOffset || 0;
    SCREENS.forEach(function (s) { show($('screen-' + s), s === name); });
    show($('bottom-bar'), name === 'form');
    hideToast();
    document.body.classList.toggle('has-bar', name === 'form');
    if (name !== 'form') closeSheet();
    var prev = current;
    current = name;
    if (name === 'form' && prev !== 'form') window.scrollTo(0, S.formScroll);
    else if (name !== 'form') window.scrollTo(0, 0);
  }

  function loading(text) {
    $('loading-text').textContent = text || '正在加载…';
    showScreen('loading');
  }

  var ICONS = {
    wait: '<svg viewBox="0 0 48 48" width="44" height="44"><circle cx="24" cy="24" r="19" fill="none" stroke="currentColor" stroke-width="3.5"/><path d="M24 13v12l8 5" fill="none" stroke="currentColor" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    closed: '<svg viewBox="0 0 48 48" width="44" height="44"><rect x="10" y="21" width="28" height="20" rx="3" fill="none" stroke="currentColor" stroke-width="3.5"/><path d="M16 21v-5a8 8 0 0 1 16 0v5" fill="none" stroke="currentColor" stroke-width="3.5"/></svg>',
    used: '<svg viewBox="0 0 48 48" width="44" height="44"><circle cx="24" cy="24" r="19" fill="none" stroke="currentColor" stroke-width="3.5"/><path d="M15 24.5l6.5 6.5L33 18" fill="none" stroke="currentColor" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    bad: '<svg viewBox="0 0 48 48" width="44" height="44"><circle cx="24" cy="24" r="19" fill="none" stroke="currentColor" stroke-width="3.5"/><path d="M24 14v13" stroke="currentColor" stroke-width="3.5" stroke-linecap="round"/><circle cx="24" cy="33.5" r="2.4" fill="currentColor"/></svg>',
    net: '<svg viewBox="0 0 48 48" width="44" height="44"><path d="M6 19a26 26 0 0 1 36 0M12 26a17 17 0 0 1 24 0M18 33a8 8 0 0 1 12 0" fill="none" stroke="currentColor" stroke-width="3.5" stroke-linecap="round"/><circle cx="24" cy="39" r="2.5" fill="currentColor"/></svg>'
  };

  /* opts: {icon, tone, title, text, extra, primary: [label, fn], secondary: [label, fn]} */
  function showState(opts) {
    var icon = $('state-icon');
    icon.className = 'state-icon state-icon-' + (opts.tone || 'info');
    icon.innerHTML = ICONS[opts.icon] || ICONS.bad; // static markup above, no user data
    $('state-title').textContent = opts.title;
    $('state-text').textContent = opts.text || '';
    $('state-extra').textContent = opts.extra || '';
    show($('state-extra'), !!opts.extra);
    setAction($('state-primary'), opts.primary);
    setAction($('state-secondary'), opts.secondary);
    showScreen('state');
    document.title = opts.title;
  }

  function setAction(btn, action) {
    show(btn, !!action);
    btn.onclick = null;
    if (action) {
      btn.textContent = action[0];
      btn.onclick = action[1];
    }
  }

  var VALIDATION_CODES = /^(missing_|unknown_subject|unknown_criterion|unknown_item|unknown_candidate|invalid_grade|too_many_choices|too_few_choices|duplicate_choice|score_|answers_|invalid_input)/;

  /* Map an error to a full-screen state. phase: "load" or "submit". */
  function showErrorState(err, phase, retry) {
    var backToForm = phase === 'submit' && S.data ? ['返回查看选票', function () { showScreen('form'); }] : null;
    // a form of a meeting slip that can no longer be sent: back to the slip's forms
    var backToList = MEETING ? ['返回测评表列表', MEETING.back] : null;
    var msg = err.message || '';
    switch (err.code) {
      case 'round_not_open':
        return showState({ icon: 'wait', tone: 'warn', title: '投票尚未开始',
          text: msg || '投票尚未开始，请等待主持人宣布开始',
          extra: '主持人宣布开始后，请点“刷新”进入投票。',
          primary: ['刷新', retry] });
      case 'round_closed':
        return showState({ icon: 'closed', tone: 'grey', title: '投票已结束',
          text: msg || '投票已结束，感谢您的参与',
          extra: phase === 'submit' ? '本张选票未被记录。' : '', primary: backToList });
      case 'token_spent':
        return showState({ icon: 'used', tone: 'info', title: '该投票码已使用',
          text: msg || '该投票码已经投过票，不能重复投票',
          extra: S.uncertain
            ? '如果您刚才提交时网络中断，您的选票很可能已经成功记录。为保护匿名，回执码无法再次显示。'
            : '每张选票只能投票一次。如有疑问，请联系会议工作人员。', primary: backToList });
      case 'token_unknown':
      case 'token_malformed':
        return showState({ icon: 'bad', tone: 'error', title: '投票码无效',
          text: msg || '投票码无效，请确认扫描的是本次会议发放的选票',
          primary: ['手动输入投票码', function () { showEntry(); }] });
      case 'token_in_use':
        return showState({ icon: 'wait', tone: 'warn', title: '选票正在提交中',
          text: msg || '该投票码的选票正在提交中，请勿重复提交',
          extra: '请稍候几秒再点“重试”查看结果。',
          primary: ['重试', retry], secondary: backToForm });
      case 'network':
        return showState({ icon: 'net', tone: 'warn', title: '网络连接失败',
          text: phase === 'submit' ? '选票可能未能送达，请检查网络后重试。' : '请检查网络后重试。',
          extra: phase === 'submit' ? '您填写的内容已保留。重试不会重复计票。' : '',
          primary: ['重试', retry], secondary: backToForm });
      default:
        if (phase === 'submit' && VALIDATION_CODES.test(err.code)) {
          showScreen('form');
          markServerField(err.field);
          return toptips(msg || '选票内容不符合要求，请检查后重新提交');
        }
        return showState({ icon: 'net', tone: 'warn',
          title: err.status === 429 ? '操作过于频繁' : '服务暂时不可用',
          text: msg || BUSY_MESSAGE,
          extra: phase === 'submit' ? '您填写的内容已保留，请稍候点“重试”。' : '',
          primary: ['重试', retry], secondary: backToForm });
    }
  }

  /* ---------- toast / top tips ---------- */

  var toastTimer = null;
  function hideToast() {
    clearTimeout(toastTimer);
    show($('toast'), false);
  }

  function toptips(text, ok) {
    var t = $('toast');
    t.textContent = text;
    t.className = 'toast' + (ok ? ' toast-ok' : '');
    show(t, true);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { show(t, false); }, 3500);
  }

  /* ---------- entry of a token by hand ---------- */

  function extractToken(raw) {
    var s = String(raw || '');
    var i = s.indexOf('#');
    if (i >= 0) s = s.slice(i + 1);
    try { s = decodeURIComponent(s); } catch (e) { /* keep as is */ }
    return s.replace(/\s+/g, '');
  }

  // A code typed by hand, as printed: any case, spaces or dashes, full-width
  // characters, 。 for the dot, O/I/L for 0/1 in the round id (as canonical_token).
  function typedToken(raw) {
    if (TOKEN_RE.test(raw)) return raw;
    var s = raw.normalize ? raw.normalize('NFKC') : raw;
    s = s.replace(/。/g, '.').replace(/[\s-]+/g, '').toUpperCase();
    var dot = s.indexOf('.');
    if (dot > 0) s = s.slice(0, dot).replace(/O/g, '0').replace(/[IL]/g, '1') + s.slice(dot);
    return TYPED_RE.test(s) ? s : null;
  }

  // A meeting slip's code (M<meeting>.<26>), scanned or typed, on this page for one
  // round: the meeting's own page (/v/m/) takes it, the code still in the fragment.
  var MEETING_CODE_RE = /^M[1-9][0-9]{0,9}\.[2-9A-HJKMNP-Z]{26}$/;
  function toMeetingPage(raw) {
    var s = raw.normalize ? raw.normalize('NFKC') : raw;
    s = s.replace(/。/g, '.').replace(/[\s-]+/g, '').toUpperCase();
    if (!MEETING_CODE_RE.test(s)) return false;
    location.replace(($('app').getAttribute('data-meeting-page') || '/v/m/') + '#' + s);
    return true;
  }

  function showEntry(message) {
    showScreen('entry');
    document.title = '评议投票';
    var e = $('entry-error');
    e.textContent = message || '';
    show(e, !!message);
    if (message) $('entry-token').focus();
  }

  $('entry-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var token = extractToken($('entry-token').value);
    if (!token) return showEntry('请输入选票上的投票码');
    if (!MEETING && toMeetingPage(token)) return;
    token = typedToken(token);
    if (!token) return showEntry('投票码格式不正确，请核对后重新输入');
    $('entry-token').value = '';
    loadForm(token, true);
  });

  $('lookup-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var rid = parseInt(String($('lookup-round').value).replace(/\D/g, ''), 10);
    var out = $('lookup-result');
    if (!rid) return checkResult(out, '请输入测评编号（回执页面上显示）', 'warn');
    checkReceipt(rid, $('lookup-receipt').value, out);
  });

  /* ---------- loading the ballot ---------- */

  async function loadForm(token, fromEntry) {
    loading('正在加载选票…');
    var data;
    try {
      data = await api('/ballot-form', signed({ token: token }));
    } catch (err) {
      if (err.code === 'round_closed' || err.code === 'token_unknown') await forgetSlip(token);
      if (fromEntry && (err.code === 'token_unknown' || err.code === 'token_malformed')) {
        return showEntry(err.message || '投票码无效');
      }
      return showErrorState(err, 'load', function () { loadForm(token, fromEntry); });
    }
    if (S.data && S.token === token && S.data.round.id === data.round.id) {
      return showScreen('form'); // already built: keep what the voter entered
    }
    S.token = token;
    S.uncertain = false;
    S.done = false;
    buildForm(data);
    showScreen('form');
    window.scrollTo(0, 0);
    if (S.perSubject) await resumeDraft(token);
  }

  function buildForm(data) {
    S.data = data;
    S.kind = data.form.kind;
    S.grades = {};
    S.choices = [];
    S.triedSubmit = false;
    S.formScroll = 0;
    S.perSubject = !!data.per_subject && data.form.kind === 'scoring';
    S.sent = {};
    S.pendingSid = null;
    (data.scored || []).forEach(function (sid) { S.sent[sid] = true; });
    document.body.classList.toggle('per-subject', S.perSubject);
    var round = data.round;
    show($('rehearsal-band'), !!data.rehearsal); // 演练: its ballots never count
    document.title = (data.rehearsal ? '【演练】' : '') + (round.title || '评议投票');
    $('round-title').textContent = round.title;
    $('form-name').textContent = data.form.name;
    $('form-desc').textContent = data.form.description || '';
    show($('form-desc'), !!data.form.description);
    var cat = $('category-tag');
    cat.textContent = data.category ? '参评身份：' + data.category : '';
    show(cat, !!data.category);
    var dl = $('deadline-tag');
    dl.textContent = round.closes_at ? '截止 ' + fmtDeadline(round.closes_at) : '';
    show(dl, !!round.closes_at);

    var ballot = $('ballot');
    clear(ballot);
    if (S.kind === 'appraisal') buildAppraisal(ballot, data);
    else if (S.kind === 'recommendation') buildRecommendation(ballot, data);
    else buildScoring(ballot, data);
    updateProgress();
  }

  /* ---------- appraisal ---------- */

  /* The form's sections, each with its own criteria and grade scale; a subject is
   * rated in the one its `section` names (the first when it names none). */
  function formSections(form) {
    return form.sections && form.sections.length ? form.sections
      : [{ key: '', label: '', description: '', criteria: form.criteria, grades: form.grades }];
  }

  function sectionHead(sec, count) {
    return h('div', { class: 'section-head', id: 'sec-' + sec.key }, [
      h('h2', { class: 'section-title' }, [
        h('span', { text: sec.label }),
        h('span', { class: 'section-count', text: '共 ' + count + ' 个' })
      ]),
      sec.description ? h('p', { class: 'section-desc', text: sec.description }) : null
    ]);
  }

  function buildAppraisal(root, data) {
    var sections = formSections(data.form);
    var byKey = {};
    sections.forEach(function (sec) { byKey[sec.key] = sec; });
    S.sec = {};
    data.subjects.forEach(function (subj) { S.sec[subj.id] = byKey[subj.section] || sections[0]; });
    // subjects grouped by section, in the form's order (each group in the round's order)
    data.subjects = sections.reduce(function (all, sec) {
      return all.concat(data.subjects.filter(function (subj) { return S.sec[subj.id] === sec; }));
    }, []);
    var multi = sections.length > 1;
    $('form-hint').textContent = multi
      ? '请对每个测评对象的每项指标选择一个等次（共 ' + data.subjects.length + ' 个对象，分 ' +
        sections.length + ' 个部分，各部分等次不同）。'
      : '请对每位测评对象的每项指标选择一个等次（共 ' + data.subjects.length + ' 位，每位 ' +
        sections[0].criteria.length + ' 项）。';
    var idx = 0, current = null;
    data.subjects.forEach(function (subj) {
      var sec = S.sec[subj.id];
      var criteria = sec.criteria, grades = sec.grades, best = grades[0];
      if (multi && sec !== current) {
        current = sec;
        idx = 0;
        root.appendChild(sectionHead(sec, data.subjects.filter(function (x) { return S.sec[x.id] === sec; }).length));
      }
      idx += 1;
      S.grades[subj.id] = {};
      var card = h('section', { class: 'card subject-card', id: 'subj-' + subj.id, 'data-sid': subj.id }, [
        h('div', { class: 'card-head' }, [
          h('span', { class: 'subject-index', text: String(idx) }),
          h('div', { class: 'subject-meta' }, [
            h('h2', { class: 'subject-name', text: subj.name }),
            subj.note ? h('p', { class: 'subject-note', text: subj.note }) : null
          ]),
          h('span', { class: 'subject-status', id: 'status-' + subj.id })
        ]),
        h('div', { class: 'quick-row' }, [
          h('button', { type: 'button', class: 'quick-fill', 'data-sid': subj.id, 'data-grade': best.key,
            text: (multi ? '全部选“' : '本人全部选“') + best.label + '”' })
        ])
      ]);
      criteria.forEach(function (crit) {
        var labelId = 'lbl-' + subj.id + '-' + crit.key;
        var chips = h('div', { class: 'chips', role: 'radiogroup', 'aria-labelledby': labelId });
        chips.style.gridTemplateColumns = 'repeat(' + Math.min(grades.length, 5) + ', minmax(0, 1fr))';
        grades.forEach(function (g) {
          chips.appendChild(h('label', { class: 'chip', 'data-grade': g.key, 'data-tone': gradeTone(grades, g) }, [
            h('input', { type: 'radio', name: 'a-' + subj.id + '-' + crit.key, value: g.key,
              'data-sid': subj.id, 'data-crit': crit.key }),
            h('span', { text: g.label })
          ]));
        });
        card.appendChild(h('div', { class: 'crit-row', id: 'row-' + subj.id + '-' + crit.key,
          'data-sid': subj.id, 'data-key': crit.key }, [
          h('p', { class: 'crit-label', id: labelId, text: crit.label }),
          chips
        ]));
      });
      root.appendChild(card);
      updateSubjectStatus(subj.id);
    });
  }

  /* Mirror the checked radio onto its chip (no :has() in older WebViews). */
  function syncChips(row) {
    Array.prototype.forEach.call(row.querySelectorAll('.chip'), function (chip) {
      chip.classList.toggle('is-checked', chip.querySelector('input').checked);
    });
  }

  function appraisalSubjectDone(sid) {
    var row = S.grades[sid] || {};
    return S.sec[sid].criteria.filter(function (c) { return row[c.key]; }).length;
  }

  /* ---------- recommendation ---------- */

  function choiceHint(form) {
    var lo = form.min_choices, hi = form.max_choices;
    if (lo === hi) return '请推荐 ' + hi + ' 人';
    if (!lo) return '最多推荐 ' + hi + ' 人';
    return '请推荐 ' + lo + '～' + hi + ' 人';
  }

  function buildRecommendation(root, data) {
    var form = data.form;
    $('form-hint').textContent = choiceHint(form) + '，在候选人前打勾。';
    var list = h('div', { class: 'cand-list' });
    data.subjects.forEach(function (subj) {
      list.appendChild(h('label', { class: 'cand-row', id: 'cand-' + subj.id }, [
        h('input', { type: 'checkbox', name: 'choice', value: subj.id }),
        h('span', { class: 'check', 'aria-hidden': 'true' }),
        h('span', { class: 'cand-text' }, [
          h('span', { class: 'cand-name', text: subj.name }),
          subj.note ? h('span', { class: 'cand-note', text: subj.note }) : null
        ])
      ]));
    });
    root.appendChild(h('section', { class: 'card cand-card', id: 'cand-card' }, [
      h('div', { class: 'cand-head' }, [
        h('h2', { class: 'cand-title', text: '候选人名单' }),
        h('span', { class: 'cand-counter', id: 'cand-counter' })
      ]),
      h('p', { class: 'cand-rule', text: choiceHint(form) + (form.min_choices ? '，至少 ' + form.min_choices + ' 人' : '') +
        '，最多 ' + form.max_choices + ' 人。' }),
      list,
      h('p', { class: 'cand-limit', id: 'cand-limit', hidden: true,
        text: '已选满 ' + form.max_choices + ' 人。如需更换，请先取消一位已选的候选人。' })
    ]));
    updateChoices();
  }

  function updateChoices() {
    var form = S.data.form;
    var boxes = Array.prototype.slice.call($('ballot').querySelectorAll('input[name="choice"]'));
    S.choices = boxes.filter(function (b) { return b.checked; }).map(function (b) { return Number(b.value); });
    var full = S.choices.length >= form.max_choices;
    boxes.forEach(function (b) {
      b.disabled = full && !b.checked;
      b.parentNode.classList.toggle('is-disabled', b.disabled);
      b.parentNode.classList.toggle('is-checked', b.checked);
    });
    show($('cand-limit'), full);
    $('cand-counter').textContent = '已选 ' + S.choices.length + '/' + form.max_choices;
  }

  /* ---------- scoring ---------- */

  function itemWeight(item) { return typeof item.weight === 'number' ? item.weight : 1; }

  function buildScoring(root, data) {
    var form = data.form;
    var dec = form.decimals || 0;
    var step = dec ? fmtNum(Math.pow(10, -dec), dec) : '1';
    var maxTotal = form.items.reduce(function (t, i) { return t + i.max * itemWeight(i); }, 0);
    $('form-hint').textContent = '请对每位述职人逐项打分' + (dec ? '（最多保留 ' + dec + ' 位小数）' : '（请填整数）') +
      (S.perSubject ? '。每位述职人述职结束后，请提交对其的评分，提交后不能修改；未提交的分数只保存在本手机上。' : '。');
    data.subjects.forEach(function (subj, idx) {
      var card = h('section', { class: 'card subject-card', id: 'subj-' + subj.id, 'data-sid': subj.id }, [
        h('div', { class: 'card-head' }, [
          h('span', { class: 'subject-index', text: String(idx + 1) }),
          h('div', { class: 'subject-meta' }, [
            h('h2', { class: 'subject-name', text: subj.name }),
            subj.note ? h('p', { class: 'subject-note', text: subj.note }) : null
          ]),
          h('span', { class: 'subject-status', id: 'status-' + subj.id })
        ])
      ]);
      form.items.forEach(function (item) {
        var inputId = 'in-' + subj.id + '-' + item.key;
        card.appendChild(h('div', { class: 'score-row', id: 'row-' + subj.id + '-' + item.key,
          'data-sid': subj.id, 'data-key': item.key }, [
          h('label', { class: 'score-label', for: inputId }, [
            h('span', { class: 'score-name', text: item.label }),
            h('span', { class: 'score-hint', text: fmtNum(item.min, dec) + '～' + fmtNum(item.max, dec) + ' 分' })
          ]),
          h('div', { class: 'score-box' }, [
            h('input', { type: 'number', inputmode: 'decimal', class: 'score-input', id: inputId,
              min: item.min, max: item.max, step: step, placeholder: '满分' + fmtNum(item.max, dec),
              'data-sid': subj.id, 'data-key': item.key, enterkeyhint: 'next' }),
            h('span', { class: 'score-unit', text: '分' })
          ]),
          h('p', { class: 'row-error', id: 'err-' + subj.id + '-' + item.key, hidden: true })
        ]));
      });
      card.appendChild(h('div', { class: 'score-total' }, [
        h('span', { text: '合计' }),
        h('span', { class: 'score-total-value' }, [
          h('strong', { id: 'total-' + subj.id, text: '—' }),
          ' / ' + fmtNum(maxTotal, dec) + ' 分'
        ])
      ]));
      if (S.perSubject) {
        card.appendChild(h('div', { class: 'send-row' }, [
          h('button', { type: 'button', class: 'btn btn-primary btn-block send-subject', id: 'send-' + subj.id,
            'data-sid': subj.id, text: '提交对' + subj.name + '的评分' }),
          h('p', { class: 'sent-note', id: 'sent-' + subj.id, hidden: true })
        ]));
      }
      root.appendChild(card);
      if (S.sent[subj.id]) markSent(subj.id, null);
      updateSubjectStatus(subj.id);
    });
  }

  /* Check one score input: {value} or {error, empty}. */
  function readScore(input, item) {
    var dec = S.data.form.decimals || 0;
    var raw = String(input.value).trim();
    if (input.validity && input.validity.badInput) return { error: '分数必须是数字' };
    if (raw === '') return { empty: true, error: '请填写分数' };
    var x = Number(raw);
    if (!isFinite(x)) return { error: '分数必须是数字' };
    if (x < item.min || x > item.max) {
      return { error: item.label + '的分数应在 ' + fmtNum(item.min, dec) + '～' + fmtNum(item.max, dec) + ' 之间' };
    }
    var scale = Math.pow(10, dec);
    if (Math.abs(x * scale - Math.round(x * scale)) > 1e-6) {
      return { error: dec ? '分数最多保留 ' + dec + ' 位小数' : '分数须为整数' };
    }
    return { value: dec ? Math.round(x * scale) / scale : Math.round(x) };
  }

  function scoreInput(sid, key) { return $('in-' + sid + '-' + key); }

  function scoringSubject(sid) {
    var form = S.data.form;
    var done = 0, total = 0;
    form.items.forEach(function (item) {
      var r = readScore(scoreInput(sid, item.key), item);
      if (r.value !== undefined) { done += 1; total += r.value * itemWeight(item); }
    });
    return { done: done, total: total };
  }

  function showRowError(sid, key, text) {
    var e = $('err-' + sid + '-' + key);
    var row = $('row-' + sid + '-' + key);
    if (!e || !row) return;
    e.textContent = text || '';
    show(e, !!text);
    row.classList.toggle('is-invalid', !!text);
  }

  function itemByKey(key) {
    return S.data.form.items.filter(function (i) { return i.key === key; })[0];
  }

  /* ---------- progress ---------- */

  function updateSubjectStatus(sid) {
    var node = $('status-' + sid);
    if (!node) return;
    var done, need;
    if (S.kind === 'appraisal') {
      done = appraisalSubjectDone(sid);
      need = S.sec[sid].criteria.length;
    } else {
      var sc = scoringSubject(sid);
      done = sc.done;
      need = S.data.form.items.length;
      $('total-' + sid).textContent = done ? fmtNum(sc.total, S.data.form.decimals || 0) : '—';
    }
    node.textContent = done >= need ? '已完成' : done + '/' + need;
    node.classList.toggle('is-done', done >= need);
    var card = $('subj-' + sid);
    if (card) card.classList.toggle('is-complete', done >= need);
  }

  function progress() {
    var form = S.data.form;
    if (S.kind === 'recommendation') {
      var n = S.choices.length;
      return { text: '已选 ' + n + '/' + form.max_choices + (form.min_choices ? '（至少 ' + form.min_choices + ' 人）' : ''),
        frac: n / form.max_choices, complete: n >= form.min_choices && n <= form.max_choices };
    }
    var subjects = S.data.subjects;
    if (S.perSubject) {
      var sent = subjects.filter(function (s) { return S.sent[s.id]; }).length;
      return { text: '已提交 ' + sent + '/' + subjects.length + ' 位述职人', frac: sent / subjects.length,
        complete: sent === subjects.length };
    }
    var cells = 0, full = 0, all = 0;
    subjects.forEach(function (s) {
      var per = S.kind === 'appraisal' ? S.sec[s.id].criteria.length : form.items.length;
      var d = S.kind === 'appraisal' ? appraisalSubjectDone(s.id) : scoringSubject(s.id).done;
      cells += d;
      all += per;
      if (d >= per) full += 1;
    });
    return { text: '已完成 ' + full + '/' + subjects.length, frac: cells / all,
      complete: full === subjects.length };
  }

  function updateProgress() {
    var p = progress();
    $('progress-text').textContent = p.text;
    $('progress-fill').style.width = Math.round(Math.min(1, p.frac) * 100) + '%';
    $('submit-btn').classList.toggle('is-incomplete', !p.complete);
  }

  /* ---------- events on the ballot ---------- */

  $('ballot').addEventListener('change', function (ev) {
    var t = ev.target;
    hideToast();
    if (S.kind === 'appraisal' && t.type === 'radio') {
      var sid = t.getAttribute('data-sid');
      S.grades[sid][t.getAttribute('data-crit')] = t.value;
      var row = $('row-' + sid + '-' + t.getAttribute('data-crit'));
      if (row) {
        row.classList.remove('is-missing');
        syncChips(row);
      }
      updateSubjectStatus(sid);
    } else if (S.kind === 'recommendation' && t.type === 'checkbox') {
      updateChoices();
      $('cand-card').classList.remove('is-missing');
    } else if (S.kind === 'scoring' && t.classList.contains('score-input')) {
      var item = itemByKey(t.getAttribute('data-key'));
      var r = readScore(t, item);
      showRowError(t.getAttribute('data-sid'), item.key, r.empty && !S.triedSubmit ? '' : r.error);
      if (!r.error) $('row-' + t.getAttribute('data-sid') + '-' + item.key).classList.remove('is-missing');
      saveDraft();
    }
    updateProgress();
  });

  $('ballot').addEventListener('input', function (ev) {
    var t = ev.target;
    if (S.kind !== 'scoring' || !t.classList.contains('score-input')) return;
    hideToast();
    var sid = t.getAttribute('data-sid');
    var item = itemByKey(t.getAttribute('data-key'));
    var r = readScore(t, item);
    // While typing, only clear an error or show a range error (never nag about empty).
    if (!r.error) showRowError(sid, item.key, '');
    else if (!r.empty && /之间/.test(r.error)) showRowError(sid, item.key, r.error);
    updateSubjectStatus(sid);
    updateProgress();
    saveDraft();
  });

  $('ballot').addEventListener('click', function (ev) {
    var send = ev.target.closest ? ev.target.closest('.send-subject') : null;
    if (send) return askSendSubject(Number(send.getAttribute('data-sid')));
    var btn = ev.target.closest ? ev.target.closest('.quick-fill') : null;
    if (!btn) return;
    var sid = btn.getAttribute('data-sid');
    var grade = btn.getAttribute('data-grade');
    hideToast();
    var card = $('subj-' + sid);
    Array.prototype.forEach.call(card.querySelectorAll('input[type="radio"]'), function (r) {
      if (r.value === grade) {
        r.checked = true;
        S.grades[sid][r.getAttribute('data-crit')] = grade;
      }
    });
    Array.prototype.forEach.call(card.querySelectorAll('.crit-row'), function (row) {
      row.classList.remove('is-missing');
      syncChips(row);
    });
    updateSubjectStatus(sid);
    updateProgress();
  });

  $('ballot').addEventListener('keydown', function (ev) {
    // Enter in a score box moves on instead of submitting the form.
    if (ev.key !== 'Enter' || !ev.target.classList.contains('score-input')) return;
    ev.preventDefault();
    var inputs = Array.prototype.slice.call($('ballot').querySelectorAll('.score-input'));
    var next = inputs[inputs.indexOf(ev.target) + 1];
    if (next) next.focus(); else ev.target.blur();
  });

  $('ballot').addEventListener('submit', function (ev) { ev.preventDefault(); });

  function chipFocus(ev, on) {
    var chip = ev.target.closest ? ev.target.closest('.chip') : null;
    if (chip) chip.classList.toggle('is-focus', on && chip.querySelector('input').matches(':focus-visible'));
  }
  $('ballot').addEventListener('focusin', function (ev) {
    try { chipFocus(ev, true); } catch (e) { /* no :focus-visible */ }
  });
  $('ballot').addEventListener('focusout', function (ev) { chipFocus(ev, false); });

  /* ---------- validation (mirrors server/forms/answers.py) ---------- */

  function validate() {
    var form = S.data.form;
    var problems = [];
    if (S.kind === 'appraisal') {
      S.data.subjects.forEach(function (s) {
        S.sec[s.id].criteria.forEach(function (c) {
          if (!S.grades[s.id][c.key]) {
            problems.push({ el: $('row-' + s.id + '-' + c.key),
              message: '请为“' + s.name + '”的“' + c.label + '”选择等次' });
          }
        });
      });
    } else if (S.kind === 'recommendation') {
      var n = S.choices.length;
      if (n < form.min_choices) {
        problems.push({ el: $('cand-card'), message: '至少需要推荐 ' + form.min_choices + ' 人，您已选 ' + n + ' 人' });
      } else if (n > form.max_choices) {
        problems.push({ el: $('cand-card'), message: '最多只能推荐 ' + form.max_choices + ' 人' });
      }
    } else {
      S.data.subjects.forEach(function (s) {
        form.items.forEach(function (item) {
          var r = readScore(scoreInput(s.id, item.key), item);
          if (r.error) {
            problems.push({ el: $('row-' + s.id + '-' + item.key), input: scoreInput(s.id, item.key),
              sid: s.id, key: item.key, empty: r.empty,
              message: r.empty ? '请为“' + s.name + '”的“' + item.label + '”打分' : '“' + s.name + '”：' + r.error });
            showRowError(s.id, item.key, r.empty ? '请填写分数' : r.error);
          }
        });
      });
    }
    return problems;
  }

  function focusProblem(p) {
    var el = p.el;
    if (!el) return;
    el.classList.remove('flash');
    void el.offsetWidth; // restart the animation
    el.classList.add('flash');
    var reduce = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    try { el.scrollIntoView({ behavior: reduce ? 'auto' : 'smooth', block: 'center' }); } catch (e) { el.scrollIntoView(); }
    if (p.input) {
      try { p.input.focus({ preventScroll: true }); } catch (e) { p.input.focus(); }
    }
  }

  function markServerField(field) {
    // field looks like "answers.<sid>.<key>", "answers.<sid>" or "answers.choices"
    var parts = String(field || '').split('.');
    var el = null;
    if (parts[1] === 'choices') el = $('cand-card');
    else if (parts.length >= 3) el = $('row-' + parts[1] + '-' + parts[2]);
    if (!el && parts[1]) el = $('subj-' + parts[1]);
    if (el) {
      el.classList.add('is-missing');
      focusProblem({ el: el });
    }
  }

  $('submit-btn').addEventListener('click', function () {
    if (S.submitting) return;
    S.triedSubmit = true;
    var problems = validate();
    Array.prototype.forEach.call($('ballot').querySelectorAll('.is-missing'), function (n) { n.classList.remove('is-missing'); });
    if (problems.length) {
      problems.forEach(function (p) { if (p.el) p.el.classList.add('is-missing'); });
      var more = problems.length > 1 ? '（还有 ' + problems.length + ' 项待完成）' : '';
      toptips(problems[0].message + more);
      focusProblem(problems[0]);
      return;
    }
    openSheet();
  });

  /* ---------- confirmation sheet ---------- */

  function buildAnswers() {
    var form = S.data.form;
    if (S.kind === 'recommendation') return { choices: S.choices.slice() };
    var out = {};
    S.data.subjects.forEach(function (s) {
      var row = {};
      if (S.kind === 'appraisal') {
        S.sec[s.id].criteria.forEach(function (c) { row[c.key] = S.grades[s.id][c.key]; });
      } else {
        form.items.forEach(function (item) { row[item.key] = readScore(scoreInput(s.id, item.key), item).value; });
      }
      out[String(s.id)] = row;
    });
    return out;
  }

  function summary() {
    var form = S.data.form;
    var body = h('div', { class: 'summary' });
    if (S.kind === 'recommendation') {
      var names = S.data.subjects.filter(function (s) { return S.choices.indexOf(s.id) >= 0; });
      body.appendChild(h('p', { class: 'sum-lead', text: '您推荐以下 ' + names.length + ' 人：' }));
      body.appendChild(h('ol', { class: 'sum-list' }, names.map(function (s) {
        return h('li', null, [h('strong', { text: s.name }), s.note ? h('span', { class: 'muted', text: '  ' + s.note }) : null]);
      })));
      return body;
    }
    var multi = S.kind === 'appraisal' && formSections(form).length > 1;
    var current = null;
    S.data.subjects.filter(function (s) { return !S.pendingSid || s.id === S.pendingSid; }).forEach(function (s) {
      var rows = [];
      var totalText = null;
      if (S.kind === 'appraisal') {
        var sec = S.sec[s.id], gradeLabel = {}, gradeOf = {};
        sec.grades.forEach(function (g) { gradeLabel[g.key] = g.label; gradeOf[g.key] = g; });
        if (multi && sec !== current) {
          current = sec;
          body.appendChild(h('p', { class: 'sum-section', text: sec.label }));
        }
        sec.criteria.forEach(function (c) {
          var g = S.grades[s.id][c.key];
          rows.push(h('div', { class: 'sum-row' }, [
            h('span', { class: 'sum-k', text: c.label }),
            h('span', { class: 'sum-v tone-' + gradeTone(sec.grades, gradeOf[g]), text: gradeLabel[g] })
          ]));
        });
      } else {
        var sc = scoringSubject(s.id);
        form.items.forEach(function (item) {
          var v = readScore(scoreInput(s.id, item.key), item).value;
          rows.push(h('div', { class: 'sum-row' }, [
            h('span', { class: 'sum-k', text: item.label }),
            h('span', { class: 'sum-v', text: fmtNum(v, form.decimals || 0) + ' 分' })
          ]));
        });
        totalText = '合计 ' + fmtNum(sc.total, form.decimals || 0) + ' 分';
      }
      body.appendChild(h('div', { class: 'sum-subject' }, [
        h('div', { class: 'sum-head' }, [
          h('strong', { text: s.name }),
          totalText ? h('span', { class: 'sum-total', text: totalText }) : (s.note ? h('span', { class: 'muted', text: s.note }) : null)
        ]),
        h('div', { class: 'sum-grid' }, rows)
      ]));
    });
    return body;
  }

  function openSheet() {
    var body = $('confirm-body');
    hideToast();
    clear(body);
    body.appendChild(summary());
    body.scrollTop = 0;
    show($('confirm-error'), false);
    show($('confirm'), true);
    document.body.classList.add('no-scroll');
    setBusy(false);
  }

  function closeSheet() {
    show($('confirm'), false);
    document.body.classList.remove('no-scroll');
  }

  function setBusy(busy) {
    var ok = $('confirm-ok');
    ok.disabled = busy;
    $('confirm-back').disabled = busy;
    ok.textContent = busy ? '提交中…' : '确认提交';
    ok.classList.toggle('is-busy', busy);
  }

  $('confirm-back').addEventListener('click', function () { if (!S.submitting) { S.pendingSid = null; closeSheet(); } });
  $('confirm').addEventListener('click', function (ev) {
    if (ev.target === $('confirm') && !S.submitting) closeSheet();
  });
  $('confirm-ok').addEventListener('click', function () { submit(false); });

  /* ---------- submit ---------- */

  async function submit(isRetry) {
    if (PREVIEW) { closeSheet(); return toptips('这是预览，选票不会提交', true); }
    if (S.submitting || !S.token) return;
    if (S.perSubject) return sendSubject(isRetry);
    S.submitting = true;
    if (isRetry) loading('正在提交…'); else setBusy(true);
    var answers = buildAnswers();
    if (MEETING && MEETING.hold(S.token, answers)) { // sent later, with the meeting's other forms
      S.submitting = false;
      setBusy(false);
      return closeSheet();
    }
    var res;
    try {
      res = await api('/ballots', signed({ token: S.token, answers: answers }));
    } catch (err) {
      S.submitting = false;
      setBusy(false);
      if (err.code === 'network' || err.status === 500 || err.status === 502 || err.status === 504) {
        S.uncertain = true; // it may have been recorded; a retry is still safe
      }
      return showErrorState(err, 'submit', function () { submit(true); });
    }
    S.submitting = false;
    if (SESSION) SESSION.spent(S.token);
    S.token = null; // spent: forget it
    S.signature = null;
    S.done = true;
    if (MEETING) { clear($('ballot')); S.data = null; return MEETING.done(res); }
    showDone(res);
  }

  /* ---------- scoring as each report ends (per subject) ----------
   * Each subject's scores are sent when that report ends and are final when sent.
   * What is typed but not sent is kept on this phone only (localStorage, under the
   * round and a hash of the token, never the token itself), restored after a reload
   * or a crashed browser (scan the slip again), and forgotten once sent or when the
   * round has closed. The token itself stays in this tab (sessionStorage) so that a
   * reload reopens the slip, as on a meeting slip. */

  var SLIP_KEY = 'pingyi:slip';

  async function tokenDigest(token) {
    try {
      if (window.crypto && crypto.subtle && window.TextEncoder) {
        var buf = await crypto.subtle.digest('SHA-256', new TextEncoder().encode('draft:' + token));
        return Array.prototype.map.call(new Uint8Array(buf), function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join('').slice(0, 32);
      }
    } catch (e) { /* no WebCrypto outside a secure context: fall back below */ }
    var h1 = 0x811c9dc5, h2 = 0x01000193, s = 'draft:' + token; // two FNV-1a passes
    for (var i = 0; i < s.length; i++) {
      h1 = Math.imul(h1 ^ s.charCodeAt(i), 16777619) >>> 0;
      h2 = Math.imul(h2 ^ s.charCodeAt(s.length - 1 - i), 16777619) >>> 0;
    }
    return ('0000000' + h1.toString(16)).slice(-8) + ('0000000' + h2.toString(16)).slice(-8);
  }

  async function draftKeyOf(token) {
    return 'pingyi:scores:' + String(token).split('.')[0] + ':' + await tokenDigest(token);
  }

  function storage(kind) {
    try { return window[kind]; } catch (e) { return null; } // blocked storage: nothing kept
  }

  async function resumeDraft(token) {
    var ss = storage('sessionStorage');
    if (ss) try { ss.setItem(SLIP_KEY, token); } catch (e) { /* full or private */ }
    S.draftKey = await draftKeyOf(token);
    var ls = storage('localStorage');
    var saved = null;
    try { saved = JSON.parse((ls && ls.getItem(S.draftKey)) || 'null'); } catch (e) { saved = null; }
    if (!saved || !S.data) return;
    Object.keys(saved).forEach(function (sid) {
      if (S.sent[sid]) return;
      Object.keys(saved[sid]).forEach(function (key) {
        var input = scoreInput(sid, key);
        if (input && !input.value) input.value = saved[sid][key];
      });
      updateSubjectStatus(sid);
    });
    saveDraft(); // drops what was sent meanwhile (e.g. from another phone)
    updateProgress();
  }

  function saveDraft() {
    if (!S.perSubject || !S.draftKey || !S.data) return;
    var out = {}, any = false;
    S.data.subjects.forEach(function (s) {
      if (S.sent[s.id]) return;
      S.data.form.items.forEach(function (item) {
        var input = scoreInput(s.id, item.key);
        var v = input ? String(input.value).trim() : '';
        if (!v) return;
        (out[s.id] = out[s.id] || {})[item.key] = v;
        any = true;
      });
    });
    var ls = storage('localStorage');
    if (!ls) return;
    try { if (any) ls.setItem(S.draftKey, JSON.stringify(out)); else ls.removeItem(S.draftKey); } catch (e) { /* full */ }
  }

  async function forgetSlip(token) {
    var ls = storage('localStorage'), ss = storage('sessionStorage');
    try {
      if (ls) ls.removeItem(await draftKeyOf(token));
      if (ss && ss.getItem(SLIP_KEY) === token) ss.removeItem(SLIP_KEY);
    } catch (e) { /* nothing kept */ }
  }

  function markSent(sid, receipt) {
    S.sent[sid] = receipt || true;
    var card = $('subj-' + sid);
    if (!card) return;
    card.classList.add('is-sent');
    Array.prototype.forEach.call(card.querySelectorAll('.score-input'), function (i) { i.disabled = true; });
    show($('send-' + sid), false);
    var note = $('sent-' + sid);
    note.textContent = '已提交，不能修改' + (receipt ? '。回执码 ' + receipt : '');
    show(note, true);
    var status = $('status-' + sid);
    status.textContent = '已提交';
    status.classList.add('is-done');
  }

  function askSendSubject(sid) {
    if (S.submitting || S.sent[sid]) return;
    var subj = S.data.subjects.filter(function (s) { return s.id === sid; })[0];
    var problems = [];
    S.data.form.items.forEach(function (item) {
      var r = readScore(scoreInput(sid, item.key), item);
      if (r.error) {
        problems.push({ el: $('row-' + sid + '-' + item.key), input: scoreInput(sid, item.key),
          message: r.empty ? '请为“' + subj.name + '”的“' + item.label + '”打分' : '“' + subj.name + '”：' + r.error });
        showRowError(sid, item.key, r.empty ? '请填写分数' : r.error);
      }
    });
    if (problems.length) {
      problems.forEach(function (p) { p.el.classList.add('is-missing'); });
      toptips(problems[0].message + (problems.length > 1 ? '（还有 ' + problems.length + ' 项待完成）' : ''));
      return focusProblem(problems[0]);
    }
    S.pendingSid = sid;
    openSheet();
  }

  async function sendSubject(isRetry) {
    var sid = S.pendingSid;
    if (!sid || S.sent[sid]) return closeSheet();
    S.submitting = true;
    if (isRetry) loading('正在提交…'); else setBusy(true);
    var row = {};
    S.data.form.items.forEach(function (item) { row[item.key] = readScore(scoreInput(sid, item.key), item).value; });
    var res;
    try {
      res = await api('/subject-scores', { token: S.token, subject_id: sid, scores: row });
    } catch (err) {
      S.submitting = false;
      setBusy(false);
      if (err.code === 'subject_already_scored') {
        showScreen('form'); closeSheet(); markSent(sid, null); saveDraft(); updateProgress();
        return toptips(err.message || '对该述职人的评分已经提交过');
      }
      if (err.code === 'network' || err.status >= 500) S.uncertain = true;
      if (err.code === 'round_closed') forgetSlip(S.token);
      if (err.field && /^scores\./.test(err.field)) err.field = 'answers.' + sid + err.field.slice(6);
      return showErrorState(err, 'submit', function () { submit(true); });
    }
    S.submitting = false;
    S.pendingSid = null;
    showScreen('form');
    closeSheet();
    markSent(sid, res.receipt);
    saveDraft();
    updateProgress();
    var left = S.data.subjects.filter(function (s) { return !S.sent[s.id]; }).length;
    toptips(left ? '评分已提交，还有 ' + left + ' 位述职人待评分' : '全部评分已提交，感谢您的参与', true);
    if (!left) forgetSlip(S.token);
  }

  /* ---------- done ---------- */

  function showDone(res) {
    S.roundId = res.round_id;
    $('receipt-code').textContent = res.receipt;
    $('receipt-round').textContent = '测评编号 ' + res.round_id + (S.data ? ' · ' + S.data.round.title : '');
    $('done-message').textContent = String(res.message || '您的选票已记录。').replace(/^投票成功[，,、\s]*/, '');
    $('check-receipt').value = res.receipt;
    show($('check-result'), false);
    show($('copy-feedback'), false);
    clear($('ballot'));
    S.data = null;
    showScreen('done');
    document.title = '投票成功';
  }

  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (e) { /* fall back below */ }
    var ta = h('textarea', { readonly: true, 'aria-hidden': 'true', class: 'offscreen' });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    try { ta.setSelectionRange(0, text.length); } catch (e) { /* iOS */ }
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    return ok;
  }

  $('copy-receipt').addEventListener('click', async function () {
    var ok = await copyText($('receipt-code').textContent);
    var fb = $('copy-feedback');
    fb.textContent = ok ? '已复制回执码' : '无法自动复制，请长按回执码手动复制或截图保存';
    fb.className = 'copy-feedback' + (ok ? ' is-ok' : '');
    show(fb, true);
  });

  function normalizeReceipt(raw) {
    var s = String(raw || '').toUpperCase().replace(/[\s-]/g, '');
    if (!/^[2-9A-HJKMNP-Z]{12}$/.test(s)) return null;
    return s.slice(0, 4) + '-' + s.slice(4, 8) + '-' + s.slice(8);
  }

  function checkResult(node, text, tone) {
    node.textContent = text;
    node.className = 'check-result check-' + tone;
    show(node, true);
  }

  async function checkReceipt(roundId, raw, out) {
    var receipt = normalizeReceipt(raw);
    if (!receipt) return checkResult(out, '回执码应为 12 位字母或数字，例如 K7QF-3MZA-P2XW', 'warn');
    checkResult(out, '正在核对…', 'muted');
    try {
      var r = await api('/receipts/check', { round_id: roundId, receipt: receipt });
      checkResult(out, r.message, r.found ? 'ok' : 'warn');
    } catch (err) {
      checkResult(out, err.message || NET_MESSAGE, 'warn');
    }
  }

  $('check-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    checkReceipt(S.roundId, $('check-receipt').value, $('check-result'));
  });

  /* ---------- start ---------- */

  function takeTokenFromHash() {
    var raw = location.hash || '';
    if (location.href.indexOf('#') >= 0) {
      try { history.replaceState(null, '', location.pathname + location.search); } catch (e) { /* old WebView */ }
    }
    return extractToken(raw.charAt(0) === '#' ? raw.slice(1) : raw);
  }

  /* ---------- preview (console form designer: server/console/form_preview.py) ----------
   * The page carries the ballot-form answer inline: no token, no API, never submits. */
  var PREVIEW = (function () {
    var blob = $('preview-data');
    if (!blob) return null;
    try { return JSON.parse(blob.textContent); } catch (e) { return { error: { message: '预览数据无法读取' } }; }
  }());

  function startPreview() {
    if (PREVIEW.error) {
      return showState({ icon: 'bad', tone: 'error', title: '无法预览', text: PREVIEW.error.message || '' });
    }
    buildForm(PREVIEW);
    showScreen('form');
  }

  /* ---------- a meeting slip (server/meetings/static/meeting.js, on /v/m/) ----------
   * One slip, several forms: the meeting page opens one form at a time with that form's
   * own token, and may hold a ballot to send it with the others at the end. */
  var MEETING = window.pingyiMeeting || null;
  // The session QR on the phone (/v/s/<scene>): the page claims its own blind-signed token.
  var SESSION = window.pingyiSession || null;
  var VOTE = {
    open: function (token, data, signature) {
      S.token = token; S.signature = signature || null; S.uncertain = false; S.done = false;
      buildForm(data); showScreen('form'); window.scrollTo(0, 0);
    },
    api: api, h: h, clear: clear, show: show, showScreen: showScreen, showState: showState,
    showErrorState: showErrorState, showEntry: showEntry, loading: loading, toptips: toptips,
    takeToken: takeTokenFromHash
  };

  function start() {
    if (PREVIEW) return startPreview();
    if (MEETING) return MEETING.start(VOTE);
    if (SESSION) return SESSION.start(VOTE);
    var token = takeTokenFromHash();
    if (token && toMeetingPage(token)) return;
    var ss = storage('sessionStorage');
    if (!token && ss) token = ss.getItem(SLIP_KEY); // a slip scored per subject, reloaded
    if (token) loadForm(token, false);
    else showEntry();
  }

  window.addEventListener('hashchange', function () {
    if (PREVIEW || MEETING || SESSION || S.submitting || !location.hash || location.hash === '#') return;
    var token = takeTokenFromHash();
    if (token && token !== S.token) {
      S.data = null;
      loadForm(token, false);
    }
  });

  start();
}());
