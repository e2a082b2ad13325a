// twoyes: small progressive enhancements. Every page works without this file.
"use strict";
// A live word count under textareas that ask for one: <textarea data-word-limit="120">.
document.querySelectorAll("textarea[data-word-limit]").forEach(function (area) {
  var limit = parseInt(area.getAttribute("data-word-limit"), 10);
  var out = document.createElement("p");
  out.className = "hint";
  out.setAttribute("aria-live", "polite");
  area.insertAdjacentElement("afterend", out);
  function update() {
    var words = area.value.trim() === "" ? 0 : area.value.trim().split(/\s+/).length;
    out.textContent = words + " of " + limit + " words" + (words > limit ? " (please shorten it)" : "");
  }
  area.addEventListener("input", update);
  update();
});
