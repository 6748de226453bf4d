// Holdfast Files page: the live workspace, one folder at a time (`/files?path=P`).
//
// Everything comes from the workspace API: the listing (paged with "Load more"), downloads (plain links:
// a folder comes as a zip), uploads (uploads.js, resumable), new folders, renames, and deletes, which
// move the file into the workspace's `.trash` folder and can be undone.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const card = document.getElementById("files");
  const notice = card.querySelector(".notice");
  const undo = document.getElementById("undo");
  const table = document.getElementById("entries");
  const rows = table.querySelector("tbody");
  const empty = document.getElementById("entries-empty");
  const loading = document.getElementById("loading");
  const loadMore = document.getElementById("load-more");
  const uploads = document.getElementById("uploads");
  const newFolderForm = document.getElementById("new-folder");

  const query = new URLSearchParams(window.location.search);
  const folder = (query.get("path") || "").replace(/^\/+|\/+$/g, "");
  // `limit` pages the listing in smaller steps than the server's 1000; the tests use it.
  const pageSize = Number(query.get("limit")) || null;
  let nextCursor = null;

  const childPath = (name) => (folder ? `${folder}/${name}` : name);
  const baseName = (path) => path.slice(path.lastIndexOf("/") + 1);
  // A space is written `%20`, never `+`: a `+` in a query is a space only to form decoders, and a
  // file name may hold either.
  const apiURL = (path, extra = {}) =>
    `/api/v1/workspace/files?${new URLSearchParams({ path, ...extra }).toString().replaceAll("+", "%20")}`;
  const pageURL = (path) => (path ? `/files?path=${encodeURIComponent(path)}` : "/files");

  function say(text, undoAction = null) {
    notice.querySelector(".notice-text").textContent = text;
    undo.hidden = !undoAction;
    undo.onclick = undoAction;
    notice.hidden = false;
  }

  function clearMessages() {
    showError(card, null);
    notice.hidden = true;
  }

  function grouped(value) {
    return value.toLocaleString("en-GB");
  }

  // "812 bytes", "12 KiB", "3.4 MiB", "1.2 GiB": rounded down, so a file short of a size never reads as it.
  function formatSize(bytes) {
    const units = [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]];
    for (const [unit, size] of units) {
      if (bytes < size) continue;
      const tenths = Math.floor((bytes * 10) / size);
      const whole = grouped(Math.floor(tenths / 10));
      return unit === "KiB" || tenths % 10 === 0 ? `${whole} ${unit}` : `${whole}.${tenths % 10} ${unit}`;
    }
    return bytes === 1 ? "1 byte" : `${bytes} bytes`;
  }

  function renderCrumbs() {
    const crumbs = document.getElementById("crumbs");
    const parts = folder ? folder.split("/") : [];
    const home = document.createElement(parts.length ? "a" : "strong");
    home.textContent = "Home";
    if (parts.length) home.href = pageURL("");
    crumbs.append(home);
    parts.forEach((part, index) => {
      crumbs.append(" / ");
      const last = index === parts.length - 1;
      const crumb = document.createElement(last ? "strong" : "a");
      crumb.textContent = part;
      if (last) crumb.setAttribute("aria-current", "page");
      else crumb.href = pageURL(parts.slice(0, index + 1).join("/"));
      crumbs.append(crumb);
    });
    if (folder) document.title = `${parts[parts.length - 1]} · Files · Holdfast`;
  }

  async function showUsage() {
    const line = document.getElementById("usage");
    const warning = document.getElementById("usage-warning");
    let usage;
    try { usage = await callAPI("GET", "/api/v1/workspace/usage"); } catch (_) { return; }
    line.textContent = "";
    if (usage.usedBytes === null || usage.quotaBytes === null) {
      line.textContent = `Your workspace can hold ${grouped(usage.quotaGiB)} GiB.`;
    } else {
      line.textContent = `${formatSize(usage.usedBytes)} of ${formatSize(usage.quotaBytes)} used`;
      if (usage.percent !== null) {
        const meter = document.createElement("meter");
        Object.assign(meter, { min: 0, max: 100, low: 70, high: 89, optimum: 0, value: usage.percent });
        meter.textContent = `${usage.percent} %`;
        line.append(" ", meter);
      }
    }
    line.hidden = false;
    warning.hidden = !(usage.percent >= 90);
    warning.textContent = `Your workspace is ${usage.percent} % full. Delete files or ask your administrator for more space; `
      + "when it is full, programs cannot save.";
  }

  function button(text, action, className = "") {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = text;
    element.dataset.action = action;
    if (className) element.className = className;
    return element;
  }

  function row(item) {
    const tr = document.createElement("tr");
    tr.dataset.path = item.path;
    tr.dataset.kind = item.kind;
    const name = document.createElement("td");
    name.className = "name";
    const size = document.createElement("td");
    const modified = document.createElement("td");
    const actions = document.createElement("td");
    actions.className = "actions";
    tr.append(name, size, modified, actions);

    if (item.nameIsValid === false) {
      // Not valid UTF-8: the API cannot name it back, so it is shown and left alone.
      tr.classList.add("invalid-name");
      name.textContent = item.name;
      name.title = "This name is not valid text (UTF-8). Rename it in a terminal to work with it here.";
    } else if (item.kind === "directory") {
      const link = document.createElement("a");
      link.href = pageURL(item.path);
      link.textContent = `${item.name}/`;
      name.append(link);
    } else {
      name.textContent = item.name;
      if (item.kind === "symlink") name.append(" ", Object.assign(document.createElement("span"), { className: "badge", textContent: "link" }));
    }
    size.textContent = item.kind === "file" ? formatSize(item.size) : "—";
    if (item.modifiedAt) {
      const time = document.createElement("time");
      time.dateTime = item.modifiedAt;
      time.textContent = new Date(item.modifiedAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      modified.append(time);
    }
    if (item.nameIsValid === false) return tr;

    if (item.kind === "file" || item.kind === "directory") {
      const download = document.createElement("a");
      download.className = "button";
      download.dataset.action = "download";
      download.href = item.kind === "directory" ? apiURL(item.path, { format: "zip" }) : apiURL(item.path);
      download.download = item.kind === "directory" ? `${item.name}.zip` : item.name;
      download.textContent = item.kind === "directory" ? "Download .zip" : "Download";
      actions.append(download, " ");
    }
    // The trash itself stays put, and what is in it can be renamed but not deleted again.
    if (item.path === ".trash") return tr;
    const rename = button("Rename", "rename", "linkish");
    rename.addEventListener("click", () => startRename(tr, item));
    if (item.path.startsWith(".trash/")) {
      actions.append(rename);
      return tr;
    }
    const remove = button("Delete", "delete", "linkish danger");
    remove.addEventListener("click", () => trash(tr, item, remove));
    actions.append(rename, " ", remove);
    return tr;
  }

  function fetchPage(cursor) {
    const params = { list: "1" };
    if (cursor) params.cursor = cursor;
    if (pageSize) params.limit = String(pageSize);
    return callAPI("GET", apiURL(folder, params));
  }

  // Adds a page of the listing under the rows shown.
  function show(page) {
    for (const item of page.items) rows.append(row(item));
    nextCursor = page.nextCursor || null;
    loadMore.hidden = !nextCursor;
    const hasRows = rows.children.length > 0;
    table.closest(".table-wrap").hidden = !hasRows;
    empty.hidden = hasRows;
  }

  // Shows the folder afresh from its first page.
  async function refresh() {
    try {
      const page = await fetchPage(null);
      rows.replaceChildren();
      show(page);
    } catch (error) {
      showError(card, error);
    } finally {
      loading.hidden = true;
    }
  }
  loadMore.addEventListener("click", async () => {
    loadMore.disabled = true;
    try { show(await fetchPage(nextCursor)); } catch (error) { showError(card, error); }
    loadMore.disabled = false;
  });

  function startRename(tr, item) {
    clearMessages();
    const cell = tr.querySelector("td.name");
    const before = Array.from(cell.childNodes);
    const form = document.createElement("form");
    form.className = "rename-form";
    const input = document.createElement("input");
    input.name = "name";
    input.value = item.name;
    input.setAttribute("aria-label", `New name for ${item.name}`);
    input.required = true;
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "primary";
    save.textContent = "Save";
    const cancel = button("Cancel", "cancel", "linkish");
    form.append(input, save, cancel);
    cell.replaceChildren(form);
    input.focus();
    const dot = item.name.lastIndexOf(".");
    input.setSelectionRange(0, item.kind === "file" && dot > 0 ? dot : item.name.length);

    const restore = () => cell.replaceChildren(...before);
    cancel.addEventListener("click", restore);
    input.addEventListener("keydown", (event) => { if (event.key === "Escape") restore(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (name === item.name) { restore(); return; }
      if (name.includes("/")) { showError(card, new Error("A name cannot contain “/”.")); return; }
      save.disabled = true;
      try {
        await callAPI("POST", "/api/v1/workspace/moves", { from: item.path, to: childPath(name) });
        say(`Renamed “${item.name}” to “${name}”.`);
        await refresh();
      } catch (error) {
        showError(card, error);
        save.disabled = false;
      }
    });
  }

  async function trash(tr, item, control) {
    clearMessages();
    control.disabled = true;
    try {
      const result = await callAPI("DELETE", apiURL(item.path));
      tr.remove();
      say(`Moved “${item.name}” to the trash (${result.trashedTo}); the next snapshot keeps it.`, async () => {
        clearMessages();
        try {
          await callAPI("POST", "/api/v1/workspace/moves", { from: result.trashedTo, to: item.path });
          say(`“${item.name}” is back.`);
        } catch (error) {
          showError(card, error);
        }
        await refresh();
      });
      await refresh();
      showUsage();
    } catch (error) {
      showError(card, error);
      control.disabled = false;
    }
  }

  document.getElementById("new-folder-button").addEventListener("click", () => {
    clearMessages();
    newFolderForm.hidden = false;
    newFolderForm.querySelector("input").focus();
  });
  newFolderForm.querySelector("[data-action=cancel]").addEventListener("click", () => {
    newFolderForm.hidden = true;
    newFolderForm.reset();
  });
  newFolderForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    const name = newFolderForm.elements.name.value.trim();
    if (name.includes("/")) { showError(card, new Error("A name cannot contain “/”.")); return; }
    busy(newFolderForm, true);
    try {
      await callAPI("POST", "/api/v1/workspace/folders", { path: childPath(name) });
      newFolderForm.reset();
      newFolderForm.hidden = true;
      say(`Created the folder “${name}”.`);
      await refresh();
    } catch (error) {
      showError(card, error);
    }
    busy(newFolderForm, false);
  });

  // Uploads: one row each, sent one after another into this folder.
  let queue = Promise.resolve();

  function enqueue(files) {
    clearMessages();
    for (const file of files) {
      const entry = uploadRow(file);
      queue = queue.then(() => entry.start({ overwrite: false }));
    }
  }

  function uploadRow(file) {
    const li = document.createElement("li");
    li.className = "upload";
    li.dataset.name = file.name;
    const label = document.createElement("span");
    label.className = "upload-name";
    label.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const state = document.createElement("span");
    state.className = "upload-state";
    state.textContent = "Waiting…";
    const controls = document.createElement("span");
    controls.className = "upload-controls";
    li.append(label, bar, state, controls);
    uploads.append(li);
    uploads.hidden = false;

    let controller = null;
    const cancel = button("Cancel", "cancel-upload", "linkish");
    cancel.addEventListener("click", () => {
      if (controller) controller.abort();
      else { li.dataset.state = "cancelled"; state.textContent = "Cancelled"; controls.replaceChildren(); }
    });
    controls.append(cancel);

    const progress = (sent, total) => {
      const percent = HoldfastUploads.percent(sent, total);
      bar.value = percent;
      state.textContent = `${percent} %`;
    };

    async function start({ overwrite, beside = false }) {
      if (li.dataset.state === "cancelled") return;
      controller = new AbortController();
      li.dataset.state = "sending";
      li.classList.remove("failed");
      controls.replaceChildren(cancel);
      const options = { overwrite, onProgress: progress, signal: controller.signal };
      try {
        const { path } = beside
          ? await HoldfastUploads.uploadBeside(file, folder, options)
          : await HoldfastUploads.upload(file, childPath(file.name), options);
        li.dataset.state = "done";
        bar.value = 100;
        state.textContent = path === childPath(file.name) ? "100 % — uploaded" : `100 % — uploaded as “${baseName(path)}”`;
        controls.replaceChildren();
        refresh();
        showUsage();
      } catch (error) {
        li.dataset.state = error.code === "cancelled" ? "cancelled" : "failed";
        li.classList.toggle("failed", error.code !== "cancelled");
        state.textContent = error.code === "cancelled" ? "Cancelled" : error.message;
        controls.replaceChildren();
        if (error.code === "file_exists") {
          // The same name is here already: the user says whether to replace it or keep both.
          state.textContent = `“${file.name}” exists in this folder.`;
          const replace = button("Replace", "replace");
          replace.addEventListener("click", () => { queue = queue.then(() => start({ overwrite: true })); });
          const keepBoth = button("Keep both", "keep-both");
          keepBoth.addEventListener("click", () => { queue = queue.then(() => start({ overwrite: false, beside: true })); });
          controls.append(replace, " ", keepBoth);
        }
      }
    }
    return { start };
  }

  const picker = document.getElementById("file-input");
  picker.addEventListener("change", () => {
    enqueue(Array.from(picker.files));
    picker.value = "";
  });
  HoldfastUploads.acceptDrops(document.getElementById("drop-zone"), enqueue);

  renderCrumbs();
  showUsage();
  refresh();
});
