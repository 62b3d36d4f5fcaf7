// Filters a long select (SNOMED CT diagnoses) by what is typed: a search box above the select
// keeps only the matching options; the select itself still submits the code. The number of
// matches is announced.
export function enhance(select) {
  const all = [...select.options].map((o) => ({ value: o.value, text: o.text }));
  const group = select.closest(".nhsuk-form-group");
  const id = `${select.id}-filter`;
  const wrapper = document.createElement("div");
  wrapper.className = "db-filter";
  const label = document.createElement("label");
  label.className = "nhsuk-label";
  label.htmlFor = id;
  label.textContent = `Search ${(select.labels[0]?.textContent || "the list").toLowerCase()}`;
  const input = document.createElement("input");
  input.type = "search";
  input.id = id;
  input.className = "nhsuk-input nhsuk-u-width-two-thirds";
  input.autocomplete = "off";
  input.setAttribute("aria-controls", select.id);
  const count = document.createElement("p");
  count.className = "nhsuk-body-s db-filter__count";
  count.id = `${id}-count`;
  count.setAttribute("aria-live", "polite");
  input.setAttribute("aria-describedby", count.id);
  wrapper.append(label, input, count);
  group.querySelector("label.nhsuk-label").before(wrapper);
  select.size = Math.min(6, all.length);
  const apply = () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    const chosen = select.value;
    const matches = all.filter((o) => o.value === "" ? words.length === 0 : words.every((w) => o.text.toLowerCase().includes(w) || o.value.includes(w)));
    select.replaceChildren(...matches.map((o) => new Option(o.text, o.value, false, o.value === chosen)));
    const real = matches.filter((o) => o.value !== "").length;
    count.textContent = `${real} diagnos${real === 1 ? "is" : "es"} match`;
    if (real === 1 && words.length) select.value = matches.find((o) => o.value !== "").value;
  };
  input.addEventListener("input", apply);
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { select.focus(); e.preventDefault(); }
    if (e.key === "Enter") e.preventDefault();
  });
  apply();
}
