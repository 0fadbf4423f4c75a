// SwiftGPT playground: what the pages share — API calls with the key, a server-sent-events
// reader over fetch (so a stop can abort it), and the navigation. Plain JavaScript, no build.
"use strict";
const $ = (id) => document.getElementById(id);
const SG = {
  key() { return localStorage.getItem("swiftgpt-api-key") || ""; },
  headers() {
    const headers = { "Content-Type": "application/json" };
    if (SG.key()) headers["Authorization"] = "Bearer " + SG.key();
    return headers;
  },
  // The response, or an Error with the server's message ({"error": {"message"}}).
  async checked(response) {
    if (response.status === 401) {
      const key = prompt("This server needs an API key:");
      if (key) localStorage.setItem("swiftgpt-api-key", key);
      throw new Error("an API key is needed: reload the page");
    }
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try { message = (await response.json()).error.message; } catch (_) {}
      throw new Error(message);
    }
    return response;
  },
  async get(path) { return SG.checked(await fetch(path, { headers: SG.headers() })); },
  async post(path, body, signal) {
    return SG.checked(await fetch(path, { method: "POST", headers: SG.headers(), body: JSON.stringify(body), signal }));
  },
  // The `data:` payloads of a server-sent-events response, parsed as JSON, until `[DONE]`.
  async *events(response) {
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") return;
          yield JSON.parse(data);
        }
      }
    }
  },
  el(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") element.textContent = value; else element.setAttribute(name, value);
    }
    element.append(...children);
    return element;
  },
  status(text, isError = false) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", isError);
  },
  // The server's properties (/props); without a model (train --dashboard) only `dashboard`.
  async props() {
    try { return await (await SG.get("/props")).json(); } catch (_) { return {}; }
  },
  // Marks the link to this page, and hides the links to pages this server does not have.
  nav(props) {
    for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.pathname === location.pathname);
    for (const id of ["nav-tokenizer", "nav-chat"]) $(id).hidden = !props.model;
    $("nav-dashboard").hidden = !props.dashboard;
  },
};
