// A body map over the body site select (which stays in the page, in sync, and works alone
// without JavaScript). Three views, one shown at a time: the front and back of the body and the
// face. Every region is a button at least 26 by 26 CSS pixels (WCAG 2.2 target size: 24), drawn
// one SVG unit to one CSS pixel, with an accessible name: site, the patient's side, and the view.
// Choosing one sets the select's SNOMED CT site code and the laterality (cleared for a region
// without a side). One region per view is in the Tab order; the arrow keys move between regions,
// Enter or Space chooses. The patient's right is on the viewer's left in the front and face
// views, and on the viewer's right in the back view: each view says so in words.
const SVG = "http://www.w3.org/2000/svg";
const R = "right";
const L = "left";
// The front, back and face views: [SNOMED CT code, side, x, y, width, height]; x is the
// viewer's. Front and face: the patient's right at small x. Back: the patient's left at small x.
const VIEWS = {
  front: {
    title: "Front of the body",
    height: 444,
    regions: [
      ["89545001", "", 125, 26, 50, 44],
      ["45048000", "", 133, 72, 34, 26],
      ["16982005", R, 70, 100, 30, 30],
      ["51185008", "", 102, 100, 96, 30],
      ["16982005", L, 200, 100, 30, 30],
      ["76752008", R, 102, 132, 47, 30],
      ["76752008", L, 151, 132, 47, 30],
      ["40983000", R, 70, 132, 30, 56],
      ["40983000", L, 200, 132, 30, 56],
      ["818983003", "", 102, 164, 96, 56],
      ["14975008", R, 64, 190, 34, 56],
      ["14975008", L, 202, 190, 34, 56],
      ["70887009", R, 58, 248, 36, 28],
      ["70887009", L, 206, 248, 36, 28],
      ["7569003", R, 58, 278, 36, 26],
      ["7569003", L, 206, 278, 36, 26],
      ["68367000", R, 102, 222, 47, 78],
      ["68367000", L, 151, 222, 47, 78],
      ["72696002", R, 102, 302, 47, 28],
      ["72696002", L, 151, 302, 47, 28],
      ["30021000", R, 102, 332, 47, 52],
      ["30021000", L, 151, 332, 47, 52],
      ["56459004", R, 96, 386, 53, 28],
      ["56459004", L, 151, 386, 53, 28],
      ["29707007", R, 96, 416, 53, 26],
      ["29707007", L, 151, 416, 53, 26],
    ],
  },
  back: {
    title: "Back of the body",
    height: 444,
    regions: [
      ["41695006", "", 125, 26, 50, 44],
      ["4658004", "", 133, 72, 34, 26],
      ["16982005", L, 70, 100, 30, 30],
      ["699893008", "", 102, 100, 96, 62],
      ["16982005", R, 200, 100, 30, 30],
      ["72939005", L, 70, 132, 30, 56],
      ["72939005", R, 200, 132, 30, 56],
      ["113182001", "", 102, 164, 96, 34],
      ["46862004", L, 102, 200, 47, 34],
      ["46862004", R, 151, 200, 47, 34],
      ["41550009", L, 64, 190, 34, 56],
      ["41550009", R, 202, 190, 34, 56],
      ["281642007", L, 58, 248, 36, 28],
      ["281642007", R, 206, 248, 36, 28],
      ["7569003", L, 58, 278, 36, 26],
      ["7569003", R, 206, 278, 36, 26],
      ["4578000", L, 102, 236, 47, 64],
      ["4578000", R, 151, 236, 47, 64],
      ["84507004", L, 102, 302, 47, 28],
      ["84507004", R, 151, 302, 47, 28],
      ["47224004", L, 102, 332, 47, 52],
      ["47224004", R, 151, 332, 47, 52],
      ["84607009", L, 96, 386, 53, 28],
      ["84607009", R, 151, 386, 53, 28],
    ],
  },
  face: {
    title: "Face and head",
    height: 262,
    regions: [
      ["41695006", "", 100, 26, 100, 30],
      ["52795006", "", 100, 58, 100, 30],
      ["362916000", R, 100, 90, 48, 30],
      ["362916000", L, 152, 90, 48, 30],
      ["117590005", R, 62, 90, 34, 62],
      ["117590005", L, 204, 90, 34, 62],
      ["60819002", R, 98, 122, 28, 62],
      ["45206002", "", 128, 122, 44, 46],
      ["60819002", L, 174, 122, 28, 62],
      ["48477009", "", 118, 170, 64, 28],
      ["23747009", "", 118, 200, 64, 28],
      ["45048000", "", 118, 230, 64, 28],
    ],
  },
};
const WIDTH = 300;

