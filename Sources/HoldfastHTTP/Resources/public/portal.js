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

  // "New terminal" and "Desktop": start a session of that kind and open its viewer.
  for (const button of document.querySelectorAll("[data-action=new-session]")) {
    button.addEventListener("click", async () => {
      const card = button.closest(".card");
      showError(card, null);
      button.disabled = true;
      const original = button.textContent;
      if (button.dataset.kind === "desktop") button.textContent = "Starting desktop…";
      try {
        const session = await callAPI("POST", "/api/v1/sessions", { kind: button.dataset.kind });
        window.location.assign(`/sessions/${session.id}`);
      } catch (error) {
        showError(card, error);
        button.disabled = false;
        button.textContent = original;
      }
    });
  }

  for (const button of document.querySelectorAll("[data-close-session]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const id = button.dataset.closeSession;
      try {
        // The close runs on its own (202, `closing`): wait for `closed`, then show the list.
        await callAPI("DELETE", `/api/v1/sessions/${id}`);
        button.textContent = "Closing…";
        const deadline = Date.now() + 120000;
        while (Date.now() < deadline) {
          const session = await callAPI("GET", `/api/v1/sessions/${id}`);
          if (session.state === "closed") break;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      } catch (_) { /* shown on reload */ }
      window.location.reload();
    });
  }

  for (const button of document.querySelectorAll("[data-extend-session]")) {
    button.addEventListener("click", async () => {
      const card = button.closest(".card");
      showError(card, null);
      button.disabled = true;
      try {
        await callAPI("POST", `/api/v1/sessions/${button.dataset.extendSession}/extend`, { minutes: 30 });
        window.location.reload();
      } catch (error) {
        showError(card, error);
        button.disabled = false;
      }
    });
  }

  // Times in the reader's zone, and live countdowns for held sessions.
  for (const element of document.querySelectorAll("time[data-local]")) {
    const date = new Date(element.dataset.local);
    if (!isNaN(date)) element.textContent = date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
  const countdowns = document.querySelectorAll("[data-countdown]");
  const tick = () => {
    for (const element of countdowns) {
      const left = Math.max(0, new Date(element.dataset.countdown).getTime() - Date.now());
      const until = new Date(element.dataset.countdown).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      element.textContent = `held until ${until} (${Math.ceil(left / 60000)} min left)`;
    }
  };
  if (countdowns.length) { tick(); setInterval(tick, 15000); }

  for (const button of document.querySelectorAll("[data-action=logout]")) {
    button.addEventListener("click", async () => {
      try { await callAPI("POST", "/api/v1/auth/logout"); } catch (_) { /* signed out already */ }
      window.location.assign("/login");
    });
  }
});
