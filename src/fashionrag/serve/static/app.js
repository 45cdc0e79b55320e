// fashionrag web page: plain JavaScript, no build step, talks only to this server's /v1 API.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) node.append(kid);
  return node;
};

const GARMENT_COLOURS = ["#d9486b", "#2f7de1", "#2f9e6e", "#c27c0e", "#7b4bd6", "#0f9bb3"];
const REGION_NAMES = { upper_body: "Top", lower_body: "Bottom", full_length: "Full length", footwear: "Footwear",
                       product: "Product" };
const SUGGESTIONS = ["navy blue check shirt", "black leather handbag", "red dress", "white running shoes",
                     "blue denim jeans", "brown formal shoes"];

const state = { key: localStorage.getItem("fashionrag.key") || "", health: null, photo: null, editPhoto: null,
                searchPhoto: null };

// ---------------------------------------------------------------------------------------------- API helpers
function headers() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}

async function api(path, options = {}) {
  const resp = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    const detail = body && body.detail ? body.detail : `${resp.status} ${resp.statusText}`;
    const err = new Error(detail);
    err.status = resp.status;
    if (resp.status === 401) showKeyBox();
    if (resp.status === 503 && resp.headers.get("Retry-After")) err.message += ` (busy: retry in ${resp.headers.get("Retry-After")} s)`;
    throw err;
  }
  return body;
}

// Catalog images are served by id; with an API key they must be fetched with the header (an <img> cannot send it).
const blobCache = new Map();
function setImage(img, url) {
  img.decoding = "async";
  img.loading = "lazy";
  if (!state.key) { img.src = url; return; }
  if (blobCache.has(url)) { img.src = blobCache.get(url); return; }
  fetch(url, { headers: headers() }).then(r => (r.ok ? r.blob() : null)).then(b => {
    if (!b) return;
    const u = URL.createObjectURL(b);
    blobCache.set(url, u);
    img.src = u;
  }).catch(() => {});
}

let toastTimer = null;
function toast(message, isError = false) {
  const t = $("#toast");
  t.textContent = message;
  t.classList.toggle("error", isError);
  t.classList.remove("hidden");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.add("hidden"), isError ? 6000 : 2500);
}

function busy(button, on) {
  button.disabled = on;
  button.classList.toggle("busy", on);
}

// ---------------------------------------------------------------------------------------------- status + key
function showKeyBox() { $("#keybox").classList.remove("hidden"); $("#apikey").value = state.key; }

async function loadHealth() {
  const status = $("#status");
  try {
    const h = await api("/v1/health");
    state.health = h;
    status.classList.add("ok");
    $("#status-text").textContent = `${h.count.toLocaleString()} products · ${h.encoder}`;
    status.title = `index ${h.index}, fashionrag ${h.versions.fashionrag}`;
    if (h.auth_required) showKeyBox();
    if (!h.routes.edit) {
      const off = $("#edit-off");
      off.textContent = "Editing is not loaded on this server" + (h.edit_profile ? "" : " (start it with an --edit-profile)") + ".";
      off.classList.remove("hidden");
      $("#edit-btn").disabled = true;
    } else {
      $("#edit-off").classList.add("hidden");
      $("#edit-btn").disabled = false;
    }
    await loadFilters();
  } catch (e) {
    status.classList.add("bad");
    $("#status-text").textContent = "server unreachable";
  }
}

async function loadFilters() {
  let facets;
  try { facets = await api("/v1/filters"); } catch (_) { return; }
  for (const select of document.querySelectorAll("#filters select[data-field]")) {
    const values = facets[select.dataset.field] || [];
    const keep = select.value;
    select.length = 1;
    for (const v of values.slice(0, 80)) select.append(el("option", { value: v, text: v }));
    select.value = keep;
    select.parentElement.classList.toggle("hidden", false);
    if (!values.length) select.classList.add("hidden");
  }
}

$("#keybox").addEventListener("submit", ev => {
  ev.preventDefault();
  state.key = $("#apikey").value.trim();
  localStorage.setItem("fashionrag.key", state.key);
  blobCache.clear();
  toast(state.key ? "API key saved in this browser" : "API key cleared");
  loadHealth();
});

