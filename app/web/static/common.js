// What every page shares: the API key (kept in this tab only), error messages from the API's
// JSON envelope, sortable tables and local times. No framework, nothing loaded from elsewhere.
"use strict";
const chachong = (() => {
  const KEY = "chachong-api-key";

  function key() {
    try { return sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }

  function authHeaders(extra) {
    const headers = Object.assign({}, extra || {});
    const k = key();
    if (k) headers.Authorization = `Bearer ${k}`;
    return headers;
  }

  async function errorMessage(response) {
    const problem = await response.json().catch(() => ({}));
    const message = problem.error ? problem.error.message : response.statusText;
    if (response.status === 401 || response.status === 403) {
      return `${message}（请在页首“API 密钥”中填写有效的密钥）`;
    }
    return message;
  }

  function say(element, text, isError) {
    if (!element) return;
    element.textContent = text;
    element.classList.toggle("error", Boolean(isError));
  }

  // The options fieldset as the API's fields: {name: value}, lists one entry per line.
  function readOptions(form) {
    const value = (name) => form.querySelector(`[name="${name}"]:not([type="hidden"])`);
    const out = {};
    for (const name of ["threshold", "min_match_chars", "common_share", "formula_share",
                        "formula_min_refs"]) {
      const input = value(name);
      if (input && input.value.trim() !== "") out[name] = Number(input.value);
    }
    for (const name of ["exclude_quotes", "use_stock_phrases", "exclude_own", "count_formulas"]) {
      const input = value(name);
      if (input) out[name] = input.checked;
    }
    for (const name of ["unit", "author"]) {
      const input = value(name);
      if (input && input.value.trim()) out[name] = input.value.trim();
    }
    for (const name of ["exclude_sources", "stock_phrases"]) {
      const input = value(name);
      if (input) out[name] = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
    }
    return out;
  }

  function appendOptions(body, options) {
    for (const [name, v] of Object.entries(options)) {
      if (Array.isArray(v)) v.forEach((item) => body.append(name, item));
      else body.append(name, String(v));
    }
  }

  function keepChecked(form) {
    const keep = form.querySelector("#keep");
    return Boolean(keep && keep.checked && !keep.disabled);
  }

  function sortable(table) {
    const heads = Array.from(table.querySelectorAll("thead th"));
    heads.forEach((th, column) => {
      const button = th.querySelector("button");
      if (!th.dataset.sort || !button) return;
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const cell = (row) => row.cells[column];
        const keyOf = th.dataset.sort === "number"
          ? (row) => Number(cell(row).dataset.value ?? NaN)
          : (row) => cell(row).textContent.trim();
        rows.sort((a, b) => {
          const x = keyOf(a), y = keyOf(b);
          const order = typeof x === "number"
            ? (Number.isNaN(x) ? 1 : Number.isNaN(y) ? -1 : x - y)
            : x.localeCompare(y, "zh-CN");
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      const when = new Date(t.getAttribute("datetime"));
      if (!Number.isNaN(when.getTime())) {
        t.textContent = when.toLocaleString("zh-CN", { hour12: false });
      }
    });
  }

  // a button that deletes on its second press (the first asks), sending the key
  function deleteButton(button, url, done) {
    const status = button.closest("td, p, .actions")?.querySelector(".action-status")
      || document.querySelector(".action-status");
    const label = button.textContent;
    button.addEventListener("click", async () => {
      if (button.dataset.armed !== "1") {
        button.dataset.armed = "1";
        button.textContent = "确认删除";
        say(status, "再按一次即删除，无法恢复。", false);
        return;
      }
      button.disabled = true;
      const response = await fetch(url, { method: "DELETE", headers: authHeaders() });
      if (response.status === 204) {
        say(status, "已删除。", false);
        done();
      } else {
        say(status, `删除失败：${await errorMessage(response)}`, true);
        button.disabled = false;
        button.dataset.armed = "";
        button.textContent = label;
      }
    });
  }

  function keyForm() {
    const form = document.getElementById("key-form");
    if (!form) return;
    const input = document.getElementById("api-key");
    const status = document.getElementById("key-status");
    say(status, key() ? "已保存" : "未填写", false);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      try { sessionStorage.setItem(KEY, input.value.trim()); } catch (e) { /* private mode */ }
      input.value = "";
      say(status, key() ? "已保存" : "未填写", false);
    });
    document.getElementById("key-forget").addEventListener("click", () => {
      try { sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
      say(status, "已清除", false);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    keyForm();
    document.querySelectorAll("table.sortable").forEach(sortable);
    localTimes(document);
  });

  return { authHeaders, errorMessage, say, readOptions, appendOptions, keepChecked, sortable,
           localTimes, deleteButton };
})();
