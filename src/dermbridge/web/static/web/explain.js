// "Use this explanation" fills the patient explanation from the chosen service template in place
// (without JavaScript the button posts the form and the page comes back filled in, unsaved).
// The dermatologist then edits the text before recording; the change is announced.
export function enhance(picker) {
  const select = picker.querySelector("select");
  const button = picker.querySelector("button");
  const target = document.getElementById("id_patient_explanation");
  if (!select || !button || !target) return;
  const status = document.createElement("p");
  status.className = "nhsuk-body-s";
  status.setAttribute("aria-live", "polite");
  picker.after(status);
  button.addEventListener("click", (event) => {
    event.preventDefault();
    const option = select.options[select.selectedIndex];
    if (!option) return;
    target.value = option.dataset.text || "";
    target.focus();
    status.textContent = `"${option.text}" is in the patient explanation: edit it before recording.`;
  });
}
