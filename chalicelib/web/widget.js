/* Holdfast callback widget (issue 27): one script tag, nothing loaded from anywhere else.
   <script src="https://holdfast.example.com/web/widget.js" data-queue="support" async></script>
   Shows the queue's wait first, then takes a number and books a callback in the same line as a call. */
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
  var label = document.createElement("label");
  label.textContent = "Your phone number";
  label.style.display = "block";
  var input = document.createElement("input");
  input.type = "tel";
  input.name = "number";
  input.autocomplete = "tel";
  input.maxLength = 32;
  input.required = true;
  input.style.cssText = "display:block;width:100%;font-size:1rem;padding:.5rem;margin:.25rem 0 .5rem;box-sizing:border-box";
  label.appendChild(input);
  var button = document.createElement("button");
  button.type = "submit";
  button.textContent = "Call me back";
  button.style.cssText = "font-size:1rem;padding:.5rem 1rem";
  var result = document.createElement("p");
  result.className = "holdfast-result";
  result.setAttribute("aria-live", "polite");
  form.appendChild(label);
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

  fetch(api + "/wait", { credentials: "omit" }).then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
    .then(function (rb) {
      var b = rb[1];
      if (!rb[0].ok) { wait.textContent = b.error || "Callbacks are not available."; form.hidden = true; return; }
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
    result.textContent = "Booking\u2026";
    fetch(api + "/callback", {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ number: input.value })
    }).then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
      .then(function (rb) {
        var b = rb[1];
        button.disabled = false;
        if (!rb[0].ok) { result.textContent = b.error || "That did not work; please try again."; return; }
        var text = b.already_booked ? "You already have a callback booked." : "Done: we will call you back.";
        if (b.place) { text += " You are number " + b.place + " in line."; }
        if (b.callback_by) { text += " Expect our call by " + when(b.callback_by) + "."; }
        result.textContent = text;
        form.hidden = true;
      })
      .catch(function () { button.disabled = false; result.textContent = "That did not work; please try again."; });
  });
})();
