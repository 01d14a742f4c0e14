/* Exploratory walks: "Use my position" fills the latitude and longitude from the phone's location. */
(function () {
  "use strict";
  var button = document.getElementById("use-position");
  var form = document.getElementById("observation");
  if (!button || !form || !navigator.geolocation) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (position) {
      form.querySelector('input[name="latitude"]').value = position.coords.latitude.toFixed(6);
      form.querySelector('input[name="longitude"]').value = position.coords.longitude.toFixed(6);
      button.disabled = false;
    }, function () {
      button.disabled = false;
    }, { enableHighAccuracy: true, timeout: 15000 });
  });
}());
