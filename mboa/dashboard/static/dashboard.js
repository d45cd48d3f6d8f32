/* Live updates (server-sent events), a refund's confirmation text, forms sent once. Everything
   works without it: the pages are plain links and forms. */
(function () {
  "use strict";
  var streamed = document.querySelector("[data-stream]");
  if (streamed && window.EventSource) {
    var rows = document.getElementById("rows");
    var balance = document.getElementById("balance");
    var object = document.querySelector("[data-object]");
    var source = new EventSource(streamed.getAttribute("data-stream"));
    source.onopen = function () { document.body.setAttribute("data-stream-open", "1"); };
    var fetchHtml = function (url) {
      return fetch(url, { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.text() : null;
      });
    };
    var fragment = function (html, tag) {
      var holder = document.createElement(tag);
      holder.innerHTML = html;
      return holder.querySelector(tag === "tbody" ? "tr" : "div");
    };
    var refreshBalance = function () {
      if (!balance) return;
      fetchHtml(balance.getAttribute("data-refresh")).then(function (html) {
        if (html) balance.replaceWith(fragment(html, "div"));
        balance = document.getElementById("balance");
      });
    };
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      var data = event.data && event.data.object;
      if (!data) return;
      if (data.object === "payment_intent" && rows) {
        var existing = document.getElementById("row-" + data.id);
        if (existing || rows.getAttribute("data-live") === "1") {
          fetchHtml("/dashboard/payments/" + data.id + "/row").then(function (html) {
            if (!html) return;
            var row = fragment(html, "tbody");
            var current = document.getElementById("row-" + data.id);
            if (current) {
              current.replaceWith(row);
            } else {
              row.className = "fresh";
              rows.insertBefore(row, rows.firstChild);
              var empty = document.getElementById("empty");
              if (empty) empty.remove();
            }
          });
        }
      }
      if (object && data.id === object.getAttribute("data-object") && data.status) {
        window.location.reload();
      }
      if (/^(payment_intent\.succeeded|refund\.|payout\.|balance\.)/.test(event.type)) {
        refreshBalance();
      }
    };
  }
  var amount = document.getElementById("amount");
  var confirmButton = document.getElementById("confirm-refund");
  if (amount && confirmButton && amount.tagName === "INPUT") {
    amount.addEventListener("input", function () {
      var digits = amount.value.replace(/\D/g, "");
      var shown = digits ? Number(digits).toLocaleString(document.documentElement.lang) : "0";
      confirmButton.textContent = confirmButton.getAttribute("data-label") + " " + shown + "\u00a0FCFA";
    });
  }
  // A secret shown once: its copy button (the field stays selectable by hand too).
  var copies = document.querySelectorAll("[data-copy]");
  Array.prototype.forEach.call(copies, function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) return;
      field.select();
      var done = function () { button.textContent = button.getAttribute("data-done"); };
      if (navigator.clipboard) {
        navigator.clipboard.writeText(field.value).then(done, function () {});
      } else if (document.execCommand("copy")) {
        done();
      }
    });
  });
  // A form that moves money or creates an object (`data-once`) is sent once: its submit button
  // turns off after the first click. The server refuses a second post of it anyway
  // (docs/dashboard.md "Double submits"); this only spares the member the wait.
  var onceForms = document.querySelectorAll("form[data-once]");
  Array.prototype.forEach.call(onceForms, function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent") === "1") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sent", "1");
      var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
      // After this event: a button disabled now would drop out of the form's data.
      window.setTimeout(function () {
        Array.prototype.forEach.call(buttons, function (button) {
          button.disabled = true;
          button.setAttribute("aria-disabled", "true");
        });
      }, 0);
    });
  });
  // Back to a page kept in the browser's cache: its forms can be used again (same key).
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    Array.prototype.forEach.call(onceForms, function (form) {
      form.removeAttribute("data-sent");
      var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
      Array.prototype.forEach.call(buttons, function (button) {
        button.disabled = false;
        button.removeAttribute("aria-disabled");
      });
    });
  });
  // A key's scopes matter for a restricted key only: shown when that type is chosen.
  var keyType = document.getElementById("key-type");
  var scopes = document.querySelector("fieldset.scopes");
  if (keyType && scopes) {
    var showScopes = function () { scopes.hidden = keyType.value !== "restricted"; };
    keyType.addEventListener("change", showScopes);
    showScopes();
  }
})();
