/* The procedure filter of the home page: text, department, status and tag.
   Plain script, no framework, no network; without it every procedure stays listed.
   It reads the page with textContent and dataset only and never writes HTML, so no
   title or tag can become markup. The filter lives in the URL (#status=changed), so
   the summary counts can link to it and a filtered view can be shared. */
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) {
    return;
  }
  var fields = {
    q: document.getElementById("filter-text"),
    dept: document.getElementById("filter-dept"),
    status: document.getElementById("filter-state"),
    tag: document.getElementById("filter-tag")
  };
  var count = document.getElementById("filter-count");
  var noMatch = document.getElementById("no-match");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.sop-row"));
  var groups = Array.prototype.slice.call(document.querySelectorAll("[data-group]"));
  var cards = Array.prototype.slice.call(document.querySelectorAll("[data-state-link]"));

  rows.forEach(function (row) {
    row.searchText = row.textContent.toLowerCase().replace(/\s+/g, " ");
    try {
      row.tagList = JSON.parse(row.getAttribute("data-tags") || "[]");
    } catch (e) {
      row.tagList = [];
    }
  });

  function values() {
    return {
      q: fields.q.value.trim().toLowerCase(),
      dept: fields.dept.value,
      status: fields.status.value,
      tag: fields.tag.value
    };
  }

  function matches(row, v, words) {
    if (v.dept && row.getAttribute("data-dept") !== v.dept) { return false; }
    if (v.status && row.getAttribute("data-state") !== v.status) { return false; }
    if (v.tag && row.tagList.indexOf(v.tag) < 0) { return false; }
    return words.every(function (word) { return row.searchText.indexOf(word) >= 0; });
  }

  function apply() {
    var v = values();
    var words = v.q ? v.q.split(/\s+/) : [];
    var active = Boolean(v.q || v.dept || v.status || v.tag);
    var shown = 0;
    rows.forEach(function (row) {
      var ok = matches(row, v, words);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    groups.forEach(function (group) {
      var visible = group.querySelectorAll("tr.sop-row:not([hidden])").length;
      group.hidden = active && visible === 0;
    });
    cards.forEach(function (card) {
      card.classList.toggle("is-active", v.status === card.getAttribute("data-state-link"));
    });
    count.textContent = active
      ? "Showing " + shown + " of " + rows.length + " procedures"
      : rows.length + " procedures";
    noMatch.hidden = !(active && shown === 0);
    writeHash(v);
  }

  function writeHash(v) {
    var parts = [];
    Object.keys(v).forEach(function (key) {
      if (v[key]) { parts.push(key + "=" + encodeURIComponent(v[key])); }
    });
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (hash !== location.hash && !(hash === "" && location.hash.indexOf("=") < 0)) {
      try {
        history.replaceState(null, "", hash || location.pathname + location.search);
      } catch (e) { /* some file:// setups refuse; the filter still works */ }
    }
  }

  function readHash() {
    var hash = location.hash.replace(/^#/, "");
    if (hash.indexOf("=") < 0) { return; }
    var found = { q: "", dept: "", status: "", tag: "" };
    hash.split("&").forEach(function (part) {
      var pair = part.split("=");
      if (Object.prototype.hasOwnProperty.call(found, pair[0])) {
        try { found[pair[0]] = decodeURIComponent(pair[1] || ""); } catch (e) { /* ignore */ }
      }
    });
    fields.q.value = found.q;
    ["dept", "status", "tag"].forEach(function (key) {
      var select = fields[key];
      var known = Array.prototype.some.call(select.options, function (o) { return o.value === found[key]; });
      select.value = known ? found[key] : "";
    });
  }

  form.hidden = false;
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  window.addEventListener("hashchange", function () { readHash(); apply(); });
  readHash();
  apply();
}());
