// A batch on the page: files (or a .zip) are sent at once and checked one after another; the
// server answers line by line (ndjson), so each file's row shows its state and result as soon
// as it is known. The table sorts by any column; the cross-check shows as a matrix and a list.
"use strict";
(() => {
  const form = document.getElementById("batch-form");
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  const chosen = document.getElementById("chosen");
  const status = document.getElementById("batch-status");
  const tbody = document.getElementById("results-body");
  const progress = document.getElementById("batch-progress");
  const count = document.getElementById("progress-count");
  const MATRIX_MAX = 40;
  let files = [];
  let lastBody = null;
  let lastQuery = null;

  function pct(x) { return `${(x * 100).toFixed(1)}%`; }

  function showChosen() {
    chosen.replaceChildren(...files.map((f) => {
      const li = document.createElement("li");
      li.textContent = `${f.name}（${Math.max(1, Math.round(f.size / 1024))} KB）`;
      return li;
    }));
  }

  input.addEventListener("change", () => { files = Array.from(input.files); showChosen(); });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    files = Array.from(e.dataTransfer.files);
    showChosen();
  });

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function row(name, state) {
    const tr = document.createElement("tr");
    tr.append(cell(name), cell("—", "num"), cell("—"), cell("—"),
              cell(state, "state-waiting"));
    return tr;
  }

  function setState(tr, text, kind) {
    const td = tr.cells[4];
    td.textContent = text;
    td.className = `state-${kind}`;
  }

  function fillRow(tr, result) {
    const ratio = tr.cells[1];
    ratio.textContent = pct(result.copy_ratio);
    ratio.dataset.value = String(result.copy_ratio);
    tr.cells[2].textContent = result.verdict === "fail" ? "未通过" : "通过";
    tr.cells[2].className = `verdict-${result.verdict}`;
    const main = result.sources.reduce((a, b) => (!a || b.copied_chars > a.copied_chars ? b : a), null);
    tr.cells[3].textContent = main ? `${main.title}（${main.id}，${pct(main.copy_ratio)}）` : "—";
    setState(tr, "已完成", "done");
  }

  function showPairs(ids, pairs) {
    document.getElementById("cross").hidden = false;
    const body = document.getElementById("pairs-body");
    body.replaceChildren(...pairs.map((p) => {
      const tr = document.createElement("tr");
      tr.append(cell(p.report), cell(p.source), cell(String(p.copied_chars), "num"),
                cell(pct(p.copy_ratio), "num"));
      return tr;
    }));
    document.getElementById("pairs").hidden = pairs.length === 0;
    document.getElementById("no-pairs").hidden = pairs.length > 0;
    const wrap = document.getElementById("matrix-wrap");
    wrap.replaceChildren();
    if (!pairs.length || ids.length > MATRIX_MAX) return;
    wrap.className = "matrix-wrap";
    const share = new Map(pairs.map((p) => [`${p.report}\u0000${p.source}`, p.copy_ratio]));
    const table = document.createElement("table");
    table.id = "matrix";
    table.className = "matrix data";
    table.createCaption().textContent = "行中的报告复制了列中报告的比例";
    const head = table.createTHead().insertRow();
    head.append(document.createElement("td"));
    ids.forEach((id) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = id;
      head.append(th);
    });
    const tb = table.createTBody();
    ids.forEach((a) => {
      const tr = tb.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = a;
      tr.append(th);
      ids.forEach((b) => {
        const value = share.get(`${a}\u0000${b}`);
        const td = cell(a === b ? "—" : value ? pct(value) : "");
        if (a === b) td.className = "self";
        else if (value) {
          td.className = "hot";
          td.style.background = `rgba(198, 40, 40, ${(0.1 + value * 0.4).toFixed(2)})`;
        }
        tr.append(td);
      });
    });
    wrap.append(table);
  }

  function exportLinks(batchId, lang) {
    document.getElementById("exports").hidden = false;
    const links = { xlsx: "export-xlsx", csv: "export-csv", pdf: "export-pdf" };
    const permalink = document.getElementById("batch-permalink");
    for (const [format, id] of Object.entries(links)) {
      const a = document.getElementById(id);
      if (batchId) {
        a.href = `/v1/checks/${batchId}?format=${format}&lang=${encodeURIComponent(lang)}`;
        a.onclick = null;
      } else {
        // nothing kept: the export is made by checking the same files again
        a.href = "#";
        a.onclick = (e) => { e.preventDefault(); exportAgain(format); };
      }
    }
    permalink.hidden = !batchId;
    if (batchId) permalink.href = `/checks/${batchId}`;
  }

  async function exportAgain(format) {
    lastQuery.set("format", format);
    const response = await fetch(`/v1/check/batch?${lastQuery}`,
                                 { method: "POST", body: lastBody, headers: chachong.authHeaders() });
    if (!response.ok) {
      chachong.say(status, `导出失败：${await chachong.errorMessage(response)}`, true);
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `chachong-batch.${format}`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function* lines(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, cut).trim();
        buffer = buffer.slice(cut + 1);
        if (line) yield JSON.parse(line);
      }
    }
    if (buffer.trim()) yield JSON.parse(buffer);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!files.length) {
      chachong.say(status, "请先选择或拖入报告文件", true);
      return;
    }
    const lang = document.getElementById("lang").value;
    const body = new FormData();
    files.forEach((f) => body.append("files", f, f.name));
    chachong.appendOptions(body, chachong.readOptions(form));
    const query = new URLSearchParams({ format: "ndjson", lang,
                                        history: String(chachong.keepChecked(form)) });
    lastBody = body;
    lastQuery = new URLSearchParams(query);
    document.getElementById("results").hidden = false;
    document.getElementById("progress-section").hidden = false;
    document.getElementById("exports").hidden = true;
    document.getElementById("cross").hidden = true;
    tbody.replaceChildren(...files.map((f) => row(f.name, "上传中")));
    progress.value = 0;
    progress.max = files.length;
    count.textContent = "";
    const submit = document.getElementById("batch-submit");
    submit.disabled = true;
    chachong.say(status, "正在上传和读取文件……", false);
    let rows = [];
    let ids = [];
    let checked = 0;
    try {
      const response = await fetch(`/v1/check/batch?${query}`,
                                   { method: "POST", body, headers: chachong.authHeaders() });
      if (!response.ok) throw new Error(await chachong.errorMessage(response));
      for await (const event of lines(response)) {
        if (event.event === "start") {
          ids = event.reports.map((r) => r.id);
          rows = event.reports.map((r) => {
            const tr = row(r.file, "等待检测");
            tr.dataset.report = r.id;
            return tr;
          });
          tbody.replaceChildren(...rows);
          progress.max = rows.length;
          if (rows.length) setState(rows[0], "检测中", "waiting");
          count.textContent = `0 / ${rows.length}`;
          chachong.say(status, `共 ${rows.length} 份报告，检测中……`, false);
        } else if (event.event === "report") {
          fillRow(rows[event.index], event.result);
          checked += 1;
          progress.value = checked;
          count.textContent = `${checked} / ${rows.length}`;
          if (rows[event.index + 1]) setState(rows[event.index + 1], "检测中", "waiting");
        } else if (event.event === "done") {
          rows.forEach((tr) => {
            const check = event.checks[tr.dataset.report];
            if (!check) return;
            const a = document.createElement("a");
            a.href = `/checks/${check}`;
            a.textContent = tr.cells[0].textContent;
            tr.cells[0].replaceChildren(a);
          });
          showPairs(ids, event.pairs);
          exportLinks(event.check, lang);
          chachong.say(status, `检测完成：${rows.length} 份报告`, false);
        } else if (event.event === "error") {
          throw new Error(event.error.message);
        }
      }
    } catch (error) {
      chachong.say(status, `检测失败：${error.message}`, true);
      Array.from(tbody.rows).forEach((tr) => {
        if (tr.cells[4].className !== "state-done") setState(tr, "未检测", "error");
      });
    } finally {
      submit.disabled = false;
    }
  });
})();
