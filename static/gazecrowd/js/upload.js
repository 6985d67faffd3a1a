// Send a form with a file by XHR so that the page can show upload progress and the server's
// error message; without JavaScript the form posts normally. Used by every
// <form data-xhr-upload>. The server answers JSON: {ok, message, redirect} or {ok: false, error}.
(function () {
  "use strict";
  document.querySelectorAll("form[data-xhr-upload]").forEach(function (form) {
    var box = form.querySelector("[data-upload-progress]");
    var bar = box && box.querySelector("progress");
    var status = form.querySelector("[data-upload-status]");
    var errorBox = form.querySelector("[data-upload-error]");
    var submit = form.querySelector("button[type=submit]");

    function say(text) { if (status) status.textContent = text; }
    function fail(text) {
      if (errorBox) errorBox.textContent = text;
      if (submit) submit.disabled = false;
      say("");
      if (box) box.hidden = true;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (errorBox) errorBox.textContent = "";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable || !bar) return;
        var pct = Math.round((100 * e.loaded) / e.total);
        bar.value = pct;
        say(pct < 100 ? "Uploading… " + pct + " %" : "Uploaded; converting on the server…");
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300 && body && body.ok) {
          if (bar) bar.value = 100;
          say(body.message || "Done.");
          if (body.redirect) window.location.assign(body.redirect);
          return;
        }
        if (body && body.error) fail(body.error);
        else if (xhr.status === 413) fail("The file is larger than the server accepts.");
        else fail("The upload failed (HTTP " + xhr.status + "). Check the file and try again.");
      });
      xhr.addEventListener("error", function () {
        fail("The connection was lost during the upload. Try again.");
      });
      if (box) box.hidden = false;
      if (bar) bar.value = 0;
      if (submit) submit.disabled = true;
      say("Uploading…");
      xhr.send(new FormData(form));
    });
  });
})();