// ---------------------------------------------------------------------------------------------- tabs
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => selectTab(tab.id.replace("tab-", "")));
}
function selectTab(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.id === `tab-${name}`;
    tab.classList.toggle("active", on);
    tab.setAttribute("aria-selected", on ? "true" : "false");
    $(`#${tab.dataset.panel}`).classList.toggle("hidden", !on);
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
}

// ---------------------------------------------------------------------------------------------- search
function productCard(hit) {
  const p = hit.product;
  const img = el("img", { alt: p.title || p.id });
  setImage(img, `${p.image_url}?w=320`);
  const sub = [p.article_type, p.colour, p.gender].filter(Boolean).join(" · ");
  const pct = Math.max(0, Math.min(100, Math.round((hit.score + 1) * 50)));
  const bar = el("span", { class: "bar" }, el("i"));
  bar.firstChild.style.width = `${pct}%`;
  return el("article", { class: "pcard", "data-id": hit.id, tabindex: "0", onclick: () => openProduct(hit.id),
                         onkeydown: ev => { if (ev.key === "Enter") openProduct(hit.id); } },
    el("div", { class: "thumb" }, img),
    el("div", { class: "body" },
      el("div", { class: "title", text: p.title || p.id }),
      el("div", { class: "sub", text: sub }),
      el("div", { class: "score" }, bar, el("span", { text: hit.score.toFixed(3) }))));
}

function skeletons(n) {
  const grid = $("#results");
  grid.replaceChildren();
  for (let i = 0; i < n; i++) {
    grid.append(el("article", { class: "pcard loading" }, el("div", { class: "thumb skeleton" }),
      el("div", { class: "body" }, el("div", { class: "title skeleton", text: "\u00a0" }), el("div", { class: "sub", text: "\u00a0" }))));
  }
}

async function runSearch() {
  const text = $("#q").value.trim();
  if (!text && !state.searchPhoto) { $("#q").focus(); toast("Type what you are looking for, or add a photo"); return; }
  const btn = $("#search-btn");
  busy(btn, true);
  $("#search-empty").classList.add("hidden");
  const k = $("#k").value;
  skeletons(Math.min(12, Number(k)));
  const filters = [];
  for (const s of document.querySelectorAll("#filters select[data-field]")) {
    s.classList.toggle("set", !!s.value);
    if (s.value) filters.push(`${s.dataset.field}=${s.value}`);
  }
  try {
    let res;
    if (state.searchPhoto) {
      const form = new FormData();
      if (text) form.append("text", text);
      form.append("k", k);
      for (const f of filters) form.append("filter", f);
      form.append("image", state.searchPhoto);
      res = await api("/v1/search", { method: "POST", body: form });
    } else {
      res = await api("/v1/search", { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify({ text, k: Number(k), filters }) });
    }
    const grid = $("#results");
    grid.replaceChildren(...res.hits.map(productCard));
    const what = [text ? `“${text}”` : "", state.searchPhoto ? "your photo" : ""].filter(Boolean).join(" + ");
    $("#search-meta").textContent = res.hits.length
      ? `${res.hits.length} results for ${what}${filters.length ? " · " + filters.join(", ") : ""} · ${(res.seconds * 1000).toFixed(0)} ms`
      : `No products match ${what} with these filters.`;
  } catch (e) {
    $("#results").replaceChildren();
    $("#search-meta").textContent = "";
    toast(e.message, true);
  } finally {
    busy(btn, false);
  }
}

$("#search-form").addEventListener("submit", ev => { ev.preventDefault(); runSearch(); });
for (const s of document.querySelectorAll("#filters select")) {
  s.addEventListener("change", () => { if ($("#q").value.trim() || state.searchPhoto) runSearch(); else s.classList.toggle("set", !!s.value); });
}
$("#imgq").addEventListener("change", ev => {
  const f = ev.target.files[0];
  if (!f) return;
  state.searchPhoto = f;
  $("#imgq-name").textContent = f.name;
  $("#imgq-label").classList.add("on");
  $("#imgq-clear").classList.remove("hidden");
  runSearch();
});
$("#imgq-clear").addEventListener("click", () => {
  state.searchPhoto = null;
  $("#imgq").value = "";
  $("#imgq-name").textContent = "Photo";
  $("#imgq-label").classList.remove("on");
  $("#imgq-clear").classList.add("hidden");
});
for (const s of SUGGESTIONS) {
  $("#suggest").append(el("button", { type: "button", text: s, onclick: () => { $("#q").value = s; runSearch(); } }));
}

