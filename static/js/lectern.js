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

  // The button says what happened for a moment, to the eye and to a screen reader alike.
  function flash(button, label, state) {
    var name = button.getAttribute("aria-label");
    button.textContent = label;
    if (name) { button.setAttribute("aria-label", label); }
    button.dataset.state = state;
    window.setTimeout(function () {
      button.textContent = "Copy";
      if (name) { button.setAttribute("aria-label", name); }
      delete button.dataset.state;
    }, 1800);
  }

  // A region that scrolls sideways (a wide table, a long command) must be reachable by keyboard:
  // it becomes a tab stop while, and only while, its content is wider than it is.
  function keyboardScrolling() {
    var regions = document.querySelectorAll(".table-wrap, .code-block pre");
    if (regions.length === 0 || !window.ResizeObserver) { return; }
    var observer = new ResizeObserver(function (entries) {
      entries.forEach(function (entry) {
        var region = entry.target;
        if (region.scrollWidth > region.clientWidth + 1) {
          region.tabIndex = 0;
          if (region.classList.contains("table-wrap") && !region.hasAttribute("aria-label")) {
            var caption = region.querySelector("caption, h2, th");
            region.setAttribute("role", "region");
            region.setAttribute("aria-label", "Table" + (caption ? ": " + caption.textContent.trim() : "") + " (scrolls sideways)");
          }
        } else if (region.hasAttribute("tabindex")) {
          region.removeAttribute("tabindex");
        }
      });
    });
    regions.forEach(function (region) { observer.observe(region); });
  }

  function renderDiagrams() {
    var blocks = document.querySelectorAll("pre.mermaid");
    if (blocks.length === 0 || !window.mermaid) { return; }
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: dark ? "dark" : "default" });
    Promise.resolve(window.mermaid.run({ nodes: blocks })).then(function () {
      blocks.forEach(offerFullSize);
    });
  }

  // A rendered diagram can be opened full size in a dialog (scrollable; Escape or Close ends it).
  function offerFullSize(block, index) {
    var svg = block.querySelector("svg");
    if (!svg) { return; }
    var button = el("button", "diagram-open", "Open diagram " + (index + 1) + " full size");
    button.type = "button";
    button.addEventListener("click", function () {
      var dialog = el("dialog", "diagram-dialog");
      dialog.setAttribute("aria-label", "Diagram " + (index + 1) + ", full size");
      var close = el("button", "diagram-close", "Close");
      close.type = "button";
      close.addEventListener("click", function () { dialog.close(); });
      var full = svg.cloneNode(true);
      full.removeAttribute("style");
      full.removeAttribute("id");
      var box = svg.viewBox && svg.viewBox.baseVal;
      if (box && box.width) { full.setAttribute("width", String(Math.round(box.width))); full.setAttribute("height", String(Math.round(box.height))); }
      var scroller = el("div", "diagram-full");
      scroller.tabIndex = 0;
      scroller.appendChild(full);
      dialog.appendChild(close);
      dialog.appendChild(scroller);
      dialog.addEventListener("close", function () { dialog.remove(); button.focus(); });
      document.body.appendChild(dialog);
      dialog.showModal();
      close.focus();
    });
    block.insertAdjacentElement("afterend", button);
  }

  // On a narrow screen the table of contents starts folded, so the lesson comes first.
  function foldContentsOnSmallScreens() {
    var box = document.querySelector(".toc-box");
    if (!box || !window.matchMedia) { return; }
    var narrow = window.matchMedia("(max-width: 60rem)");
    var fit = function () { box.open = !narrow.matches; };
    fit();
    if (narrow.addEventListener) { narrow.addEventListener("change", fit); }
  }

  // Staff tables sort by a column (its header is a button; `data-sort` on a cell is the value to
  // sort by, e.g. a timestamp behind a readable date), and a `data-filter` box hides the rows
  // that do not contain what is typed.
  function setupTables(within) {
    (within || document).querySelectorAll("table[data-sortable]").forEach(function (table) {
      var body = table.tBodies[0];
      if (!body) { return; }
      var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
      headers.forEach(function (th, column) {
        var button = el("button", "sort-button");
        button.type = "button";
        while (th.firstChild) { button.appendChild(th.firstChild); }
        th.appendChild(button);
        button.addEventListener("click", function () {
          var ascending = th.getAttribute("aria-sort") !== "ascending";
          headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          var value = function (row) {
            var cell = row.cells[column];
            if (!cell) { return ""; }
            return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
          };
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = value(a), y = value(b);
            var nx = parseFloat(x), ny = parseFloat(y);
            var order = (!isNaN(nx) && !isNaN(ny) && String(nx) === x.replace(/%$/, "") && String(ny) === y.replace(/%$/, ""))
              ? nx - ny
              : x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
            return ascending ? order : -order;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
    (within || document).querySelectorAll("input[data-filter]").forEach(function (input) {
      var table = document.getElementById(input.dataset.filter);
      if (!table || !table.tBodies[0]) { return; }
      input.addEventListener("input", function () {
        var wanted = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          row.hidden = wanted !== "" && row.textContent.toLowerCase().indexOf(wanted) < 0;
        });
      });
    });
  }

  // The cohort heatmap: one Tab stop, arrow keys between cells (a roving tabindex).
  function setupHeatmap() {
    var table = document.querySelector("[data-heatmap]");
    if (!table) { return; }
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr")).map(function (row) {
      return Array.prototype.slice.call(row.querySelectorAll("td a"));
    }).filter(function (cells) { return cells.length; });
    if (!rows.length) { return; }
    rows.forEach(function (cells) { cells.forEach(function (a) { a.tabIndex = -1; }); });
    rows[0][0].tabIndex = 0;
    table.addEventListener("keydown", function (event) {
      var r = -1, c = -1;
      rows.forEach(function (cells, i) {
        var j = cells.indexOf(document.activeElement);
        if (j >= 0) { r = i; c = j; }
      });
      if (r < 0) { return; }
      var moves = {
        ArrowRight: [r, c + 1], ArrowLeft: [r, c - 1], ArrowDown: [r + 1, c], ArrowUp: [r - 1, c],
        Home: [r, 0], End: [r, rows[r].length - 1]
      };
      var to = moves[event.key];
      if (!to) { return; }
      var row = rows[Math.max(0, Math.min(rows.length - 1, to[0]))];
      var cell = row[Math.max(0, Math.min(row.length - 1, to[1]))];
      event.preventDefault();
      rows[r][c].tabIndex = -1;
      cell.tabIndex = 0;
      cell.focus();
    });
  }

  // Scroll-spy: the table of contents marks the section being read.
  function followReading() {
    var links = Array.prototype.slice.call(document.querySelectorAll(".toc a[href^='#']"));
    if (!links.length) { return; }
    var byId = {};
    var headings = [];
    links.forEach(function (link) {
      var heading = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
      if (heading) { byId[heading.id] = link; headings.push(heading); }
    });
    var current = null;
    function mark() {
      // The last heading above a line a third down the window is the section being read.
      var line = window.innerHeight / 3;
      var reading = null;
      headings.forEach(function (heading) {
        if (heading.getBoundingClientRect().top <= line) { reading = heading; }
      });
      var link = reading ? byId[reading.id] : null;
      if (link === current) { return; }
      if (current) { current.removeAttribute("aria-current"); }
      if (link) { link.setAttribute("aria-current", "location"); }
      current = link;
    }
    var pending = false;
    window.addEventListener("scroll", function () {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; mark(); });
    }, { passive: true });
    mark();
  }

  // "Check my work": run a lab step's checks on the server and show each verdict in place.
  var MARKS = { passed: "\u2714", failed: "\u2718", error: "!" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // A glyph for the eye and words for a screen reader (an aria-label on a plain span is not read).
  function spoken(node, glyph, words) {
    node.textContent = "";
    var shown = el("span", null, glyph);
    shown.setAttribute("aria-hidden", "true");
    node.appendChild(shown);
    node.appendChild(el("span", "visually-hidden", words));
    return node;
  }

  // Text with `code spans` (hints and explanations are written that way), as DOM nodes: never HTML.
  function appendInline(parent, text) {
    text.split("`").forEach(function (part, i) {
      if (part === "") { return; }
      parent.appendChild(i % 2 === 1 ? el("code", null, part) : document.createTextNode(part));
    });
  }

  // The step's verdict on its heading and in the table of contents: passed or not yet.
  function markStep(box, status) {
    var heading = box.closest("section") && box.closest("section").querySelector("h3[id]");
    if (!heading) { return; }
    var passed = status === "passed";
    var targets = [heading.querySelector("a") || heading];
    var tocLink = document.querySelector(".toc a[href='#" + heading.id + "']");
    if (tocLink) { targets.push(tocLink); }
    targets.forEach(function (target) {
      var mark = target.querySelector(".step-state");
      if (!mark) {
        mark = el("span", "step-state");
        target.insertBefore(mark, target.firstChild);
      }
      spoken(mark, passed ? "\u2713 " : "\u2717 ", passed ? "passed: " : "not passed yet: ");
      mark.className = "step-state " + (passed ? "step-passed" : "step-failed");
    });
  }

  // A timestamp as every page writes it ("4 Dec 2026, 15:16 UTC", as the server's pages do), so
  // one page never mixes two formats.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function localTime(stamp) {
    var when = new Date(stamp);
    if (isNaN(when)) { return stamp; }
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return when.getUTCDate() + " " + MONTHS[when.getUTCMonth()] + " " + when.getUTCFullYear() + ", " +
      two(when.getUTCHours()) + ":" + two(when.getUTCMinutes()) + " UTC";
  }

  // A pass is kept: once a step passed, a later failing run says what fails now, and the step
  // stays marked passed.
  function showRun(box, run) {
    // The same run arrives twice on the page that asked for it (its answer, and the learner's
    // event stream, which tells every open page): drawn once, so focus and reading stay put.
    if (run.id && box.dataset.shownRun === String(run.id)) { return; }
    if (run.id) { box.dataset.shownRun = String(run.id); }
    var results = box.querySelector(".check-results");
    var kept = run.status !== "passed" && run.passed_at;
    markStep(box, kept ? "passed" : run.status);
    results.textContent = "";
    var passed = run.results.filter(function (r) { return r.status === "passed"; }).length;
    var failing = run.results.length - passed;
    var summary = el("p", "check-summary check-" + (kept ? "kept" : run.status),
      passed + " of " + run.results.length + " checks passed \u00b7 checked " +
      localTime(run.recorded_at) + " in " + run.duration_ms + " ms");
    results.appendChild(summary);
    if (run.passed_at) {
      results.appendChild(el("p", "check-pass-kept", kept
        ? "Now: " + failing + (failing === 1 ? " check fails" : " checks fail") + "; your pass from " + localTime(run.passed_at) + " is kept."
        : "Passed at " + localTime(run.passed_at) + "."));
    }
    var list = el("ul", "check-list");
    run.results.forEach(function (r) {
      var item = el("li", "check-item check-" + r.status);
      var mark = spoken(el("span", "check-mark"), MARKS[r.status] || "?", r.status + ": ");
      item.appendChild(mark);
      item.appendChild(el("strong", "check-title", r.title));
      item.appendChild(el("span", "check-message", r.message));
      if (r.status !== "passed" && r.hint) {
        var hint = el("span", "check-hint", "Hint: ");
        appendInline(hint, r.hint);
        item.appendChild(hint);
      }
      list.appendChild(item);
    });
    results.appendChild(list);
  }

  // A failed run: what went wrong and what to try, with the technical cause folded away.
  function showError(box, message, detail) {
    var results = box.querySelector(".check-results, .preflight-results");
    results.textContent = "";
    var summary = el("p", "check-summary check-error");
    appendInline(summary, message);
    results.appendChild(summary);
    if (detail) {
      var more = el("details", "check-detail");
      more.appendChild(el("summary", null, "Details"));
      more.appendChild(el("pre", null, detail));
      results.appendChild(more);
    }
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
              if (response.ok) { showRun(box, body); } else { showError(box, body.error || ("The check failed: HTTP " + response.status), body.detail); }
              // Keyboard and screen-reader users land on the verdict they asked for.
              box.querySelector(".check-results").focus();
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

  // Live checks: a started step is watched on the learner's cluster; its verdicts, and how it is
  // followed, arrive on one event stream per lab (documented in the README).
  function showLive(box, mode, text) {
    var line = box.querySelector(".check-live");
    if (!line) { return; }
    line.hidden = !text;
    line.className = "check-live" + (mode ? " live-" + mode : "");
    line.textContent = text || "";
  }

  // Once started, pressing it again starts the step anew.
  function startedAgain(button) {
    button.textContent = "Start again";
    button.setAttribute("aria-label", "Start again: step " + button.dataset.number);
  }

  function followLabs() {
    if (!window.EventSource) { return; }
    document.querySelectorAll("section.lab[data-lab]").forEach(function (lab) {
      var boxes = {};
      lab.querySelectorAll(".check[data-lab][data-step]").forEach(function (box) {
        boxes[box.dataset.step] = box;
        var start = box.querySelector(".start-button");
        start.hidden = false;
        start.addEventListener("click", function () {
          start.disabled = true;
          fetch(url(box, "/start"), { method: "POST", headers: checkHeaders(), body: "{}" })
            .then(function (response) {
              return response.json().then(function (body) {
                if (!response.ok) { showLive(box, "problem", body.error || ("Could not start: HTTP " + response.status)); return; }
                startedAgain(start);
                showLive(box, "connecting", "Started at " + localTime(body.started_at) + ": connecting to your cluster\u2026");
              });
            })
            .catch(function () { showLive(box, "problem", "Lectern did not answer. Is the server still running?"); })
            .then(function () { start.disabled = false; });
        });
      });
      var source = new EventSource("/api/labs/" + encodeURIComponent(lab.dataset.lab) + "/live?page=" + encodeURIComponent(location.pathname));
      function on(name, show) {
        source.addEventListener(name, function (event) {
          var update = JSON.parse(event.data);
          var box = boxes[update.step || (update.run && update.run.step)];
          if (box) { show(box, update); }
        });
      }
      on("verdict", function (box, update) { showRun(box, update.run); });
      on("following", function (box, update) {
        startedAgain(box.querySelector(".start-button"));
        showLive(box, update.mode, update.message + " Started " + localTime(update.started_at) + ".");
      });
      on("problem", function (box, update) { showLive(box, "problem", update.error); });
      on("stopped", function (box, update) {
        showLive(box, null, update.reason === "idle"
          ? "No longer watching: no page was open. Press Start again or Check my work."
          : "");
      });
      source.addEventListener("replaced", function () { source.close(); });
    });
  }

  // The instructors' live board: when a run is recorded anywhere, the page redraws itself from a
  // fresh copy (a burst of runs is one redraw), keeping the reader's place.
  function followBoard() {
    var board = document.querySelector("[data-live-board]");
    if (!board || !window.EventSource) { return; }
    var pending = null;
    var source = new EventSource("/api/instructor/live");
    source.addEventListener("changed", function () {
      if (pending) { return; }
      pending = window.setTimeout(function () {
        pending = null;
        fetch(location.href, { headers: { Accept: "text/html" } })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) {
            if (!html) { return; }
            var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-board]");
            if (fresh) {
              board.innerHTML = fresh.innerHTML;
              // The redrawn tables need their keys and sorting again.
              setupHeatmap();
              setupTables(board);
            }
          })
          .catch(function () { /* the next change tries again */ });
      }, 300);
    });
    source.addEventListener("replaced", function () { source.close(); });
  }

  // "Is my cluster ready?" in the first step: the cluster checks would ask, or what to try.
  var VIA = {
    bridge: "your own cluster, through lectern connect",
    assigned: "the cluster your instructor assigned you",
    server: "the cluster in this server's kubeconfig"
  };

  function setupPreflight() {
    document.querySelectorAll("[data-preflight]").forEach(function (box) {
      var button = box.querySelector("button");
      var results = box.querySelector(".preflight-results");
      button.hidden = false;
      button.addEventListener("click", function () {
        button.disabled = true;
        box.classList.add("checking");
        fetch("/api/cluster/preflight", { method: "POST", headers: checkHeaders(), body: "{}" })
          .then(function (response) {
            return response.json().then(function (body) {
              if (response.ok) {
                results.textContent = "";
                var summary = body.recent_enough
                  ? el("p", "check-summary check-passed", "\u2714 Your cluster answers: Kubernetes " + body.version + ", context ")
                  : el("p", "check-summary check-failed", "\u2718 Your cluster answers, but Kubernetes " + body.version + " is too old for this lab (it needs " + body.needs + " or newer): context ");
                summary.appendChild(el("code", null, body.context));
                summary.appendChild(document.createTextNode(" (" + (VIA[body.via] || body.via) + ")."));
                results.appendChild(summary);
                if (!body.recent_enough) {
                  results.appendChild(el("p", "check-message", "Create the cluster again with the node image this step names, then ask again."));
                }
                results.appendChild(el("p", "check-message", "API server: " + body.server));
                (body.contexts || []).forEach(function (other) {
                  var line = el("p", "check-message", other.version ?
                    "\u2714 Context " : "Not yet: context ");
                  line.appendChild(el("code", null, other.context));
                  line.appendChild(document.createTextNode(other.version ?
                    " (a later step's cluster) answers: Kubernetes " + other.version + "." :
                    " (a later step's cluster): " + other.problem));
                  results.appendChild(line);
                });
              } else {
                showError(box, body.error || ("HTTP " + response.status), body.detail);
              }
              results.focus();
            });
          })
          .catch(function () { showError(box, "Lectern did not answer. Is the server still running?"); })
          .then(function () { button.disabled = false; box.classList.remove("checking"); });
      });
    });
  }

  // Assessment answers: saved through the API as versions; choice questions come back graded.
  function answerUrl(form) {
    return "/api/modules/" + encodeURIComponent(form.dataset.module) + "/questions/" + encodeURIComponent(form.dataset.question) + "/answer";
  }

  var STATE_LABELS = { draft: "Draft saved", submitted: "Submitted", graded: "Graded" };

  function showAnswer(form, answer) {
    var status = form.querySelector(".answer-status");
    // A graded answer says when it was graded; the others when this version was saved.
    // The state and score first, in bold; then when (and which version, once there are several).
    var when = answer.state === "graded" && answer.grade ? answer.grade.graded_at : answer.saved_at;
    var head = STATE_LABELS[answer.state] || answer.state;
    if (answer.score !== null && answer.score !== undefined) {
      head += ": " + answer.score + " of " + answer.points + (answer.points === 1 ? " point" : " points");
    }
    var text = " \u00b7 " + (answer.version > 1 ? "version " + answer.version + ", " : "") + localTime(when);
    if (answer.state === "submitted" && form.dataset.kind === "open") {
      if (personalMode()) {
        text += " \u00b7 compare it with the model answer and score it yourself below; you may still resubmit";
      } else {
        text += answer.locked ? " \u00b7 being graded; it can no longer be changed" : " \u00b7 waiting for an instructor; you may still resubmit";
      }
    }
    status.textContent = "";
    status.appendChild(el("strong", "answer-state", head));
    status.appendChild(document.createTextNode(text));
    status.className = "answer-status answer-" + answer.state;
    var area = form.querySelector("textarea");
    if (area && answer.text !== null && (area.value === "" || answer.locked)) { area.value = answer.text; }
    if (answer.locked) {
      form.querySelectorAll("textarea, input, button").forEach(function (el) { el.disabled = true; });
      form.querySelectorAll(".answer-actions button").forEach(function (b) { b.hidden = true; });
    }
    showGrade(form, answer.grade);
    if (form.dataset.kind === "open" && answer.state === "submitted" && personalMode()) {
      offerSelfAssessment(form, answer.self_assessment);
    }
    (answer.choices || []).forEach(function (i) {
      var input = form.querySelector("input[value='" + i + "']");
      if (input) { input.checked = true; }
    });
    answer.feedback.forEach(function (f, i) {
      var note = form.querySelector(".choice-feedback[data-option='" + i + "']");
      if (!note) { return; }
      var choice = note.closest(".choice");
      if (f.selected && choice && !choice.querySelector(".your-answer")) {
        choice.classList.add("choice-selected");
        choice.querySelector("label").appendChild(el("span", "your-answer", "Your answer"));
      }
      note.hidden = false;
      note.className = "choice-feedback " + (f.correct ? "choice-correct" : "choice-wrong");
      note.textContent = f.correct
        ? (f.selected ? "\u2714 Correct, and you chose it: " : "\u2714 A correct option you did not choose: ")
        : (f.selected ? "\u2718 You chose it, but it is not correct: " : "Not correct: ");
      appendInline(note, f.explanation);
    });
  }

  // An instructor's released grade: score per rubric criterion, then the feedback, all as text.
  function showGrade(form, grade) {
    var box = form.querySelector(".answer-grade");
    if (!box || !grade) { return; }
    box.textContent = "";
    var list = document.createElement("ul");
    grade.criteria.forEach(function (c) {
      var item = document.createElement("li");
      item.textContent = (c.score === null ? "\u2013" : c.score) + " of " + c.points + ": " + c.criterion;
      list.appendChild(item);
    });
    var heading = document.createElement("h4");
    heading.textContent = "Rubric";
    box.appendChild(heading);
    box.appendChild(list);
    if (grade.feedback) {
      var feedbackHeading = document.createElement("h4");
      feedbackHeading.textContent = "Feedback from your instructor";
      var feedback = document.createElement("p");
      feedback.className = "grade-feedback";
      feedback.textContent = grade.feedback;
      box.appendChild(feedbackHeading);
      box.appendChild(feedback);
    }
    box.hidden = false;
  }

  // Unsaved answer text survives a reload or a closed tab (kept in this browser, per person, until
  // it is saved), and leaving the page with unsaved text asks first.
  function draftKey(form) {
    var account = document.querySelector(".account-name");
    var who = account ? account.textContent.trim().split(" ")[0] : "local";
    return "lectern-draft:" + who + ":" + form.dataset.module + "/" + form.dataset.question;
  }

  function keepDraft(form) {
    var area = form.querySelector("textarea");
    if (!area) { return; }
    area.addEventListener("input", function () {
      try { window.localStorage.setItem(draftKey(form), area.value); } catch (e) { /* storage full or off */ }
      form.dataset.dirty = "1";
    });
  }

  function restoreDraft(form, answer) {
    var area = form.querySelector("textarea");
    var kept = null;
    try { kept = window.localStorage.getItem(draftKey(form)); } catch (e) { kept = null; }
    if (!area || kept === null || area.disabled || (answer && answer.locked)) { return; }
    if (answer && answer.text === kept) { forgetDraft(form); return; }
    area.value = kept;
    form.dataset.dirty = "1";
    var status = form.querySelector(".answer-status");
    status.textContent = (status.textContent ? status.textContent + " \u00b7 " : "") +
      "restored your unsaved text from this browser";
  }

  function forgetDraft(form) {
    try { window.localStorage.removeItem(draftKey(form)); } catch (e) { /* storage off */ }
    delete form.dataset.dirty;
  }

  window.addEventListener("beforeunload", function (event) {
    if (document.querySelector("form.answer[data-dirty]")) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  function saveAnswer(form, submit) {
    var body = { submit: submit };
    if (form.dataset.kind === "open") {
      body.text = form.querySelector("textarea").value;
    } else {
      body.choices = Array.prototype.map.call(form.querySelectorAll("input:checked"), function (i) { return Number(i.value); });
    }
    var status = form.querySelector(".answer-status");
    // Nothing to send: said here, without a request the server would refuse.
    var empty = body.text !== undefined ? body.text.trim() === "" : body.choices.length === 0;
    if (submit && empty) {
      status.textContent = body.text !== undefined ? "Write your answer first: it is empty." : "Choose at least one option first.";
      status.className = "answer-status answer-error";
      status.focus();
      return;
    }
    status.textContent = "Saving\u2026";
    fetch(answerUrl(form), { method: "POST", headers: checkHeaders(), body: JSON.stringify(body) })
      .then(function (response) {
        return response.json().then(function (answer) {
          if (response.ok) {
            forgetDraft(form);
            showAnswer(form, answer);
          } else {
            status.textContent = answer.error || ("Not saved: HTTP " + response.status);
            status.className = "answer-status answer-error";
            if (response.status === 401) {
              // The session ended: the typed text is kept in this browser; sign in and come back.
              status.textContent = "Not saved: your session has ended. Your text is kept in this browser: ";
              var again = el("a", null, "sign in again");
              var anchor = form.closest("[id]");
              again.href = "/sign-in?next=" + encodeURIComponent(window.location.pathname + (anchor ? "#" + anchor.id : ""));
              status.appendChild(again);
              status.appendChild(document.createTextNode(" and it comes back here."));
            }
          }
          // Keyboard and screen-reader users land on what became of their answer.
          if (submit || !response.ok) { status.focus(); }
        });
      })
      .catch(function () { status.textContent = "Not saved: Lectern did not answer."; status.className = "answer-status answer-error"; status.focus(); });
  }

  // Personal mode (no accounts, so no CSRF token in the page): nobody grades written answers but
  // the learner, against the model answer and rubric, recorded as self-assessed.
  function personalMode() {
    return !document.querySelector("[data-csrf]");
  }

  function selfAssessmentUrl(form) {
    return answerUrl(form).replace(/\/answer$/, "/self-assessment");
  }

  function showSelfAssessed(box, assessed) {
    var line = box.querySelector(".self-assessed") || el("p", "self-assessed");
    line.textContent = "Self-assessed: " + assessed.score + " of " + assessed.points +
      " points (your own scoring of version " + assessed.answer_version + " against the rubric, not an instructor's grade)";
    box.insertBefore(line, box.firstChild);
  }

  function offerSelfAssessment(form, assessed) {
    var box = form.parentNode.querySelector(".self-assessment");
    if (!box) {
      box = el("div", "self-assessment");
      form.insertAdjacentElement("afterend", box);
      var open = el("button", "self-assess-open", "Compare with the model answer and score yourself");
      open.type = "button";
      open.addEventListener("click", function () { openSelfAssessment(form, box, open); });
      box.appendChild(open);
    }
    if (assessed) { showSelfAssessed(box, assessed); }
  }

  function openSelfAssessment(form, box, opener) {
    fetch(selfAssessmentUrl(form), { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (sheet) {
          if (!response.ok) { box.appendChild(el("p", "answer-error", sheet.error || ("HTTP " + response.status))); return; }
          opener.hidden = true;
          var model = el("div", "model-answer");
          model.appendChild(el("h4", null, "Model answer"));
          var body = el("div", "model-answer-body");
          body.innerHTML = sheet.model_answer; // rendered by Lectern from the course, like the page itself
          model.appendChild(body);
          box.appendChild(model);
          var rubric = el("form", "self-assess-form");
          var legend = el("h4", null, "Score your answer (version " + sheet.answer_version + ") against the rubric");
          rubric.appendChild(legend);
          var previous = sheet.current && sheet.current.answer_version === sheet.answer_version ? sheet.current.criteria : null;
          sheet.rubric.forEach(function (criterion, i) {
            var row = el("div", "criterion");
            var id = "self-" + form.dataset.question + "-" + i;
            var label = el("label", null, criterion.criterion + " (0\u2013" + criterion.points + ")");
            label.htmlFor = id;
            var input = el("input");
            input.type = "number"; input.min = "0"; input.max = String(criterion.points); input.id = id; input.required = true;
            input.value = previous && previous[i] && previous[i].score !== null ? String(previous[i].score) : "";
            row.appendChild(label);
            row.appendChild(input);
            rubric.appendChild(row);
          });
          var save = el("button", null, "Save my self-assessment");
          save.type = "submit";
          rubric.appendChild(save);
          var status = el("p", "answer-status");
          status.setAttribute("aria-live", "polite");
          rubric.appendChild(status);
          rubric.addEventListener("submit", function (event) {
            event.preventDefault();
            var scores = Array.prototype.map.call(rubric.querySelectorAll("input"), function (i) { return Number(i.value); });
            fetch(selfAssessmentUrl(form), { method: "POST", headers: checkHeaders(), body: JSON.stringify({ scores: scores }) })
              .then(function (response) {
                return response.json().then(function (assessed) {
                  if (response.ok) { showSelfAssessed(box, assessed); status.textContent = "Saved."; } else { status.textContent = assessed.error || ("Not saved: HTTP " + response.status); }
                });
              })
              .catch(function () { status.textContent = "Not saved: Lectern did not answer."; });
          });
          box.appendChild(rubric);
          body.tabIndex = -1;
          body.focus();
        });
      })
      .catch(function () { box.appendChild(el("p", "answer-error", "Lectern did not answer.")); });
  }

  function setupAnswers() {
    if (personalMode()) {
      document.querySelectorAll("article.question .question-meta").forEach(function (meta) {
        meta.textContent = meta.textContent.replace("written answer, graded by an instructor", "written answer: after submitting, compare it with the model answer and score it yourself");
      });
      document.querySelectorAll("form.answer[data-kind='open'] button[type='submit']").forEach(function (b) {
        b.textContent = "Submit";
        b.setAttribute("aria-label", b.getAttribute("aria-label").replace("Submit for grading", "Submit"));
      });
    }
    document.querySelectorAll("form.answer[data-question]").forEach(function (form) {
      form.querySelectorAll("button").forEach(function (b) { b.hidden = false; });
      form.addEventListener("submit", function (event) { event.preventDefault(); saveAnswer(form, true); });
      var draft = form.querySelector("[data-action='draft']");
      if (draft) { draft.addEventListener("click", function () { saveAnswer(form, false); }); }
      keepDraft(form);
      fetch(answerUrl(form), { headers: { Accept: "application/json" } })
        .then(function (response) { return response.status === 200 ? response.json() : null; })
        .then(function (answer) {
          if (answer) { showAnswer(form, answer); }
          restoreDraft(form, answer);
        })
        .catch(function () { /* nothing saved yet */ });
    });
  }

  // The header's links say which page (or part of the site) this is: the longest link that the
  // path starts with (an answer being graded is under Grading).
  function markCurrentPage() {
    var path = window.location.pathname;
    var best = null;
    document.querySelectorAll("nav.account a[href^='/']").forEach(function (link) {
      var href = link.getAttribute("href");
      var under = path === href || path.indexOf(href.replace(/\/$/, "") + "/") === 0;
      if (under && (!best || href.length > best.getAttribute("href").length)) { best = link; }
    });
    if (best) { best.setAttribute("aria-current", "page"); }
  }

  // The grading form: a running total of the rubric's scores, and 0 / Full beside each criterion.
  function setupGradeForm() {
    var form = document.querySelector("form.grade-form");
    var total = document.getElementById("grade-total");
    if (!form || !total) { return; }
    var inputs = form.querySelectorAll("input[name='score']");
    var add = function () {
      var sum = 0;
      inputs.forEach(function (input) {
        var n = parseInt(input.value, 10);
        if (!isNaN(n)) { sum += n; }
      });
      total.textContent = String(sum);
    };
    inputs.forEach(function (input) { input.addEventListener("input", add); });
    form.querySelectorAll(".score-shortcuts").forEach(function (s) { s.hidden = false; });
    form.querySelectorAll("button.score-set").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.getElementById(button.dataset.for);
        if (!input) { return; }
        input.value = button.dataset.value;
        add();
      });
    });
    add();
  }

  // The Clusters page: whether each assigned cluster answers, asked once the page is shown.
  function setupReachability() {
    var table = document.querySelector("table[data-reachability]");
    if (!table) { return; }
    var cells = table.querySelectorAll("td[data-reachability-of]");
    cells.forEach(function (cell) { cell.textContent = "testing…"; });
    fetch("/api/admin/clusters/reachability", { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (answers) {
        var byLearner = {};
        answers.forEach(function (a) { byLearner[a.learner_id] = a; });
        cells.forEach(function (cell) {
          var answer = byLearner[cell.getAttribute("data-reachability-of")];
          cell.textContent = "";
          if (!answer) { cell.textContent = "not tested"; return; }
          var mark = el("span", "check-mark", answer.reachable ? "✔ yes" : "✘ no");
          cell.className = answer.reachable ? "reachable" : "unreachable";
          cell.appendChild(mark);
          cell.appendChild(el("small", "reachability-detail", answer.summary));
        });
      })
      .catch(function () {
        cells.forEach(function (cell) { cell.textContent = "could not test (reload to try again)"; });
      });
  }

  // "Your cluster": in portal mode, whether the learner's `lectern connect` bridge is up, kept
  // current without a reload. Personal mode has no bridges (the status endpoint answers 404).
  function setupBridgePanel() {
    var panel = document.querySelector("[data-bridge-panel]");
    // Only signed-in portal pages carry a CSRF token; personal mode has no bridges to show.
    if (!panel || !document.querySelector("[data-csrf]")) { return; }
    function show(status) {
      panel.textContent = "";
      panel.hidden = false;
      panel.className = "bridge-panel " + (status.connected ? "bridge-connected" : "bridge-disconnected");
      if (status.connected) {
        var link = status.link;
        panel.appendChild(el("strong", null, status.cluster_answers
          ? "Your cluster is connected"
          : "Connected, but your cluster does not answer"));
        panel.appendChild(document.createTextNode(
          " (lectern connect since " + localTime(link.connected_since) + " from " + link.from + (link.contexts && link.contexts.length ? ", contexts " + [link.context].concat(link.contexts).join(", ") : ", context " + link.context) +
          (link.server_version ? ", Kubernetes " + link.server_version : "") + "). " +
          (status.cluster_answers
            ? "Check my work asks it, read-only."
            : "Start it (docker ps shows its node containers), then check again.")));
      } else if (status.checks_use) {
        // Checks already have a cluster: say which, and offer lectern connect as a choice.
        panel.className = "bridge-panel bridge-neutral";
        panel.appendChild(el("strong", null, status.checks_use === "assigned"
          ? "Checks use the cluster your instructor assigned you."
          : "Checks use this server's cluster."));
        connectCommand(status.command, " To check your own cluster instead, run ", " where it runs (");
      } else {
        panel.appendChild(el("strong", null, "Your cluster is not connected."));
        connectCommand(status.command, " Run ", " on the machine where it runs (");
      }
    }
    // "… run `lectern connect URL` where … (pair it first)."
    function connectCommand(command, lead, where) {
      panel.appendChild(document.createTextNode(lead));
      panel.appendChild(el("code", null, command));
      panel.appendChild(document.createTextNode(where));
      var pair = el("a", null, "pair it first");
      pair.href = "/connect";
      panel.appendChild(pair);
      panel.appendChild(document.createTextNode(")."));
    }
    function poll() {
      fetch("/api/bridge/status", { headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status !== 200) { panel.hidden = true; return null; }
          return response.json();
        })
        .then(function (status) {
          if (status) { show(status); window.setTimeout(poll, 5000); }
        })
        .catch(function () { window.setTimeout(poll, 15000); });
    }
    poll();
  }

  // The Connect page: the bridge coming up (or going away) shows without a reload.
  function setupBridgeStatus() {
    var section = document.querySelector("[data-bridge-status]");
    if (!section) { return; }
    var line = section.querySelector(".bridge-connected, .bridge-disconnected");
    if (!line) { return; }
    line.setAttribute("aria-live", "polite");
    var shown = line.className === "bridge-connected";
    function show(status) {
      if (status.connected === shown) { return; }
      shown = status.connected;
      var old = section.querySelector(".bridge-old");
      if (old) { old.remove(); }
      line.textContent = "";
      line.className = status.connected ? "bridge-connected" : "bridge-disconnected";
      if (status.connected) {
        var link = status.link;
        var contexts = [link.context].concat(link.contexts || []);
        line.appendChild(document.createTextNode("Connected since " + localTime(link.connected_since) + " from " + link.from + ": context" + (contexts.length > 1 ? "s " : " ")));
        contexts.forEach(function (name, i) {
          if (i > 0) { line.appendChild(document.createTextNode(", ")); }
          line.appendChild(el("code", null, name));
        });
        line.appendChild(document.createTextNode((link.server_version ? ", Kubernetes " + link.server_version : "") + " (" + link.client + ")."));
      } else {
        line.textContent = "Not connected. " + (status.checks_use === "assigned"
          ? "Checks run against the cluster an administrator assigned to you."
          : status.checks_use === "server" ? "Checks run against the server's own cluster."
          : "Nothing can be checked until you connect your cluster.");
      }
    }
    function poll() {
      fetch("/api/bridge/status", { headers: { Accept: "application/json" } })
        .then(function (response) { return response.status === 200 ? response.json() : null; })
        .then(function (status) { if (status) { show(status); } window.setTimeout(poll, 3000); })
        .catch(function () { window.setTimeout(poll, 15000); });
    }
    window.setTimeout(poll, 3000);
  }

  // Under `lectern serve --watch`: reload when the course changes (server-sent events).
  function liveReload() {
    var meta = document.querySelector("meta[name='lectern-live-reload']");
    if (!meta || !window.EventSource) { return; }
    var source = new EventSource(meta.content + "?page=" + encodeURIComponent(window.location.pathname));
    // A newer stream of this page (another tab of it, or the page reloaded) took over.
    source.addEventListener("replaced", function () { source.close(); });
    source.addEventListener("version", function (event) {
      if (event.data !== meta.dataset.build) {
        source.close();
        window.location.reload();
      }
    });
  }

  liveReload();
  setupCopyButtons();
  foldContentsOnSmallScreens();
  followReading();
  setupHeatmap();
  setupTables();
  keyboardScrolling();
  renderDiagrams();
  setupChecks();
  followLabs();
  followBoard();
  setupPreflight();
  setupAnswers();
  setupGradeForm();
  setupReachability();
  markCurrentPage();
  setupBridgePanel();
  setupBridgeStatus();
})();
