// Starts the NHS.UK design system components. Loaded as a module, so it only runs in browsers
// the design system supports; pages work without it.
import { initAll } from "../nhsuk/nhsuk-frontend.min.js";

document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
initAll();
