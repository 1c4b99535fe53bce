// The console's only script: local times, copy buttons, the sign-in hand-off, live progress.
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.textContent = d.toLocaleString(); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    document.querySelectorAll("button.copy[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () { b.textContent = "copied"; });
      });
    });
    document.querySelectorAll("button[data-copy-from]").forEach(function (b) {
      b.addEventListener("click", function () {
        var src = document.getElementById(b.getAttribute("data-copy-from"));
        navigator.clipboard.writeText(src.textContent).then(function () { b.textContent = "Copied"; });
      });
    });
    document.querySelectorAll("a[data-back]").forEach(function (a) {
      a.addEventListener("click", function (e) { e.preventDefault(); history.back(); });
    });
    var signIn = document.querySelector("form[data-autosubmit]");
    if (signIn) { signIn.submit(); }
    document.querySelectorAll("[data-poll]").forEach(function (el) { poll(el); });
  });
  // Progress of a running job: GET the element's data-poll URL (JSON) every second and fill fields.
  function poll(el) {
    fetch(el.getAttribute("data-poll"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        Object.keys(s).forEach(function (k) {
          el.querySelectorAll("[data-field='" + k + "']").forEach(function (f) {
            if (f.tagName === "PROGRESS") { f.max = s.total || 1; f.value = s.done || 0; }
            else { f.textContent = s[k] === null ? "—" : s[k]; }
          });
        });
        if (s.phase !== "done" && s.phase !== "failed" && s.phase !== "idle") { setTimeout(function () { poll(el); }, 1000); }
        else if (s.phase === "done") { el.setAttribute("data-finished", "done"); }
      })
      .catch(function () { setTimeout(function () { poll(el); }, 2000); });
  }
})();