// ---------------------------------------------------------------------------------------------- caption
function decodeMask(rle) {
  const [h, w] = rle.size;
  const out = new Uint8Array(h * w);
  let pos = 0, on = false;
  for (const run of rle.counts) {
    if (on) out.fill(1, pos, pos + run);
    pos += run;
    on = !on;
  }
  return { h, w, data: out };
}

// Outline = mask pixels with a neighbour outside, drawn at display resolution so the line stays visible.
function drawOutlines(garments, imgW, imgH) {
  const canvas = $("#outline");
  const scale = Math.min(1, 900 / Math.max(imgW, imgH));
  const W = Math.max(1, Math.round(imgW * scale)), H = Math.max(1, Math.round(imgH * scale));
  canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, W, H);
  garments.forEach((g, i) => {
    const colour = GARMENT_COLOURS[i % GARMENT_COLOURS.length];
    const [r, gg, b] = [1, 3, 5].map(o => parseInt(colour.slice(o, o + 2), 16));
    if (!g.mask) {
      if (g.box) { ctx.strokeStyle = colour; ctx.lineWidth = 3; ctx.strokeRect(g.box[0] * scale, g.box[1] * scale, (g.box[2] - g.box[0]) * scale, (g.box[3] - g.box[1]) * scale); }
      return;
    }
    const m = decodeMask(g.mask);
    const small = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) {
      const sy = Math.min(m.h - 1, Math.floor(y / scale));
      for (let x = 0; x < W; x++) small[y * W + x] = m.data[sy * m.w + Math.min(m.w - 1, Math.floor(x / scale))];
    }
    const img = ctx.getImageData(0, 0, W, H);
    const px = img.data;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const idx = y * W + x;
        if (!small[idx]) continue;
        let edge = false;
        for (let d = 1; d <= 2 && !edge; d++) {
          edge = x < d || y < d || x >= W - d || y >= H - d || !small[idx - d] || !small[idx + d] || !small[idx - d * W] || !small[idx + d * W];
        }
        const o = idx * 4;
        if (edge) { px[o] = r; px[o + 1] = gg; px[o + 2] = b; px[o + 3] = 255; }
        else if (px[o + 3] < 40) { px[o] = r; px[o + 1] = gg; px[o + 2] = b; px[o + 3] = 38; }
      }
    }
    ctx.putImageData(img, 0, 0);
  });
}

function pct(x) { return `${Math.round(x * 100)}%`; }

function garmentCard(g, i) {
  const colour = GARMENT_COLOURS[i % GARMENT_COLOURS.length];
  const e = g.evidence;
  const name = e.article_type || REGION_NAMES[e.region] || e.region;
  const swatches = el("div", { class: "swatches" });
  for (const c of e.colours) {
    const chip = el("i", { title: c.hex });
    chip.style.background = c.hex;
    swatches.append(el("span", { class: "swatch" }, chip, el("span", { text: `${c.name} ${pct(c.share)}` })));
  }
  const facts = el("div", { class: "facts" });
  const fact = (label, value, conf) => {
    if (!value) return;
    facts.append(el("span", { class: "fact" }, `${label} `, el("b", { text: value }), conf ? ` ${pct(conf)}` : ""));
  };
  fact("type", e.article_type, e.article_confidence);
  fact("gender", e.gender, e.gender_confidence);
  fact("fabric", e.fabric, e.fabric_confidence);
  fact("usage", e.usage, e.usage_confidence);
  fact("season", e.season, e.season_confidence);
  if (!facts.children.length) facts.append(el("span", { class: "fact", text: "no attribute passed its vote threshold" }));
  const strip = el("div", { class: "strip" });
  for (const s of g.similar) {
    const img = el("img", { alt: s.product.title || s.id });
    setImage(img, `${s.product.image_url}?w=240`);
    strip.append(el("div", { class: "mini", "data-id": s.id, title: `${s.product.title} (${s.score.toFixed(3)})`,
                             onclick: () => openProduct(s.id) }, img, el("span", { text: s.product.title || s.id })));
  }
  const card = el("div", { class: "garment" },
    el("div", { class: "ghead" }, el("h4", { text: name }),
      el("span", { class: "region", text: (REGION_NAMES[e.region] || e.region) + (g.is_subject ? " · subject" : "") }), swatches),
    facts,
    g.similar.length ? el("div", { class: "strip-title", text: "Similar in the catalog" }) : null,
    g.similar.length ? strip : null);
  card.style.setProperty("--gcol", colour);
  return card;
}

