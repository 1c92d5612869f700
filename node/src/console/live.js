// Live updates for the console's pages that list overlaps, gaps or the
// latest events (see node/src/console/live.rs). The page works without
// this script; with it, when the log commits, the page fetches itself
// again from the node and swaps in its new main content and footer.
// Everything inserted is the node's own server-rendered, escaped HTML.
"use strict";
(function () {
  var main = document.querySelector("main[data-live-from]");
  if (!main || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var source = new EventSource("/live?from=" + encodeURIComponent(main.getAttribute("data-live-from")));
  var waiting = false;
  var again = false;

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text === null) {
          return;
        }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var freshMain = fresh.querySelector("main");
        var freshFooter = fresh.querySelector("footer");
        var footer = document.querySelector("footer");
        if (!freshMain) {
          return;
        }
        main.replaceChildren.apply(main, Array.prototype.slice.call(freshMain.childNodes));
        if (freshFooter && footer) {
          footer.replaceChildren.apply(footer, Array.prototype.slice.call(freshFooter.childNodes));
        }
        var note = document.createElement("p");
        note.id = "live-note";
        note.className = "live-note";
        note.textContent = main.getAttribute("data-live-note") || "";
        main.insertBefore(note, main.firstChild);
        main.setAttribute("data-live-updated", String(Date.now()));
      })
      .catch(function () {})
      .then(function () {
        waiting = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  function schedule() {
    if (waiting) {
      again = true;
      return;
    }
    waiting = true;
    // Several commits close together make one fetch.
    window.setTimeout(refresh, 300);
  }

  source.addEventListener("commit", schedule);
})();
