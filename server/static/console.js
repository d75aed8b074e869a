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

  // Slip forms: each click issues a new batch, so block double clicks for a while.
  document.querySelectorAll("form[data-slips]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var btn = form.querySelector("button[type=submit]");
      if (!btn) return;
      var label = btn.textContent;
      window.setTimeout(function () { btn.disabled = true; btn.textContent = "正在生成…"; }, 0);
      window.setTimeout(function () { btn.disabled = false; btn.textContent = label; }, 8000);
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
    };
    kindSelect.addEventListener("change", syncKind);
    syncKind();
  }

  // Projector: poll the turnout API and update the numbers in place.
  var pj = document.getElementById("projector");
  if (pj) startProjector(pj);

  function pct(actual, expected) {
    return expected ? Math.min(100, (actual / expected) * 100) : 0;
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== String(text)) el.textContent = text;
  }

  function catRow(cat) {
    var row = document.createElement("div");
    row.className = "pj-cat";
    row.setAttribute("data-cat-id", cat.id);
    var name = document.createElement("div");
    name.className = "pj-cat-name";
    name.textContent = cat.name;
    var bar = document.createElement("div");
    bar.className = "pj-bar";
    var fill = document.createElement("div");
    fill.className = "pj-fill";
    bar.appendChild(fill);
    var num = document.createElement("div");
    num.className = "pj-cat-num";
    num.appendChild(document.createElement("b"));
    num.appendChild(document.createTextNode(""));
    row.appendChild(name);
    row.appendChild(bar);
    row.appendChild(num);
    return row;
  }

  function render(data) {
    setText("pj-title", data.title);
    setText("pj-actual", data.actual);
    setText("pj-expected", data.expected);
    setText("pj-rate", (data.rate * 100).toFixed(1) + "%");
    document.getElementById("pj-total-fill").style.width = Math.min(100, data.rate * 100) + "%";

    var status = document.getElementById("pj-status");
    if (status.getAttribute("data-status") !== data.status) {
      status.setAttribute("data-status", data.status);
      status.className = "pj-status pj-status-" + data.status;
      status.textContent = STATUS[data.status] || data.status;
    }

    var box = document.getElementById("pj-cats");
    var ids = data.categories.map(function (c) { return String(c.id); }).join(",");
    var have = Array.prototype.map.call(box.children, function (el) {
      return el.getAttribute("data-cat-id");
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

    var done = data.status === "closed" || data.status === "published";
    document.getElementById("pj-results").hidden = !done;
    return done;
  }

  function startProjector(root) {
    var url = root.getAttribute("data-turnout-url");
    var every = parseInt(root.getAttribute("data-poll-ms"), 10) || 2000;
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
          stamp("更新于 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }), false);
          if (done) stamp("投票已结束，人数为最终结果", false);
          else window.setTimeout(tick, every);
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

    var initial = document.getElementById("pj-status").getAttribute("data-status");
    if (initial === "closed" || initial === "published") stamp("投票已结束，人数为最终结果", false);
    else window.setTimeout(tick, every);
  }
})();
