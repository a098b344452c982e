// Playground: one message to the tuned model and its base, both replies streamed (SSE
// frames read from fetch's body), each side keeping its own conversation.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var $ = function (id) { return document.getElementById(id); };
  var form = $("playground-form");
  var sides = {
    tuned: { select: $("tuned-model"), out: $("tuned-output"), status: $("tuned-status"), history: [] },
    base: { select: $("base-model-side"), out: $("base-output"), status: $("base-status"), history: [] }
  };

  function pickBase() {
    var option = sides.tuned.select.selectedOptions[0];
    var base = option && option.dataset.base;
    if (!base) return;
    Array.prototype.some.call(sides.base.select.options, function (o) {
      if (o.value === base) { sides.base.select.value = base; return true; }
      return false;
    });
  }

  function turn(side, who, content) {
    var div = document.createElement("div");
    div.className = "turn " + who;
    var label = document.createElement("strong");
    label.textContent = who === "user" ? "You" : "Model";
    var body = document.createElement("p");
    body.className = who === "user" ? "said" : "reply";
    body.textContent = content;
    div.appendChild(label);
    div.appendChild(body);
    side.out.appendChild(div);
    return body;
  }

  function parseFrames(buffer, onFrame) {
    var at;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      var frame = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      var event = "message", data = "";
      frame.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) event = line.slice(7);
        else if (line.indexOf("data: ") === 0) data += line.slice(6);
      });
      if (data) onFrame(event, JSON.parse(data));
    }
    return buffer;
  }

  function ask(side, prompt, settings) {
    var model = side.select.value;
    if (!model) return Promise.resolve();
    var messages = [];
    if (settings.system) messages.push({ role: "system", content: settings.system });
    messages = messages.concat(side.history, [{ role: "user", content: prompt }]);
    turn(side, "user", prompt);
    var reply = turn(side, "assistant", "");
    side.status.textContent = "streaming…";
    return fetch(form.dataset.chatUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream", "X-CSRF-Token": csrf },
      body: JSON.stringify({ model: model, messages: messages, temperature: settings.temperature, max_tokens: settings.maxTokens })
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return null; }).then(function (body) {
          throw new Error(body && body.error ? body.error.message : "HTTP " + response.status);
        });
      }
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "", text = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer = parseFrames(buffer + decoder.decode(chunk.value, { stream: true }), function (event, data) {
            if (event === "token") { text += data.text; reply.textContent = text; }
            else if (event === "done") side.status.textContent = data.completion_tokens + " tokens";
            else if (event === "error") throw new Error(data.message);
          });
          return pump();
        });
      }
      return pump().then(function () {
        side.history.push({ role: "user", content: prompt }, { role: "assistant", content: text });
      });
    }).catch(function (error) {
      reply.classList.add("error");
      reply.textContent = error.message;
      side.status.textContent = "failed";
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var prompt = $("prompt").value.trim();
    var error = $("playground-error");
    error.hidden = true;
    if (!prompt) { error.hidden = false; error.textContent = "Write a message first."; return; }
    if (!sides.tuned.select.value && !sides.base.select.value) {
      error.hidden = false; error.textContent = "Pick a model on at least one side."; return;
    }
    var settings = {
      system: $("system-prompt").value.trim(),
      temperature: parseFloat($("temperature").value || "0.7"),
      maxTokens: parseInt($("max-tokens").value || "256", 10)
    };
    $("send-button").disabled = true;
    $("prompt").value = "";
    Promise.all([ask(sides.tuned, prompt, settings), ask(sides.base, prompt, settings)]).then(function () {
      $("send-button").disabled = false;
      $("prompt").focus();
    });
  });
  $("prompt").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  $("clear-button").addEventListener("click", function () {
    ["tuned", "base"].forEach(function (k) { sides[k].history = []; sides[k].out.textContent = ""; sides[k].status.textContent = ""; });
  });
  sides.tuned.select.addEventListener("change", function () { pickBase(); });
  pickBase();
})();
