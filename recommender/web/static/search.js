// Keeps the search box on the query of the results shown. After Back or Forward,
// the browser restores the text last typed into the box (form state, or the whole
// page from its back-forward cache). That can be another search than the results
// and the address show, and pressing Enter would then run that other search.
"use strict";

window.addEventListener("pageshow", () => {
  const box = document.getElementById("q");
  if (box) {
    box.value = box.defaultValue;
  }
});
