/* cpoms-kit site viewer: unlocks a bundle with a password and shows its pages from memory.
 *
 * Mirrors cpoms_kit/site/crypto.py exactly (slot header AD, file AD, padding, normalisation).
 * Security rules this file keeps:
 *  - keys and plaintext live only in JS memory: nothing in localStorage, sessionStorage, cookies,
 *    the URL, or document.title (browser history stores titles on disk);
 *  - ciphertext arrives by <script src> (file:// forbids fetch/XHR), no network APIs are used, and
 *    the page CSP sets connect-src 'none';
 *  - pages are shown in a sandboxed iframe WITHOUT allow-scripts: nothing inside a record can run;
 *    links are followed by this viewer, which decrypts the target from memory;
 *  - a data file is opened only if its seal (SHA-256 of its sealed manifest) is the one recorded by
 *    whoever points at it: the shell (data-seal) or the grant. Every blob's AD names the build that
 *    wrote the file, so an older copy of a file, or one re-made by a case password holder, shows an
 *    integrity error, never content (see cpoms_kit/site/package.py);
 *  - every bundle is confined to its path prefix: a path goes to the longest prefix among the
 *    bundle the password opened and its grants, a manifest listing a path outside its bundle's
 *    prefix is refused, and grants are read only from the bundle the password opened;
 *  - Lock, the idle lock and leaving the page (pagehide) forget every key and all plaintext.
 */
