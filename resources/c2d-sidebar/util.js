/*
 * C2D sidebar, editor side: calls to the sidebar's admin routes and the
 * formatting every part shares. Each file of this folder only adds to
 * window.C2DSidebar; c2d-sidebar.html starts the tab once all are loaded.
 */
(function () {
  'use strict';
  var C2D = (window.C2DSidebar = window.C2DSidebar || {});

  /**
   * One call to /c2d/hubs...: a relative URL, so it works under any httpAdminRoot,
   * and through $.ajax, which carries the editor's access token. Resolves with the
   * JSON body; rejects with { status, code, message }.
   */
  C2D.api = function (method, path, body) {
    return new Promise(function (resolve, reject) {
      $.ajax({
        url: 'c2d/hubs' + path,
        method: method,
        dataType: 'json',
        contentType: body === undefined ? undefined : 'application/json',
        data: body === undefined ? undefined : JSON.stringify(body),
        cache: false,
      }).then(
        function (data) {
          resolve(data);
        },
        function (xhr) {
          var e = xhr.responseJSON || {};
          reject({ status: xhr.status, code: e.code, message: e.message || xhr.statusText || String(xhr.status) });
        },
      );
    });
  };

  C2D.path = function () {
    return Array.prototype.map
      .call(arguments, function (p) {
        return '/' + encodeURIComponent(String(p));
      })
      .join('');
  };

  /** A readable error: IoT Hub's code and the hub's words. */
  C2D.errorText = function (e) {
    if (!e) return '';
    return (e.code ? e.code + ' ' : '') + (e.message || String(e));
  };

  C2D.el = function (tag, cls, text) {
    var e = $('<' + tag + '>');
    if (cls) e.addClass(cls);
    if (text !== undefined && text !== null) e.text(String(text));
    return e;
  };

  C2D.button = function (icon, label, title) {
    var b = $('<button type="button" class="red-ui-button red-ui-button-small">');
    if (icon)
      $('<i>')
        .addClass('fa ' + icon)
        .appendTo(b);
    if (label)
      $('<span>')
        .text((icon ? ' ' : '') + label)
        .appendTo(b);
    if (title) RED.popover.tooltip(b, title);
    return b;
  };

  /** "5 s", "3 min", "2 h", "4 d". */
  C2D.duration = function (ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return s + ' s';
    var m = Math.round(s / 60);
    if (m < 90) return m + ' min';
    var h = Math.round(m / 60);
    if (h < 36) return h + ' h';
    return Math.round(h / 24) + ' d';
  };

  C2D.time = function (ms) {
    var d = new Date(ms);
    return d.toLocaleTimeString() + (Date.now() - ms > 86400000 ? ' ' + d.toLocaleDateString() : '');
  };

  C2D.bytes = function (n) {
    return n < 1024 ? n + ' B' : (n / 1024).toFixed(1) + ' KB';
  };

  /** "name=value" lines into properties; throws on a line without "=". */
  C2D.parseProperties = function (text) {
    var out = {};
    String(text || '')
      .split(/\r?\n/)
      .forEach(function (line) {
        var l = line.trim();
        if (l === '') return;
        var eq = l.indexOf('=');
        if (eq <= 0) throw new Error(l);
        out[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
      });
    return out;
  };

  /** Runs fn at most once at a time; a call while one runs makes it run once more after. */
  C2D.coalesce = function (fn) {
    var running = false;
    var again = false;
    return function run() {
      if (running) {
        again = true;
        return;
      }
      running = true;
      Promise.resolve()
        .then(fn)
        .catch(function () {
          /* each part shows its own errors */
        })
        .then(function () {
          running = false;
          if (again) {
            again = false;
            run();
          }
        });
    };
  };
})();
