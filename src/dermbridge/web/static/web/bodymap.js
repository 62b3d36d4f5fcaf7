// A front and back body map over the body site select. Each region is a button with an
// accessible name (site, side, front or back of the body) that sets the select's SNOMED CT site
// code, and the laterality where the region has a side. One region is in the Tab order at a
// time; the arrow keys move between regions, Enter or Space chooses. The select stays in the
// page and in sync, so the map is only a quicker way to fill it in.
const SVG = "http://www.w3.org/2000/svg";
const F = "front of body";
const B = "back of body";
// [SNOMED CT code, laterality, view, x, y, width, height]; the patient's right is on the
// viewer's left in the front view and on the viewer's right in the back view.
const REGIONS = [
  ["52795006", "", F, 48, 8, 24, 9],
  ["117590005", "right", F, 41, 18, 6, 11],
  ["60819002", "right", F, 48, 18, 8, 11],
  ["45206002", "", F, 56, 18, 8, 11],
  ["60819002", "left", F, 64, 18, 8, 11],
  ["117590005", "left", F, 73, 18, 6, 11],
  ["48477009", "", F, 52, 29, 16, 5],
  ["89545001", "", F, 52, 34, 16, 5],
  ["45048000", "", F, 52, 40, 16, 8],
  ["16982005", "right", F, 28, 48, 18, 10],
  ["51185008", "", F, 46, 48, 28, 11],
  ["16982005", "left", F, 74, 48, 18, 10],
  ["76752008", "", F, 46, 59, 28, 11],
  ["40983000", "right", F, 28, 58, 13, 30],
  ["40983000", "left", F, 79, 58, 13, 30],
  ["818983003", "", F, 46, 70, 28, 28],
  ["14975008", "right", F, 26, 88, 13, 30],
  ["14975008", "left", F, 81, 88, 13, 30],
  ["85562004", "right", F, 24, 118, 15, 13],
  ["85562004", "left", F, 81, 118, 15, 13],
  ["7569003", "right", F, 24, 131, 15, 8],
  ["7569003", "left", F, 81, 131, 15, 8],
  ["68367000", "right", F, 46, 100, 13, 40],
  ["68367000", "left", F, 61, 100, 13, 40],
  ["72696002", "right", F, 46, 140, 13, 10],
  ["72696002", "left", F, 61, 140, 13, 10],
  ["30021000", "right", F, 46, 150, 13, 36],
  ["30021000", "left", F, 61, 150, 13, 36],
  ["56459004", "right", F, 43, 186, 16, 8],
  ["56459004", "left", F, 61, 186, 16, 8],
  ["29707007", "right", F, 43, 194, 16, 6],
  ["29707007", "left", F, 61, 194, 16, 6],
  ["41695006", "", B, 168, 8, 24, 31],
  ["77568009", "", B, 164, 48, 32, 50],
  ["46862004", "", B, 164, 98, 32, 16],
];

function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

export function enhance(select) {
  const form = select.form;
  const laterality = form ? form.querySelector("select[name$='laterality']") : null;
  const labels = Object.fromEntries([...select.options].map((o) => [o.value, o.text]));
  const wrapper = document.createElement("div");
  wrapper.className = "db-bodymap";
  wrapper.setAttribute("role", "group");
  wrapper.setAttribute("aria-label", "Body map: choose where the lesion is");
  const help = document.createElement("p");
  help.className = "nhsuk-hint";
  help.id = `${select.id}-bodymap-hint`;
  help.textContent = "Choose the place on the body map, or use the list. On the map, use the arrow keys to move and Enter to choose.";
  const svg = el("svg", { viewBox: "0 0 240 205", class: "db-bodymap__svg", role: "group", "aria-describedby": help.id });
  svg.append(el("title", {}));
  svg.firstChild.textContent = "Front and back of the body";
  for (const [x, text] of [[60, "Front"], [180, "Back"]]) {
    const t = el("text", { x, y: 204, "text-anchor": "middle", class: "db-bodymap__caption", "aria-hidden": "true" });
    t.textContent = text;
    svg.append(t);
  }
  const status = document.createElement("p");
  status.className = "db-bodymap__status";
  status.setAttribute("aria-live", "polite");
  const buttons = [];
  for (const [code, side, view, x, y, w, h] of REGIONS) {
    if (!(code in labels)) continue;
    const name = `${labels[code]}${side ? `, ${side}` : ""} (${view})`;
    const rect = el("rect", { x, y, width: w, height: h, rx: 2, class: "db-bodymap__region", role: "button", tabindex: "-1", "aria-label": name, "aria-pressed": "false" });
    rect.dataset.siteCode = code;
    rect.dataset.side = side;
    buttons.push(rect);
    svg.append(rect);
  }
  const sync = () => {
    let current = null;
    for (const b of buttons) {
      const match = b.dataset.siteCode === select.value && (!b.dataset.side || !laterality || b.dataset.side === laterality.value || !laterality.value);
      b.setAttribute("aria-pressed", String(match && !current));
      if (match && !current) current = b;
    }
    status.textContent = select.value ? `Chosen: ${labels[select.value]}${laterality && laterality.value ? `, ${laterality.value}` : ""}` : "Nothing chosen yet";
    const focusable = current || buttons[0];
    buttons.forEach((b) => b.setAttribute("tabindex", b === focusable ? "0" : "-1"));
  };
  const choose = (b) => {
    select.value = b.dataset.siteCode;
    if (laterality && b.dataset.side) laterality.value = b.dataset.side;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    sync();
    b.focus();
  };
  const move = (from, step) => {
    const i = (buttons.indexOf(from) + step + buttons.length) % buttons.length;
    buttons.forEach((b) => b.setAttribute("tabindex", "-1"));
    buttons[i].setAttribute("tabindex", "0");
    buttons[i].focus();
  };
  svg.addEventListener("click", (e) => {
    const b = e.target.closest("[data-site-code]");
    if (b) choose(b);
  });
  svg.addEventListener("keydown", (e) => {
    const b = e.target.closest("[data-site-code]");
    if (!b) return;
    const steps = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };
    if (e.key in steps) move(b, steps[e.key]);
    else if (e.key === "Home") move(buttons[0], 0);
    else if (e.key === "End") move(buttons[buttons.length - 1], 0);
    else if (e.key === "Enter" || e.key === " ") choose(b);
    else return;
    e.preventDefault();
  });
  select.addEventListener("change", sync);
  laterality?.addEventListener("change", sync);
  wrapper.append(help, svg, status);
  select.closest(".nhsuk-form-group").prepend(wrapper);
  sync();
}
