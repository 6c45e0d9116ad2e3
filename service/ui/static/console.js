// Lockgate console: live updates. Pages read fine without this file; with it, a page
// region marked data-stream listens to the server's change events (EventSource) and,
// on each, fetches the region's fragment and swaps it in. No polling: the server
// says when something changed.
(function () {
  "use strict";

  function watch(region) {
    var stream = region.getAttribute("data-stream");
    var fragment = region.getAttribute("data-fragment");
    var version = region.getAttribute("data-version") || "";
    if (!stream || !fragment || !window.EventSource) {
      return;
    }
    var url = stream + (stream.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(version);
    var source = new EventSource(url);
    var loading = false;
    var again = false;

    function refresh() {
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      fetch(fragment, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("fragment " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          // Same-origin HTML rendered (and escaped) by the server's templates.
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector("[data-live-content]");
          var current = region.querySelector("[data-live-content]");
          if (fresh && current) {
            current.replaceWith(fresh);
            region.setAttribute("data-updated", new Date().toISOString());
            var status = document.getElementById("live-status");
            if (status) {
              status.textContent = "Updated " + new Date().toLocaleTimeString();
            }
          }
        })
        .catch(function () { /* the next change event tries again */ })
        .then(function () {
          loading = false;
          if (again) {
            again = false;
            refresh();
          }
        });
    }

    source.addEventListener("change", refresh);
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function confirmForms() {
    // Forms marked data-confirm ask once more before they post (the server's own
    // confirmation step still applies without script).
    var forms = document.querySelectorAll("form[data-confirm]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  function start() {
    var regions = document.querySelectorAll("[data-stream]");
    Array.prototype.forEach.call(regions, watch);
    confirmForms();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