async function runCaption() {
  if (!state.photo) return;
  const btn = $("#recaption");
  busy(btn, true);
  $("#caption-placeholder").classList.add("hidden");
  $("#caption-result").classList.remove("hidden");
  $("#caption-text").textContent = "Reading the photo…";
  $("#hashtags").replaceChildren();
  $("#garments").replaceChildren();
  const form = new FormData();
  form.append("image", state.photo);
  form.append("style", $("#style").value);
  if ($("#ntags").value) form.append("hashtags", $("#ntags").value);
  form.append("similar", "8");
  try {
    const res = await api("/v1/caption", { method: "POST", body: form });
    $("#caption-text").textContent = res.caption || "No garment found in this photo: nothing to caption.";
    $("#cap-writer").textContent = `${res.used_writer} · ${(res.seconds * 1000).toFixed(0)} ms`;
    $("#hashtags").replaceChildren(...res.hashtags.map(t => el("span", { class: "tag", text: t })));
    $("#copy-tags").disabled = !res.hashtags.length;
    const note = $("#cap-note");
    note.textContent = res.fallback_reason ? `Note: ${res.fallback_reason}` : "";
    note.classList.toggle("hidden", !res.fallback_reason);
    $("#garments").replaceChildren(...res.garments.map(garmentCard));
    drawOutlines(res.garments, res.image_size[0], res.image_size[1]);
  } catch (e) {
    $("#caption-text").textContent = "";
    toast(e.message, true);
  } finally {
    busy(btn, false);
  }
}

function takePhoto(file) {
  if (!file) return;
  if (!file.type.startsWith("image/") && file.type) { toast("That file is not an image", true); return; }
  state.photo = file;
  const img = $("#photo-img");
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.dataset.url = URL.createObjectURL(file);
  img.src = img.dataset.url;
  $("#outline").getContext("2d").clearRect(0, 0, $("#outline").width, $("#outline").height);
  $("#drop-inner").classList.add("hidden");
  $("#stage").classList.remove("hidden");
  $("#drop").classList.add("has");
  $("#recaption").disabled = false;
  runCaption();
}

const drop = $("#drop");
$("#photo").addEventListener("change", ev => takePhoto(ev.target.files[0]));
drop.addEventListener("click", ev => { if (drop.classList.contains("has")) ev.preventDefault(); });
for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, ev => { ev.preventDefault(); drop.classList.add("over"); });
for (const name of ["dragleave", "drop"]) drop.addEventListener(name, ev => { ev.preventDefault(); drop.classList.remove("over"); });
drop.addEventListener("drop", ev => takePhoto(ev.dataTransfer.files[0]));
$("#recaption").addEventListener("click", runCaption);
$("#style").addEventListener("change", () => { if (state.photo) runCaption(); });
$("#ntags").addEventListener("change", () => { if (state.photo) runCaption(); });
for (const s of ["instagram", "product", "minimal"]) $("#style").append(el("option", { value: s, text: s }));

