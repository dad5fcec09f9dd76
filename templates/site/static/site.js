/* The procedure filter of the home page: text, department, status and tag, and the
   full-text search over the effective text of every SOP.
   Plain script, no framework, no network; without it every procedure stays listed.
   It reads the page with textContent and dataset only and never writes HTML (passages
   are built from text nodes), so no title, tag or SOP text can become markup. The
   filter lives in the URL (#status=changed), so the summary counts can link to it and
   a filtered view can be shared.
   The search documents (search-data.js, one per heading of each effective text) are
   written by `sopgit build` and loaded as a script the first time someone searches,
   so search works from disk (file:) too; MiniSearch (vendor/) indexes them here. */
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
  var results = document.getElementById("search-results");
  var passages = document.getElementById("passages");
  var note = document.getElementById("search-note");
  var MAX_PASSAGES = 20;
  var engine = null; // the MiniSearch index, once the documents have loaded
  var documents = [];
  var loading = false;
  var textHits = {}; // SOP id -> true, for the words searched last

  rows.forEach(function (row) {
    row.searchText = row.textContent.toLowerCase().replace(/\s+/g, " ");
    row.flagList = (row.getAttribute("data-flags") || "").split(" ");
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
    if (v.status && row.flagList.indexOf(v.status) < 0) { return false; }
    if (v.tag && row.tagList.indexOf(v.tag) < 0) { return false; }
    if (textHits[row.getAttribute("data-id")]) { return true; }
    return words.every(function (word) { return row.searchText.indexOf(word) >= 0; });
  }

  // --- full-text search -------------------------------------------------------------

  function loadIndex() {
    if (engine || loading || !results || typeof window.MiniSearch !== "function") { return; }
    loading = true;
    note.textContent = "Loading the search index…";
    var script = document.createElement("script");
    script.src = results.getAttribute("data-search");
    script.onload = function () {
      documents = window.SOPGIT_SEARCH || [];
      engine = new window.MiniSearch({
        fields: ["sop", "title", "heading", "text"],
        searchOptions: {
          boost: { sop: 3, title: 2, heading: 1.5 },
          prefix: true,
          // one typo in a word of 5 to 9 letters, two from 10: "rollbak" finds rollback,
          // "rollback" does not find fallback
          fuzzy: function (term) { return term.length > 9 ? 2 : term.length > 4 ? 1 : false; },
          combineWith: "AND"
        }
      });
      engine.addAll(documents);
      apply();
    };
    script.onerror = function () {
      note.textContent = "The search index did not load; the list below is filtered by title, id, description and owner only.";
    };
    document.body.appendChild(script);
  }

  var shownFor = null; // the words (and index state) the passages were built for

  function search(q) {
    if (!results) { return; }
    var key = q + (engine ? "\u0001loaded" : "");
    if (key === shownFor) { return; } // unchanged: keep the list (a click may be on it)
    shownFor = key;
    textHits = {};
    if (!q) {
      results.hidden = true;
      return;
    }
    results.hidden = false;
    if (!engine) {
      loadIndex();
      passages.textContent = "";
      return;
    }
    var found = engine.search(q);
    found.forEach(function (hit) { textHits[documents[hit.id].sop] = true; });
    passages.textContent = "";
    found.slice(0, MAX_PASSAGES).forEach(function (hit) {
      passages.appendChild(passage(documents[hit.id], hit.terms.concat(q.split(/\s+/))));
    });
    var sops = Object.keys(textHits).length;
    note.textContent = found.length
      ? found.length + " passage" + (found.length === 1 ? "" : "s") + " in " + sops +
        " procedure" + (sops === 1 ? "" : "s") +
        (found.length > MAX_PASSAGES ? "; the best " + MAX_PASSAGES + " are shown" : "")
      : "No passage of any effective text has these words.";
  }

  function passage(doc, terms) {
    var item = document.createElement("li");
    item.className = "passage";
    var link = document.createElement("a");
    link.href = doc.url;
    var id = document.createElement("span");
    id.className = "sop-id";
    id.textContent = doc.sop;
    link.appendChild(id);
    link.appendChild(document.createTextNode(" " + doc.title + (doc.heading ? " › " + doc.heading : "")));
    item.appendChild(link);
    var meta = document.createElement("span");
    meta.className = "passage-meta";
    meta.textContent = " v" + doc.version + (doc.retired ? " · retired" : "");
    item.appendChild(meta);
    var text = document.createElement("p");
    text.className = "passage-text";
    appendMarked(text, excerpt(doc.text, terms), terms);
    item.appendChild(text);
    return item;
  }

  function pattern(terms) {
    var words = terms.filter(function (t) { return t && t.length > 1; }).map(function (t) {
      return t.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    });
    words.sort(function (a, b) { return b.length - a.length; });
    return words.length ? new RegExp("(" + words.join("|") + ")", "gi") : null;
  }

  function excerpt(text, terms) {
    var re = pattern(terms);
    var at = re ? text.search(re) : -1;
    var start = Math.max(0, at - 90);
    if (start > 0) {
      var space = text.indexOf(" ", start);
      start = space >= 0 && space < at ? space + 1 : start;
    }
    var end = Math.min(text.length, start + 260);
    if (end < text.length) {
      var back = text.lastIndexOf(" ", end);
      end = back > at ? back : end;
    }
    return (start > 0 ? "… " : "") + text.slice(start, end) + (end < text.length ? " …" : "");
  }

  function appendMarked(element, text, terms) {
    var re = pattern(terms);
    var last = 0;
    var match;
    while (re && (match = re.exec(text)) !== null) {
      element.appendChild(document.createTextNode(text.slice(last, match.index)));
      var mark = document.createElement("mark");
      mark.textContent = match[0];
      element.appendChild(mark);
      last = match.index + match[0].length;
    }
    element.appendChild(document.createTextNode(text.slice(last)));
  }

  function apply() {
    var v = values();
    search(v.q);
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
