// Checking one report on the page: the report comes back as HTML and is shown in a sandboxed
// frame; a kept check's permalink is shown above it. Without scripts the form posts to the
// server, which answers with the permalink page.
"use strict";
(() => {
  const form = document.getElementById("check-form");
  const status = document.getElementById("status");
  const permalink = document.getElementById("permalink");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("file").files[0];
    const text = document.getElementById("text").value;
    const lang = document.getElementById("lang").value;
    const options = chachong.readOptions(form);
    let request;
    if (file) {
      const body = new FormData();
      body.append("file", file);
      chachong.appendOptions(body, options);
      request = { method: "POST", body, headers: chachong.authHeaders() };
    } else if (text.trim()) {
      request = { method: "POST", body: JSON.stringify(Object.assign({ text }, options)),
                  headers: chachong.authHeaders({ "Content-Type": "application/json" }) };
    } else {
      chachong.say(status, "请先粘贴文本或选择文件", true);
      return;
    }
    chachong.say(status, "检测中……", false);
    permalink.hidden = true;
    const query = new URLSearchParams({ format: "html", lang,
                                        history: String(chachong.keepChecked(form)) });
    try {
      const response = await fetch(`/v1/check?${query}`, request);
      if (!response.ok) throw new Error(await chachong.errorMessage(response));
      const kept = response.headers.get("Content-Location");
      // a blob: document keeps its own #fragment links (srcdoc would resolve them against this page)
      const frame = document.getElementById("report");
      if (frame.dataset.url) URL.revokeObjectURL(frame.dataset.url);
      frame.dataset.url = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
      frame.src = frame.dataset.url;
      if (kept) {
        const id = kept.split("/").pop();
        const link = document.getElementById("permalink-link");
        link.href = `/checks/${id}?lang=${encodeURIComponent(lang)}`;
        link.textContent = new URL(link.href, location.href).href;
        document.getElementById("permalink-pdf").href =
          `/v1/checks/${id}?format=pdf&lang=${encodeURIComponent(lang)}`;
        permalink.hidden = false;
      }
      chachong.say(status, "检测完成", false);
    } catch (error) {
      chachong.say(status, `检测失败：${error.message}`, true);
    }
  });
})();
