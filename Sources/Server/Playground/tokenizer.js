// The tokenizer page (tiktokenizer's view): the text cut into segments of whole graphemes,
// coloured, with their ids; hovering a segment lights its ids and the other way round.
"use strict";
const COLORS = ["#cfe8ff", "#ffe1c7", "#d6f5d6", "#f7d4f0", "#fff3b0", "#d9d4ff", "#c9f2ef", "#ffd6d6"];
let messages = [
  { role: "system", content: "당신은 친절한 도우미입니다." },
  { role: "user", content: "서울의 날씨는 어때요?" },
];

// What is tokenized: the text, or the messages.
function request(tokenizer) {
  const chat = document.querySelector("input[name=mode]:checked").value === "chat";
  return chat ? { tokenizer, messages, with_pieces: true, with_segments: true }
              : { tokenizer, content: $("text").value, with_pieces: true, with_segments: true };
}

// Whitespace made visible: · for a space, → for a tab, ↵ before a line break.
function shown(text) {
  if (!$("whitespace").checked) return text;
  return text.replace(/ /g, "·").replace(/\t/g, "→").replace(/\n/g, "↵\n");
}

function graphemes(text) {
  if (typeof Intl !== "undefined" && Intl.Segmenter) return [...new Intl.Segmenter().segment(text)].length;
  return [...text].length;
}

let generation = 0;  // the latest update; older answers are dropped
async function render(pane, tokenizer, ticket) {
  const body = request(tokenizer);
  const answer = await (await SG.post("/tokenize", body)).json();
  if (ticket !== generation) return;
  const text = body.content ?? answer.segments.map((s) => s.text).join("");
  pane.querySelector("h3").textContent = tokenizer;
  pane.querySelector(".counts").innerHTML = "";
  pane.querySelector(".counts").append(
    SG.el("b", { text: answer.count }), " tokens · ", SG.el("b", { text: graphemes(text) }), " characters · ",
    SG.el("b", { text: new TextEncoder().encode(text).length }), " bytes");
  // Text the tokenizer has no token for (a character vocabulary that never saw it) is struck out.
  const leftOut = answer.segments.filter((s) => s.ids.length === 0).map((s) => s.text).join("");
  if (leftOut) pane.querySelector(".counts").append(" · ", SG.el("b", { text: graphemes(leftOut) }), " left out");
  const viz = pane.querySelector(".viz"), ids = pane.querySelector(".ids");
  viz.replaceChildren();
  ids.replaceChildren();
  const idSpans = [];
  answer.segments.forEach((segment, index) => {
    const color = COLORS[index % COLORS.length];
    const span = SG.el("span", { "data-ids": segment.ids.join(","), "data-segment": index, text: shown(segment.text) });
    if (segment.ids.length) {
      span.style.background = color;
      span.title = segment.ids.join(", ");
    } else {
      span.classList.add("left-out");
      span.title = "not in the vocabulary: the model never sees it";
    }
    viz.append(span);
    for (const id of segment.ids) {
      const idSpan = SG.el("span", { "data-segment": index, style: "background:" + color, text: id });
      idSpans.push(idSpan);
      ids.append(idSpan, " ");
    }
  });
  // Hover: the segment and its ids light together.
  const light = (index, on) => pane.querySelectorAll(`[data-segment="${index}"]`).forEach((e) => e.classList.toggle("lit", on));
  for (const element of [...viz.children, ...idSpans]) {
    element.addEventListener("mouseenter", () => light(element.dataset.segment, true));
    element.addEventListener("mouseleave", () => light(element.dataset.segment, false));
  }
  pane.dataset.tokenizer = tokenizer;
  pane.dataset.done = "1";
}

let pending = null;
async function update() {
  clearTimeout(pending);
  for (const pane of document.querySelectorAll(".pane")) pane.dataset.done = "";
  pending = setTimeout(async () => {
    const ticket = ++generation;
    try {
      const panes = [render($("pane-a"), $("tokenizer-a").value, ticket)];
      $("pane-b").hidden = !$("compare").checked;
      if ($("compare").checked) panes.push(render($("pane-b"), $("tokenizer-b").value, ticket));
      await Promise.all(panes);
      SG.status("");
    } catch (error) { SG.status(error.message, true); }
  }, 120);
}

// The ChatML message editor: a role and a text per message.
function drawMessages() {
  const box = $("messages");
  box.replaceChildren();
  messages.forEach((message, index) => {
    const role = SG.el("select", {}, ...["system", "user", "assistant"].map((r) => SG.el("option", { value: r, text: r })));
    role.value = message.role;
    role.onchange = () => { message.role = role.value; update(); };
    const content = SG.el("textarea", { rows: 1, spellcheck: "false" });
    content.value = message.content;
    content.oninput = () => { message.content = content.value; update(); };
    const remove = SG.el("button", { class: "secondary", title: "remove", text: "×" });
    remove.onclick = () => { messages.splice(index, 1); drawMessages(); update(); };
    box.append(SG.el("div", { class: "message" }, role, content, remove));
  });
}

async function start() {
  const props = await SG.props();
  SG.nav(props);
  const names = props.tokenizers || ["gpt2", "cl100k_base"];
  for (const select of [$("tokenizer-a"), $("tokenizer-b")]) {
    select.replaceChildren(...names.map((n) => SG.el("option", { value: n, text: n === "model" ? `model (${props.model})` : n })));
  }
  $("tokenizer-b").value = names.includes("cl100k_base") ? "cl100k_base" : names[0];
  for (const id of ["text", "tokenizer-a", "tokenizer-b", "whitespace"]) $(id).addEventListener("input", update);
  $("compare").addEventListener("change", () => { $("tokenizer-b").disabled = !$("compare").checked; update(); });
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => {
      const chat = radio.value === "chat" && radio.checked;
      $("text").hidden = chat;
      $("messages").hidden = $("message-buttons").hidden = !chat;
      update();
    });
  }
  $("add-message").onclick = () => { messages.push({ role: "user", content: "" }); drawMessages(); update(); };
  drawMessages();
  update();
}
start();
