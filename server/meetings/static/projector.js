/* The meeting projector (测评会投屏): polls GET /api/v1/meetings/<id>/turnout, as a
 * round's projector polls its feed, and updates the meeting's and each form's
 * 实到/应到 per category. A form's results are never drawn here: its link to the
 * form's own projector appears once the hall may see them (published, or 当场公布).
 */
(function () {
  'use strict';

  var STATUS = { draft: '草稿', open: '投票中', closing: '计票中', closed: '已结束', published: '已发布' };
  var root = document.getElementById('meeting-projector');
  if (!root) return;

  function setText(node, text) {
    if (node && node.textContent !== String(text)) node.textContent = text;
  }

  function pct(rate) { return (rate * 100).toFixed(1) + '%'; }

  function width(actual, expected) {
    return (expected ? Math.min(100, actual / expected * 100) : 0) + '%';
  }

  function status(node, value) {
    if (node.getAttribute('data-status') === value) return;
    node.setAttribute('data-status', value);
    node.className = node.className.replace(/pj-status-\S+/, 'pj-status-' + value);
    node.textContent = STATUS[value] || value;
  }

  function cats(box, list) {  // the rows are drawn by the page; only their numbers move
    list.forEach(function (c, i) {
      var row = box.children[i];
      if (!row) return;
      row.querySelector('.pj-fill').style.width = width(c.actual, c.expected);
      var num = row.querySelector('.mpj-cat-num');
      setText(num.firstChild, c.actual);
      setText(num.lastChild, ' / ' + c.expected);
    });
  }

  function render(data) {
    setText(document.getElementById('pj-title'), data.title);
    status(document.getElementById('pj-status'), data.status);
    document.getElementById('rehearsal-band').hidden = !data.rehearsal;
    setText(document.getElementById('pj-actual'), data.actual);
    setText(document.getElementById('pj-expected'), data.expected);
    setText(document.getElementById('pj-rate'), pct(data.rate));
    cats(document.getElementById('mpj-cats'), data.categories);
    data.forms.forEach(function (f) {
      var card = root.querySelector('.mpj-form[data-round-id="' + f.round_id + '"]');
      if (!card) return;
      status(card.querySelector('.mpj-form-state'), f.status);
      setText(card.querySelector('.mpj-form-actual'), f.actual);
      setText(card.querySelector('.mpj-form-expected'), f.expected);
      setText(card.querySelector('.mpj-form-rate'), pct(f.rate));
      card.querySelector('.mpj-form-bar .pj-fill').style.width = width(f.actual, f.expected);
      cats(card.querySelector('.mpj-form-cats'), f.categories);
      card.querySelector('.mpj-form-results').hidden = !f.results_shown;
    });
    return data.status === 'closed';
  }

  var url = root.getAttribute('data-feed-url');
  var every = parseInt(root.getAttribute('data-poll-ms'), 10) || 2000;
  var updated = document.getElementById('pj-updated');
  var failures = 0;

  function stamp(text, stale) {
    updated.textContent = text;
    updated.classList.toggle('stale', !!stale);
  }

  function tick() {
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (resp) {
        if (resp.status === 401) throw new Error('login');
        if (!resp.ok) throw new Error('http ' + resp.status);
        return resp.json();
      })
      .then(function (data) {
        failures = 0;
        var done = render(data);
        stamp(done ? '投票已结束' : '更新于 ' + new Date().toLocaleTimeString('zh-CN', { hour12: false }), false);
        // After close only a publish changes the screen (a form's result link): poll gently.
        window.setTimeout(tick, done ? Math.max(every, 10000) : every);
      })
      .catch(function (err) {
        failures += 1;
        if (err && err.message === 'login') {
          stamp('登录已过期，请重新登录后打开投屏页面', true);
          return;
        }
        stamp('连接中断，正在重试…', true);
        window.setTimeout(tick, Math.min(every * Math.pow(2, failures), 30000));
      });
  }

  window.setTimeout(tick, every);
}());
