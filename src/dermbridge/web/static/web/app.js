// Starts the NHS.UK design system components, then the page enhancements a page asks for.
// Loaded as a module, so it only runs in browsers the design system supports; every page works
// without it (plain forms, plain links).
import { initAll } from "../nhsuk/nhsuk-frontend.min.js";

document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
initAll();

const enhancements = [
  ["select[data-bodymap]", "./bodymap.js"],
  ["form[data-upload]", "./upload.js"],
  ["[data-poll]", "./poll.js"],
  ["table[data-keyboard-rows]", "./rows.js"],
  ["[data-viewer]", "./viewer.js"],
  ["select[data-filterable]", "./filter-select.js"],
  ["[data-explanation-templates]", "./explain.js"],
];
for (const [selector, module] of enhancements) {
  const elements = document.querySelectorAll(selector);
  if (elements.length) {
    import(module).then((m) => elements.forEach((el) => m.enhance(el)));
  }
}