(() => {
  "use strict";
  const html = document.documentElement;
  const OWN_ID = html.dataset.bundle || "";
  const OWN_SEAL = html.dataset.seal || "";
  const SEAL = /^[0-9a-f]{64}$/, BUILD = /^[0-9a-f]{20}$/;
  const hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
  const IDLE_MS = Math.max(0.05, parseFloat(html.dataset.idleMinutes || "15")) * 60000;
  // The site root as an absolute URL: pages are given <base href> under it so theme assets load.
  const ROOT_URL = new URL(html.dataset.root || "./", document.baseURI).href;
  const subtle = window.crypto && window.crypto.subtle;
  const enc = new TextEncoder();
  const utf8 = new TextDecoder("utf-8", { fatal: true });

  class IntegrityError extends Error {}

  // ---- data files: ciphertext registers itself here (never any key) ----------------------------
  const registry = new Map();
  const waiting = new Map();
  window.cpomsBundle = (data) => {
    if (!data || typeof data.id !== "string" || registry.has(data.id)) return; // the first one stays; its seal decides
    registry.set(data.id, data);
    (waiting.get(data.id) || []).forEach((resolve) => resolve(data));
    waiting.delete(data.id);
  };

  function loadData(id, src) {
    if (registry.has(id)) return Promise.resolve(registry.get(id));
    return new Promise((resolve, reject) => {
      if (!waiting.has(id)) waiting.set(id, []);
      waiting.get(id).push(resolve);
      const s = document.createElement("script");
      s.src = new URL(src, ROOT_URL).href;
      s.onerror = () => reject(new IntegrityError("a data file of this site is missing"));
      s.onload = () => { if (!registry.has(id)) reject(new IntegrityError("a data file of this site is not what was expected")); };
      document.head.appendChild(s);
    });
  }

  // ---- crypto (format: see cpoms_kit/site/crypto.py) -----------------------------------------
  function b64d(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function normalize(password) {
    return password
      .normalize("NFKC")
      .replace(/[\s-]/g, "")
      .replace(/[A-Z]/g, (c) => c.toLowerCase())
      .replace(/[il]/g, "1")
      .replace(/o/g, "0");
  }

  function slotAD(slot) {
    return enc.encode([`cpoms-slot/${slot.v}`, slot.kdf, slot.hash, String(slot.iterations), slot.salt, slot.norm].join("\n"));
  }

  async function unwrap(slot, password) {
    if (slot.v !== 1 || slot.kdf !== "PBKDF2-HMAC-SHA256" || slot.hash !== "SHA-256" || slot.norm !== "cpoms-1") return null;
    const base = await subtle.importKey("raw", enc.encode(normalize(password)), "PBKDF2", false, ["deriveKey"]);
    const kek = await subtle.deriveKey(
      { name: "PBKDF2", hash: "SHA-256", salt: b64d(slot.salt), iterations: slot.iterations },
      base, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
    try {
      const raw = await subtle.decrypt({ name: "AES-GCM", iv: b64d(slot.nonce), additionalData: slotAD(slot) }, kek, b64d(slot.wrapped));
      return new Uint8Array(raw);
    } catch (e) {
      return null; // wrong password (or a damaged slot: indistinguishable, by design of AEAD)
    }
  }

  async function importKey(raw) {
    const key = await subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["decrypt"]);
    raw.fill(0); // the CryptoKey is non-extractable; do not keep the bytes around
    return key;
  }

  // With a build: the AD of every site file. Without: version 1 (the fixed test vector only).
  function fileAD(bundleId, path, build) {
    if (build === undefined) return enc.encode(`cpoms-site/1\u0000${bundleId}\u0000${path}`);
    return enc.encode(`cpoms-site/2\u0000${bundleId}\u0000${build}\u0000${path}`);
  }

  async function decryptBlob(key, bundleId, path, blobB64, build) {
    let blob;
    try { blob = b64d(blobB64); } catch (e) { throw new IntegrityError(`damaged file (${path})`); }
    if (blob.length < 29 || blob[0] !== 1) throw new IntegrityError(`damaged file (${path})`);
    let padded;
    try {
      padded = new Uint8Array(await subtle.decrypt(
        { name: "AES-GCM", iv: blob.subarray(1, 13), additionalData: fileAD(bundleId, path, build) }, key, blob.subarray(13)));
    } catch (e) {
      throw new IntegrityError(`integrity check failed (${path})`);
    }
    let end = padded.length;
    while (end > 0 && padded[end - 1] === 0) end--;
    if (end === 0 || padded[end - 1] !== 0x80) throw new IntegrityError(`bad padding (${path})`);
    return padded.subarray(0, end - 1);
  }

  // The seal of a data file: SHA-256 (hex) of its sealed manifest blob, as cpoms_kit.site.crypto.seal_of.
  async function sealOf(data) {
    let sealed;
    try { sealed = b64d(data.manifest); } catch (e) { throw new IntegrityError("damaged data file"); }
    const digest = new Uint8Array(await subtle.digest("SHA-256", sealed));
    return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function checkSeal(data, seal) {
    if (!data || data.v !== 2 || typeof data.manifest !== "string" || !Array.isArray(data.files)) {
      throw new IntegrityError("a data file of this site is not in this viewer's format");
    }
    if (!SEAL.test(seal) || (await sealOf(data)) !== seal) {
      throw new IntegrityError("a data file of this site is not the one it was built with (an older or altered copy)");
    }
  }

  // Exposed for the fixed test vector; holds no keys or state.
  window.cpomsCrypto = Object.freeze({ normalize, unwrap, importKey, decryptBlob });

  // ---- state: everything here is dropped by lock() ---------------------------------------------
  // {own, bundles: Map(id -> {id, key, build, prefix, data, manifest}), grants: [], history: [], current, blobs: Map, index}
  let state = null;
  let lastActivity = Date.now();
  let idleTimer = null;

  const $ = (id) => document.getElementById(id);
  const gate = $("cpoms-gate"), form = $("cpoms-form"), pw = $("cpoms-password"), msg = $("cpoms-message");
  const bar = $("cpoms-bar"), view = $("cpoms-view"), titleEl = $("cpoms-page-title");
  const search = $("cpoms-search"), results = $("cpoms-results"), back = $("cpoms-back");

  function say(text, kind) {
    msg.textContent = text;
    msg.className = "cpoms-message" + (kind ? " cpoms-" + kind : "");
  }

  // Opens a data file whose seal was checked. `expect` is what pointed at it: a grant ({build,
  // prefix, ...}) or, for the bundle the password opened, nothing (its build and prefix are its own).
  async function openBundle(session, id, key, data, expect) {
    const build = expect ? expect.build : data.build;
    if (!BUILD.test(build || "")) throw new IntegrityError("a data file of this site names no build");
    let manifest;
    try {
      manifest = JSON.parse(utf8.decode(await decryptBlob(key, id, "/manifest", data.manifest, build)));
    } catch (e) {
      if (e instanceof IntegrityError) throw e;
      throw new IntegrityError("a manifest of this site does not read");
    }
    const prefix = manifest && manifest.prefix;
    if (!manifest || manifest.v !== 2 || manifest.build !== build || typeof prefix !== "string" ||
        (expect && prefix !== expect.prefix) || typeof manifest.files !== "object" || manifest.files === null ||
        typeof manifest.entry !== "string") {
      throw new IntegrityError("a manifest of this site is not the one expected");
    }
    // Confinement: a bundle speaks only for its own part of the site.
    const paths = Object.keys(manifest.files);
    if (!manifest.entry.startsWith(prefix) || paths.some((p) => !p.startsWith(prefix))) {
      throw new IntegrityError("a data file lists a page outside its own part of the site");
    }
    const bundle = { id, key, build, prefix, data, manifest };
    session.bundles.set(id, bundle);
    if (!expect) await acceptGrants(session, bundle);
    return bundle;
  }

  // Grants come only from the bundle the password opened, each for a prefix strictly inside its own.
  async function acceptGrants(session, own) {
    const seen = new Set([own.id]), prefixes = new Set();
    for (const g of own.manifest.grants || []) {
      if (!g || typeof g.id !== "string" || seen.has(g.id) || typeof g.data !== "string" || !BUILD.test(g.build || "") ||
          !SEAL.test(g.seal || "") || typeof g.prefix !== "string" || !g.prefix.endsWith("/") ||
          !g.prefix.startsWith(own.prefix) || g.prefix === own.prefix || prefixes.has(g.prefix)) {
        throw new IntegrityError("a grant of this site reaches outside its own part of the site");
      }
      seen.add(g.id);
      prefixes.add(g.prefix);
      session.grants.push({ id: g.id, build: g.build, seal: g.seal, data: g.data, prefix: g.prefix, entry: g.entry,
                            key: await importKey(b64d(g.key)), opening: null });
    }
  }

  function openGrant(session, g) {
    if (!g.opening) {
      g.opening = (async () => {
        const data = await loadData(g.id, g.data);
        await checkSeal(data, g.seal);
        return openBundle(session, g.id, g.key, data, g);
      })();
    }
    return g.opening;
  }

  async function unlock(password) {
    const own = registry.get(OWN_ID);
    if (!subtle) throw new IntegrityError("this browser has no Web Crypto here; open the site from a file:// or https:// address");
    if (!own) throw new IntegrityError("the data file of this site is missing");
    await checkSeal(own, OWN_SEAL); // an older or altered copy of this page's data file opens nothing
    for (const slot of own.slots) {
      const raw = await unwrap(slot, password);
      if (!raw) continue;
      const session = { own: null, bundles: new Map(), grants: [], history: [], current: null, blobs: new Map(), index: null };
      state = session;
      session.own = await openBundle(session, OWN_ID, await importKey(raw), own, null);
      return session.own;
    }
    return null;
  }

  // ---- routing ---------------------------------------------------------------------------------
  // The bundle owning a path: the longest prefix among the opened bundle and its grants, never
  // whichever manifest happens to list it.
  async function bundleFor(path) {
    const session = state;
    let best = path.startsWith(session.own.prefix) ? session.own : null;
    for (const g of session.grants) {
      if (path.startsWith(g.prefix) && (!best || g.prefix.length > best.prefix.length)) best = g;
    }
    if (!best) return null;
    const b = best === session.own ? best : await openGrant(session, best);
    return hasOwn(b.manifest.files, path) ? b : null;
  }

  async function readFile(path) {
    const b = await bundleFor(path);
    if (!b) return null;
    const [index, mime] = b.manifest.files[path];
    const bytes = await decryptBlob(b.key, b.id, path, b.data.files[index], b.build);
    return { bytes, mime, bundle: b };
  }

  async function blobUrl(path) {
    if (state.blobs.has(path)) return state.blobs.get(path);
    const f = await readFile(path);
    if (!f) return null;
    const url = URL.createObjectURL(new Blob([f.bytes], { type: f.mime }));
    state.blobs.set(path, url);
    return url;
  }

  // A URL inside the site root -> its rendered path ("dir/page.html"), else null.
  function sitePath(url) {
    if (!url.href.startsWith(ROOT_URL)) return null;
    let p = decodeURIComponent(url.pathname.slice(new URL(ROOT_URL).pathname.length));
    if (p === "" || p.endsWith("/")) p += "index.html";
    return p;
  }

  const dirOf = (path) => path.slice(0, path.lastIndexOf("/") + 1);

  // ---- rendering -------------------------------------------------------------------------------
  // Images are blob: URLs decrypted from memory (or data:): no page reads an image file from disk.
  const PAGE_CSP = "default-src 'none'; style-src 'self' file: 'unsafe-inline'; img-src data: blob:; " +
    "font-src 'self' file: data:; connect-src 'none'; script-src 'none'; form-action 'none'; object-src 'none'";

  async function rewriteResources(doc, base) {
    const jobs = [];
    const attrs = [["img", "src"], ["source", "src"], ["link", "href"], ["image", "href"], ["use", "href"], ["image", "xlink:href"], ["video", "src"], ["audio", "src"]];
    for (const [tag, attr] of attrs) {
      for (const el of Array.from(doc.getElementsByTagName(tag))) { // a copy: elements are removed on the way
        const value = el.getAttribute(attr);
        if (!value || value.startsWith("data:") || value.startsWith("#")) continue;
        // Only stylesheets: a frame shows no favicon, and img-src has no file: to load one from.
        if (tag === "link" && !/stylesheet/i.test(el.getAttribute("rel") || "")) { el.remove(); continue; }
        let url;
        try { url = new URL(value, base); } catch (e) { el.removeAttribute(attr); continue; }
        const path = sitePath(url);
        if (path === null) { el.removeAttribute(attr); continue; } // nothing outside the site, ever
        jobs.push(blobUrl(path).then((blob) => { if (blob) el.setAttribute(attr, blob + url.hash); }));
      }
    }
    for (const el of doc.querySelectorAll("[srcset]")) el.removeAttribute("srcset");
    await Promise.all(jobs);
  }

  async function show(path, hash, pushHistory) {
    const f = await readFile(path);
    if (!f) {
      say("That page is not part of what this password opens.", "error");
      flash("That page is not part of what this password opens.");
      return;
    }
    let doc;
    if (/html/.test(f.mime)) {
      doc = new DOMParser().parseFromString(utf8.decode(f.bytes), "text/html");
    } else {
      // A direct link to an asset (e.g. an SVG chart): show it as an image, never as a document.
      doc = document.implementation.createHTMLDocument("");
      const img = doc.createElement("img");
      img.setAttribute("src", path.split("/").pop());
      img.setAttribute("alt", "");
      doc.body.appendChild(img);
    }
    const base = new URL(dirOf(path), ROOT_URL).href;
    for (const el of doc.querySelectorAll("script, base, meta[http-equiv], iframe, frame, object, embed")) el.remove();
    const head = doc.head;
    const csp = doc.createElement("meta");
    csp.setAttribute("http-equiv", "Content-Security-Policy");
    csp.setAttribute("content", PAGE_CSP);
    const baseEl = doc.createElement("base");
    baseEl.setAttribute("href", base);
    head.prepend(csp, baseEl);
    await rewriteResources(doc, base);
    const pageTitle = (doc.querySelector("title") || {}).textContent || "";
    if (!state) return; // locked while decrypting

    if (pushHistory && state.current) state.history.push(state.current);
    state.current = { path, hash: "" };
    back.disabled = state.history.length === 0;
    titleEl.textContent = pageTitle; // never document.title: browser history writes titles to disk

    const frame = document.createElement("iframe");
    frame.id = "cpoms-frame";
    frame.className = "cpoms-frame";
    // No allow-scripts: nothing inside a record can run code. allow-modals only lets Print work.
    frame.setAttribute("sandbox", "allow-same-origin allow-modals");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.setAttribute("title", "Record");
    frame.addEventListener("load", () => wireFrame(frame, base, hash));
    frame.srcdoc = "<!doctype html>\n" + doc.documentElement.outerHTML;
    view.replaceChildren(frame);
  }

  function wireFrame(frame, base, hash) {
    const fdoc = frame.contentDocument;
    if (!fdoc || !state) return;
    for (const ev of ["mousemove", "mousedown", "keydown", "wheel", "touchstart", "scroll"]) fdoc.addEventListener(ev, bump, { passive: true, capture: true });
    fdoc.addEventListener("click", (ev) => onFrameClick(ev, base, fdoc), true);
    if (hash) scrollToHash(fdoc, hash);
  }

  function scrollToHash(fdoc, hash) {
    const id = decodeURIComponent(hash.replace(/^#/, ""));
    const target = id && (fdoc.getElementById(id) || fdoc.getElementsByName(id)[0]);
    if (target) target.scrollIntoView();
  }

  function onFrameClick(ev, base, fdoc) {
    const a = ev.target.closest && ev.target.closest("a[href]");
    if (!a) return;
    ev.preventDefault(); // every navigation goes through the viewer
    const href = a.getAttribute("href");
    if (href.startsWith("#")) { scrollToHash(fdoc, href); return; }
    let url;
    try { url = new URL(href, base); } catch (e) { return; }
    const path = sitePath(url);
    if (path === null) { flash("Links leaving these records are disabled (offline site)."); return; }
    if (a.hasAttribute("download")) { guarded(() => download(path, a.getAttribute("download"))); return; }
    if (a.hasAttribute("data-cpoms-view")) { guarded(() => viewFile(path, a.getAttribute("data-cpoms-view"))); return; }
    guarded(() => show(path, url.hash, true));
  }

  // An attached PDF, in the browser's own viewer in place of the page (Back returns to it): from a
  // Blob URL in memory, which Lock revokes as it removes the frame.
  async function viewFile(path, name) {
    const url = await blobUrl(path);
    if (!url || !state) { flash("That file is not part of what this password opens."); return; }
    if (state.current) state.history.push(state.current); // Back shows the page the file was opened from
    back.disabled = state.history.length === 0;
    titleEl.textContent = name;
    const frame = document.createElement("iframe");
    frame.id = "cpoms-frame";
    frame.className = "cpoms-frame";
    frame.setAttribute("title", name);
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.src = url;
    view.replaceChildren(frame);
  }

  // An attached file, saved from memory: its Blob URL is one of state.blobs, which Lock revokes.
  async function download(path, name) {
    const url = await blobUrl(path);
    if (!url) { flash("That file is not part of what this password opens."); return; }
    const a = document.createElement("a");
    a.href = url;
    a.download = name || path.split("/").pop();
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function flash(text) {
    titleEl.textContent = text;
  }

  // ---- search: an index built in memory after unlock, dropped on lock ----------------------------
  async function buildIndex() {
    const index = [];
    // Team holders search every case they were granted, too.
    const session = state;
    for (const g of session.grants) await openGrant(session, g);
    for (const b of session.bundles.values()) {
      for (const [path, [i, mime]] of Object.entries(b.manifest.files)) {
        if (!/html/.test(mime)) continue;
        const doc = new DOMParser().parseFromString(utf8.decode(await decryptBlob(b.key, b.id, path, b.data.files[i], b.build)), "text/html");
        for (const el of doc.querySelectorAll("script, style, nav, header, footer, .md-sidebar")) el.remove();
        const main = doc.querySelector("article") || doc.querySelector("main") || doc.body;
        const title = (doc.querySelector("h1") || doc.querySelector("title") || { textContent: path }).textContent.trim();
        index.push({ path, title, text: (main ? main.textContent : "").replace(/\s+/g, " ").trim() });
      }
    }
    return index;
  }

  async function runSearch() {
    const q = search.value.trim().toLowerCase();
    if (!q) { results.hidden = true; results.replaceChildren(); return; }
    if (!state.index) {
      results.hidden = false;
      results.textContent = "Indexing in memory…";
      state.index = await buildIndex();
    }
    if (!state || search.value.trim().toLowerCase() !== q) return;
    const terms = q.split(/\s+/);
    const hits = state.index.filter((p) => terms.every((t) => (p.title + " " + p.text).toLowerCase().includes(t))).slice(0, 50);
    const list = document.createElement("ul");
    for (const hit of hits) {
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "cpoms-hit";
      btn.textContent = hit.title; // textContent only: record text is never parsed as HTML here
      const at = hit.text.toLowerCase().indexOf(terms[0]);
      const snip = document.createElement("span");
      snip.className = "cpoms-snippet";
      snip.textContent = at < 0 ? "" : "…" + hit.text.slice(Math.max(0, at - 60), at + 100) + "…";
      btn.appendChild(snip);
      btn.addEventListener("click", () => { results.hidden = true; guarded(() => show(hit.path, "", true)); });
      li.appendChild(btn);
      list.appendChild(li);
    }
    results.replaceChildren(list);
    if (!hits.length) results.textContent = "No matches.";
    results.hidden = false;
  }

  // ---- lock --------------------------------------------------------------------------------------
  function lock(reason) {
    if (state) for (const url of state.blobs.values()) URL.revokeObjectURL(url);
    state = null; // drops every CryptoKey, manifest, decrypted page and the search index
    view.replaceChildren();
    results.replaceChildren();
    results.hidden = true;
    search.value = "";
    titleEl.textContent = "";
    bar.hidden = true;
    gate.hidden = false;
    pw.value = "";
    html.classList.remove("cpoms-unlocked");
    if (reason) say(reason, "info");
    pw.focus();
  }

  function bump() {
    lastActivity = Date.now();
  }

  function checkIdle() {
    if (state && Date.now() - lastActivity >= IDLE_MS) {
      lock(`Locked after ${html.dataset.idleMinutes} idle minutes. Enter the password to continue.`);
    }
  }

  async function guarded(work) {
    try {
      await work();
    } catch (e) {
      if (e instanceof IntegrityError) {
        lock(null);
        say("Integrity error: a file of this site has been altered or damaged, so nothing from it is shown. " +
            "Get a fresh copy or rebuild the site. (" + e.message + ")", "error");
      } else {
        lock(null);
        say("Could not open the records: " + e.message, "error");
      }
    }
  }

  // ---- wiring --------------------------------------------------------------------------------------
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const password = pw.value;
    pw.value = "";
    const button = $("cpoms-unlock");
    button.disabled = true;
    say("Checking password…", "info");
    guarded(async () => {
      const bundle = await unlock(password);
      if (!bundle) {
        say("Wrong password: nothing was decrypted. Check the password and try again.", "error");
        return;
      }
      say("", null);
      gate.hidden = true;
      bar.hidden = false;
      html.classList.add("cpoms-unlocked");
      bump();
      await show(bundle.manifest.entry, "", false);
    }).finally(() => { button.disabled = false; });
  });

  $("cpoms-lock").addEventListener("click", () => lock("Locked. The keys have been forgotten."));
  back.addEventListener("click", () => {
    if (!state || !state.history.length) return;
    const prev = state.history.pop();
    guarded(() => show(prev.path, prev.hash, false));
  });
  $("cpoms-print").addEventListener("click", () => {
    const frame = document.getElementById("cpoms-frame");
    if (frame && frame.contentWindow) frame.contentWindow.print();
  });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => guarded(runSearch), 150);
  });
  for (const ev of ["mousemove", "mousedown", "keydown", "wheel", "touchstart", "scroll"]) {
    document.addEventListener(ev, bump, { passive: true, capture: true });
  }
  // Checked often rather than one long timer, so a laptop waking from sleep locks at once.
  setInterval(checkIdle, Math.min(IDLE_MS, 5000));
  document.addEventListener("visibilitychange", checkIdle);
  // Leaving the page locks it like the Lock button: a page kept in the back/forward cache comes
  // back showing the password form, with no key, plaintext or half-typed password left in it.
  window.addEventListener("pagehide", () => lock(state ? "Locked when the page was left. Enter the password to continue." : null));
  html.classList.add("cpoms-ready");
})();
