// The sample browser of report.html (ptst.report.browser). Reads the JSON block #ptst-samples and renders one
// page of rows at a time. Every string from the data is set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var source = document.getElementById("ptst-samples");
  var root = document.getElementById("ptst-browser");
  if (!source || !root) { return; }
  var data = JSON.parse(source.textContent);
  var PAGE = data.page;
  // a sample: [cell, id, input, prompt (index into data.prompts, or the text), output, reference, verdicts]
  var CELL = 0, ID = 1, INPUT = 2, PROMPT = 3, OUTPUT = 4, REFERENCE = 5, VERDICTS = 6;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = String(attrs.text); }
      else if (key === "className") { node.className = attrs.className; }
      else { node.setAttribute(key, String(attrs[key])); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function promptOf(sample) {
    var ref = sample[PROMPT];
    return typeof ref === "number" ? data.prompts[ref][0] + sample[INPUT] + data.prompts[ref][1] : ref;
  }

  function cellName(cell) {
    var seed = cell.seed === null ? "" : " · seed " + cell.seed;
    var kind = cell.kind === "ptst" ? " (PTST)" : cell.kind === "diagonal" ? " (same template)" : "";
    return cell.train + " → " + cell.test + kind + " · " + cell.eval + seed;
  }

  function option(value, text) { var o = el("option", {text: text}); o.value = value; return o; }

  function pager(prefix, onMove) {
    var prev = el("button", {type: "button", id: prefix + "-prev", text: "← previous"});
    var next = el("button", {type: "button", id: prefix + "-next", text: "next →"});
    var where = el("span", {id: prefix + "-page", className: "muted"});
    prev.addEventListener("click", function () { onMove(-1); });
    next.addEventListener("click", function () { onMove(1); });
    return {node: el("div", {className: "pager"}, [prev, where, next]), prev: prev, next: next, where: where};
  }

  function showPage(p, page, total) {
    var pages = Math.max(1, Math.ceil(total / PAGE));
    p.where.textContent = " page " + (page + 1) + " of " + pages + " ";
    p.prev.disabled = page <= 0;
    p.next.disabled = page >= pages - 1;
  }

  function verdictBadges(cell, sample) {
    return cell.columns.map(function (column, k) {
      var v = sample[VERDICTS][k];
      return el("span", {className: "verdict", title: v[1], "data-column": column, "data-verdict": v[0],
                         text: column + ": " + (v[0] || "none")});
    });
  }

  function verdictDetails(cell, sample) {
    return el("ul", {className: "verdict-details"}, cell.columns.map(function (column, k) {
      var v = sample[VERDICTS][k];
      return v[1] ? el("li", {text: column + ": " + v[1]}) : null;
    }));
  }

  function responseBlock(sample) {
    var cell = data.cells[sample[CELL]];
    var parts = [el("div", {className: "badges"}, verdictBadges(cell, sample)),
                 el("div", {className: "label", text: "response"}),
                 el("pre", {className: "output", text: sample[OUTPUT]}),
                 verdictDetails(cell, sample)];
    if (sample[REFERENCE] !== null && sample[REFERENCE] !== undefined) {
      parts.push(el("details", {className: "reference"}, [el("summary", {text: "reference answer"}),
                                                        el("pre", {text: sample[REFERENCE]})]));
    }
    parts.push(el("details", {className: "prompt"}, [el("summary", {text: "exact prompt"}),
                                                   el("pre", {text: promptOf(sample)})]));
    return parts;
  }

  // ---- responses by cell ----
  var byCell = data.cells.map(function () { return []; });
  data.samples.forEach(function (sample, i) { byCell[sample[CELL]].push(i); });

  var cellSelect = el("select", {id: "cell-select"});
  var groups = {};
  data.cells.forEach(function (cell, c) {
    if (!groups[cell.eval]) { groups[cell.eval] = el("optgroup", {label: cell.eval}); cellSelect.appendChild(groups[cell.eval]); }
    var shown = cell.shown < cell.n ? cell.shown + " of " + cell.n : String(cell.n);
    groups[cell.eval].appendChild(option(String(c), cellName(cell) + " (" + shown + " samples)"));
  });
  var filters = el("span", {id: "verdict-filters"});
  var search = el("input", {id: "sample-search", type: "search", placeholder: "text in the request or response"});
  var sampleCount = el("p", {id: "sample-count", className: "muted"});
  var sampleList = el("div", {id: "sample-list"});
  var samplePage = 0;
  var samplePager = pager("sample", function (step) { samplePage += step; renderSamples(); });

  function currentCell() { return Number(cellSelect.value); }

  function buildFilters() {
    clear(filters);
    var c = currentCell(), cell = data.cells[c];
    cell.columns.forEach(function (column, k) {
      var counts = {};
      byCell[c].forEach(function (i) { var v = data.samples[i][VERDICTS][k][0]; counts[v] = (counts[v] || 0) + 1; });
      var select = el("select", {className: "verdict-filter", "data-column": column});
      select.appendChild(option("", "any"));
      Object.keys(counts).sort().forEach(function (v) { select.appendChild(option(v, v + " (" + counts[v] + ")")); });
      select.addEventListener("change", function () { samplePage = 0; renderSamples(); });
      filters.appendChild(el("label", {}, [document.createTextNode(" " + column + " "), select]));
    });
  }

  function matching() {
    var c = currentCell(), wanted = [];
    Array.prototype.forEach.call(filters.querySelectorAll("select.verdict-filter"), function (select, k) {
      if (select.value !== "") { wanted.push([k, select.value]); }
    });
    var text = search.value.toLowerCase();
    return byCell[c].filter(function (i) {
      var s = data.samples[i];
      for (var w = 0; w < wanted.length; w++) { if (s[VERDICTS][wanted[w][0]][0] !== wanted[w][1]) { return false; } }
      return !text || s[INPUT].toLowerCase().indexOf(text) >= 0 || s[OUTPUT].toLowerCase().indexOf(text) >= 0;
    });
  }

  function renderSamples() {
    var rows = matching(), c = currentCell(), cell = data.cells[c];
    samplePage = Math.max(0, Math.min(samplePage, Math.ceil(rows.length / PAGE) - 1));
    clear(sampleList);
    rows.slice(samplePage * PAGE, (samplePage + 1) * PAGE).forEach(function (i) {
      var s = data.samples[i];
      sampleList.appendChild(el("article", {className: "sample", "data-id": s[ID]},
        [el("header", {}, [el("b", {text: s[ID]})]), el("div", {className: "label", text: "request"}),
         el("pre", {className: "input", text: s[INPUT]})].concat(responseBlock(s))));
    });
    var left = cell.shown < cell.n ? " (" + (cell.n - cell.shown) + " of this cell's samples are only in " +
      data.overflow + ")" : "";
    sampleCount.textContent = rows.length + " of " + byCell[c].length + " samples match" + left;
    showPage(samplePager, samplePage, rows.length);
  }

  cellSelect.addEventListener("change", function () { samplePage = 0; buildFilters(); renderSamples(); });
  search.addEventListener("input", function () { samplePage = 0; renderSamples(); });
  var cellsView = el("section", {id: "view-cells"}, [
    el("div", {className: "controls"}, [el("label", {}, [document.createTextNode("cell "), cellSelect]), filters,
                                        el("label", {}, [document.createTextNode(" search "), search])]),
    sampleCount, samplePager.node, sampleList]);

  // ---- differing requests of the highlighted comparisons ----
  var cmpSelect = el("select", {id: "cmp-select"});
  data.comparisons.forEach(function (cmp, k) {
    var n = cmp.flips.length + (cmp.left_out ? " (+" + cmp.left_out + " not embedded)" : "");
    cmpSelect.appendChild(option(String(k), cmp.eval + ": " + cmp.metric_label + " · " + cmp.label + " · A " +
      cmp.a[0] + " → " + cmp.a[1] + " vs B " + cmp.b[0] + " → " + cmp.b[1] + " (" + n + " differ)"));
  });
  var direction = el("select", {id: "flip-filter"});
  var flipCount = el("p", {id: "flip-count", className: "muted"});
  var flipList = el("div", {id: "flip-list"});
  var flipPage = 0;
  var flipPager = pager("flip", function (step) { flipPage += step; renderFlips(); });

  function value(cmp, v) {
    if (cmp.rate) { return v ? "yes" : "no"; }
    return String(Math.round(v * 1000) / 1000);
  }

  function directionKey(cmp, flip) { return value(cmp, flip[2]) + " → " + value(cmp, flip[3]); }

  function buildDirections() {
    clear(direction);
    direction.appendChild(option("", "any"));
    var cmp = data.comparisons[Number(cmpSelect.value)];
    if (!cmp) { return; }
    var counts = {};
    cmp.flips.forEach(function (f) { var key = directionKey(cmp, f); counts[key] = (counts[key] || 0) + 1; });
    Object.keys(counts).sort().forEach(function (key) {
      direction.appendChild(option(key, cmp.metric_label + " A " + key.replace(" → ", ", B ") + " (" + counts[key] + ")"));
    });
  }

  function side(cmp, which, sample, v) {
    var cell = data.cells[sample[CELL]];
    return el("div", {className: "side side-" + which.toLowerCase()}, [
      el("h4", {text: which + ": " + cell.train + " → " + cell.test + " · " + cmp.metric_label + ": " + value(cmp, v)})
    ].concat(responseBlock(sample)));
  }

  function renderFlips() {
    clear(flipList);
    var cmp = data.comparisons[Number(cmpSelect.value)];
    if (!cmp) {
      flipCount.textContent = "This study highlights no comparisons (no PTST cell with a cell to compare it with).";
      showPage(flipPager, 0, 0);
      return;
    }
    var rows = cmp.flips.filter(function (f) { return !direction.value || directionKey(cmp, f) === direction.value; });
    flipPage = Math.max(0, Math.min(flipPage, Math.ceil(rows.length / PAGE) - 1));
    rows.slice(flipPage * PAGE, (flipPage + 1) * PAGE).forEach(function (f) {
      var a = data.samples[f[0]], b = data.samples[f[1]], cell = data.cells[a[CELL]];
      var seed = cell.seed === null ? "" : " · seed " + cell.seed;
      flipList.appendChild(el("article", {className: "flip", "data-id": a[ID]}, [
        el("header", {}, [el("b", {text: a[ID] + seed})]), el("div", {className: "label", text: "request"}),
        el("pre", {className: "input", text: a[INPUT]}),
        el("div", {className: "pair"}, [side(cmp, "A", a, f[2]), side(cmp, "B", b, f[3])])]));
    });
    var left = cmp.left_out ? "; " + cmp.left_out + " more are only in " + data.overflow : "";
    flipCount.textContent = rows.length + " of " + cmp.flips.length + " requests whose " + cmp.metric_label +
      " differs between A and B (paired within seed: for a rate, the discordant pairs of the McNemar test)" + left;
    showPage(flipPager, flipPage, rows.length);
  }

  cmpSelect.addEventListener("change", function () { flipPage = 0; buildDirections(); renderFlips(); });
  direction.addEventListener("change", function () { flipPage = 0; renderFlips(); });
  var flipsView = el("section", {id: "view-flips", hidden: "hidden"}, [
    el("div", {className: "controls"}, [el("label", {}, [document.createTextNode("comparison "), cmpSelect]),
                                        el("label", {}, [document.createTextNode(" requests "), direction])]),
    flipCount, flipPager.node, flipList]);

  // ---- tabs ----
  var tabCells = el("button", {type: "button", id: "tab-cells", className: "tab active", text: "responses by cell"});
  var tabFlips = el("button", {type: "button", id: "tab-flips", className: "tab",
                               text: "requests that differ (" + data.comparisons.length + " comparisons)"});
  function show(flips) {
    cellsView.hidden = flips;
    flipsView.hidden = !flips;
    tabCells.className = flips ? "tab" : "tab active";
    tabFlips.className = flips ? "tab active" : "tab";
  }
  tabCells.addEventListener("click", function () { show(false); });
  tabFlips.addEventListener("click", function () { show(true); });

  clear(root);
  root.appendChild(el("div", {className: "tabs"}, [tabCells, tabFlips]));
  root.appendChild(cellsView);
  root.appendChild(flipsView);
  if (data.cells.length) { buildFilters(); renderSamples(); }
  else { sampleCount.textContent = "No samples yet."; }
  buildDirections();
  renderFlips();
}());
