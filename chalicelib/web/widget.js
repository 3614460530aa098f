/* Holdfast callback widget (issue 27): one script tag, nothing loaded from anywhere else.
   <script src="https://holdfast.example.com/web/widget.js" data-queue="support" async></script>
   Shows the queue's wait first, then takes a number (and a time, where the queue offers them) and books a
   callback in the same line as a call; where the queue asks for it, a code texted to the number first. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var queue = script.getAttribute("data-queue") || "";
  var base = script.src.replace(/\/web\/widget\.js(\?.*)?$/, "");
  var api = base + "/web/" + encodeURIComponent(queue);

  var box = document.createElement("div");
  box.className = "holdfast-callback";
  box.setAttribute("role", "region");
  box.setAttribute("aria-label", "Request a callback");
  box.style.cssText = "font:16px/1.4 system-ui,sans-serif;max-width:22rem;padding:1rem;border:1px solid #ccc;" +
    "border-radius:.5rem;box-sizing:border-box";
  var wait = document.createElement("p");
  wait.className = "holdfast-wait";
  wait.textContent = "Checking the wait\u2026";
  var form = document.createElement("form");
  // a labelled field of the form (the phone number; the time and the code, shown when they apply)
  function field(text, element, hidden) {
    var l = document.createElement("label");
    l.textContent = text;
    l.style.display = "block";
    l.hidden = hidden;
    element.style.cssText = "display:block;width:100%;font-size:1rem;padding:.5rem;margin:.25rem 0 .5rem;box-sizing:border-box";
    l.appendChild(element);
    return l;
  }
  var input = document.createElement("input");
  input.type = "tel";
  input.name = "number";
  input.autocomplete = "tel";
  input.maxLength = 32;
  input.required = true;
  var label = field("Your phone number", input, false);
  var button = document.createElement("button");
  button.type = "submit";
  button.textContent = "Call me back";
  button.style.cssText = "font-size:1rem;padding:.5rem 1rem";
  var slot = document.createElement("select");
  slot.name = "slot";
  var slotLabel = field("When", slot, true);
  var code = document.createElement("input");
  code.name = "code";
  code.inputMode = "numeric";
  code.autocomplete = "one-time-code";
  code.maxLength = 6;
  var codeLabel = field("The code we texted you", code, true);
  var needsCode = false, codeSent = false;
  var result = document.createElement("p");
  result.className = "holdfast-result";
  result.setAttribute("aria-live", "polite");
  form.appendChild(label);
  form.appendChild(slotLabel);
  form.appendChild(codeLabel);
  form.appendChild(button);
  box.appendChild(wait);
  box.appendChild(form);
  box.appendChild(result);
  script.parentNode.insertBefore(box, script.nextSibling);

  function minutes(m) { return Math.max(1, Math.round(m)) + (Math.round(m) === 1 ? " minute" : " minutes"); }
  function when(iso) {
    var d = new Date(iso);
    return d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }
  function day(iso) {
    var d = new Date(iso);
    var same = d.toDateString() === new Date().toDateString();
    return (same ? "Today" : d.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })) +
      " at " + when(iso);
  }
  function option(value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    slot.appendChild(o);
  }
  function post(path, body) {
    return fetch(api + path, {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (b) { return [r, b]; }); });
  }
  function failed(b) {
    button.disabled = false;
    result.textContent = (b && b.error) || "That did not work; please try again.";
  }

  fetch(api + "/wait", { credentials: "omit" }).then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
    .then(function (rb) {
      var b = rb[1];
      if (!rb[0].ok) { wait.textContent = b.error || "Callbacks are not available."; form.hidden = true; return; }
      needsCode = !!b.code_required;
      if (b.slots && b.slots.length) {
        option("", "As soon as someone is free");
        b.slots.forEach(function (s) { option(s.slot, day(s.start)); });
        slotLabel.hidden = false;
      }
      if (b.wait_minutes === null) {
        wait.textContent = "You would be number " + b.place + " in line. We call back as soon as someone is free.";
      } else {
        wait.textContent = "You would be number " + b.place + " in line: about " + minutes(b.wait_minutes) +
          " (" + Math.round(b.wait_range_minutes[0]) + "\u2013" + Math.round(b.wait_range_minutes[1]) + " min).";
      }
    })
    .catch(function () { wait.textContent = "The wait cannot be shown right now."; });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    button.disabled = true;
    if (needsCode && !codeSent) {  // the code first: texted to the number, typed back here
      result.textContent = "Sending a code\u2026";
      post("/code", { number: input.value }).then(function (rb) {
        if (!rb[0].ok) { failed(rb[1]); return; }
        codeSent = true;
        codeLabel.hidden = false;
        input.readOnly = true;
        button.disabled = false;
        button.textContent = "Confirm";
        result.textContent = "We texted you a code: type it here.";
        code.focus();
      }).catch(function () { failed(null); });
      return;
    }
    result.textContent = "Booking\u2026";
    var body = { number: input.value };
    if (slot.value) { body.slot = slot.value; }
    if (needsCode) { body.code = code.value; }
    post("/callback", body)
      .then(function (rb) {
        var b = rb[1];
        button.disabled = false;
        if (!rb[0].ok) { failed(b); return; }
        var text = b.already_booked ? "You already have a callback booked." : "Done: we will call you back.";
        if (b.place) { text += " You are number " + b.place + " in line."; }
        if (b.callback_by && body.slot) { text += " We will call you: " + day(b.callback_by) + "."; }
        else if (b.callback_by) { text += " Expect our call by " + when(b.callback_by) + "."; }
        result.textContent = text;
        form.hidden = true;
      })
      .catch(function () { failed(null); });
  });
})();
