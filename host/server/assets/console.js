// easel's console: the little that needs a script. Every page works
// without it; this only adds live updates and a filter for long lists.
(function () {
  "use strict";

  // A running run's log, as the server sends it (server-sent events):
  // "log" events carry new lines, "call" its Canvas requests, "status" the
  // run's state, "end" says the run is over (the page is then reloaded to
  // show the final record).
  function followLog(el) {
    var src = el.getAttribute("data-live-log");
    var log = document.getElementById(el.getAttribute("data-log-target") || "log");
    var status = document.getElementById("run-status");
    if (!src || !log || typeof EventSource === "undefined") return;
    var events = new EventSource(src);
    events.addEventListener("log", function (e) {
      log.textContent += e.data + "\n";
      log.scrollTop = log.scrollHeight;
    });
    // Each audit record of a Canvas request, as a row of the calls table
    // (text only: nothing the server sends becomes markup).
    var calls = document.getElementById("calls-body");
    events.addEventListener("call", function (e) {
      if (!calls) return;
      var c;
      try { c = JSON.parse(e.data); } catch (err) { return; }
      var row = document.createElement("tr");
      var cells = [c.seq, c.at, c.action, c.method, c.path, c.status, c.detail];
      for (var i = 0; i < cells.length; i++) {
        var td = document.createElement("td");
        td.textContent = cells[i] === null || cells[i] === undefined ? "" : String(cells[i]);
        row.appendChild(td);
      }
      calls.appendChild(row);
    });
    events.addEventListener("status", function (e) {
      if (status) status.textContent = e.data;
    });
    events.addEventListener("end", function () {
      events.close();
      window.location.reload();
    });
    events.onerror = function () {
      // The server closes the stream when the run ends; a lost connection
      // is retried by the browser.
    };
  }

  // A search box that hides the options of a long list that do not match.
  function filterList(input) {
    var list = document.getElementById(input.getAttribute("data-filter-for"));
    if (!list) return;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      var items = list.querySelectorAll("[data-filter-text]");
      for (var i = 0; i < items.length; i++) {
        var t = items[i].getAttribute("data-filter-text").toLowerCase();
        items[i].hidden = q !== "" && t.indexOf(q) < 0;
      }
    });
  }

  function start() {
    var live = document.querySelectorAll("[data-live-log]");
    for (var i = 0; i < live.length; i++) followLog(live[i]);
    var filters = document.querySelectorAll("input[data-filter-for]");
    for (var j = 0; j < filters.length; j++) filterList(filters[j]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
