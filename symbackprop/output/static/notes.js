/* symbackprop: the linked drawing. Hovering or focusing an equation that carries data-edges
   (the drawing's edges its chain multiplies, as [from, to] pairs) or data-node (the node whose
   error signal it is) lights those edges, their end nodes and that node on the drawing (class
   "lit"); leaving it clears them. In a deck the drawing is the slide's own; in the notes it is
   the page's first, and while it is out of sight a copy of it shows in a corner. */
(function () {
  "use strict";

  function drawingFor(eq) {
    var slide = eq.closest(".slide");
    return (slide || document).querySelector("figure.drawing svg");
  }

  function parseEdges(eq) {
    var text = eq.getAttribute("data-edges");
    if (!text) { return []; }
    try {
      var edges = JSON.parse(text);
      return Array.isArray(edges) ? edges : [];
    } catch (err) {
      return [];
    }
  }

  function clear(root) {
    if (!root) { return; }
    root.querySelectorAll(".lit").forEach(function (el) { el.classList.remove("lit"); });
  }

  function lightIn(svg, edges, node) {
    var wanted = {};
    var nodes = {};
    edges.forEach(function (edge) {
      wanted[edge[0] + "\u0000" + edge[1]] = true;
      nodes[edge[0]] = true;
      nodes[edge[1]] = true;
    });
    if (node) { nodes[node] = true; }
    var count = 0;
    svg.querySelectorAll(".edge").forEach(function (path) {
      var key = path.getAttribute("data-from") + "\u0000" + path.getAttribute("data-to");
      if (wanted[key]) { path.classList.add("lit"); count += 1; }
    });
    svg.querySelectorAll(".node").forEach(function (g) {
      if (nodes[g.getAttribute("data-node")]) { g.classList.add("lit"); count += 1; }
    });
    return count;
  }

  // The copy of the notes' drawing shown while the drawing itself is out of sight.
  var minimap = null;
  function copyOf(svg) {
    if (!minimap) {
      minimap = document.createElement("div");
      minimap.className = "minimap";
      minimap.setAttribute("aria-hidden", "true");
      var copy = svg.cloneNode(true);
      copy.removeAttribute("aria-labelledby");
      copy.removeAttribute("role");
      copy.querySelectorAll("[id]").forEach(function (el) { el.removeAttribute("id"); });
      copy.querySelectorAll("title, desc").forEach(function (el) { el.remove(); });
      minimap.appendChild(copy);
      minimap.hidden = true;
      document.body.appendChild(minimap);
    }
    return minimap;
  }

  function inSight(el) {
    var box = el.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }

  // The equation hovered and the one with the keyboard's focus: the one touched last lights
  // the drawing, and when it is left the other one (if any) lights it again.
  var hovered = null;
  var focused = null;
  var latest = "hover";

  function update() {
    var eq = latest === "focus" ? (focused || hovered) : (hovered || focused);
    document.querySelectorAll("figure.drawing svg").forEach(clear);
    document.querySelectorAll(".equation.lit").forEach(function (e) { e.classList.remove("lit"); });
    if (minimap) { clear(minimap); minimap.hidden = true; }
    if (!eq) { return; }
    var svg = drawingFor(eq);
    if (!svg) { return; }
    var edges = parseEdges(eq);
    var node = eq.getAttribute("data-node");
    if (lightIn(svg, edges, node) > 0) {
      eq.classList.add("lit");
      if (!eq.closest(".slide") && !inSight(svg)) {
        var map = copyOf(svg);
        lightIn(map, edges, node);
        map.hidden = false;
      }
    }
  }

  document.querySelectorAll(".equation[data-edges], .equation[data-node]").forEach(function (eq) {
    eq.addEventListener("mouseenter", function () { hovered = eq; latest = "hover"; update(); });
    eq.addEventListener("mouseleave", function () { if (hovered === eq) { hovered = null; update(); } });
    eq.addEventListener("focus", function () { focused = eq; latest = "focus"; update(); });
    eq.addEventListener("blur", function () { if (focused === eq) { focused = null; update(); } });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { hovered = null; focused = null; update(); }
  });
}());
