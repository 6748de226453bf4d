// Holdfast uploads: files into the workspace over tus 1.0 (resumable), shared by the Files page and the
// session viewers.
//
// An upload is created with POST (the server refuses a name that exists or a file larger than the space
// left before any byte is sent), then sent in PATCH chunks of 8 MiB. A dropped connection or a 5xx does
// not lose the bytes already sent: the uploader waits (1 s, 2 s, 4 s … at most 15 s), asks the server
// with HEAD where the upload stands and goes on from there. Only a 4xx ends it, with the server's words.
// The upload's address is kept in sessionStorage, so the same file chosen again after a reload of the
// page continues where it stopped.
//
// The viewers' part is here too: a file dropped onto a terminal or a desktop goes into the home folder
// under a free name (`notes (2).txt` beside `notes.txt`), with a toast that shows how far it got.
"use strict";

window.HoldfastUploads = (() => {
  const endpoint = "/api/v1/workspace/uploads";
  const chunkSize = 8 * 1024 * 1024;
  const firstRetryDelay = 1000;
  const longestRetryDelay = 15000;
  const tusVersion = "1.0.0";

  // An answer that ends the upload: the server's code and message, or the browser's abort.
  class UploadError extends Error {
    constructor(message, { status = 0, code = null } = {}) {
      super(message);
      this.name = "UploadError";
      this.status = status;
      this.code = code;
    }
  }

  // One request over XMLHttpRequest (fetch cannot report the progress of a body being sent).
  // Resolves with every answer the server gives; rejects with a TypeError when no answer came.
  function request(method, url, { headers = {}, body = null, signal, onSent } = {}) {
    return new Promise((resolve, reject) => {
      if (signal && signal.aborted) { reject(aborted()); return; }
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      if (onSent) xhr.upload.onprogress = (event) => onSent(event.loaded);
      const abort = () => xhr.abort();
      if (signal) signal.addEventListener("abort", abort, { once: true });
      const settle = () => { if (signal) signal.removeEventListener("abort", abort); };
      xhr.onload = () => {
        settle();
        resolve({ status: xhr.status, header: (name) => xhr.getResponseHeader(name), text: xhr.responseText });
      };
      xhr.onerror = xhr.ontimeout = () => { settle(); reject(new TypeError("The connection to the server was lost.")); };
      xhr.onabort = () => { settle(); reject(aborted()); };
      xhr.send(body);
    });
  }

  function aborted() {
    return new UploadError("The upload was cancelled.", { code: "cancelled" });
  }

  // The server's `{"error":{"code","message"}}` as an UploadError.
  function refusal(response) {
    let message = `The server answered ${response.status}.`;
    let code = null;
    try {
      const payload = JSON.parse(response.text);
      if (payload && payload.error) {
        message = payload.error.message || message;
        code = payload.error.code || null;
      }
    } catch (_) { /* not JSON: keep the status */ }
    return new UploadError(message, { status: response.status, code });
  }

  // 408, 423 and 429 say "not now" rather than "never": they are retried like a 5xx.
  function isFinal(status) {
    return status >= 400 && status < 500 && status !== 408 && status !== 423 && status !== 429;
  }

  function base64(text) {
    let binary = "";
    for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
    return btoa(binary);
  }

  function sleep(milliseconds, signal) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, milliseconds);
      if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); reject(aborted()); }, { once: true });
    });
  }

  // Where an unfinished upload of the same file to the same path lives, across reloads of the page.
  const remembered = {
    key: (file, path) => `holdfast.upload:${path}:${file.size}:${file.lastModified}`,
    get(key) { try { return sessionStorage.getItem(key); } catch (_) { return null; } },
    set(key, location) { try { sessionStorage.setItem(key, location); } catch (_) { /* private mode: no resume */ } },
    forget(key) { try { sessionStorage.removeItem(key); } catch (_) { /* nothing kept */ } },
  };

  const tusHeaders = { "Tus-Resumable": tusVersion };

  async function create(file, path, overwrite, signal) {
    const metadata = [`path ${base64(path)}`];
    if (overwrite) metadata.push(`overwrite ${base64("true")}`);
    const response = await request("POST", endpoint, {
      headers: { ...tusHeaders, "Upload-Length": String(file.size), "Upload-Metadata": metadata.join(",") },
      signal,
    });
    if (response.status !== 201) throw isFinal(response.status) ? refusal(response) : new TypeError(`The server answered ${response.status}.`);
    const location = response.header("Location");
    if (!location) throw new UploadError("The server did not say where to send the file.", { status: response.status });
    const url = new URL(location, window.location.href);
    return url.pathname + url.search;
  }

  // The offset the server holds for an upload; an UploadError when the upload is gone.
  async function offsetOf(location, signal) {
    const response = await request("HEAD", location, { headers: tusHeaders, signal });
    if (response.status >= 200 && response.status < 300) return Number(response.header("Upload-Offset"));
    // A HEAD answer has no body: say what happened in words.
    if (response.status === 404 || response.status === 410) {
      throw new UploadError("The server no longer has this upload (it expired). Start it again.", { status: response.status });
    }
    if (isFinal(response.status)) throw new UploadError(`The server answered ${response.status}.`, { status: response.status });
    throw new TypeError(`The server answered ${response.status}.`);
  }

  // Pauses between attempts: 1 s, 2 s, 4 s … at most 15 s, until `reset()` after progress.
  function backoff(signal) {
    let delay = firstRetryDelay;
    const pause = async () => {
      await sleep(delay, signal);
      delay = Math.min(delay * 2, longestRetryDelay);
    };
    return {
      pause,
      reset() { delay = firstRetryDelay; },
      // Repeats `step` while it fails without an answer (or with a 5xx); an UploadError ends it.
      async persistently(step) {
        for (;;) {
          try {
            return await step();
          } catch (error) {
            if (error instanceof UploadError) throw error;
            await pause();
          }
        }
      },
    };
  }

  // Sends `file` to `path` in the workspace (relative, `/`-separated).
  //
  // options: { overwrite: replace an existing file; onProgress(sent, total); signal: an AbortSignal }.
  // Resolves with `{ path, size }` once the file is in place; rejects with an UploadError (its `status`
  // and `code` are the server's, e.g. 409 `file_exists`) when the server refuses or the upload is
  // cancelled. Network errors and 5xx are retried without end: a user who wants to stop cancels.
  async function upload(file, path, options = {}) {
    const { overwrite = false, onProgress = () => {}, signal } = options;
    const total = file.size;
    const retry = backoff(signal);
    onProgress(0, total);
    const key = remembered.key(file, path);
    let location = remembered.get(key);
    let offset = 0;
    if (location) {
      try {
        offset = await retry.persistently(() => offsetOf(location, signal));
      } catch (error) {
        if (error.code === "cancelled") throw error;
        remembered.forget(key);
        location = null;
      }
    }
    if (!location) {
      location = await retry.persistently(() => create(file, path, overwrite, signal));
      remembered.set(key, location);
    }

    try {
      onProgress(offset, total);
      // An empty file is in place once created: there is nothing to send.
      while (offset < total) {
        const start = offset;
        let response = null;
        try {
          response = await request("PATCH", location, {
            headers: { ...tusHeaders, "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(start) },
            body: file.slice(start, Math.min(start + chunkSize, total)),
            signal,
            onSent: (sent) => onProgress(Math.min(total, start + sent), total),
          });
        } catch (error) {
          if (error instanceof UploadError) throw error;
        }
        const serverOffset = response && response.header("Upload-Offset");
        if (response && response.status === 204 && serverOffset !== null) {
          offset = Number(serverOffset);
          retry.reset();
        } else if (response && response.status === 409 && serverOffset !== null) {
          // The server holds another offset than ours: part of a chunk it kept when the link broke.
          // The same offset means the server is still busy with the upload (a request cut short
          // that it has not seen end yet): wait before sending again.
          offset = Number(serverOffset);
          if (offset === start) await retry.pause();
        } else if (response && isFinal(response.status)) {
          throw refusal(response);
        } else {
          // No answer, or a 5xx: the server may have kept part of the chunk. Ask it where to go on.
          await retry.pause();
          offset = await retry.persistently(() => offsetOf(location, signal));
        }
        onProgress(offset, total);
      }
    } catch (error) {
      remembered.forget(key);
      // A cancelled upload is ended on the server too, so its bytes do not wait for the expiry.
      if (error.code === "cancelled") request("DELETE", location, { headers: tusHeaders }).catch(() => {});
      throw error;
    }
    remembered.forget(key);
    return { path, size: total };
  }

  // `notes.txt` → `notes (2).txt`; a leading dot is part of the name (`.bashrc (2)`).
  function numberedName(name, number) {
    const dot = name.lastIndexOf(".");
    if (dot <= 0) return `${name} (${number})`;
    return `${name.slice(0, dot)} (${number})${name.slice(dot)}`;
  }

  // Uploads `file` into `folder` ("" is the home folder) under its own name, or the first free
  // `name (N).ext` when that exists. Resolves with the path it got.
  async function uploadBeside(file, folder, options = {}) {
    const prefix = folder ? `${folder}/` : "";
    for (let number = 1; ; number += 1) {
      const path = prefix + (number === 1 ? file.name : numberedName(file.name, number));
      try {
        return await upload(file, path, { ...options, overwrite: false });
      } catch (error) {
        if (error.code !== "file_exists" || number >= 100) throw error;
      }
    }
  }

  // Marks `element` while files are dragged over it and hands dropped files to `onFiles(files)`.
  // Text dragged over it is left alone. A file dropped elsewhere on the page is ignored, where a
  // browser would otherwise leave the page to open it.
  function acceptDrops(element, onFiles) {
    const carriesFiles = (event) => event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
    let depth = 0;
    element.addEventListener("dragenter", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth += 1;
      element.classList.add("drop-target");
    });
    element.addEventListener("dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    element.addEventListener("dragleave", (event) => {
      if (!carriesFiles(event)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) element.classList.remove("drop-target");
    });
    element.addEventListener("drop", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.stopPropagation();
      depth = 0;
      element.classList.remove("drop-target");
      const files = Array.from(event.dataTransfer.files || []);
      if (files.length) onFiles(files);
    });
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => { if (carriesFiles(event)) event.preventDefault(); });
    }
  }

  function percent(sent, total) {
    return total > 0 ? Math.floor((sent * 100) / total) : 100;
  }

  // A small note at the bottom right of the page; `role="status"`, so screen readers hear it too.
  // It shows `progress(text, fraction)` until it is `done(text)` (it goes after a few seconds) or
  // `failed(text)` (it stays until dismissed).
  function toast() {
    let stack = document.getElementById("toasts");
    if (!stack) {
      stack = document.createElement("div");
      stack.id = "toasts";
      stack.className = "toasts";
      document.body.appendChild(stack);
    }
    const box = document.createElement("div");
    box.className = "toast";
    box.setAttribute("role", "status");
    const label = document.createElement("span");
    label.className = "toast-text";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "linkish toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", () => box.remove());
    box.append(label, bar, close);
    stack.appendChild(box);
    let timer = null;
    return {
      progress(text, fraction) {
        label.textContent = text;
        bar.value = Math.round(fraction * 100);
      },
      done(text) {
        box.classList.add("done");
        label.textContent = text;
        bar.hidden = true;
        timer = setTimeout(() => box.remove(), 8000);
      },
      failed(text) {
        clearTimeout(timer);
        box.classList.add("failed");
        box.setAttribute("role", "alert");
        label.textContent = text;
        bar.hidden = true;
      },
    };
  }

  // The viewers' drop: each file into the home folder, one after another, each with its toast.
  async function dropIntoHome(files) {
    for (const file of files) {
      const note = toast();
      note.progress(`Uploading ${file.name}…`, 0);
      try {
        const { path } = await uploadBeside(file, "", {
          onProgress: (sent, total) => note.progress(`Uploading ${file.name} — ${percent(sent, total)} %`, total ? sent / total : 1),
        });
        note.done(`Saved ${path} in your home folder`);
      } catch (error) {
        note.failed(`Could not upload ${file.name}: ${error.message}`);
      }
    }
  }

  return { upload, uploadBeside, numberedName, acceptDrops, toast, dropIntoHome, percent, UploadError };
})();
