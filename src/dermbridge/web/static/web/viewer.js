// The review page's image viewer: zoom and pan (Panzoom, served from this server), a full
// resolution link that follows the photo shown, and an earlier photo of the same lesion beside
// it. Without JavaScript every thumbnail is a plain link to the photo.
import Panzoom from "../panzoom/panzoom.es.js";

function zoomable(stage) {
  const image = stage.querySelector("img");
  const pz = Panzoom(image, { maxScale: 8, minScale: 1, cursor: "grab" });
  stage.addEventListener("wheel", (e) => { e.preventDefault(); pz.zoomWithWheel(e); }, { passive: false });
  stage.addEventListener("keydown", (e) => {
    const step = 40;
    const actions = {
      "+": () => pz.zoomIn(), "=": () => pz.zoomIn(), "-": () => pz.zoomOut(), "0": () => pz.reset(),
      ArrowLeft: () => pz.pan(step, 0, { relative: true }), ArrowRight: () => pz.pan(-step, 0, { relative: true }),
      ArrowUp: () => pz.pan(0, step, { relative: true }), ArrowDown: () => pz.pan(0, -step, { relative: true }),
    };
    if (e.key in actions) { actions[e.key](); e.preventDefault(); }
  });
  return pz;
}

export function enhance(viewer) {
  const [main, compare] = viewer.querySelectorAll(".db-viewer__stage");
  const mainZoom = zoomable(main);
  const compareFigure = viewer.querySelector("[data-viewer-compare]");
  let compareZoom = null;
  const controls = viewer.querySelector("[data-viewer-controls]");
  controls.hidden = false;
  controls.addEventListener("click", (e) => {
    const action = e.target.closest("[data-zoom]")?.dataset.zoom;
    for (const pz of [mainZoom, compareZoom]) {
      if (!pz) continue;
      if (action === "in") pz.zoomIn();
      else if (action === "out") pz.zoomOut();
      else if (action === "reset") pz.reset();
    }
  });
  viewer.addEventListener("click", (e) => {
    const link = e.target.closest("a[data-viewer-src], a[data-compare-src]");
    if (!link) return;
    e.preventDefault();
    if (link.dataset.viewerSrc) {
      const image = viewer.querySelector("[data-viewer-image]");
      image.src = link.dataset.viewerSrc;
      image.alt = `${link.dataset.viewerLabel} photo`;
      viewer.querySelector("[data-viewer-caption]").textContent = link.dataset.viewerLabel;
      viewer.querySelector("[data-viewer-full]").href = link.dataset.viewerFullSrc;
      mainZoom.reset();
      main.focus();
    } else {
      const image = viewer.querySelector("[data-viewer-compare-image]");
      image.src = link.dataset.compareSrc;
      image.alt = `Earlier photo: ${link.dataset.compareLabel}`;
      viewer.querySelector("[data-viewer-compare-caption]").textContent = `Earlier: ${link.dataset.compareLabel}`;
      compareFigure.hidden = false;
      compareZoom = compareZoom || zoomable(compare);
      compareZoom.reset();
      compare.focus();
    }
  });
}
