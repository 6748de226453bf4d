// Holdfast portal: small helpers for forms that talk to the JSON API.
"use strict";

async function callAPI(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.ok) {
    return response.status === 204 ? null : response.json();
  }
  let message = `The server answered ${response.status}.`;
  try {
    const payload = await response.json();
    if (payload && payload.error && payload.error.message) message = payload.error.message;
  } catch (_) { /* not JSON: keep the status message */ }
  throw new Error(message);
}

function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (value !== "") values[name] = value;
  }
  return values;
}

function showError(form, error) {
  const box = form.querySelector(".form-error");
  if (!box) return;
  box.textContent = error ? error.message : "";
  box.hidden = !error;
}

function busy(form, isBusy) {
  for (const button of form.querySelectorAll("button")) button.disabled = isBusy;
}

document.addEventListener("DOMContentLoaded", () => {
  const login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError(login, null);
      busy(login, true);
      try {
        await callAPI("POST", "/api/v1/auth/login", formValues(login));
        window.location.assign(login.dataset.next || "/");
      } catch (error) {
        showError(login, error);
        busy(login, false);
      }
    });
  }

  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError(form, null);
      busy(form, true);
      try {
        await callAPI("POST", form.dataset.api, formValues(form));
        window.location.reload();
      } catch (error) {
        showError(form, error);
        busy(form, false);
      }
    });
  }

  for (const button of document.querySelectorAll("[data-action=logout]")) {
    button.addEventListener("click", async () => {
      try { await callAPI("POST", "/api/v1/auth/logout"); } catch (_) { /* signed out already */ }
      window.location.assign("/login");
    });
  }
});
