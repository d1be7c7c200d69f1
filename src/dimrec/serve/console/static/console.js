// dimrec console: the jobs token lives in this tab's sessionStorage and goes with every htmx
// request as a bearer token (never in a URL, never in a cookie).
(function () {
  "use strict";
  const KEY = "dimrec-jobs-token";
  document.addEventListener("htmx:configRequest", function (event) {
    const token = sessionStorage.getItem(KEY);
    if (token) {
      event.detail.headers["Authorization"] = "Bearer " + token;
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    const input = document.getElementById("token");
    if (!input) {
      return;
    }
    input.value = sessionStorage.getItem(KEY) || "";
    function keep(event) {
      if (event) {
        event.preventDefault();
      }
      sessionStorage.setItem(KEY, input.value);
      htmx.trigger(document.body, "token-changed");
    }
    input.addEventListener("change", function () { keep(null); });
    document.getElementById("token-form").addEventListener("submit", keep);
  });
})();
