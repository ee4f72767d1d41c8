// whm-tokens page behaviour. Loaded as a file (the Content-Security-Policy
// forbids inline script); every handler is delegated from the document, so
// it keeps working after htmx swaps the table.
(function () {
  "use strict";

  var lastTrigger = null;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // --- Toasts -------------------------------------------------------------
  function armToast(toast) {
    if (toast.dataset.armed) { return; }
    toast.dataset.armed = "1";
    if (toast.hasAttribute("data-autohide")) {
      setTimeout(function () { toast.remove(); }, 8000);
    }
  }
  function showToast(message, kind) {
    var box = $("#toasts");
    if (!box) { return; }
    var toast = document.createElement("div");
    toast.className = "toast" + (kind ? " " + kind : "");
    toast.setAttribute("data-autohide", "");
    toast.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    toast.appendChild(close);
    box.appendChild(toast);
    armToast(toast);
  }
  function armToasts() { $all("#toasts .toast").forEach(armToast); }

  // --- Confirmations ----------------------------------------------------
  // The server sends each confirmation into #confirm-dialog (hx-get); this
  // opens it, puts focus on Cancel, and gives focus back afterwards: to the
  // element that asked, or, when that is gone (its row was revoked), to the
  // toast that says what happened.
  function confirmDialog() { return document.getElementById("confirm-dialog"); }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "confirm-dialog") { return; }
    var elt = event.detail.elt;
    // A form asks through its button (Revoke Selected).
    if (elt.tagName === "FORM") {
      elt = elt.contains(document.activeElement) ? document.activeElement : $("button[type=submit]", elt);
    }
    lastTrigger = elt;
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.detail.target;
    if (!dialog || dialog.id !== "confirm-dialog" || typeof dialog.showModal !== "function") { return; }
    var gear = $("#gear");
    if (gear) { gear.removeAttribute("open"); }
    if (!dialog.open) { dialog.showModal(); }
    var cancel = $("[data-cancel]", dialog);
    if (cancel) { cancel.focus(); }
  });

  // Continue, posted with htmx: the dialog closes when the answer is in,
  // and focus goes to what happened (the toast) once the table is swapped.
  var acted = false;
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = confirmDialog();
    if (dialog && dialog.open && dialog.contains(event.detail.elt)) {
      acted = event.detail.successful;
      dialog.close();
    }
  });

  function focusOutcome() {
    var toast = $("#toasts .toast:last-child");
    if (toast) {
      toast.setAttribute("tabindex", "-1");
      toast.focus();
      return;
    }
    var row = $("#tokens-table tbody tr th");
    if (row) { row.setAttribute("tabindex", "-1"); row.focus(); }
  }

  document.addEventListener("close", function (event) {
    if (event.target.id !== "confirm-dialog") { return; }
    if (acted) { return; }
    if (lastTrigger && document.contains(lastTrigger)) {
      lastTrigger.focus();
    } else {
      focusOutcome();
    }
  }, true);

  // --- Menus: the top bar's Menu button (narrow windows) and the gear ---
  function setMenu(open) {
    var bar = $(".topbar");
    var button = $("#menu-button");
    if (!bar || !button) { return; }
    bar.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var gear = $("#gear");
    if (gear && gear.hasAttribute("open")) {
      gear.removeAttribute("open");
      var summary = $("summary", gear);
      if (summary) { summary.focus(); }
      event.preventDefault();
      return;
    }
    var bar = $(".topbar");
    if (bar && bar.classList.contains("open")) {
      setMenu(false);
      $("#menu-button").focus();
    }
  });

  // --- Privileges: Select all / Select none, overall or per category ----
  function selectPrivileges(button) {
    var all = button.dataset.select === "all";
    var scope = button.closest(".acl-category") || button.closest("form");
    $all("input[type=checkbox][name=acl]", scope).forEach(function (b) { b.checked = all; });
    var form = button.closest("form");
    var every = $all("input[type=checkbox][name=acl]", form);
    var everything = every.filter(function (b) { return b.value === "all"; })[0];
    if (everything) {
      everything.checked = every.every(function (b) { return b === everything || b.checked; }) && (all || everything.checked);
    }
    var note = $(".all-note", form);
    if (note) {
      var checked = every.filter(function (b) { return b.checked; }).length;
      note.textContent = checked + " of " + every.length + " privileges checked.";
    }
  }

  document.addEventListener("click", function (event) {
    var menuButton = event.target.closest("#menu-button");
    if (menuButton) {
      setMenu(menuButton.getAttribute("aria-expanded") !== "true");
      return;
    }
    var generate = event.target.closest("[data-password-for]");
    if (generate) {
      generatePassword(generate);
      return;
    }
    var select = event.target.closest("[data-select]");
    if (select) {
      event.preventDefault();
      selectPrivileges(select);
      return;
    }
    var cancel = event.target.closest("#confirm-dialog [data-cancel]");
    if (cancel) {
      event.preventDefault();
      confirmDialog().close();
      return;
    }
    var closeToast = event.target.closest(".toast-close");
    if (closeToast) {
      closeToast.closest(".toast").remove();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      copySecret(copy);
      return;
    }
    var menuItem = event.target.closest("#gear .menu a");
    var gearMenu = $("#gear");
    if (gearMenu && (menuItem || !event.target.closest("#gear"))) {
      gearMenu.removeAttribute("open");
    }
  });

  // --- Selection and Revoke Selected --------------------------------------
  function updateSelection() {
    var boxes = $all("#tokens-form input[name=names], #tokens-form input[name=ids]");
    var checked = boxes.filter(function (b) { return b.checked; }).length;
    var button = $("#revoke-selected");
    if (button) {
      button.disabled = checked === 0;
      button.textContent = checked ? "Revoke Selected (" + checked + ")" : "Revoke Selected";
    }
    var disable = $("#disable-selected");
    if (disable) { disable.disabled = checked === 0; }
    var all = $("#select-all");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
  }

  // --- Privileges: "Everything" ------------------------------------------
  function privilegeChanged(box) {
    var form = box.form;
    var boxes = $all("input[type=checkbox][name=acl]", form);
    var all = boxes.filter(function (b) { return b.value === "all"; })[0];
    var note = $(".all-note", form);
    if (box === all) {
      if (all.checked) {
        boxes.forEach(function (b) { b.checked = true; });
        if (note) { note.textContent = "Everything is checked: the token can do all that you can."; }
      } else if (note) {
        note.textContent = "";
      }
    } else if (all && all.checked && !box.checked) {
      all.checked = false;
      if (note) {
        var label = box.closest("label").textContent.trim();
        note.textContent = "“Everything” was unchecked because you unchecked “" + label + "”.";
      }
    }
  }

  // --- Root's policy: an allow-list required for chosen privileges -------
  function syncIpsRequired(form) {
    var ips = form && $("#ips", form);
    if (!ips || !ips.dataset.requiredFor) { return; }
    var needs = ips.dataset.requiredFor.split(" ");
    var chosen = $all("input[type=checkbox][name=acl]", form).filter(function (b) {
      return b.checked && (needs.indexOf("all") >= 0 || b.value === "all" || needs.indexOf(b.value) >= 0);
    });
    ips.required = chosen.length > 0;
    var mark = $("#ips-required");
    if (mark) { mark.hidden = chosen.length === 0; }
  }

  // --- Expiry -------------------------------------------------------------
  function syncExpiry() {
    var dated = $("#expires-date");
    var block = $("#expiry-date");
    if (dated && block) { block.hidden = !dated.checked; }
    var never = $("#expires-never");
    var warning = $("#never-warning");
    if (never && warning) { warning.hidden = !never.checked; }
  }

  // The date is typed as YYYY-MM-DD into a text field; the calendar beside
  // it fills the field, and a typed date moves the calendar.
  document.addEventListener("input", function (event) {
    var t = event.target;
    if (t.id === "expires_pick" && t.value) { $("#expires_on").value = t.value; }
    if (t.id === "expires_on" && /^\d{4}-\d{2}-\d{2}$/.test(t.value)) { $("#expires_pick").value = t.value; }
  });

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t.id === "select-all") {
      $all("#tokens-form input[name=names], #tokens-form input[name=ids]").forEach(function (b) { b.checked = t.checked; });
      updateSelection();
    } else if (t.name === "names" || t.name === "ids") {
      updateSelection();
    } else if (t.name === "acl" && t.type === "checkbox") {
      privilegeChanged(t);
      syncIpsRequired(t.form);
    } else if (t.name === "kind") {
      syncOwner();
    } else if (t.name === "expires") {
      syncExpiry();
      if (t.value === "date") { $("#expires_on").focus(); }
    }
  });

  // --- Accounts: Owner only for plain accounts; a generated password ----
  function syncOwner() {
    var field = $("#owner-field");
    var reseller = $("input[name=kind][value=reseller]");
    if (field && reseller) { field.hidden = reseller.checked; }
  }

  var PASSWORD_CHARS = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  function generatePassword(button) {
    var input = document.getElementById(button.dataset.passwordFor);
    if (!input || !window.crypto || !window.crypto.getRandomValues) { return; }
    var bytes = new Uint32Array(20);
    window.crypto.getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += PASSWORD_CHARS.charAt(bytes[i] % PASSWORD_CHARS.length); }
    input.type = "text";
    input.value = out;
    input.focus();
    input.select();
  }

  // --- Copy ---------------------------------------------------------------
  function copySecret(button) {
    var source = $(button.dataset.copy);
    var status = button.parentElement.querySelector(".copied");
    var text = source ? source.textContent.trim() : "";
    function done(ok) { if (status) { status.textContent = ok ? "Copied." : "Select the token and copy it."; } }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      var range = document.createRange();
      range.selectNodeContents(source);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
  }

  // --- htmx hooks ---------------------------------------------------------
  document.addEventListener("htmx:afterSettle", function () {
    updateSelection();
    armToasts();
    if (acted) {
      acted = false;
      focusOutcome();
    }
  });
  document.addEventListener("htmx:oobAfterSwap", armToasts);
  // A failed request's message: the server sends it as a toast and says so
  // with HX-Retarget; htmx does not swap error answers unless told to.
  function retargeted(xhr) { return xhr && xhr.getResponseHeader("HX-Retarget"); }
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.isError && retargeted(event.detail.xhr)) { event.detail.shouldSwap = true; }
  });
  document.addEventListener("htmx:responseError", function (event) {
    acted = false;
    var xhr = event.detail.xhr;
    if (!retargeted(xhr)) {
      showToast("That did not work (error " + (xhr ? xhr.status : 0) + "). Reload the page and try again.", "error");
    }
    // A token that is gone: show the list as it is now.
    if (xhr && xhr.status === 404 && window.htmx && $("#refresh-list")) { window.htmx.trigger("#refresh-list", "click"); }
  });
  document.addEventListener("htmx:sendError", function () {
    acted = false;
    showToast("The server could not be reached. Check your connection and try again.", "error");
  });

  // --- Passkeys (WebAuthn) -----------------------------------------------
  // A form with data-passkey-create or data-passkey-get asks the server for
  // the ceremony's options (its fields, CSRF token included), lets the
  // browser make or use the passkey, and sends the answer as the form's
  // `credential` field. Binary values travel as base64url, as WebAuthn's
  // JSON does.
  function fromB64url(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) { out[i] = b.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return { publicKey: pk };
  }
  function credentialJson(cred) {
    var r = cred.response, response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) { response.transports = r.getTransports(); }
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    var ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    return JSON.stringify({ id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response, extensions: ext });
  }
  function passkeyErrors(form, field, message) {
    $all("[data-passkey-error-for]", form).forEach(function (p) {
      var mine = p.getAttribute("data-passkey-error-for") === field;
      p.hidden = !mine;
      p.textContent = mine ? message : "";
    });
    $all("[data-passkey-field]", form).forEach(function (input) {
      if (input.getAttribute("data-passkey-field") === field) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
      } else {
        input.removeAttribute("aria-invalid");
      }
    });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var create = form.getAttribute("data-passkey-create");
    var get = form.getAttribute("data-passkey-get");
    if (!create && !get) { return; }
    if (form.elements.credential.value) { return; }
    e.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      passkeyErrors(form, "passkey", "This browser cannot use passkeys here.");
      return;
    }
    var fields = new URLSearchParams();
    $all("input", form).forEach(function (input) {
      if (input.name && input.name !== "credential") { fields.append(input.name, input.value); }
    });
    fetch(create || get, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: fields.toString()
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw { field: body.field || "passkey", message: body.message }; }
        return create
          ? navigator.credentials.create(creationOptions(body))
          : navigator.credentials.get(requestOptions(body));
      });
    }).then(function (cred) {
      if (!cred) { throw { field: "passkey", message: "No passkey was given." }; }
      form.elements.credential.value = credentialJson(cred);
      $all("input[type=password]", form).forEach(function (p) { p.value = ""; });
      form.submit();
    }).catch(function (err) {
      var message = err && err.message ? err.message : "The passkey was not used.";
      if (err && err.name === "NotAllowedError") {
        message = "No passkey was used: it was cancelled, timed out, or none for this site is on this device.";
      } else if (err && err.name === "InvalidStateError") {
        message = "This passkey is registered already.";
      }
      passkeyErrors(form, (err && err.field) || "passkey", message);
    });
  });

  function init() {
    // The page that shows a secret once: a reload asks for the page that
    // says it was made, instead of sending the form again.
    var made = $("[data-replace-url]");
    if (made && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", made.getAttribute("data-replace-url"));
    }
    // A form that came back with errors: its summary is read first.
    var summary = $("#error-summary");
    if (summary) { summary.focus(); }
    armToasts();
    updateSelection();
    syncExpiry();
    syncOwner();
    syncIpsRequired($("#ips") && $("#ips").form);
    document.documentElement.classList.add("js");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
