// Blind rating client: one image at a time, the next one shown only after the server stored the score.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const buttons = Array.from(document.querySelectorAll(".score"));
  let rater = null;
  let current = null;   // {id, url, width, height} of the image on screen
  let ready = false;    // image loaded and no request in flight

  function setReady(on) {
    ready = on;
    buttons.forEach((b) => { b.disabled = !on; });
    $("frame").classList.toggle("busy", !on);
  }

  async function api(method, url, payload) {
    const opts = { method, headers: { "Accept": "application/json" } };
    if (payload !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(payload);
    }
    const resp = await fetch(url, opts);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = { error: "bad reply from server" }; }
    return { status: resp.status, ok: resp.ok, data };
  }

  function show(state) {
    $("progress").textContent = `${state.done} / ${state.total} rated`;
    $("progress-bar").max = Math.max(1, state.total);
    $("progress-bar").value = state.done;
    if (!state.next) {
      current = null;
      setReady(false);
      $("rating").hidden = true;
      $("done").hidden = false;
      $("done-count").textContent = `${state.done} images`;
      return;
    }
    current = state.next;
    setReady(false);
    const img = $("image");
    img.onload = () => { if (current && img.dataset.imageId === String(current.id)) setReady(true); };
    img.onerror = () => { $("status").textContent = "could not load the image; reload the page"; };
    img.dataset.imageId = String(current.id);
    img.width = current.width;
    img.height = current.height;
    img.src = current.url;
  }

  async function rate(score) {
    if (!ready || !current) return;
    setReady(false);
    $("status").textContent = "";
    const r = await api("POST", "/api/ratings", { rater, image: current.id, score });
    if (r.ok) { show(r.data); return; }
    if (r.status === 409) {  // rated in another tab: move on
      const n = await api("GET", "/api/next?rater=" + encodeURIComponent(rater));
      if (n.ok) { show(n.data); return; }
    }
    $("status").textContent = (r.data && r.data.error) || `error ${r.status}`;
    setReady(true);
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("status").textContent = "";
    const r = await api("POST", "/api/raters", { name: $("rater-name").value });
    if (!r.ok) { $("status").textContent = r.data.error; return; }
    rater = r.data.rater;
    $("who").textContent = rater;
    if (document.activeElement) document.activeElement.blur();  // keys 1-5 must reach the page, not the name box
    $("login").hidden = true;
    $("rating").hidden = false;
    show(r.data);
  });

  buttons.forEach((b) => b.addEventListener("click", () => rate(Number(b.dataset.score))));
  document.addEventListener("keydown", (ev) => {
    if (ev.target && ev.target.tagName === "INPUT") return;
    if (ev.key >= "1" && ev.key <= "5" && !ev.repeat) { ev.preventDefault(); rate(Number(ev.key)); }
  });
})();
