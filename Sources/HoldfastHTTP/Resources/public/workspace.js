// Holdfast versions page: restores beside the live copy, and progress of running backups and restores.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const card = document.getElementById("versions");
  const activity = document.getElementById("activity");
  const notice = card.querySelector(".notice");
  let polling = null;

  function describe(job) {
    const verb = job.kind === "backup" ? "Backing up your workspace" : `Restoring ${job.path || "your workspace"}`;
    const progress = job.progress;
    if (!progress) return { text: `${verb}…`, fraction: null };
    const percent = Math.round(progress.fraction * 100);
    const files = progress.totalFiles ? ` — ${progress.filesDone} of ${progress.totalFiles} files` : "";
    return { text: `${verb}: ${percent}%${files}`, fraction: progress.fraction };
  }

  async function refreshActivity() {
    let jobs = [];
    try { jobs = (await callAPI("GET", "/api/v1/workspace/activity")).items; } catch (_) { /* keep the last view */ }
    if (!jobs.length) {
      activity.hidden = true;
      if (polling) { clearInterval(polling); polling = null; }
      return;
    }
    const { text, fraction } = describe(jobs[0]);
    activity.querySelector(".activity-label").textContent = text;
    const bar = activity.querySelector("progress");
    if (fraction === null) bar.removeAttribute("value"); else bar.value = fraction;
    activity.hidden = false;
    if (!polling) polling = setInterval(refreshActivity, 1000);
  }

  for (const button of document.querySelectorAll("[data-restore-snapshot]")) {
    button.addEventListener("click", async () => {
      showError(card, null);
      notice.hidden = true;
      for (const other of document.querySelectorAll("[data-restore-snapshot]")) other.disabled = true;
      const restoring = callAPI("POST", "/api/v1/workspace/restore", {
        snapshot: button.dataset.restoreSnapshot,
        path: button.dataset.restorePath,
      });
      setTimeout(refreshActivity, 300);
      try {
        const result = await restoring;
        notice.textContent = `Restored to “${result.restoredTo}” in your workspace (${result.files} files).`;
        notice.hidden = false;
      } catch (error) {
        showError(card, error);
      }
      for (const other of document.querySelectorAll("[data-restore-snapshot]")) other.disabled = false;
      refreshActivity();
    });
  }

  refreshActivity();
});
