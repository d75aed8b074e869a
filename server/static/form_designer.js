/* 评议 console: the form designer (测评表设计). Plain ES5, no build step, no inline script.
 *
 * The definition (docs/forms.md) is edited in memory and written as JSON to the
 * hidden input #definition when the page's form is submitted. Keys are made from
 * labels (a known word's slug, else s1/c1/g1/i1), never typed by the organizer.
 * Every input carries data-path (e.g. "sections[1].grades[4].points") so the
 * server's field error is shown beside the input it is about.
 */
(function () {
  "use strict";

  var root = document.getElementById("designer");
  if (!root) return;
  var mainForm = document.getElementById("designer-form");
  var hidden = document.getElementById("definition");

  var SCALES = [
    { label: "优秀/称职/基本称职/不称职", grades: [["excellent", "优秀", 95], ["competent", "称职", 85], ["basic", "基本称职", 75], ["incompetent", "不称职", 65]] },
    { label: "优秀/称职/基本称职/不称职/不了解", grades: [["excellent", "优秀", 95], ["competent", "称职", 85], ["basic", "基本称职", 75], ["incompetent", "不称职", 65], ["unknown", "不了解", null]] },
    { label: "好/较好/一般/差", grades: [["good", "好", 95], ["fair", "较好", 85], ["average", "一般", 75], ["poor", "差", 60]] },
    { label: "满意/基本满意/不满意/不了解", grades: [["satisfied", "满意", 95], ["basic_satisfied", "基本满意", 80], ["dissatisfied", "不满意", 60], ["unknown", "不了解", null]] }
  ];
  // Common labels and the keys they get (anything else: s1, c1, g1, i1 ...).
  var KEYS = {
    "领导班子": "team", "班子": "team", "班子成员": "members", "领导人员": "leaders",
    "总体评价": "overall", "政治素质": "political", "履职能力": "ability", "工作实绩": "performance",
    "作风形象": "style", "党风廉政建设": "integrity", "优秀": "excellent", "称职": "competent",
    "基本称职": "basic", "不称职": "incompetent", "不了解": "unknown", "好": "good", "较好": "fair",
    "一般": "average", "差": "poor", "满意": "satisfied", "基本满意": "basic_satisfied",
    "不满意": "dissatisfied"
  };
  var KINDS = [["appraisal", "测评", "每位对象按指标选择等次（如优秀/称职）"],
               ["recommendation", "推荐", "从候选人中推荐若干人"],
               ["scoring", "评分", "逐项打分，按权重合计"]];
  var CN = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

  var original = readJson(hidden.value) || {};
  var D = load(original);
  var firstError = {
    field: root.getAttribute("data-error-field") || "",
    message: root.getAttribute("data-error-message") || ""
  };

  /* ---------- helpers ---------- */

  function readJson(text) {
    try { return JSON.parse(text || "null"); } catch (e) { return null; }
  }

  function clone(x) { return JSON.parse(JSON.stringify(x)); }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k === "value") node.value = v;
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function button(text, cls, onClick, title) {
    var b = h("button", { type: "button", class: "btn " + (cls || "btn-small"), text: text, title: title || null });
    b.addEventListener("click", onClick);
    return b;
  }

  function numberOrNull(raw) {
    var s = String(raw === null || raw === undefined ? "" : raw).trim();
    if (s === "") return null;
    var x = Number(s);
    return isFinite(x) ? x : s; // a non-number stays as typed: the server names the field
  }

  function shown(x) { return x === null || x === undefined ? "" : String(x); }

  /* ---------- keys from labels ---------- */

  function makeKey(label, taken, prefix) {
    var text = String(label || "").trim();
    var known = KEYS[text];
    if (known && taken.indexOf(known) < 0) return known;
    var slug = text.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 40);
    if (slug && /^[a-z0-9_]{1,40}$/.test(slug) && slug.length === text.length && taken.indexOf(slug) < 0) return slug;
    for (var n = 1; ; n += 1) {
      if (taken.indexOf(prefix + n) < 0) return prefix + n;
    }
  }

  function keysOf(list, except) {
    return list.filter(function (x) { return x !== except; }).map(function (x) { return x.key; });
  }

  /* A new row's key follows its label until the form is saved; a saved key never changes
     (rounds and results refer to it). */
  function relabel(entry, list, prefix) {
    if (!entry._fresh) return;
    var old = entry.key;
    entry.key = makeKey(entry.label, keysOf(list, entry), prefix);
    if (prefix === "g" && old !== entry.key) {
      D._flags.forEach(function (f) { if (f.grade === old) f.grade = entry.key; });
    }
  }

  function entry(list, prefix, label, extra) {
    var e = { key: "", label: label || "", _fresh: true };
    Object.keys(extra || {}).forEach(function (k) { e[k] = extra[k]; });
    e.key = makeKey(e.label, keysOf(list), prefix);
    return e;
  }

  function scaleGrades(scale) {
    return scale.grades.map(function (g) {
      var out = { key: g[0], label: g[1], _fresh: true };
      if (g[2] === null) out.abstain = true; else out.points = g[2];
      return out;
    });
  }

  /* ---------- fractions: "2/3", "三分之二", "66.67%", "0.6667" ---------- */

  var CN_DIGIT = { "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10 };

  function parseShare(raw) {
    var s = String(raw || "").trim().replace(/％/g, "%").replace(/／/g, "/");
    if (s === "") return { empty: true };
    var m = /^(\d+)\s*\/\s*(\d+)$/.exec(s);
    // a fraction is kept exact, as the text "2/3" (the server compares it exactly)
    if (m && Number(m[2]) > 0 && Number(m[1]) <= Number(m[2])) return { value: Number(m[1]) / Number(m[2]), exact: m[1] + "/" + m[2] };
    m = /^([一二两三四五六七八九十])分之([一二两三四五六七八九十])$/.exec(s);
    if (m && CN_DIGIT[m[2]] <= CN_DIGIT[m[1]]) return { value: CN_DIGIT[m[2]] / CN_DIGIT[m[1]], exact: CN_DIGIT[m[2]] + "/" + CN_DIGIT[m[1]] };
    var pct = /%$/.test(s);
    var x = Number(s.replace(/%$/, "").trim());
    if (s.replace(/%$/, "").trim() === "" || !isFinite(x) || x < 0) return { error: "请填写分数（如 2/3）或百分数（如 66.67%）" };
    if (pct || x > 1) x = x / 100;
    if (x > 1) return { error: "比例不能超过 100%" };
    return { value: x };
  }

  function shareText(x) {
    if (x === null || x === undefined || x === "") return "";
    if (typeof x === "object") x = x.value;
    if (typeof x === "string") return x;
    for (var d = 2; d <= 10; d += 1) {
      for (var n = 1; n < d; n += 1) {
        if (Math.abs(x - n / d) < 0.00005 && gcd(n, d) === 1) return n + "/" + d;
      }
    }
    return String(Math.round(x * 10000) / 100) + "%";
  }

  function gcd(a, b) { return b ? gcd(b, a % b) : a; }

  function shareWords(raw, value) {
    var m = /^(\d+)\s*\/\s*(\d+)$/.exec(String(raw || "").trim());
    if (m && Number(m[2]) <= 10) return CN[Number(m[2])] + "分之" + CN[Number(m[1])];
    if (/分之/.test(raw || "")) return String(raw).trim();
    return value === undefined || value === null ? "" : String(Math.round(value * 10000) / 100) + "%";
  }

  /* ---------- the state: the definition plus editor-only fields (leading "_") ---------- */

  function load(def) {
    var d = clone(def);
    d.kind = d.kind || "appraisal";
    d.name = d.name || "";
    d.description = d.description || "";
    if (!d.sections || !d.sections.length) {
      if (d.criteria && d.grades) {
        d.sections = [{ key: "main", label: d.name || "测评对象", criteria: d.criteria, grades: d.grades }];
      } else {
        d.sections = [newSection("测评对象", [])];
      }
    }
    delete d.criteria;
    delete d.grades;
    if (!d.items || !d.items.length) d.items = [entry([], "i", "评分项目一", { max: 100, weight: 1, _fresh: true })];
    if (d.max_choices === undefined) d.max_choices = 3;
    if (d.min_choices === undefined) d.min_choices = 1;
    if (d.decimals === undefined) d.decimals = 0;
    d.results = d.results || {};
    d._flags = [];
    d._otherFlags = [];
    (d.results.flags || []).forEach(function (f) {
      var test = "share_at_least" in f ? "share_at_least" : ("share_above" in f ? "share_above" : null);
      if (!test || (f.grades && f.grades.length > 1)) { d._otherFlags.push(f); return; }
      d._flags.push({ grade: f.grade || (f.grades || [])[0] || "", test: test, value: f[test],
                      raw: shareText(f[test]), label: f.label || "", criterion: f.criterion });
    });
    d._raw = {
      min_turnout: d.results.min_turnout !== undefined ? shareText(d.results.min_turnout) : "",
      recommend_threshold: d.results.recommend_threshold !== undefined ? shareText(d.results.recommend_threshold) : ""
    };
    return d;
  }

  function newSection(label, sections) {
    return { key: makeKey(label, keysOf(sections), "s"), label: label, _fresh: true,
             criteria: [{ key: "overall", label: "总体评价", overall: true, _fresh: true }],
             grades: scaleGrades(SCALES[1]) };
  }

  function strip(obj) {
    var out = {};
    Object.keys(obj).forEach(function (k) { if (k.charAt(0) !== "_") out[k] = obj[k]; });
    return out;
  }

  function flagLabel(f) {
    var g = gradeByKey(f.grade);
    var words = shareWords(f.raw, f.value);
    if (!g || !words) return f.label || "";
    return "“" + g.label + "”率" + (f.test === "share_at_least" ? "达到" : "超过") + words;
  }

  function gradeByKey(key) {
    for (var i = 0; i < D.sections.length; i += 1) {
      var gs = D.sections[i].grades;
      for (var j = 0; j < gs.length; j += 1) if (gs[j].key === key) return gs[j];
    }
    return null;
  }

  /* The definition to save or preview (docs/forms.md). */
  function definition() {
    var out = strip(D);
    out.name = D.name;
    out.description = D.description;
    ["sections", "min_choices", "max_choices", "items", "decimals", "criteria", "grades"].forEach(function (k) { delete out[k]; });
    if (D.kind === "appraisal") {
      out.sections = D.sections.map(function (s) {
        var sec = strip(s);
        sec.criteria = s.criteria.map(function (c) {
          var o = { key: c.key, label: c.label };
          if (c.overall) o.overall = true;
          return o;
        });
        sec.grades = s.grades.map(function (g) {
          return g.abstain ? { key: g.key, label: g.label, abstain: true }
            : { key: g.key, label: g.label, points: numberOrNull(g.points) };
        });
        return sec;
      });
    } else if (D.kind === "recommendation") {
      out.min_choices = numberOrNull(D.min_choices);
      out.max_choices = numberOrNull(D.max_choices);
    } else {
      out.items = D.items.map(function (i) {
        var o = strip(i);
        o.max = numberOrNull(i.max);
        o.weight = numberOrNull(i.weight);
        return o;
      });
      out.decimals = Number(D.decimals) || 0;
    }
    var r = {};
    Object.keys(D.results).forEach(function (k) { if (k !== "flags") r[k] = D.results[k]; });
    ["min_turnout", "recommend_threshold"].forEach(function (k) {
      var p = parseShare(D._raw[k]);
      if (p.value !== undefined) {
        // Keep a stored value that the text only abbreviates (0.6667 shown as 2/3).
        var same = D.results[k] !== undefined && shareText(D.results[k]) === D._raw[k];
        r[k] = same ? D.results[k] : (p.exact !== undefined ? p.exact : p.value);
      } else delete r[k];
    });
    if (D.kind !== "recommendation") { delete r.recommend_threshold; delete r.places; }
    if (D.kind !== "scoring") { delete r.trim; delete r.trim_scope; }
    ["k", "trim", "places"].forEach(function (k) {
      if (r[k] === "" || r[k] === null || r[k] === undefined) delete r[k];
      else r[k] = numberOrNull(r[k]);
    });
    var flags = [];
    if (D.kind === "appraisal") {
      D._flags.forEach(function (f) {
        var o = { grade: f.grade, label: flagLabel(f) || f.label };
        o[f.test] = f.value;
        if (f.criterion) o.criterion = f.criterion;
        flags.push(o);
      });
    }
    flags = flags.concat(D._otherFlags.filter(function () { return D.kind === "appraisal"; }));
    if (flags.length) r.flags = flags;
    out.results = r;
    return out;
  }

  /* ---------- inputs bound to the state ---------- */

  function text(obj, prop, path, attrs, after) {
    var input = h("input", Object.assign({ type: "text", value: shown(obj[prop]), "data-path": path }, attrs || {}));
    input.addEventListener("input", function () {
      obj[prop] = input.value;
      clearError(input);
      if (after) after(input);
    });
    return input;
  }

  function num(obj, prop, path, attrs) {
    var input = h("input", Object.assign({ type: "number", step: "any", value: shown(obj[prop]), "data-path": path, class: "d-num" }, attrs || {}));
    input.addEventListener("input", function () {
      obj[prop] = input.value;
      clearError(input);
    });
    return input;
  }

  function share(holder, prop, path, set) {
    var input = h("input", { type: "text", value: holder[prop], "data-path": path, class: "d-share",
                             inputmode: "decimal", placeholder: "如 2/3 或 60%" });
    input.addEventListener("input", function () {
      holder[prop] = input.value;
      clearError(input);
      var p = parseShare(input.value);
      if (p.error) showError(input, p.error);
      if (set) set(p);
    });
    return input;
  }

  function moveControls(list, index, what) {
    return h("span", { class: "d-move" }, [
      button("↑", "btn-icon", function () { swap(list, index, index - 1); }, "上移" + what),
      button("↓", "btn-icon", function () { swap(list, index, index + 1); }, "下移" + what),
      button("×", "btn-icon btn-icon-danger", function () { list.splice(index, 1); render(); }, "删除" + what)
    ]);
  }

  function swap(list, i, j) {
    if (j < 0 || j >= list.length) return;
    var t = list[i]; list[i] = list[j]; list[j] = t;
    render();
  }

  /* ---------- rendering ---------- */

  function render() {
    while (root.firstChild) root.removeChild(root.firstChild);
    root.appendChild(basics());
    if (D.kind === "appraisal") {
      D.sections.forEach(function (s, i) { root.appendChild(sectionCard(s, i)); });
      root.appendChild(h("div", { class: "d-add-section" }, [
        button("＋ 添加测评部分", "btn", function () {
          D.sections.push(newSection("第" + (CN[D.sections.length + 1] || D.sections.length + 1) + "部分", D.sections));
          render();
          var inputs = root.querySelectorAll('[data-path="sections[' + (D.sections.length - 1) + '].label"]');
          if (inputs.length) { inputs[0].focus(); inputs[0].select(); }
        })
      ]));
    } else if (D.kind === "recommendation") {
      root.appendChild(recommendationCard());
    } else {
      root.appendChild(scoringCard());
    }
    root.appendChild(rulesCard());
  }

  function basics() {
    var kinds = h("div", { class: "d-kinds", role: "radiogroup", "aria-label": "类型", "data-path": "kind" });
    KINDS.forEach(function (k) {
      var radio = h("input", { type: "radio", name: "d-kind", value: k[0], checked: D.kind === k[0] });
      radio.addEventListener("change", function () { D.kind = k[0]; render(); });
      kinds.appendChild(h("label", { class: "d-kind" + (D.kind === k[0] ? " is-on" : "") }, [
        radio, h("strong", { text: k[1] }), h("small", { text: k[2] })
      ]));
    });
    var desc = h("textarea", { rows: "3", "data-path": "description", id: "d-description",
                               placeholder: "投票人在表头看到的说明，如：请对……作出评价。本次测评无记名进行。" });
    desc.value = D.description;
    desc.addEventListener("input", function () { D.description = desc.value; clearError(desc); });
    return h("section", { class: "card d-card" }, [
      h("h2", { text: "基本信息" }),
      h("div", { class: "field" }, [
        h("label", { for: "d-name", text: "测评表名称" }),
        text(D, "name", "name", { id: "d-name", maxlength: "200", placeholder: "如：2026年度领导班子和领导人员民主测评" })
      ]),
      h("div", { class: "field" }, [h("label", { for: "d-description", text: "填写说明（可不填）" }), desc]),
      h("div", { class: "field" }, [h("span", { class: "label", text: "类型" }), kinds])
    ]);
  }

  function sectionCard(s, i) {
    var at = "sections[" + i + "]";
    var card = h("section", { class: "card d-card d-section", "data-path": at });
    var head = h("div", { class: "d-section-head" }, [
      h("span", { class: "d-section-no", text: String(i + 1) }),
      h("label", { class: "d-grow" }, [
        h("span", { class: "d-cap", text: "测评部分名称（如 领导班子、班子成员）" }),
        text(s, "label", at + ".label", { maxlength: "60", class: "d-section-label", placeholder: "如：领导班子" },
             function () { relabel(s, D.sections, "s"); })
      ]),
      D.sections.length > 1 ? moveControls(D.sections, i, "该部分") : null
    ]);
    card.appendChild(head);

    var crit = h("div", { class: "d-block", "data-path": at + ".criteria" }, [
      h("h3", { text: "测评指标" }),
      h("p", { class: "hint", text: "投票人对每个指标选择一个等次。勾选“总体评价”的指标用于计算综合得分和等次比例。" })
    ]);
    s.criteria.forEach(function (c, j) {
      var cat = at + ".criteria[" + j + "]";
      var overall = h("input", { type: "checkbox", checked: !!c.overall, "data-path": cat + ".overall" });
      overall.addEventListener("change", function () {
        s.criteria.forEach(function (other) { other.overall = false; });
        c.overall = overall.checked;
        render();
      });
      crit.appendChild(h("div", { class: "d-row", "data-path": cat }, [
        text(c, "label", cat + ".label", { maxlength: "60", placeholder: "如：政治素质", "aria-label": "指标名称" },
             function () { relabel(c, s.criteria, "c"); }),
        h("label", { class: "check d-check" }, [overall, "总体评价"]),
        moveControls(s.criteria, j, "该指标")
      ]));
    });
    crit.appendChild(button("＋ 添加指标", "btn-small btn-ghost", function () {
      s.criteria.push(entry(s.criteria, "c", ""));
      render();
      focusLast(at + ".criteria[" + (s.criteria.length - 1) + "].label");
    }));
    card.appendChild(crit);

    var grades = h("div", { class: "d-block", "data-path": at + ".grades" }, [
      h("h3", { text: "等次与分值" }),
      h("div", { class: "d-scales" }, [h("span", { class: "d-cap", text: "一键套用：" })].concat(SCALES.map(function (scale) {
        return button(scale.label, "btn-small btn-scale", function () { s.grades = scaleGrades(scale); render(); });
      })))
    ]);
    grades.appendChild(h("div", { class: "d-row d-grade d-row-head", "aria-hidden": "true" }, [
      h("span", { text: "等次名称" }), h("span", { text: "分值" }), h("span", { text: "" }), h("span", { text: "" })
    ]));
    s.grades.forEach(function (g, j) {
      var gat = at + ".grades[" + j + "]";
      var points = num(g, "points", gat + ".points", { "aria-label": "分值", disabled: !!g.abstain, placeholder: g.abstain ? "—" : "分值" });
      var abstain = h("input", { type: "checkbox", checked: !!g.abstain, "data-path": gat + ".abstain" });
      abstain.addEventListener("change", function () {
        g.abstain = abstain.checked;
        if (g.abstain) delete g.points;
        render();
      });
      grades.appendChild(h("div", { class: "d-row d-grade", "data-path": gat }, [
        text(g, "label", gat + ".label", { maxlength: "60", placeholder: "如：优秀", "aria-label": "等次名称" },
             function () { relabel(g, s.grades, "g"); refreshFlags(); }),
        points,
        h("label", { class: "check d-check", title: "如“不了解”：投票人可以选择，但不计入得分和等次比例" }, [abstain, "不计分"]),
        moveControls(s.grades, j, "该等次")
      ]));
    });
    grades.appendChild(button("＋ 添加等次", "btn-small btn-ghost", function () {
      s.grades.push(entry(s.grades, "g", "", { points: "" }));
      render();
      focusLast(at + ".grades[" + (s.grades.length - 1) + "].label");
    }));
    card.appendChild(grades);
    return card;
  }

  function focusLast(path) {
    var el = root.querySelector('[data-path="' + path + '"]');
    if (el) el.focus();
  }

  function recommendationCard() {
    return h("section", { class: "card d-card" }, [
      h("h2", { text: "推荐人数" }),
      h("div", { class: "inline-fields" }, [
        h("label", null, ["每人最少推荐 ", num(D, "min_choices", "min_choices", { min: "0", class: "short" }), " 人"]),
        h("label", null, ["最多推荐 ", num(D, "max_choices", "max_choices", { min: "1", class: "short" }), " 人"])
      ]),
      h("p", { class: "hint", text: "候选人名单在创建测评时填写。" })
    ]);
  }

  function scoringCard() {
    var card = h("section", { class: "card d-card", "data-path": "items" }, [
      h("h2", { text: "评分项目" }),
      h("div", { class: "d-row d-item d-row-head", "aria-hidden": "true" }, [
        h("span", { text: "项目名称" }), h("span", { text: "满分" }), h("span", { text: "权重" }), h("span", { text: "" })
      ])
    ]);
    D.items.forEach(function (item, j) {
      var at = "items[" + j + "]";
      card.appendChild(h("div", { class: "d-row d-item", "data-path": at }, [
        text(item, "label", at + ".label", { maxlength: "60", placeholder: "如：党建工作责任落实", "aria-label": "项目名称" },
             function () { relabel(item, D.items, "i"); }),
        num(item, "max", at + ".max", { "aria-label": "满分", min: "0" }),
        num(item, "weight", at + ".weight", { "aria-label": "权重", min: "0" }),
        moveControls(D.items, j, "该项目")
      ]));
    });
    card.appendChild(button("＋ 添加评分项目", "btn-small btn-ghost", function () {
      D.items.push(entry(D.items, "i", "", { max: 10, weight: 1 }));
      render();
      focusLast("items[" + (D.items.length - 1) + "].label");
    }));
    var decimals = h("select", { "data-path": "decimals", class: "d-select" });
    [[0, "整数"], [1, "1 位小数"], [2, "2 位小数"]].forEach(function (o) {
      decimals.appendChild(h("option", { value: String(o[0]), text: o[1], selected: Number(D.decimals) === o[0] }));
    });
    decimals.addEventListener("change", function () { D.decimals = Number(decimals.value); });
    card.appendChild(h("div", { class: "field d-decimals" }, [h("label", null, ["分数精度 ", decimals])]));
    return card;
  }

  var flagsBox = null;

  function rulesCard() {
    var r = D.results;
    var card = h("section", { class: "card d-card", "data-path": "results" }, [
      h("h2", { text: "结果规则" }),
      h("div", { class: "rule-grid" }, [
        h("label", null, ["参评人数达到应到人数的 ",
          share(D._raw, "min_turnout", "results.min_turnout"), " 方可公布结果"]),
        D.kind === "recommendation" ? h("label", null, ["得票须超过有效票的 ",
          share(D._raw, "recommend_threshold", "results.recommend_threshold"), " 方可当选"]) : null,
        D.kind === "recommendation" ? h("label", null, ["推荐名额 ",
          num(r, "places", "results.places", { min: "1", class: "short", placeholder: "最多人数" }), " 名"]) : null,
        D.kind === "scoring" ? h("label", null, ["每项去掉最高分和最低分各 ",
          num(r, "trim", "results.trim", { min: "0", class: "short", placeholder: "0" }), " 个"]) : null,
        h("label", null, ["参评人数少于 ", num(r, "k", "results.k", { min: "1", class: "short", placeholder: "5" }),
          " 人的类别合并显示"])
      ]),
      h("p", { class: "hint", text: "比例可写分数（如 2/3、三分之二）或百分数（如 66.67%）。“达到”含本数，“超过”不含本数。" })
    ]);
    if (D.kind === "appraisal") {
      flagsBox = h("div", { class: "d-block", "data-path": "results.flags" });
      card.appendChild(flagsBox);
      refreshFlags();
    } else {
      flagsBox = null;
    }
    return card;
  }

  function gradeOptions() {
    var out = [];
    var seen = {};
    D.sections.forEach(function (s) {
      s.grades.forEach(function (g) {
        if (g.abstain || seen[g.key]) return;
        seen[g.key] = true;
        out.push([g.key, g.label + (D.sections.length > 1 ? "（" + (s.label || "未命名部分") + "）" : "")]);
      });
    });
    return out;
  }

  function refreshFlags() {
    if (!flagsBox) return;
    while (flagsBox.firstChild) flagsBox.removeChild(flagsBox.firstChild);
    flagsBox.appendChild(h("h3", { text: "标记与否决" }));
    flagsBox.appendChild(h("p", { class: "hint", text: "某等次的票数占有效票的比例达到或超过设定值时，在结果中标记该对象（如“不称职”率超过三分之一）。" }));
    var options = gradeOptions();
    D._flags.forEach(function (f, i) {
      var at = "results.flags[" + i + "]";
      var grade = h("select", { "data-path": at + ".grade", "aria-label": "等次", class: "d-select" });
      if (!options.some(function (o) { return o[0] === f.grade; })) {
        grade.appendChild(h("option", { value: "", text: "请选择等次" }));
      }
      options.forEach(function (o) {
        grade.appendChild(h("option", { value: o[0], text: o[1], selected: o[0] === f.grade }));
      });
      var test = h("select", { "data-path": at + ".test", "aria-label": "达到或超过", class: "d-select" }, [
        h("option", { value: "share_above", text: "超过", selected: f.test === "share_above" }),
        h("option", { value: "share_at_least", text: "达到", selected: f.test === "share_at_least" })
      ]);
      var label = h("span", { class: "d-flag-label", text: flagLabel(f) });
      var shareInput = share(f, "raw", at + "." + f.test, function (p) {
        f.value = p.exact !== undefined ? p.exact : p.value;
        label.textContent = flagLabel(f);
      });
      grade.addEventListener("change", function () { f.grade = grade.value; label.textContent = flagLabel(f); });
      test.addEventListener("change", function () {
        f.test = test.value;
        shareInput.setAttribute("data-path", at + "." + f.test);
        label.textContent = flagLabel(f);
      });
      flagsBox.appendChild(h("div", { class: "d-row d-flag", "data-path": at }, [
        grade, h("span", { class: "d-cap", text: "票数比例" }), test, shareInput,
        h("span", { class: "d-cap", text: "时标记为" }), label,
        button("×", "btn-icon btn-icon-danger", function () { D._flags.splice(i, 1); refreshFlags(); }, "删除该规则")
      ]));
    });
    flagsBox.appendChild(button("＋ 添加标记规则", "btn-small btn-ghost", function () {
      var lowest = options.length ? options[options.length - 1][0] : "";
      D._flags.push({ grade: lowest, test: "share_above", value: "1/3", raw: "1/3", label: "" });
      refreshFlags();
    }));
  }

  /* ---------- errors beside their inputs ---------- */

  function holderOf(input) {
    return input.closest(".d-row, .field, .rule-grid > label, .d-block, .d-card") || input.parentNode;
  }

  function clearError(input, keepAlert) {
    input.classList.remove("is-invalid");
    var path = input.getAttribute("data-path");
    var alert = document.getElementById("designer-alert");
    if (!keepAlert && alert && path && path === firstError.field) alert.hidden = true; // fixed: the page's alert goes
    Array.prototype.forEach.call(holderOf(input).querySelectorAll(".field-error[data-for]"), function (err) {
      if (err.getAttribute("data-for") === path) err.parentNode.removeChild(err);
    });
  }

  function showError(input, message) {
    clearError(input, true);
    input.classList.add("is-invalid");
    var p = h("div", { class: "field-error", role: "alert", "data-for": input.getAttribute("data-path"), text: message });
    holderOf(input).appendChild(p);
    return p;
  }

  /* The element for a server path: the input itself, else the nearest enclosing part. */
  function elementFor(field) {
    var path = String(field || "").replace(/^definition\.?/, "");
    if (/^(criteria|grades)\b/.test(path)) path = "sections[0]." + path;
    while (path) {
      var el = root.querySelector('[data-path="' + path.replace(/"/g, "") + '"]');
      if (el) return el;
      var cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
      path = cut > 0 ? path.slice(0, cut) : "";
    }
    return null;
  }

  function showServerError() {
    if (!firstError.message) return;
    var el = elementFor(firstError.field);
    if (!el) return;
    var p;
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) p = showError(el, firstError.message);
    else {
      p = h("div", { class: "field-error", role: "alert", text: firstError.message });
      el.appendChild(p);
      el.classList.add("is-invalid-block");
    }
    try { p.scrollIntoView({ block: "center" }); } catch (e) { p.scrollIntoView(); }
    if (el.focus && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) el.focus({ preventScroll: true });
  }

  /* Texts that cannot be read as a share stop the save before it reaches the server. */
  function badShares() {
    var bad = Array.prototype.filter.call(root.querySelectorAll("input.d-share"), function (input) {
      return parseShare(input.value).error;
    });
    bad.forEach(function (input) { showError(input, parseShare(input.value).error); });
    if (bad.length) bad[0].focus();
    return bad.length > 0;
  }

  /* ---------- submit and preview ---------- */

  mainForm.addEventListener("submit", function (ev) {
    if (badShares()) { ev.preventDefault(); return; }
    hidden.value = JSON.stringify(definition());
  });

  var previewForm = document.getElementById("preview-form");
  var previewButton = document.getElementById("preview-btn");
  function preview() {
    if (!previewForm || badShares()) return;
    var d = definition();
    if (!String(d.name || "").trim()) d.name = "（未填写测评表名称）";
    document.getElementById("preview-definition").value = JSON.stringify(d);
    previewForm.submit();
  }
  if (previewButton) previewButton.addEventListener("click", preview);

  render();
  showServerError();
  if (previewForm) preview();
}());
