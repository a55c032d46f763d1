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

  setupCopyButtons();
  renderDiagrams();
})();
