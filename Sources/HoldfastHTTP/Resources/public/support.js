// Holdfast support pages: the ticket form with its promise, and replies on a ticket.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  const form = document.getElementById("ticket-form");
  if (form) {
    const promise = document.querySelector("#new-ticket .promise");
    const kind = form.querySelector("[name=kind]");
    const occurred = form.querySelector("[name=occurredAt]");
    // Default "when": now, in the reader's local time as datetime-local wants it.
    const now = new Date();
    occurred.value = new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

    async function showPromise() {
      const query = new URLSearchParams({ at: new Date().toISOString(), kind: kind.value, zone });
      try {
        const answer = await callAPI("GET", `/api/v1/support/promise?${query}`);
        promise.textContent = answer.text;
        promise.hidden = !answer.text;
      } catch (_) {
        promise.hidden = true;
      }
    }
    for (const option of form.querySelectorAll("option[data-started]")) {
      const started = new Date(option.dataset.started);
      option.textContent = `${option.dataset.label}, started ${started.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
    }
    kind.addEventListener("change", showPromise);
    showPromise();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError(form, null);
      busy(form, true);
      const values = formValues(form);
      const when = new Date(values.occurredAt);
      if (isNaN(when)) {
        showError(form, new Error("Say when it occurred: a date and a time."));
        busy(form, false);
        return;
      }
      values.occurredAt = when.toISOString();
      try {
        const ticket = await callAPI("POST", "/api/v1/tickets", values);
        window.location.assign(`/support/tickets/${ticket.id}`);
      } catch (error) {
        showError(form, error);
        busy(form, false);
      }
    });
  }

  const reply = document.getElementById("reply-form");
  if (reply) {
    const id = document.getElementById("ticket").dataset.ticket;
    reply.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError(reply, null);
      busy(reply, true);
      try {
        await callAPI("POST", `/api/v1/tickets/${id}/replies`, formValues(reply));
        window.location.reload();
      } catch (error) {
        showError(reply, error);
        busy(reply, false);
      }
    });
  }
});
