/* Progressive enhancement of the payment page: every action works without this file
   (plain forms, meta refresh). It pre-selects the operator from the number as it is typed,
   follows a waiting payment live (server-sent events, polling as the fallback) and counts
   down to the request's expiry. No third-party code. */
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (form) {
    var prefixes = JSON.parse(form.getAttribute("data-prefixes") || "{}");
    var phone = document.getElementById("phone");
    var detected = document.getElementById("detected");
    var radios = form.querySelectorAll("input[name=provider]");
    var touched = false;
    for (var i = 0; i < radios.length; i++) {
      radios[i].addEventListener("change", function (e) { if (e.isTrusted) touched = true; });
    }
    var national = function (raw) {
      var digits = raw.replace(/\D/g, "");
      if (digits.indexOf("00237") === 0) digits = digits.slice(5);
      else if (digits.indexOf("237") === 0 && digits.length > 9) digits = digits.slice(3);
      return digits;
    };
    var operatorOf = function (digits) {
      var best = null, length = 0;
      Object.keys(prefixes).forEach(function (name) {
        prefixes[name].forEach(function (p) {
          if (digits.indexOf(p) === 0 && p.length > length) { best = name; length = p.length; }
        });
      });
      return best;
    };
    var update = function () {
      var digits = national(phone.value);
      var found = digits.length >= 3 ? operatorOf(digits) : null;
      if (found && !touched) {
        for (var j = 0; j < radios.length; j++) radios[j].checked = radios[j].value === found;
      }
      if (found) detected.textContent = detected.getAttribute(found === "mtn_momo" ? "data-mtn" : "data-orange");
      else detected.textContent = digits.length >= 3 ? detected.getAttribute("data-other") : "";
    };
    phone.addEventListener("input", update);
    update();
  }

  var countdown = document.getElementById("countdown");
  if (countdown) {
    var until = parseInt(countdown.getAttribute("data-expires"), 10) * 1000;
    var tick = function () {
      var left = Math.max(0, Math.floor((until - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      countdown.textContent = "(" + m + ":" + (s < 10 ? "0" : "") + s + ")";
    };
    tick();
    setInterval(tick, 1000);
  }

  var waiting = document.getElementById("waiting");
  if (waiting) {
    var statusUrl = waiting.getAttribute("data-status");
    var current = waiting.getAttribute("data-state");
    var follow = waiting.getAttribute("data-follow") === "1";
    var left = false;
    var onStatus = function (status) {
      if (left) return;
      if (status.redirect_url && follow) { left = true; window.location.assign(status.redirect_url); return; }
      if (status.state !== current) {
        left = true;
        // Back to the page itself (without ?returned / ?resent): it shows the new state.
        window.location.assign(window.location.pathname);
      }
    };
    var poll = function () {
      fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) { if (s) onStatus(s); })
        .catch(function () {})
        .then(function () { setTimeout(poll, 3000); });
    };
    if (window.EventSource) {
      var source = new EventSource(waiting.getAttribute("data-events"));
      source.onmessage = function (e) { onStatus(JSON.parse(e.data)); };
      source.onerror = function () { source.close(); setTimeout(poll, 1000); };
    } else {
      poll();
    }
  }
})();
