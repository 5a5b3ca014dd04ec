// streamrec's page around htmx: after a rating is accepted (202), mark the movie as
// rated and refresh the list; while the pipeline has not stored the rating yet the
// movie is still listed, so keep it marked and refresh again, waiting a little longer
// each time. Once stored, the server leaves the movie out and it disappears.
(function () {
  "use strict";
  const MAX_REFRESHES = 8;
  let user = null;
  let refreshes = 0;
  const pending = new Map(); // movie id -> rating given

  function markRated(item, rating) {
    item.classList.add("rated");
    item.classList.remove("failed");
    item.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    item.querySelector(".status").textContent =
      "Rated " + rating + " out of 5, thanks. It leaves your list once processed.";
  }

  function refresh(delayMs) {
    window.setTimeout(() => {
      const section = document.getElementById("suggestions");
      if (section) htmx.trigger(section, "streamrec:refresh");
    }, delayMs);
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    const button = event.detail.elt;
    if (!button.classList || !button.classList.contains("rate-button")) return;
    const item = button.closest("li");
    if (event.detail.successful) {
      pending.set(item.dataset.movieId, button.dataset.rating);
      markRated(item, button.dataset.rating);
      refreshes = 0;
      refresh(0);
    } else {
      let message = "The rating was not accepted; try again.";
      try { message = JSON.parse(event.detail.xhr.responseText).error.message; } catch (e) { /* keep */ }
      item.classList.add("failed");
      item.querySelector(".status").textContent = message;
    }
  });

  document.addEventListener("htmx:afterSettle", () => {
    const section = document.getElementById("suggestions");
    if (!section) return;
    if (section.dataset.userId !== user) { user = section.dataset.userId; pending.clear(); }
    let waiting = false;
    for (const [movieId, rating] of pending) {
      const item = section.querySelector('li[data-movie-id="' + movieId + '"]');
      if (item) { markRated(item, rating); waiting = true; } else { pending.delete(movieId); }
    }
    if (waiting && refreshes < MAX_REFRESHES) { refreshes += 1; refresh(500 * refreshes); }
  });
})();
