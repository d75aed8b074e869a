/* New / edit round: add the roster members picked to the subjects box last used. */
(function () {
  "use strict";
  var picker = document.querySelector("[data-roster-pick]");
  if (!picker) return;
  var last = null;
  document.querySelectorAll("textarea[name^='subjects']").forEach(function (t) {
    t.addEventListener("focus", function () { last = t; });
  });
  function target() {
    if (last && !last.disabled) return last;
    var boxes = Array.prototype.filter.call(
      document.querySelectorAll("textarea[name^='subjects']"), function (t) { return !t.disabled; });
    return boxes[0] || null;
  }
  picker.querySelector("[data-roster-add]").addEventListener("click", function () {
    var box = target();
    if (!box) return;
    var select = picker.querySelector("[data-roster-select]");
    var have = box.value.split("\n").map(function (l) { return l.trim(); });
    var lines = [];
    Array.prototype.forEach.call(select.selectedOptions, function (o) {
      var line = o.value.replace(/\s+/g, " ").trim();
      if (have.indexOf(line) < 0) lines.push(line);
      o.selected = false;
    });
    if (!lines.length) return;
    box.value = box.value.replace(/\s*$/, "") + (box.value.trim() ? "\n" : "") + lines.join("\n");
  });
}());
