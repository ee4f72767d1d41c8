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

  // --- Dialogs ------------------------------------------------------------
  function openDialog(trigger) {
    var dialog = document.getElementById(trigger.dataset.dialog);
    if (!dialog || typeof dialog.showModal !== "function") { return false; }
    lastTrigger = trigger;
    var form = $("form", dialog);
    var name = trigger.dataset.name || "";
    $all("[data-slot=name]", dialog).forEach(function (el) { el.textContent = name; });
    var count = $all("#tokens-form input[name=names]:checked").length;
    $all("[data-slot=count]", dialog).forEach(function (el) { el.textContent = String(count); });
    if (form && form.dataset.actionTemplate) {
      form.setAttribute("action", form.dataset.actionTemplate.replace("{name}", encodeURIComponent(name)));
    }
    dialog.showModal();
    var cancel = $("[data-cancel]", dialog);
    if (cancel) { cancel.focus(); }
    return true;
  }

  function confirmDialog(dialog, form) {
    dialog.close();
    if (form.dataset.submits) {
      var target = $(form.dataset.submits);
      if (target) { target.submit(); }
      return;
    }
    var action = form.getAttribute("action");
    var source = dialog.id === "revoke-selected-dialog" ? $("#tokens-form") : form;
    if (window.htmx && $("#tokens-table")) {
      window.htmx.ajax("POST", action, { source: source, target: "#tokens-table", swap: "outerHTML" });
    } else {
      source.setAttribute("action", action);
      source.submit();
    }
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest("[data-dialog]");
    if (trigger && openDialog(trigger)) {
      event.preventDefault();
      var gear = $("#gear");
      if (gear) { gear.removeAttribute("open"); }
      return;
    }
    var cancel = event.target.closest("dialog [data-cancel]");
    if (cancel) {
      cancel.closest("dialog").close();
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

  document.addEventListener("submit", function (event) {
    var dialog = event.target.closest("dialog");
    if (dialog) {
      event.preventDefault();
      confirmDialog(dialog, event.target);
    }
  });

  document.addEventListener("close", function (event) {
    if (event.target.tagName === "DIALOG" && lastTrigger && document.contains(lastTrigger)) {
      lastTrigger.focus();
    }
  }, true);

  // --- Selection and Revoke Selected --------------------------------------
  function updateSelection() {
    var boxes = $all("#tokens-form input[name=names]");
    var checked = boxes.filter(function (b) { return b.checked; }).length;
    var button = $("#revoke-selected");
    if (button) {
      button.disabled = checked === 0;
      button.textContent = checked ? "Revoke Selected (" + checked + ")" : "Revoke Selected";
    }
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

  // --- Expiry -------------------------------------------------------------
  function syncExpiry() {
    var dated = $("#expires-date");
    var block = $("#expiry-date");
    if (dated && block) { block.hidden = !dated.checked; }
  }

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t.id === "select-all") {
      $all("#tokens-form input[name=names]").forEach(function (b) { b.checked = t.checked; });
      updateSelection();
    } else if (t.name === "names") {
      updateSelection();
    } else if (t.name === "acl" && t.type === "checkbox") {
      privilegeChanged(t);
    } else if (t.name === "expires") {
      syncExpiry();
      if (t.value === "date") { $("#expires_on").focus(); }
    }
  });

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
  document.addEventListener("htmx:afterSettle", function () { updateSelection(); armToasts(); });
  document.addEventListener("htmx:oobAfterSwap", armToasts);
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    showToast(status === 404 ? "That token no longer exists. The list was refreshed." : "That did not work (error " + status + "). Reload the page and try again.", "error");
    if (status === 404 && window.htmx && $("#refresh-list")) { window.htmx.trigger("#refresh-list", "click"); }
  });

  function init() {
    armToasts();
    updateSelection();
    syncExpiry();
    document.documentElement.classList.add("js");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
