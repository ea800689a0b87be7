// The grading service's pages: keep a queued or running submission's status current.
// Loaded with `defer` (the Content-Security-Policy allows no inline script). Data from the
// server is written with textContent only, never as markup.
"use strict";

(function () {
  const progress = document.getElementById("progress");
  const url = progress && progress.dataset.poll;
  if (!url) {
    return;
  }
  const status = document.getElementById("status");
  const position = document.getElementById("position");
  let delay = 1000;

  function show(sub) {
    status.textContent = sub.status;
    status.className = "status-" + sub.status;
    position.textContent = sub.queue_position ? "(position " + sub.queue_position + " in the queue)" : "";
  }

  async function poll() {
    try {
      const resp = await fetch(url, {credentials: "same-origin", cache: "no-store"});
      if (resp.status === 401) {
        window.location.assign("/");
        return;
      }
      if (resp.ok) {
        const sub = await resp.json();
        show(sub);
        if (sub.status === "graded" || sub.status === "error") {
          window.location.reload();  // the page now carries the report
          return;
        }
        // The server says when to ask again (the rule `grader submit` follows): every second
        // near the front of the queue, less often further back.
        const seconds = Number(sub.poll_seconds);
        delay = seconds >= 1 && seconds <= 10 ? seconds * 1000 : 1000;
      } else {
        delay = Math.min(delay * 2, 10000);
      }
    } catch (err) {
      delay = Math.min(delay * 2, 10000);  // the server is unreachable for now: retry later
    }
    window.setTimeout(poll, delay);
  }

  window.setTimeout(poll, delay);
})();
