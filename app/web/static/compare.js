// The side-by-side view: selecting a passage on one side marks it on both and scrolls the
// other side to it; the buttons step through the passages in the report's order. Without
// scripts the links still jump to the other side (#s-n, #r-n).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const view = document.querySelector(".compare");
  if (!view) return;
  const total = Number(view.dataset.count);
  const reportPane = document.getElementById("report-pane");
  const sourcePane = document.getElementById("source-pane");
  const position = document.getElementById("match-position");
  const prev = document.getElementById("prev-match");
  const next = document.getElementById("next-match");
  let current = 0;

  function scrollInto(pane, element) {
    if (!element) return;
    const box = pane.getBoundingClientRect();
    const at = element.getBoundingClientRect();
    pane.scrollTop += at.top - box.top - pane.clientHeight / 3;
  }

  function select(n, from) {
    if (!n || n < 1 || n > total) return;
    current = n;
    view.querySelectorAll("a.pair.selected").forEach((a) => a.classList.remove("selected"));
    const left = document.getElementById(`r-${n}`);
    const right = Array.from(sourcePane.querySelectorAll("a.pair"))
      .filter((a) => a.dataset.n.split(" ").includes(String(n)));
    if (left) left.classList.add("selected");
    right.forEach((a) => a.classList.add("selected"));
    if (from !== "report") scrollInto(reportPane, left);
    if (from !== "source") scrollInto(sourcePane, document.getElementById(`s-${n}`) || right[0]);
    position.textContent = `第 ${n} / ${total} 处`;
    prev.disabled = false;
    next.disabled = false;
    history.replaceState(null, "", `#r-${n}`);
  }

  view.addEventListener("click", (event) => {
    const link = event.target.closest("a.pair");
    if (!link) return;
    event.preventDefault();
    const side = reportPane.contains(link) ? "report" : "source";
    const numbers = link.dataset.n.split(" ").map(Number);
    // a source piece shared by several passages: each press moves to the next of them
    const at = numbers.indexOf(current);
    select(side === "source" && at >= 0 ? numbers[(at + 1) % numbers.length] : numbers[0], side);
  });
  if (prev && next) {
    prev.disabled = next.disabled = total === 0;
    prev.addEventListener("click", () => select(current > 1 ? current - 1 : total, "step"));
    next.addEventListener("click", () => select(current < total ? current + 1 : 1, "step"));
  }
  const hash = /^#([rs])-(\d+)$/.exec(location.hash);
  if (hash) select(Number(hash[2]), "step");
});
