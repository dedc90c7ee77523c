// The upload page (upload.html): each chosen file is checked by the upload app, posted straight to S3 with
// the signed form it returns (a progress bar as it goes), then followed: the upload app says which run
// processes it, Airflow's REST API says how that run is doing (queued, which stage, done or failed), and
// the video's item gives the published page or the reason it failed. Text goes in as text, never markup.
"use strict";

(() => {
  const root = document.querySelector("[data-upload]");
  if (!root) return;
  const api = root.dataset.api;
  const input = root.querySelector("[data-file]");
  const drop = root.querySelector("[data-drop]");
  const list = root.querySelector("[data-list]");
  const POLL_MS = 2000;
  const STAGES = ["probe", "transcode", "transcribe", "detect", "previews", "burn", "package", "publish"];

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function json(url, options = {}) {
    const response = await fetch(url, { credentials: "same-origin", ...options });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof body.detail === "string" ? body.detail : `${response.status} ${response.statusText}`;
      throw Object.assign(new Error(detail), { status: response.status });
    }
    return body;
  }

  function row(file) {
    const li = document.createElement("li");
    li.className = "upload-row";
    const name = document.createElement("strong");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const state = document.createElement("p");
    state.className = "muted";
    state.setAttribute("role", "status");
    li.append(name, bar, state);
    list.append(li);
    return {
      li,
      say(text, kind = "") {
        state.textContent = text;
        li.dataset.state = kind;
      },
      progress(share) { bar.value = Math.round(share * 100); },
      done(href, title) {
        bar.value = 100;
        const a = document.createElement("a");
        a.href = href;
        a.textContent = title || file.name; // the file's own name, never its key (a random folder)
        a.dataset.published = "";
        state.replaceChildren("Published: ", a);
        li.dataset.state = "published";
      },
    };
  }

  // The signed form, then the file last (S3 reads the fields before it), with upload progress.
  function post(form, file, progress) {
    return new Promise((resolve, reject) => {
      const data = new FormData();
      for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
      data.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.url);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) progress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => (xhr.status < 300 ? resolve() : reject(new Error(
        `S3 refused the upload (${xhr.status}): ${xhr.responseXML?.querySelector("Message")?.textContent || xhr.statusText}`))));
      xhr.addEventListener("error", () => reject(new Error("the upload to S3 failed (network or CORS)")));
      xhr.send(data);
    });
  }

  // Where the run is: Airflow's REST API for the run and its tasks, the upload app for the item.
  async function follow(key, ui) {
    const status = `${api}/${key.split("/").map(encodeURIComponent).join("/")}`;
    for (;;) {
      const upload = await json(status);
      const item = upload.item || {};
      if (item.status === "published" && item.page_url) return ui.done(item.page_url, item.title);
      if (item.status === "failed") return ui.say(`Failed in ${item.stage || "a stage"}: ${item.failure_reason || "see the run's logs"}`, "failed");
      if (item.status === "rejected") return ui.say(`Rejected in review: ${item.failure_reason || ""}`, "failed");
      let run = null;
      try {
        run = await json(upload.run_api);
      } catch (error) {
        if (error.status !== 404) throw error;
      }
      if (!run) {
        ui.say("Uploaded; waiting for its run to start", "waiting");
      } else if (run.state === "queued") {
        ui.say(`Queued: run ${run.dag_run_id}`, "queued");
      } else if (run.state === "running") {
        const tasks = (await json(`${upload.run_api}/taskInstances`)).task_instances || [];
        const running = tasks.filter((t) => t.state === "running" || t.state === "awaiting_input")
          .map((t) => (t.state === "awaiting_input" ? `${t.task_id} (waiting for a reviewer)` : t.task_id))
          .sort((a, b) => STAGES.indexOf(a) - STAGES.indexOf(b));
        ui.say(`Processing: ${running.join(", ") || "between stages"}`, "running");
      } else if (run.state === "failed") {
        ui.say(`Failed: ${item.failure_reason || `run ${run.dag_run_id} failed`}`, "failed");
        return;
      } else if (run.state === "success" && item.status !== "published") {
        ui.say("The run ended without publishing: it was already published, or its review rejected it", "failed");
        return;
      }
      await sleep(POLL_MS);
    }
  }

  async function upload(file) {
    const ui = row(file);
    try {
      ui.say("Checking");
      const form = await json(api, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: file.name, size: file.size, type: file.type }),
      });
      ui.li.dataset.key = form.key;
      ui.say("Uploading", "uploading");
      await post(form, file, (share) => ui.progress(share));
      ui.progress(1);
      await follow(form.key, ui);
    } catch (error) {
      ui.say(error.status === 401 ? "Signed out: sign in to Airflow again, then reload this page" : error.message,
        "refused");
    }
  }

  input.addEventListener("change", () => {
    for (const file of input.files) upload(file);
    input.value = "";
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    for (const file of event.dataTransfer.files) upload(file);
  });
})();
