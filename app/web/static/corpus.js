// The corpus page's write actions, which need the key: add one document or a .zip of them,
// delete one. Listing, searching and reading work without scripts.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("corpus-status");

  document.querySelectorAll("button.delete-ref").forEach((button) => {
    const id = button.dataset.id;
    chachong.deleteButton(button, `/v1/references/${encodeURIComponent(id)}`, () => {
      const row = button.closest("tr");
      if (button.dataset.then) location.assign(button.dataset.then);
      else if (row) row.remove();
    });
  });

  const form = document.getElementById("add-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("ref-file").files[0];
    if (!file) {
      chachong.say(status, "请选择文件", true);
      return;
    }
    const body = new FormData();
    body.append("file", file);
    for (const name of ["id", "title", "tags"]) {
      const value = form.elements[name].value.trim();
      if (value) body.append(name, value);
    }
    const archive = file.name.toLowerCase().endsWith(".zip");
    chachong.say(status, "添加中……", false);
    const response = await fetch(archive ? "/v1/references/archive" : "/v1/references",
                                 { method: "POST", body, headers: chachong.authHeaders() });
    if (!response.ok) {
      chachong.say(status, `添加失败：${await chachong.errorMessage(response)}`, true);
      return;
    }
    const answer = await response.json();
    const added = archive ? answer.added : [answer];
    status.textContent = `已添加 ${added.length} 份：`;
    status.classList.remove("error");
    added.forEach((ref, i) => {
      const link = document.createElement("a");
      link.href = `/corpus/${encodeURIComponent(ref.id)}`;
      link.textContent = ref.id;
      if (i) status.append("、");
      status.append(link);
    });
    form.reset();
  });
});
