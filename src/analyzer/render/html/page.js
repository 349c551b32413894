"use strict";
// Sorting and filtering only: the page is whole without this script. Cell text is read with
// textContent and rows are moved, never re-parsed, so nothing from the data becomes markup.
// One listener for the whole page (a page may hold a table per instance, 1,500 of them).
(function () {
  function key(cell) {
    var t = cell ? cell.textContent.trim() : "";
    var n = Number(t);
    return t !== "" && !isNaN(n) ? { n: n, t: t } : { n: null, t: t };
  }
  function compare(a, b) {
    if (a.n !== null && b.n !== null) return a.n - b.n;
    if (a.n !== null) return -1;
    if (b.n !== null) return 1;
    return a.t < b.t ? -1 : a.t > b.t ? 1 : 0;
  }
  function sort(th) {
    var table = th.closest("table");
    var heads = th.parentNode.cells;
    var col = th.cellIndex;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var keyed = rows.map(function (r, i) { return { r: r, k: key(r.cells[col]), i: i }; });
    keyed.sort(function (a, b) { return dir * compare(a.k, b.k) || a.i - b.i; });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (x) { frag.appendChild(x.r); });
    body.appendChild(frag);
  }
  function header(e) {
    return e.target.closest ? e.target.closest("table.sortable > thead th") : null;
  }
  document.addEventListener("click", function (e) {
    var th = header(e);
    if (th) sort(th);
  });
  document.addEventListener("keydown", function (e) {
    var th = header(e);
    if (th && e.key === "Enter") sort(th);
  });
  // An instance's link opens its section (without the script, the section is reached closed).
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === "DETAILS") el.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    if (!table) return;
    input.hidden = false;
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
})();
