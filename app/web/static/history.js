// Deleting kept checks (with the key), from the list or from a check's own page.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button.delete-check").forEach((button) => {
    const id = button.dataset.id;
    chachong.deleteButton(button, `/v1/checks/${encodeURIComponent(id)}`, () => {
      const row = button.closest("tr");
      if (row) row.remove();
      else location.assign("/checks");
    });
  });
});
