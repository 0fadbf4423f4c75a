// The chat page: streamed answers from /v1/chat/completions (or /v1/completions), a stop
// button that aborts the request (the server then frees the slot), the sampling controls, the
// speed, and each piece of text shaded by the probability the model gave its tokens.
"use strict";
let history = [];      // the chat so far: {role, content}
let controller = null; // the running request's AbortController

function mode() { return document.querySelector("input[name=mode]:checked").value; }

function sampling() {
  const body = {
    temperature: Number($("temperature").value), top_k: Number($("top-k").value), top_p: Number($("top-p").value),
    frequency_penalty: Number($("frequency-penalty").value), presence_penalty: Number($("presence-penalty").value),
    max_tokens: Number($("max-tokens").value), stream: true, stream_options: { include_usage: true },
  };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  return body;
}

function turn(role, text) {
  const body = SG.el("span", { class: "text", text });
  const element = SG.el("div", { class: "turn " + role }, SG.el("span", { class: "role", text: role }), body);
  $("transcript").append(element);
  scrollToEnd();
  return element;
}

// Scrolls the transcript to its end once per frame: reading its height after every token laid
// out the whole answer each time, and a long fast answer fell behind the stream.
let scrollPending = false;
function scrollToEnd() {
  if (scrollPending) return;
  scrollPending = true;
  requestAnimationFrame(() => { scrollPending = false; $("transcript").scrollTop = $("transcript").scrollHeight; });
}

// Red for unlikely text, green for likely.
function shade(probability) { return `hsl(${Math.round(120 * probability)}, ${85 - 25 * probability}%, ${80 + 5 * probability}%)`; }

// A piece of answer: its text, shaded by the product of its tokens' probabilities.
function appendPiece(target, text, logprobs) {
  const span = SG.el("span", { text });
  if (logprobs.length) {
    const logprob = logprobs.reduce((sum, entry) => sum + entry.logprob, 0);
    span.dataset.p = Math.exp(logprob).toFixed(4);
    span.title = logprobs.map((e) => `${JSON.stringify(e.token)} p=${Math.exp(e.logprob).toFixed(3)}` +
      (e.top.length ? "  (" + e.top.map(([t, l]) => `${JSON.stringify(t)} ${Math.exp(l).toFixed(3)}`).join(", ") + ")" : "")).join("\n");
    if ($("shade").checked) span.style.background = shade(Math.exp(logprob));
  }
  target.append(span);
  scrollToEnd();
}

// The log probabilities of a chunk's choice, in one shape for both endpoints.
function chunkLogprobs(choice) {
  const lp = choice.logprobs;
  if (!lp) return [];
  if (lp.content) return lp.content.map((e) => ({ token: e.token, logprob: e.logprob, top: (e.top_logprobs || []).map((t) => [t.token, t.logprob]) }));
  return lp.tokens.map((token, i) => ({ token, logprob: lp.token_logprobs[i], top: Object.entries(lp.top_logprobs[i] || {}) }));
}

async function send() {
  const text = $("input").value;
  if (!text.trim() || controller) return;
  $("input").value = "";
  const chat = mode() === "chat";
  let path, body, answer;
  if (chat) {
    history.push({ role: "user", content: text });
    turn("user", text);
    const messages = ($("system").value.trim() ? [{ role: "system", content: $("system").value }] : []).concat(history);
    path = "/v1/chat/completions";
    body = { ...sampling(), messages, logprobs: true, top_logprobs: 3 };
    answer = turn("assistant", "");
  } else {
    path = "/v1/completions";
    body = { ...sampling(), prompt: text, logprobs: 3 };
    answer = turn("completion", "");
    answer.querySelector(".text").append(SG.el("b", { text }));
  }
  const target = answer.querySelector(".text");
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  const started = performance.now();
  let first = null, tokens = 0, reply = "", finish = null, yielded = performance.now();
  try {
    const response = await SG.post(path, body, controller.signal);
    for await (const chunk of SG.events(response)) {
      // Chunks already received are read without returning to the event loop: let a click on
      // Stop (and painting) through every few frames, or Stop waited for the whole answer.
      if (performance.now() - yielded > 50) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        yielded = performance.now();
      }
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      for (const choice of chunk.choices) {
        const piece = chat ? (choice.delta.content || "") : choice.text;
        const logprobs = chunkLogprobs(choice);
        if (piece || logprobs.length) {
          first ??= performance.now();
          tokens += logprobs.length;
          reply += piece;
          appendPiece(target, piece, logprobs);
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      const seconds = first ? (performance.now() - first) / 1000 : 0;
      $("stats").textContent = `${tokens} tokens · ${seconds > 0 ? (tokens / seconds).toFixed(1) : "–"} tokens/s · first token after ${first ? ((first - started) / 1000).toFixed(2) : "–"} s`;
    }
    answer.dataset.finish = finish || "stop";
  } catch (error) {
    if (error.name === "AbortError") { answer.dataset.finish = "cancelled"; target.append(SG.el("i", { text: " [stopped]" })); }
    else { answer.dataset.finish = "error"; SG.status(error.message, true); }
  }
  if (chat) history.push({ role: "assistant", content: reply });
  answer.dataset.done = "1";
  controller = null;
  $("send").disabled = false;
  $("stop").disabled = true;
}

async function start() {
  const props = await SG.props();
  SG.nav(props);
  if (props.model) {
    SG.status(`${props.model} · context ${props.n_ctx} · ${props.total_slots} slots`);
    if (!props.chat_template) {
      document.querySelector("input[value=chat]").disabled = true;
      document.querySelector("input[value=completion]").checked = true;
      $("system").disabled = true;
    }
  }
  $("temperature").oninput = () => { $("temperature-value").textContent = $("temperature").value; };
  $("temperature").oninput();
  $("send").onclick = send;
  $("stop").onclick = () => controller && controller.abort();
  $("clear").onclick = () => { history = []; $("transcript").replaceChildren(); $("stats").textContent = ""; };
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); send(); }
  });
}
start();
