/* New / edit round: a form with several sections gets one subjects box per section. */
(function () {
  "use strict";
  var select = document.querySelector("select[data-form-select]");
  if (!select) return;
  var plain = document.querySelector("[data-subjects-plain]");
  function sync() {
    var any = false;
    document.querySelectorAll("[data-form-only]").forEach(function (group) {
      var on = group.getAttribute("data-form-only") === select.value;
      any = any || on;
      group.hidden = !on;
      group.querySelectorAll("textarea").forEach(function (t) { t.disabled = !on; });
    });
    if (plain) {
      plain.hidden = any;
      plain.querySelectorAll("textarea").forEach(function (t) { t.disabled = any; });
    }
  }
  select.addEventListener("change", sync);
  sync();
}());
