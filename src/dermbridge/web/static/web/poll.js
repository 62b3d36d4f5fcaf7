// Refreshes a region of the page while photos are being checked: a small poll of the same page
// (the server renders the region), stopping when nothing is processing any more.
const INTERVAL_MS = 2500;
const MAX_POLLS = 120;

// Pre-choose the type of the next photo the lesion still needs (the server names it).
export function guideNext() {
  const next = document.getElementById("db-photo-status")?.dataset.nextType;
  const radio = next && document.querySelector(`form[data-upload] input[name=image_type][value="${next}"]`);
  if (radio) radio.checked = true;
}

export async function refreshRegion(id) {
  const response = await fetch(window.location.href, { credentials: "same-origin" });
  if (!response.ok) return null;
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = doc.getElementById(id);
  const current = document.getElementById(id);
  if (fresh && current) {
    current.replaceWith(fresh);
    guideNext();
  }
  return fresh;
}

export function enhance(region) {
  let polls = 0;
  const tick = async () => {
    const current = document.getElementById(region.id);
    if (!current || current.dataset.poll !== "true" || polls++ > MAX_POLLS) return;
    await refreshRegion(region.id);
    setTimeout(tick, INTERVAL_MS);
  };
  setTimeout(tick, INTERVAL_MS);
}
