/* rnncourse book: MathJax 2's Hub.Queue for the ipywidgets controls on a MathJax 3 page.
   The controls call MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]) whenever window.MathJax exists;
   MathJax 3 has no Hub. Whatever object window.MathJax becomes (the configuration first, MathJax itself
   once loaded) is given a Hub whose Queue typesets the element with MathJax 3 when it is ready. */
(function () {
  "use strict";
  var current = window.MathJax;

  function whenReady(run) {
    var mj = current;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(run);
    } else {
      window.addEventListener("load", function () {
        if (current && current.startup && current.startup.promise) current.startup.promise.then(run);
      });
    }
  }

  var hub = {
    Queue: function () {
      var items = Array.prototype.slice.call(arguments);
      whenReady(function () {
        items.forEach(function (item) {
          if (Array.isArray(item) && item[0] === "Typeset" && current && current.typesetPromise) {
            current.typesetPromise(item[2] ? [item[2]] : undefined).catch(function () {});
          }
        });
      });
    },
  };

  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) {
      try { value.Hub = hub; } catch (e) { /* a frozen object: leave it */ }
    }
    return value;
  }

  current = withHub(current);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
})();