function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function sideWords(view) {
  // Which side of the drawing is the patient's right, in words on the drawing itself.
  return view === "back" ? ["Patient's left", "Patient's right"] : ["Patient's right", "Patient's left"];
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
  help.textContent = "Tap the place on the body map, or use the list below. On the map, the arrow keys move and Enter chooses.";
  const tabs = document.createElement("div");
  tabs.className = "db-bodymap__views";
  const status = document.createElement("p");
  status.className = "db-bodymap__status";
  status.setAttribute("aria-live", "polite");
  const svgs = {};
  const buttons = [];
  for (const [key, view] of Object.entries(VIEWS)) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.className = "nhsuk-button nhsuk-button--secondary nhsuk-button--small db-bodymap__view";
    tab.textContent = key === "face" ? "Face" : key === "front" ? "Front" : "Back";
    tab.dataset.view = key;
    tab.setAttribute("aria-pressed", "false");
    tabs.append(tab);
    const svg = el("svg", {
      viewBox: `0 0 ${WIDTH} ${view.height}`,
      width: WIDTH,
      height: view.height,
      class: "db-bodymap__svg",
      role: "group",
      "aria-label": `${view.title}. ${sideWords(key)[0]} on the left of the drawing.`,
      "aria-describedby": help.id,
    });
    svg.dataset.view = key;
    const [leftWords, rightWords] = sideWords(key);
    for (const [x, anchor, text] of [[4, "start", leftWords], [WIDTH - 4, "end", rightWords]]) {
      const t = el("text", { x, y: 16, "text-anchor": anchor, class: "db-bodymap__side", "aria-hidden": "true" });
      t.textContent = text;
      svg.append(t);
    }
    for (const [code, side, x, y, w, h] of view.regions) {
      if (!(code in labels)) continue;
      const words = `${labels[code]}${side ? `, patient's ${side}` : ""} (${view.title.toLowerCase()})`;
      const rect = el("rect", { x, y, width: w, height: h, rx: 4, class: "db-bodymap__region", role: "button", tabindex: "-1", "aria-label": words, "aria-pressed": "false" });
      const tip = el("title", {});
      tip.textContent = words;
      rect.append(tip);
      rect.dataset.siteCode = code;
      rect.dataset.side = side;
      rect.dataset.view = key;
      buttons.push(rect);
      svg.append(rect);
    }
    svgs[key] = svg;
  }
  let shown = "front";
  const show = (key, focus) => {
    shown = key;
    for (const [k, svg] of Object.entries(svgs)) svg.style.display = k === key ? "" : "none";
    tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === key)));
    sync();
    if (focus) (buttons.find((b) => b.dataset.view === key && b.getAttribute("tabindex") === "0"))?.focus();
  };
  const sync = () => {
    let current = null;
    for (const b of buttons) {
      const match = b.dataset.siteCode === select.value && (!laterality || !laterality.value || b.dataset.side === laterality.value || !b.dataset.side);
      const on = match && !current;
      b.setAttribute("aria-pressed", String(on));
      if (on) current = b;
    }
    status.textContent = select.value ? `Chosen: ${labels[select.value]}${laterality && laterality.value ? `, patient's ${laterality.value}` : ""}` : "Nothing chosen yet";
    for (const key of Object.keys(svgs)) {
      const own = buttons.filter((b) => b.dataset.view === key);
      const focusable = own.find((b) => b === current) || own[0];
      own.forEach((b) => b.setAttribute("tabindex", b === focusable && key === shown ? "0" : "-1"));
    }
  };
  const choose = (b) => {
    select.value = b.dataset.siteCode;
    if (laterality) laterality.value = b.dataset.side || "";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    sync();
    b.focus();
  };
  const move = (from, step) => {
    const own = buttons.filter((b) => b.dataset.view === from.dataset.view);
    const i = (own.indexOf(from) + step + own.length) % own.length;
    own.forEach((b) => b.setAttribute("tabindex", "-1"));
    own[i].setAttribute("tabindex", "0");
    own[i].focus();
  };
  tabs.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-view]");
    if (b) show(b.dataset.view, false);
  });
  for (const svg of Object.values(svgs)) {
    svg.addEventListener("click", (e) => {
      const b = e.target.closest("[data-site-code]");
      if (b) choose(b);
    });
    svg.addEventListener("keydown", (e) => {
      const b = e.target.closest("[data-site-code]");
      if (!b) return;
      const own = buttons.filter((x) => x.dataset.view === b.dataset.view);
      const steps = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };
      if (e.key in steps) move(b, steps[e.key]);
      else if (e.key === "Home") move(own[0], 0);
      else if (e.key === "End") move(own[own.length - 1], 0);
      else if (e.key === "Enter" || e.key === " ") choose(b);
      else return;
      e.preventDefault();
    });
  }
  select.addEventListener("change", sync);
  laterality?.addEventListener("change", sync);
  const stage = document.createElement("div");
  stage.className = "db-bodymap__stage";
  stage.append(...Object.values(svgs));
  wrapper.append(help, tabs, stage, status);
  select.closest(".nhsuk-form-group").prepend(wrapper);
  const start = buttons.find((b) => b.dataset.siteCode === select.value);
  show(start ? start.dataset.view : "front", false);
}
