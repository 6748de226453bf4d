// Holdfast maintenance page: schedule a window (prefilled with the recommendation) and cancel one.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("schedule-form");
  const local = (iso) => {
    const date = new Date(iso);
    return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  };
  const recommended = document.getElementById("recommendation");
  if (recommended) {
    form.querySelector("[name=startsAt]").value = local(recommended.dataset.starts);
    form.querySelector("[name=endsAt]").value = local(recommended.dataset.ends);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(form, null);
    busy(form, true);
    const values = formValues(form);
    const body = {
      title: values.title,
      details: values.details,
      startsAt: new Date(values.startsAt).toISOString(),
      endsAt: new Date(values.endsAt).toISOString(),
      components: [...form.querySelectorAll("[name=components]:checked")].map((box) => box.value),
    };
    try {
      await callAPI("POST", "/api/v1/maintenance", body);
      window.location.reload();
    } catch (error) {
      showError(form, error);
      busy(form, false);
    }
  });
  for (const button of document.querySelectorAll("[data-cancel]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await callAPI("POST", `/api/v1/maintenance/${button.dataset.cancel}/cancel`);
        window.location.reload();
      } catch (error) {
        button.disabled = false;
        alert(error.message);
      }
    });
  }
});
