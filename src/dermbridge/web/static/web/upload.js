// Sends each chosen photo at once to the same upload endpoint as the plain form, with its own
// progress bar, a retry button when it fails, and the server's quality result when it is done.
// Without JavaScript the form posts as usual.
import { guideNext, refreshRegion } from "./poll.js";

// How a request's photos are named to the user: "overview.jpg" or "a.jpg, b.jpg".
const namesOf = (files) => files.map((file) => file.name).join(", ");

function checkedType(form) {
  const radio = form.querySelector("input[name=image_type]:checked");
  return radio ? radio.value : "";
}

// Sends `files` in one request. `once` is the form's one-time token, given only for photos chosen
// before this script ran: if the plain form had already posted them, the server answers the
// same request once (core.idempotency) instead of storing them twice.
function send(form, files, item, once = "") {
  const type = checkedType(form);
  const data = new FormData();
  data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
  data.append("image_type", type);
  const mode = form.querySelector("[name=dermoscopy_mode]");
  data.append("dermoscopy_mode", mode ? mode.value : "");
  for (const file of files) data.append("photos", file);
  if (once) data.append("_once", once);
  const names = namesOf(files);
  const progress = item.querySelector("progress");
  const status = item.querySelector(".db-upload__status");
  item.dataset.imageType = type;
  item.dataset.uploadState = "sending";
  item.querySelector("button")?.remove();
  status.textContent = "Uploading…";
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.action || window.location.href);
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
  });
  const fail = (message) => {
    item.dataset.uploadState = "failed";
    status.textContent = `Not uploaded: ${message}`;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "nhsuk-button nhsuk-button--secondary nhsuk-button--small";
    retry.textContent = `Try ${names} again`;
    retry.addEventListener("click", () => send(form, files, item, once));
    item.append(retry);
    retry.focus();
  };
  xhr.addEventListener("error", () => fail("the connection failed. Check the signal and try again."));
  xhr.addEventListener("load", async () => {
    const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    const error = doc.querySelector(".nhsuk-error-summary li, .nhsuk-error-message");
    if (xhr.status >= 400 || error) {
      fail(error ? error.textContent.replace(/^\s*Error:\s*/, "").trim() : `the server answered ${xhr.status}.`);
      return;
    }
    progress.value = 100;
    status.textContent = "Uploaded: its check result is in the photo list.";
    const fresh = doc.getElementById("db-photo-status");
    const current = document.getElementById("db-photo-status");
    if (fresh && current) current.replaceWith(fresh);
    else await refreshRegion("db-photo-status");
    item.dataset.uploadState = "done";
    guideNext();
    const region = document.getElementById("db-photo-status");
    if (region && region.dataset.poll === "true") import("./poll.js").then((m) => m.enhance(region));
  });
  xhr.send(data);
}

export function enhance(form) {
  const input = form.querySelector("input[type=file]");
  const list = document.createElement("ul");
  list.className = "db-upload nhsuk-list";
  list.setAttribute("aria-live", "polite");
  list.setAttribute("aria-label", "Photos being uploaded");
  input.closest(".nhsuk-form-group").after(list);
  input.dataset.enhanced = "true";
  const submit = form.querySelector("button[type=submit]");
  if (submit) submit.hidden = true;
  const hint = document.createElement("p");
  hint.className = "nhsuk-hint";
  hint.textContent = "Each photo is sent as soon as you take or choose it.";
  input.before(hint);
  const item = (files) => {
    const names = namesOf(files);
    const entry = document.createElement("li");
    entry.className = "db-upload__item";
    const label = document.createElement("span");
    label.textContent = names;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload progress of ${names}`);
    const status = document.createElement("span");
    status.className = "db-upload__status";
    entry.append(label, progress, status);
    list.append(entry);
    return entry;
  };
  const sendChosen = (early = false) => {
    if (!checkedType(form)) {
      const first = form.querySelector("input[name=image_type]");
      const message = document.createElement("li");
      message.textContent = "Choose the type of photo first, then take or choose the photo again.";
      list.append(message);
      input.value = "";
      first?.focus();
      return;
    }
    const files = [...input.files];
    if (early) {
      // Chosen before this script ran: sent together with the form's one-time token, exactly
      // as the plain form would have posted them (and may already have).
      const once = form.querySelector("[name=_once]");
      send(form, files, item(files), once ? once.value : "");
    } else {
      for (const file of files) send(form, [file], item([file]));
    }
    input.value = "";
  };
  input.addEventListener("change", () => sendChosen());
  // A photo chosen before this script ran (a slow connection) fired its change event unheard,
  // and the plain form's button is now hidden: send it now rather than leave it stranded.
  if (input.files.length) sendChosen(true);
}
