/* symbackprop: the deck. One slide shows at a time (class "current"), chosen by the address's
   #slide-N; the arrow keys, Page Up/Down, space, Home and End walk through them, and so do the
   buttons. A slide whose content is taller than its 16:9 box has its type made smaller (the
   --fit factor of the style sheet) until it fits. */
(function () {
  "use strict";
  var slides = Array.prototype.slice.call(document.querySelectorAll(".slide"));
  if (!slides.length) { return; }
  var current = 0;
  var fitted = {};

  function indexOfHash() {
    var match = /^#slide-(\d+)$/.exec(window.location.hash);
    if (!match) { return 0; }
    var n = parseInt(match[1], 10) - 1;
    return n >= 0 && n < slides.length ? n : 0;
  }

  function overflows(slide) {
    return slide.scrollHeight > slide.clientHeight + 1 || slide.scrollWidth > slide.clientWidth + 1;
  }

  // The largest factor, in steps of 4 %, down to 45 %, at which the slide's content fits.
  function fit(slide) {
    var upright = window.matchMedia("(max-aspect-ratio: 1/1)").matches;
    slide.style.removeProperty("--fit");
    if (upright) { return; }
    var factor = 1;
    while (overflows(slide) && factor > 0.45) {
      factor = Math.round((factor - 0.04) * 100) / 100;
      slide.style.setProperty("--fit", String(factor));
    }
  }

  function show(n, moveFocus) {
    n = Math.max(0, Math.min(slides.length - 1, n));
    slides[current].classList.remove("current");
    slides[current].removeAttribute("aria-current");
    current = n;
    var slide = slides[current];
    slide.classList.add("current");
    slide.setAttribute("aria-current", "true");
    if (!fitted[n]) { fit(slide); fitted[n] = true; }
    var hash = "#slide-" + (n + 1);
    if (window.location.hash !== hash) {
      history.replaceState(null, "", hash);
    }
    var counter = document.querySelector(".controls .position");
    if (counter) { counter.textContent = (n + 1) + " / " + slides.length; }
    if (moveFocus) { slide.focus({ preventScroll: true }); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var key = event.key;
    var next = null;
    if (key === "ArrowRight" || key === "PageDown" || (key === " " && !event.shiftKey)) {
      next = current + 1;
    } else if (key === "ArrowLeft" || key === "PageUp" || (key === " " && event.shiftKey)) {
      next = current - 1;
    } else if (key === "Home") {
      next = 0;
    } else if (key === "End") {
      next = slides.length - 1;
    }
    if (next === null) { return; }
    event.preventDefault();
    show(next, true);
  });

  var previous = document.querySelector(".controls .previous");
  var following = document.querySelector(".controls .next");
  if (previous) { previous.addEventListener("click", function () { show(current - 1, false); }); }
  if (following) { following.addEventListener("click", function () { show(current + 1, false); }); }

  window.addEventListener("hashchange", function () { show(indexOfHash(), false); });
  window.addEventListener("resize", function () { fitted = {}; fit(slides[current]); fitted[current] = true; });
  // Printing shows every slide: each is fitted first.
  window.addEventListener("beforeprint", function () {
    slides.forEach(function (slide, k) {
      if (!fitted[k]) {
        slide.classList.add("current");
        fit(slide);
        fitted[k] = true;
        if (k !== current) { slide.classList.remove("current"); }
      }
    });
  });
  show(indexOfHash(), false);
}());
