/* 评议 console behaviour. No inline scripts (CSP script-src 'self'); all hooks are data-* attributes. */
(function () {
  "use strict";

  var STATUS = { draft: "草稿", open: "投票中", closing: "计票中", closed: "已结束", published: "已发布" };

  // Forms that ask before they change something that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  // Slip forms: more than 应到 asks first. Each click issues a new batch, so the
  // button stays off until the PDF has arrived: the answer sets the cookie
  // slips_download to this submit's nonce (server/console/slips.py); then the page
  // reloads with the new counts and the button back.
  function readCookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? m[1] : null;
  }

  function nonce() {
    var bytes = window.crypto.getRandomValues(new Uint8Array(12));
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  document.querySelectorAll("form[data-slips]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      var btn = form.querySelector("button[type=submit]");
      if (btn && btn.disabled) { ev.preventDefault(); return; }
      var count = parseInt(form.elements.count.value, 10) || 0;
      var expected = parseInt(form.getAttribute("data-expected"), 10) || 0;
      var issued = parseInt(form.getAttribute("data-issued"), 10) || 0;
      var extra = issued + count - Math.max(expected, issued);
      form.elements.allow_over.value = "";
      if (extra > 0) {
        var ask = "“" + form.getAttribute("data-category") + "”应到 " + expected + " 人，已发放 " + issued +
          " 张，本次再发 " + count + " 张将超出应到人数 " + extra + " 张。确定要多发吗？";
        if (!window.confirm(ask)) { ev.preventDefault(); return; }
        form.elements.allow_over.value = "1";
      }
      if (!btn) return;
      var mine = nonce();
      form.elements.download.value = mine;
      var label = btn.textContent;
      var started = Date.now();
      window.setTimeout(function () { btn.disabled = true; btn.textContent = "正在生成…"; }, 0);
      var timer = window.setInterval(function () {
        if (readCookie("slips_download") === mine) {
          window.clearInterval(timer);
          document.cookie = "slips_download=; Max-Age=0; Path=/console; SameSite=Strict";
          btn.disabled = false;
          btn.textContent = label;
          window.location.reload();  // the new 已发放 counts, and the message
        } else if (Date.now() - started > 120000) {
          window.clearInterval(timer);  // no answer seen: let the organizer try again
          btn.disabled = false;
          btn.textContent = label;
        }
      }, 250);
    });
  });

  // New round: show the recommendation-only fields for recommendation forms.
  var kindSelect = document.querySelector("select[data-kind-select]");
  if (kindSelect) {
    var syncKind = function () {
      var opt = kindSelect.options[kindSelect.selectedIndex];
      var kind = opt ? opt.getAttribute("data-kind") : "";
      document.querySelectorAll("[data-kind-only]").forEach(function (el) {
        el.hidden = el.getAttribute("data-kind-only") !== kind;
      });
      // Result rules: the template's values as placeholders (empty input = keep them).
      var defaults = {};
      try { defaults = JSON.parse((opt && opt.getAttribute("data-rule-defaults")) || "{}"); } catch (e) { defaults = {}; }
      document.querySelectorAll("input[data-rule]").forEach(function (input) {
        var d = defaults[input.getAttribute("data-rule")];
        input.placeholder = d === undefined ? "" : String(d);
      });
      var grade = opt ? opt.getAttribute("data-flag-grade") : "";
      document.querySelectorAll("[data-flag-grade-label]").forEach(function (el) {
        el.textContent = grade || "不称职";
      });
    };
    kindSelect.addEventListener("change", syncKind);
    syncKind();
  }

  // Projector: poll the cached feed (turnout + results when they may be shown).
  var pj = document.getElementById("projector");
  if (pj) startProjector(pj);

  // A round scored per subject: keep its per-subject counts current (never scores).
  var progress = document.getElementById("subject-progress");
  if (progress) pollProgress(progress);

  function pollProgress(root) {
    var url = root.getAttribute("data-progress-url");
    var every = parseInt((pj && pj.getAttribute("data-poll-ms")) || "5000", 10);
    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (resp) { if (!resp.ok) throw new Error("http " + resp.status); return resp.json(); })
        .then(function (data) {
          data.subjects.forEach(function (s) {
            var row = root.querySelector('tr[data-sid="' + s.id + '"]');
            if (!row) return;
            var b = row.querySelector(".sp-count");
            if (b.textContent !== String(s.scored)) b.textContent = s.scored;
            row.classList.toggle("sp-full", !!data.expected && s.scored >= data.expected);
          });
          if (data.status === "open") window.setTimeout(tick, every);
        })
        .catch(function () { window.setTimeout(tick, every * 3); });
    }
    window.setTimeout(tick, every);
  }

  function pct(actual, expected) {
    return expected ? Math.min(100, (actual / expected) * 100) : 0;
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== String(text)) el.textContent = text;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  function catRow(cat) {
    var row = el("div", "pj-cat");
    row.setAttribute("data-cat-id", cat.id);
    var bar = el("div", "pj-bar");
    bar.appendChild(el("div", "pj-fill"));
    var num = el("div", "pj-cat-num");
    num.appendChild(document.createElement("b"));
    num.appendChild(document.createTextNode(""));
    row.appendChild(el("div", "pj-cat-name", cat.name));
    row.appendChild(bar);
    row.appendChild(num);
    return row;
  }

  function renderTurnout(data) {
    setText("pj-actual", data.actual);
    setText("pj-expected", data.expected);
    setText("pj-rate", (data.rate * 100).toFixed(1) + "%");
    document.getElementById("pj-total-fill").style.width = Math.min(100, data.rate * 100) + "%";
    setText("pj-mini-turnout", "实到 " + data.actual + " / 应到 " + data.expected +
            " · 参评率 " + (data.rate * 100).toFixed(1) + "%");

    var box = document.getElementById("pj-cats");
    var ids = data.categories.map(function (c) { return String(c.id); }).join(",");
    var have = Array.prototype.map.call(box.children, function (child) {
      return child.getAttribute("data-cat-id");
    }).join(",");
    if (ids !== have) {
      while (box.firstChild) box.removeChild(box.firstChild);
      data.categories.forEach(function (c) { box.appendChild(catRow(c)); });
    }
    data.categories.forEach(function (c, i) {
      var row = box.children[i];
      row.querySelector(".pj-cat-name").textContent = c.name;
      row.querySelector(".pj-fill").style.width = pct(c.actual, c.expected) + "%";
      var num = row.querySelector(".pj-cat-num");
      num.firstChild.textContent = c.actual;
      num.lastChild.textContent = " / " + c.expected;
    });
  }

  function hbar(width, cls, marker) {
    var bar = el("div", "pj-hbar");
    var fill = el("div", "pj-hfill " + (cls || ""));
    fill.style.width = Math.max(0, Math.min(100, width || 0)) + "%";
    bar.appendChild(fill);
    if (marker !== undefined) {
      var line = el("i", "pj-marker");
      line.style.left = marker + "%";
      bar.appendChild(line);
    }
    return bar;
  }

  function appraisalCard(b, s) {
    var card = el("div", "pj-card");
    var head = el("div", "pj-card-head");
    var who = el("div", "pj-card-who");
    who.appendChild(el("span", "pj-card-name", s.name));
    if (s.note) who.appendChild(el("span", "pj-card-note", s.note));
    head.appendChild(who);
    var score = el("div", "pj-card-score", fixed(s.score, 2));
    score.appendChild(el("small", null, "分"));
    head.appendChild(score);
    card.appendChild(head);
    s.bars.forEach(function (bar, i) {
      var row = el("div", "pj-grade");
      row.appendChild(el("span", "pj-grade-label", bar.label));
      row.appendChild(hbar(bar.pct, "g" + i));
      row.appendChild(el("span", "pj-grade-val", bar.count === null ? "—" : bar.count + "票 " + fixed(bar.pct, 1) + "%"));
      card.appendChild(row);
    });
    var foot = el("div", "pj-card-foot");
    if (b.abstain_label) foot.appendChild(el("span", null, b.abstain_label + " " + s.abstained));
    if (s.rank) foot.appendChild(el("span", null, "第 " + s.rank + " 名"));
    if (s.level) foot.appendChild(el("span", "pj-flag", "考核等次：" + s.level));
    (s.vetoes || []).forEach(function (f) { foot.appendChild(el("span", "pj-flag", "一票否决：" + f)); });
    s.flags.forEach(function (f) { foot.appendChild(el("span", "pj-flag", f)); });
    card.appendChild(foot);
    return card;
  }

  var REC = { selected: "推荐人选", tie: "得票相同", not_selected: "未进入名额", below_threshold: "未过线" };
  var REC_LIVE = { selected: "暂列名额内", tie: "得票相同", not_selected: "暂未进入", below_threshold: "暂未过线" };

  function rankRow(b, r) {
    var row = el("div", "pj-rank-row" + (r.status ? " st-" + r.status : ""));
    row.appendChild(el("span", "pj-rank-no", r.rank || "—"));
    var who = el("span", "pj-rank-name", r.name);
    if (r.note) who.appendChild(el("small", null, r.note));
    row.appendChild(who);
    if (b.kind === "recommendation") {
      row.appendChild(hbar(r.pct, "", b.threshold_pct));
      row.appendChild(el("span", "pj-rank-val", r.votes + "票 " + fixed(r.pct, 1) + "%"));
      row.appendChild(el("span", "pj-rank-tag", (b.live ? REC_LIVE : REC)[r.status] || ""));
    } else {
      row.appendChild(hbar(b.max_total ? (r.total || 0) / b.max_total * 100 : 0, ""));
      row.appendChild(el("span", "pj-rank-val", fixed(r.total, 2) + "分"));
      row.appendChild(el("span", "pj-rank-tag", [r.level ? "考核等次：" + r.level : ""].concat(
        (r.vetoes || []).map(function (f) { return "一票否决：" + f; }), r.flags || []).join(" ").trim()));
    }
    return row;
  }

  var board = { data: null, page: 0, pages: 1 };

  // The pages of a board: a form of several sections pages through each section in
  // turn (its own subjects and scale), never mixing two sections on one page.
  function pagesOf(b) {
    var out = [];
    (b.kind === "appraisal" && b.sections ? b.sections : [b]).forEach(function (part) {
      var items = b.kind === "appraisal" ? part.subjects : part.rows;
      var size = b.kind === "appraisal" ? (items.length <= 2 ? 2 : 4) : 10;
      for (var at = 0; at === 0 || at < items.length; at += size) {
        out.push({ part: part, items: items, size: size, slice: items.slice(at, at + size) });
      }
    });
    return out;
  }

  function drawBoard() {
    var b = board.data;
    var box = document.getElementById("pj-board");
    if (!b || !box) return;
    var pages = pagesOf(b);
    board.pages = pages.length;
    if (board.page >= board.pages) board.page = 0;
    var page = pages[board.page], part = page.part, items = page.items, size = page.size;
    while (box.firstChild) box.removeChild(box.firstChild);
    // Every page keeps the same grid, so a short last page does not blow up its bars.
    var wide = b.kind === "appraisal" && items.length <= 2;
    box.className = "pj-board pj-board-" + b.kind + (wide ? " pj-board-wide" : "");
    var rows = b.kind === "appraisal" ? (wide ? Math.max(1, items.length) : 2) : size;
    box.style.gridTemplateRows = "repeat(" + rows + ", minmax(0, 1fr))";
    page.slice.forEach(function (item) {
      box.appendChild(b.kind === "appraisal" ? appraisalCard(part, item) : rankRow(b, item));
    });
    if (b.kind === "appraisal") {
      setText("pj-res-title", (b.live ? "实时" : "") + "测评结果" +
        (part.label ? " · " + part.label : "") + "（" + part.caption + "）");
      var legend = document.getElementById("pj-legend");
      while (legend.firstChild) legend.removeChild(legend.firstChild);
      part.grades.forEach(function (g, i) {
        var item = el("span");
        item.appendChild(el("i", "g" + i));
        item.appendChild(document.createTextNode(g.label));
        legend.appendChild(item);
      });
    }
    setText("pj-page", board.pages > 1 ? (board.page + 1) + " / " + board.pages : "");
  }

  function renderResults(data) {
    var b = data.results;
    var showing = !!b;
    document.getElementById("pj-turnout-view").hidden = showing;
    document.getElementById("pj-results-view").hidden = !showing;
    if (!showing) return;
    var captions = { recommendation: "推荐得票排名", scoring: "评分排名" };
    if (b.kind !== "appraisal") setText("pj-res-title", (b.live ? "实时" : "") + captions[b.kind]);
    var meta = "有效票 " + b.ballots + " 张";
    if (b.kind === "recommendation") meta += " · 推荐 " + b.places + " 名 · 得票须超过 " + b.threshold_pct + "%";
    if (b.kind === "scoring" && b.trim) meta += " · 去掉最高分和最低分各 " + b.trim + " 个";
    setText("pj-res-meta", meta);
    setText("pj-res-note", b.live ? "投票进行中，实时结果每增加若干张选票更新一次，以最终结果为准" : "");
    document.getElementById("pj-legend").hidden = b.kind !== "appraisal";
    board.data = b;
    drawBoard();
  }

  function render(data) {
    setText("pj-title", data.title);
    var status = document.getElementById("pj-status");
    if (status.getAttribute("data-status") !== data.status) {
      status.setAttribute("data-status", data.status);
      status.className = "pj-status pj-status-" + data.status;
      status.textContent = STATUS[data.status] || data.status;
    }
    renderTurnout(data.turnout);
    renderResults(data);
    var done = data.status === "closed" || data.status === "published";
    // After close the hall sees results once published (or when the round says 当场公布).
    document.getElementById("pj-results").hidden = !(done && data.results);
    return done;
  }

  function startProjector(root) {
    var url = root.getAttribute("data-feed-url");
    var every = parseInt(root.getAttribute("data-poll-ms"), 10) || 2000;
    var flip = parseInt(root.getAttribute("data-page-ms"), 10) || 12000;
    var updated = document.getElementById("pj-updated");
    var failures = 0;

    function stamp(text, stale) {
      updated.textContent = text;
      updated.classList.toggle("stale", !!stale);
    }

    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (resp) {
          if (resp.status === 401) throw new Error("login");
          if (!resp.ok) throw new Error("http " + resp.status);
          return resp.json();
        })
        .then(function (data) {
          failures = 0;
          var done = render(data);
          if (done && !data.results) stamp(data.hidden_reason || "投票已结束", false);
          else if (done) stamp(data.status === "published" ? "结果已发布" : "投票已结束，以上为最终结果", false);
          else stamp("更新于 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }), false);
          // Frozen results change only when published: poll gently.
          window.setTimeout(tick, done ? Math.max(every, 10000) : every);
        })
        .catch(function (err) {
          failures += 1;
          if (err && err.message === "login") {
            stamp("登录已过期，请重新登录后打开投屏页面", true);
            return;
          }
          stamp("连接中断，正在重试…", true);
          window.setTimeout(tick, Math.min(every * Math.pow(2, failures), 30000));
        });
    }

    window.setInterval(function () {
      if (board.data && board.pages > 1) {
        board.page = (board.page + 1) % board.pages;
        drawBoard();
      }
    }, flip);
    tick();
  }
})();
