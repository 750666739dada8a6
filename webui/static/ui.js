// alsd web UI: table sorting, live filters and auto-refresh. Every page
// works without this script; it only saves reloads.
(function () {
  "use strict";

  // Sort state per table id, kept across refreshes: [column, direction].
  var sortState = {};

  function cellKey(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  }

  function sortTable(table, col, dir) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (r) {
      var k = cellKey(r, col).replace(/[\s\u202f%×]/g, "");
      return k === "" || k === "—" || !isNaN(Number(k));
    });
    rows.sort(function (a, b) {
      var x = cellKey(a, col), y = cellKey(b, col);
      if (numeric) {
        x = Number(x.replace(/[\s\u202f%×]/g, "")) || 0;
        y = Number(y.replace(/[\s\u202f%×]/g, "")) || 0;
        return dir * (x - y);
      }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) {
      if (i === col) heads[i].setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      else heads[i].removeAttribute("aria-sort");
    }
  }

  function initSort(root) {
    root.querySelectorAll("table[data-sortable]").forEach(function (table) {
      var heads = table.tHead.rows[0].cells;
      Array.prototype.forEach.call(heads, function (th, col) {
        if (th.querySelector("button.sort")) return;
        var b = document.createElement("button");
        b.type = "button";
        b.className = "sort";
        b.textContent = th.textContent;
        th.textContent = "";
        th.appendChild(b);
        b.addEventListener("click", function () {
          var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
          sortState[table.id] = [col, dir];
          sortTable(table, col, dir);
        });
      });
      var s = sortState[table.id];
      if (s) sortTable(table, s[0], s[1]);
    });
  }

  // load fetches url and swaps in its #live part and data time; the
  // filter forms and the focus stay where they are.
  var loading = null;
  function load(url) {
    if (loading) loading.abort();
    var ctl = new AbortController();
    loading = ctl;
    return fetch(url, { signal: ctl.signal, credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live"), cur = document.getElementById("live");
        if (!fresh || !cur) return;
        // Keep keyboard focus on the same sort button across the swap.
        var focus = null, a = document.activeElement;
        if (a && a.classList.contains("sort") && cur.contains(a)) {
          var th = a.parentElement;
          focus = [th.closest("table").id, th.cellIndex];
        }
        cur.replaceWith(document.importNode(fresh, true));
        var t = doc.getElementById("generated"), ct = document.getElementById("generated");
        if (t && ct) ct.replaceWith(document.importNode(t, true));
        initSort(document.getElementById("live"));
        if (focus) {
          var table = document.getElementById(focus[0]);
          var b = table && table.tHead.rows[0].cells[focus[1]];
          b = b && b.querySelector("button.sort");
          if (b) b.focus();
        }
      })
      .catch(function () {})
      .finally(function () { if (loading === ctl) loading = null; });
  }

  function initFilters() {
    document.querySelectorAll("form[data-live]").forEach(function (form) {
      var timer = null;
      function apply() {
        var params = new URLSearchParams(new FormData(form));
        Array.from(params.keys()).forEach(function (k) { if (!params.get(k)) params.delete(k); });
        var q = params.toString();
        var url = form.getAttribute("action") + (q ? "?" + q : "");
        history.replaceState(null, "", url);
        load(url);
      }
      form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 250); });
      form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); apply(); });
    });
  }

  function initRefresh() {
    var secs = Number(document.body.getAttribute("data-refresh")) || 0;
    var box = document.getElementById("autorefresh");
    if (!secs || !box) return;
    box.parentElement.hidden = false;
    box.checked = localStorage.getItem("alsd-autorefresh") !== "off";
    box.addEventListener("change", function () { localStorage.setItem("alsd-autorefresh", box.checked ? "on" : "off"); });
    setInterval(function () {
      if (box.checked && !document.hidden) load(location.href);
    }, secs * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    initSort(document);
    initFilters();
    initRefresh();
  });
})();
