/* 评议 receipt check: searches the published list in the browser (no request per lookup). */
(function () {
  "use strict";
  var form = document.getElementById("rc-form");
  var list = document.getElementById("rc-list");
  if (!form || !list) return;
  var input = document.getElementById("rc-code");
  var result = document.getElementById("rc-result");
  var codes = {};
  Array.prototype.forEach.call(list.querySelectorAll("li"), function (li) {
    codes[li.textContent.trim()] = true;
  });

  function normalize(raw) {
    var s = String(raw || "").toUpperCase().replace(/[\s\-－—_]/g, "");
    if (s.length !== 12) return null;
    return s.slice(0, 4) + "-" + s.slice(4, 8) + "-" + s.slice(8);
  }

  function show(kind, title, text) {
    result.hidden = false;
    result.className = "rc-result rc-result-" + kind;
    result.textContent = "";
    var h = document.createElement("p");
    h.className = "rc-result-title";
    h.textContent = title;
    result.appendChild(h);
    if (text) {
      var p = document.createElement("p");
      p.textContent = text;
      result.appendChild(p);
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var code = normalize(input.value);
    if (!code) {
      show("warn", "回执码格式不正确", "回执码为 12 位字母和数字，例如 K7QF-3MZA-P2XW。");
      return;
    }
    if (codes[code]) show("ok", "已计入", "回执码 " + code + " 对应的选票已计入本次测评结果。");
    else show("warn", "未找到", "没有找到回执码 " + code + "，请核对后重新输入；如仍有疑问，请联系会议组织者。");
  });
})();
