// Show-password toggles for the hosted pages, as progressive enhancement:
// the HTML has none, and without JavaScript a password field stays hidden.
// Each password field gets a button after it that reads "Show" and, once
// pressed, "Hide", switching the field between hidden and shown. Its name
// says the field and the action ("Show password", "Hide new password"), so
// the visible word is part of it and the state is never in two places. A
// form hides its fields again as it is sent, so no browser keeps a
// password as plain text. Loaded as a file from 'self': the pages' policy
// allows no inline script or handler.
(function () {
  "use strict";

  function labelOf(input) {
    var label = input.id ? document.querySelector('label[for="' + input.id + '"]') : null;
    return label ? label.textContent.trim().toLowerCase() : "password";
  }

  function set(input, button, shown) {
    input.type = shown ? "text" : "password";
    button.firstChild.textContent = shown ? "Hide" : "Show";
  }

  document.querySelectorAll('input[type="password"]').forEach(function (input) {
    var wrap = document.createElement("div");
    wrap.className = "password-input";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary password-toggle";
    button.setAttribute("aria-controls", input.id);
    var hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = " " + labelOf(input);
    button.appendChild(document.createTextNode("Show"));
    button.appendChild(hidden);
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    wrap.appendChild(button);
    button.addEventListener("click", function () {
      set(input, button, input.type === "password");
    });
    if (input.form) {
      input.form.addEventListener("submit", function () {
        set(input, button, false);
      });
    }
  });
})();
