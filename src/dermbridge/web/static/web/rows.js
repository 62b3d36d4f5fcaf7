// Keyboard movement through a table of cases: J or the down arrow moves to the next case, K or
// the up arrow to the previous one (arrows only while focus is in the table, so the page still
// scrolls); Enter opens it (the reference is an ordinary link). Each move is announced. Tab
// still leaves the table as usual: nothing here traps focus.
export function enhance(table) {
  const rows = [...table.tBodies[0].rows].filter((r) => r.querySelector("a"));
  if (!rows.length) return;
  const live = document.createElement("p");
  live.className = "nhsuk-u-visually-hidden";
  live.setAttribute("aria-live", "polite");
  table.after(live);
  const hint = document.createElement("p");
  hint.className = "nhsuk-body-s db-keys-hint";
  hint.textContent = "Keyboard: J and K (or the up and down arrows in the list) move between cases; Enter opens the case.";
  table.before(hint);
  let current = -1;
  const go = (i) => {
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, n) => r.classList.toggle("db-row--current", n === current));
    const link = rows[current].querySelector("a");
    link.focus();
    const cells = [...rows[current].cells].slice(0, 3).map((c) => c.textContent.replace(/\s+/g, " ").trim());
    live.textContent = `Case ${current + 1} of ${rows.length}: ${cells.join(", ")}`;
  };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t.closest("input, select, textarea, button, [contenteditable]")) return;
    const inTable = table.contains(t);
    const fromIndex = inTable ? rows.findIndex((r) => r.contains(t)) : current;
    if (e.key === "j" || (inTable && e.key === "ArrowDown")) go(fromIndex + 1);
    else if (e.key === "k" || (inTable && e.key === "ArrowUp")) go(fromIndex < 0 ? 0 : fromIndex - 1);
    else return;
    e.preventDefault();
  });
}
