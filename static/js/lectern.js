// Lectern's own script: copy buttons on code blocks, and mermaid diagrams rendered in the browser
// from the vendored mermaid.js (loaded before this file on pages that have diagrams).
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP deployments have no Clipboard API: fall back to a hidden textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setupCopyButtons() {
    document.querySelectorAll(".code-block").forEach(function (block) {
      var button = block.querySelector("button.copy");
      var code = block.querySelector("pre code");
      if (!button || !code) { return; }
      button.hidden = false;
      button.setAttribute("aria-label", "Copy code to clipboard");
      button.addEventListener("click", function () {
        copyText(code.textContent).then(
          function () { flash(button, "Copied", "copied"); },
          function () { flash(button, "Select and copy", "failed"); }
        );
      });
    });
  }

  function flash(button, label, state) {
    button.textContent = label;
    button.dataset.state = state;
    window.setTimeout(function () {
      button.textContent = "Copy";
      delete button.dataset.state;
    }, 1800);
  }

  function renderDiagrams() {
    var blocks = document.querySelectorAll("pre.mermaid");
    if (blocks.length === 0 || !window.mermaid) { return; }
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: dark ? "dark" : "default" });
    window.mermaid.run({ nodes: blocks });
  }

  // "Check my work": run a lab step's checks on the server and show each verdict in place.
  var MARKS = { passed: "\u2714", failed: "\u2718", error: "!" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function showRun(box, run) {
    var results = box.querySelector(".check-results");
    results.textContent = "";
    var passed = run.results.filter(function (r) { return r.status === "passed"; }).length;
    var when = new Date(run.recorded_at);
    var summary = el("p", "check-summary check-" + run.status,
      passed + " of " + run.results.length + " checks passed \u00b7 checked " +
      (isNaN(when) ? run.recorded_at : when.toLocaleString()) + " in " + run.duration_ms + " ms");
    results.appendChild(summary);
    var list = el("ul", "check-list");
    run.results.forEach(function (r) {
      var item = el("li", "check-item check-" + r.status);
      var mark = el("span", "check-mark", MARKS[r.status] || "?");
      mark.setAttribute("aria-label", r.status);
      item.appendChild(mark);
      item.appendChild(el("strong", "check-title", r.title));
      item.appendChild(el("span", "check-message", r.message));
      if (r.status !== "passed" && r.hint) {
        item.appendChild(el("span", "check-hint", "Hint: " + r.hint));
      }
      list.appendChild(item);
    });
    results.appendChild(list);
  }

  function showError(box, message) {
    var results = box.querySelector(".check-results");
    results.textContent = "";
    results.appendChild(el("p", "check-summary check-error", message));
  }

  function url(box, suffix) {
    return "/api/labs/" + encodeURIComponent(box.dataset.lab) + "/steps/" + encodeURIComponent(box.dataset.step) + suffix;
  }

  // In portal mode the header carries the session's CSRF token; personal mode has none.
  function checkHeaders() {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    var account = document.querySelector("[data-csrf]");
    if (account) { headers["X-CSRF-Token"] = account.dataset.csrf; }
    return headers;
  }

  function setupChecks() {
    document.querySelectorAll(".check[data-lab][data-step]").forEach(function (box) {
      var button = box.querySelector(".check-button");
      button.hidden = false;
      fetch(url(box, "/runs/latest"), { headers: { Accept: "application/json" } })
        .then(function (response) { return response.status === 200 ? response.json() : null; })
        .then(function (run) { if (run) { showRun(box, run); } })
        .catch(function () { /* no earlier run to show */ });
      button.addEventListener("click", function () {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        button.textContent = "Checking\u2026";
        box.classList.add("checking");
        fetch(url(box, "/check"), { method: "POST", headers: checkHeaders(), body: "{}" })
          .then(function (response) {
            return response.json().then(function (body) {
              if (response.ok) { showRun(box, body); } else { showError(box, body.error || ("The check failed: HTTP " + response.status)); }
            });
          })
          .catch(function () { showError(box, "Lectern did not answer. Is the server still running?"); })
          .then(function () {
            button.disabled = false;
            button.removeAttribute("aria-busy");
            button.textContent = "Check my work";
            box.classList.remove("checking");
          });
      });
    });
  }

  setupCopyButtons();
  renderDiagrams();
  setupChecks();
})();