$("#copy-tags").addEventListener("click", async () => {
  const text = [...document.querySelectorAll("#hashtags .tag")].map(t => t.textContent).join(" ");
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const area = el("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  $("#copy-tags").textContent = "Copied";
  setTimeout(() => { $("#copy-tags").textContent = "Copy"; }, 1500);
  toast("Hashtags copied");
});

// ---------------------------------------------------------------------------------------------- edit
$("#edit-photo").addEventListener("change", ev => {
  const f = ev.target.files[0];
  if (!f) return;
  state.editPhoto = f;
  $("#edit-photo-name").textContent = f.name;
  const before = $("#before");
  before.src = URL.createObjectURL(f);
  $("#after").removeAttribute("src");
  $("#beforeafter").classList.remove("hidden");
});

$("#edit-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  if (!state.editPhoto) { toast("Choose a person photo first"); return; }
  const text = $("#edit-text").value.trim();
  if (!text) { $("#edit-text").focus(); toast("Say what the garment should become"); return; }
  const btn = $("#edit-btn");
  busy(btn, true);
  const form = new FormData();
  form.append("image", state.editPhoto);
  form.append("text", text);
  form.append("category", $("#edit-category").value);
  form.append("k", $("#edit-k").value);
  try {
    const res = await api("/v1/edit", { method: "POST", body: form });
    $("#after").src = res.image_data;
    $("#beforeafter").classList.remove("hidden");
    $("#edit-meta").textContent = [`profile ${res.profile || "?"}`, res.mode ? `mode ${res.mode}` : "", `mask ${res.mask_source}`,
      `${res.seconds.toFixed(1)} s`, ...(res.notes || [])].filter(Boolean).join(" · ");
    $("#edit-garments-title").classList.toggle("hidden", !res.retrieved.length);
    const strip = $("#edit-garments");
    strip.replaceChildren(...res.retrieved.map((g, i) => {
      const img = el("img", { alt: g.title || g.id });
      if (res.retrieved_urls[i]) setImage(img, `${res.retrieved_urls[i]}?w=240`);
      return el("div", { class: "mini" }, img, el("span", { text: g.title || g.id }));
    }));
  } catch (e) {
    toast(e.message, true);
  } finally {
    busy(btn, false);
  }
});

// ---------------------------------------------------------------------------------------------- product detail
let modalProduct = null;
async function openProduct(id) {
  let p;
  try { p = await api(`/v1/products/${encodeURIComponent(id)}`); } catch (e) { toast(e.message, true); return; }
  modalProduct = p;
  $("#modal-title").textContent = p.title || p.id;
  const img = $("#modal-img");
  img.removeAttribute("src");
  img.alt = p.title || p.id;
  setImage(img, `${p.image_url}?w=640`);
  const facts = $("#modal-facts");
  facts.replaceChildren();
  for (const [label, value] of [["Type", p.article_type], ["Category", p.subcategory], ["Colour", p.colour],
                                ["Gender", p.gender], ["Usage", p.usage], ["Season", p.season], ["Fabric", p.fabric],
                                ["Id", p.id]]) {
    if (value) facts.append(el("dt", { text: label }), el("dd", { text: value }));
  }
  $("#modal-json").href = `/v1/products/${encodeURIComponent(p.id)}`;
  $("#modal-json").classList.toggle("hidden", !!state.key);  // a plain link cannot send the key
  $("#modal").classList.remove("hidden");
  $("#modal-like").focus();
}
function closeModal() { $("#modal").classList.add("hidden"); }
$("#modal-close").addEventListener("click", closeModal);
$("#modal").addEventListener("click", ev => { if (ev.target.id === "modal") closeModal(); });
document.addEventListener("keydown", ev => { if (ev.key === "Escape") closeModal(); });
$("#modal-like").addEventListener("click", async () => {
  if (!modalProduct) return;
  const btn = $("#modal-like");
  busy(btn, true);
  try {
    // the product's own photo becomes the query image: the catalog's nearest neighbours of it
    const resp = await fetch(modalProduct.image_url, { headers: headers() });
    if (!resp.ok) throw new Error(`could not load the product photo (${resp.status})`);
    const blob = await resp.blob();
    state.searchPhoto = new File([blob], `${modalProduct.id}.jpg`, { type: blob.type || "image/jpeg" });
    $("#imgq-name").textContent = modalProduct.title || modalProduct.id;
    $("#imgq-label").classList.add("on");
    $("#imgq-clear").classList.remove("hidden");
    $("#q").value = "";
    closeModal();
    selectTab("search");
    await runSearch();
  } catch (e) {
    toast(e.message, true);
  } finally {
    busy(btn, false);
  }
});

// ---------------------------------------------------------------------------------------------- start
selectTab(["search", "caption", "edit"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "search");
loadHealth();
