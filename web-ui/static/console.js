// Times are rendered in UTC on the server; show them in the reader's own time zone (a UTC
// day, `data-day`, stays as it is). On a narrow screen a table folds into rows: each cell
// keeps its column's label.
function dress(root) {
  root.querySelectorAll("time[datetime]:not([data-day])").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.textContent = d.toLocaleString(); t.title = t.getAttribute("datetime"); }
  });
  root.querySelectorAll("table").forEach(function (t) {
    var heads = Array.prototype.map.call(t.querySelectorAll("thead th"), function (th) { return th.textContent.trim(); });
    t.querySelectorAll("tbody tr").forEach(function (r) {
      Array.prototype.forEach.call(r.children, function (c, i) { if (heads[i]) { c.setAttribute("data-label", heads[i]); } });
    });
  });
}
// A stream page updates itself: its health and delivery log (`data-live-src`, a JSON endpoint
// answering each part's HTML by its element's id) are fetched every `data-live` milliseconds,
// with the page's own filters, and a part that changed is swapped in. Without script the page
// is the same, only as fresh as its last load.
document.querySelectorAll("[data-live-src]").forEach(function (live) {
  var src = live.getAttribute("data-live-src") + location.search;
  var every = Number(live.getAttribute("data-live")) || 5000;
  var sent = {};
  setInterval(function () {
    fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (parts) {
        Object.keys(parts || {}).forEach(function (id) {
          var old = document.getElementById(id);
          if (!old || parts[id] === sent[id]) { return; }
          sent[id] = parts[id];
          var t = document.createElement("template");
          t.innerHTML = parts[id];
          var fresh = t.content.firstElementChild;
          if (fresh && fresh.id === id) { old.replaceWith(fresh); dress(fresh); }
        });
      })
      .catch(function () {});
  }, every);
});
dress(document);
// A destructive action asks first: `data-confirm` on the button (or on its form) holds the
// question; cancelling sends nothing, and a yes sends `confirmed=yes`, which the server
// wants (without script it asks on a page of its own instead).
document.querySelectorAll("form").forEach(function (f) {
  f.addEventListener("submit", function (e) {
    var b = e.submitter;
    var q = (b && b.getAttribute("data-confirm")) || f.getAttribute("data-confirm");
    if (!q) { return; }
    if (!window.confirm(q)) { e.preventDefault(); return; }
    var yes = document.createElement("input");
    yes.type = "hidden"; yes.name = "confirmed"; yes.value = "yes";
    f.appendChild(yes);
  });
});
// The create-stream form: push fields only for push; a "select all" box per event group.
document.querySelectorAll("input[name=method]").forEach(function (r) {
  r.addEventListener("change", function () {
    var push = document.getElementById("push-fields");
    if (push) { push.hidden = r.value === "poll" && r.checked; }
  });
});
document.querySelectorAll("input.select-all").forEach(function (all) {
  var boxes = document.querySelectorAll("input[name=event][data-group='" + all.getAttribute("data-group") + "']");
  var sync = function () {
    var n = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
    all.checked = n === boxes.length; all.indeterminate = n > 0 && n < boxes.length;
  };
  all.addEventListener("change", function () { boxes.forEach(function (b) { b.checked = all.checked; }); });
  boxes.forEach(function (b) { b.addEventListener("change", sync); });
  sync();
});
