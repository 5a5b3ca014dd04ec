// streamrec's page around htmx: after a rating (or "Not interested", or "Remove") is accepted (202),
// mark the movie and refresh the suggestions and "Your ratings"; while the pipeline has not
// stored the rating yet the movie is still suggested (or its new rating not shown, or the
// removed one still shown), so keep it marked and refresh again, waiting a little longer
// each time. Once stored, the server leaves the movie out of the suggestions and shows it
// under "Your ratings" (a removed rating: leaves it out of "Your ratings").
(function () {
  "use strict";
  const MAX_REFRESHES = 8;
  let user = null;
  let refreshes = 0;
  let timer = null;
  const REMOVED = "removed";
  const pending = new Map(); // movie id -> rating given (null: hidden, "not interested"; REMOVED)

  function markRated(item, rating, text) {
    item.classList.add(rating === null ? "hidden-item" : rating === REMOVED ? "removed" : "rated");
    item.classList.remove("failed");
    item.querySelectorAll(".rate button, .hide-button, .remove-button").forEach((b) => { b.disabled = true; });
    item.querySelector(".status").textContent = text;
  }

  function statusText(item, rating) {
    if (rating === null) return "Hidden: it leaves your list and is not suggested again.";
    if (rating === REMOVED) return "Rating removed; it leaves your ratings once processed.";
    if (item.closest("#suggestions")) {
      return "Rated " + rating + " out of 5, thanks. It leaves your list once processed.";
    }
    if (item.closest("#your-ratings")) return "Changed to " + rating + " out of 5; saving…";
    return "Rated " + rating + " out of 5, thanks.";
  }

  function refresh(delayMs) {
    if (timer !== null) return;
    timer = window.setTimeout(() => {
      timer = null;
      for (const id of ["suggestions", "your-ratings"]) {
        const section = document.getElementById(id);
        if (section) htmx.trigger(section, "streamrec:refresh");
      }
    }, delayMs);
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    const button = event.detail.elt;
    if (!button.classList) return;
    const hiding = button.classList.contains("hide-button");
    const removing = button.classList.contains("remove-button");
    if (!hiding && !removing && !button.classList.contains("rate-button")) return;
    const item = button.closest("li");
    if (event.detail.successful) {
      const rating = hiding ? null : removing ? REMOVED : button.dataset.rating;
      pending.set(item.dataset.movieId, rating);
      markRated(item, rating, statusText(item, rating));
      refreshes = 0;
      refresh(0);
    } else {
      let message = hiding || removing ? "That was not accepted; try again."
        : "The rating was not accepted; try again.";
      try { message = JSON.parse(event.detail.xhr.responseText).error.message; } catch (e) { /* keep */ }
      item.classList.add("failed");
      item.querySelector(".status").textContent = message;
    }
  });

  // A rating is settled once it is not suggested and "Your ratings" shows it; a removal once
  // "Your ratings" does not (the movie may be suggested again).
  document.addEventListener("htmx:afterSettle", () => {
    const suggested = document.getElementById("suggestions");
    const rated = document.getElementById("your-ratings");
    const shown = suggested || rated;
    if (!shown) return;
    if (shown.dataset.userId !== user) { user = shown.dataset.userId; pending.clear(); }
    let waiting = false;
    for (const [movieId, rating] of pending) {
      const selector = 'li[data-movie-id="' + movieId + '"]';
      const still = suggested && suggested.querySelector(selector);
      const mine = rated && rated.querySelector(selector);
      if (rating === REMOVED) { // settled once "Your ratings" no longer shows it
        if (mine) { markRated(mine, rating, statusText(mine, rating)); waiting = true; } else { pending.delete(movieId); }
        continue;
      }
      // A hide is settled once the movie is not suggested; a rating once it is shown too.
      const stored = rating === null || !rated || (mine && Number(mine.dataset.rating) === Number(rating));
      if (still) markRated(still, rating, statusText(still, rating));
      if (mine && !stored) markRated(mine, rating, statusText(mine, rating));
      if (still || !stored) { waiting = true; } else { pending.delete(movieId); }
    }
    if (waiting && refreshes < MAX_REFRESHES) { refreshes += 1; refresh(500 * refreshes); }
  });
})();
