// The risk page's what-if: any change to an input asks the service for the
// answer to the values shown (POST /app/answer, the same body as /explain)
// and swaps in the HTML it renders; the service's validation messages go
// beside their field. Units are converted with the factors the page carries.
"use strict";

(function () {
  const form = document.getElementById("inputs");
  const answer = document.getElementById("answer");
  const status = document.getElementById("status");
  if (!form || !answer) return;
  const first = answer.innerHTML; // the answer to the values first shown
  const threshold = Number(form.dataset.fastingThreshold);
  let timer = null;
  let sent = 0;

  function number(text) {
    const cleaned = text.trim().replace(",", ".");
    return cleaned !== "" && !Number.isNaN(Number(cleaned)) ? Number(cleaned) : text;
  }

  function valueOf(name) {
    const field = document.getElementById("f-" + name);
    const notMeasured = document.getElementById("nm-" + name);
    if ((notMeasured && notMeasured.checked) || field.value.trim() === "") return null; // not measured
    if (field.tagName === "SELECT") return Number(field.value);
    const value = number(field.value);
    const unit = document.getElementById("u-" + name);
    if (typeof value !== "number" || !unit) return value;
    const mgdl = unit.value === "mmol/L" ? value * Number(field.dataset.factor) : value;
    if (name === "fasting_blood_sugar") return mgdl > threshold ? 1 : 0;
    return Math.round(mgdl * 100) / 100;
  }

  function patient() {
    const body = {};
    for (const field of form.querySelectorAll("[id^='f-']")) {
      body[field.name] = valueOf(field.name);
    }
    return body;
  }

  function clearErrors() {
    for (const p of form.querySelectorAll(".error")) p.textContent = "";
    for (const f of form.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
  }

  function showErrors(details) {
    for (const d of details || []) {
      const name = (d.field || "").split(".")[0];
      const where = document.getElementById("e-" + name);
      const field = document.getElementById("f-" + name);
      if (where) where.textContent = "Not accepted: " + d.message;
      if (field) field.setAttribute("aria-invalid", "true");
    }
  }

  async function update() {
    const mine = ++sent;
    status.textContent = "Updating the estimate...";
    let response;
    try {
      response = await fetch(form.dataset.answerUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/html" },
        body: JSON.stringify(patient()),
        credentials: "same-origin",
      });
    } catch (e) {
      status.textContent = "The service cannot be reached; the estimate shown is for the previous values.";
      return;
    }
    if (mine !== sent) return; // a newer change is on its way
    clearErrors();
    if (response.ok) {
      answer.innerHTML = await response.text();
      status.textContent = "Estimate updated.";
    } else if (response.status === 422) {
      showErrors(((await response.json()).error || {}).details);
      status.textContent = "Some values are not accepted (see beside them); the estimate shown is for the previous values.";
    } else {
      let message = "";
      try { message = ((await response.json()).error || {}).message || ""; } catch (e) { /* not JSON */ }
      status.textContent = "No new estimate (" + response.status + "): " + message;
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  }

  form.addEventListener("input", function (event) {
    const target = event.target;
    if (target.type === "checkbox") {
      const field = document.getElementById(target.dataset.for);
      if (target.checked) field.value = "";
      else field.focus();
    } else if (target.id.startsWith("f-") && target.tagName === "INPUT") {
      const box = document.getElementById("nm-" + target.name);
      if (box) box.checked = target.value.trim() === "";
    }
    later();
  });
  document.getElementById("back-to-chart").addEventListener("click", function () {
    clearTimeout(timer);
    sent++;
    HTMLFormElement.prototype.reset.call(form); // the values the page came with
    clearErrors();
    answer.innerHTML = first;
    status.textContent = "Back to the values first shown.";
  });
  document.getElementById("print").addEventListener("click", function () { window.print(); });
})();
