/*
 * C2D sidebar: the hub summary. Ports, devices (connected / total), pending,
 * locked, dead letters, feedback waiting, messages per second in (sent to
 * the hub) and out (delivered to devices), and a chart of the last minutes.
 */
(function () {
  'use strict';
  var C2D = (window.C2DSidebar = window.C2DSidebar || {});
  var SVG = 'http://www.w3.org/2000/svg';
  var WINDOW_SECONDS = 300;
  var AVERAGE_SECONDS = 5;

  C2D.Summary = function (container, t) {
    var root = C2D.el('div', 'c2d-sidebar-summary').appendTo(container);
    var tiles = C2D.el('div', 'c2d-sidebar-tiles').appendTo(root);
    var values = {};
    function tile(key) {
      var box = C2D.el('div', 'c2d-sidebar-tile').attr('data-tile', key).appendTo(tiles);
      C2D.el('div', 'c2d-sidebar-tile-label', t('summary.' + key)).appendTo(box);
      if (key === 'feedback') RED.popover.tooltip(box, t('summary.feedbackTip'));
      values[key] = C2D.el('div', 'c2d-sidebar-tile-value', '–').appendTo(box);
    }
    ['ports', 'devices', 'pending', 'locked', 'deadLetters', 'feedback', 'rates'].forEach(tile);

    var chartBox = C2D.el('div', 'c2d-sidebar-chart').appendTo(root);
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + WINDOW_SECONDS + ' 40');
    svg.setAttribute('preserveAspectRatio', 'none');
    var lineIn = document.createElementNS(SVG, 'polyline');
    lineIn.setAttribute('class', 'c2d-sidebar-chart-in');
    var lineOut = document.createElementNS(SVG, 'polyline');
    lineOut.setAttribute('class', 'c2d-sidebar-chart-out');
    svg.appendChild(lineIn);
    svg.appendChild(lineOut);
    chartBox[0].appendChild(svg);
    var legend = C2D.el('div', 'c2d-sidebar-chart-legend').appendTo(root);
    C2D.el('span', 'c2d-sidebar-legend-in', t('summary.chartIn')).appendTo(legend);
    C2D.el('span', 'c2d-sidebar-legend-out', t('summary.chartOut')).appendTo(legend);
    var scale = C2D.el('span', 'c2d-sidebar-legend-scale').appendTo(legend);

    /** Epoch second -> [in, out]. */
    var seconds = {};
    var lastSecond = 0;

    function mergeRates(r) {
      if (!r) return;
      var first = r.endSecond - r.in.length + 1;
      for (var i = 0; i < r.in.length; i++) seconds[first + i] = [r.in[i], r.out[i]];
      lastSecond = Math.max(lastSecond, r.endSecond);
      for (var s in seconds) if (Number(s) <= lastSecond - WINDOW_SECONDS) delete seconds[s];
    }

    function at(s) {
      return seconds[s] || [0, 0];
    }

    function draw(endSecond) {
      var max = 1;
      var s;
      for (s = endSecond - WINDOW_SECONDS + 1; s <= endSecond; s++) max = Math.max(max, at(s)[0], at(s)[1]);
      var pin = [];
      var pout = [];
      for (var x = 0; x < WINDOW_SECONDS; x++) {
        s = endSecond - WINDOW_SECONDS + 1 + x;
        pin.push(x + ',' + (39 - (at(s)[0] / max) * 37).toFixed(1));
        pout.push(x + ',' + (39 - (at(s)[1] / max) * 37).toFixed(1));
      }
      lineIn.setAttribute('points', pin.join(' '));
      lineOut.setAttribute('points', pout.join(' '));
      scale.text(t('summary.chartScale', { max: max }));
      var sin = 0;
      var sout = 0;
      for (s = endSecond - AVERAGE_SECONDS + 1; s <= endSecond; s++) {
        sin += at(s)[0];
        sout += at(s)[1];
      }
      values.rates.text(t('summary.ratesValue', { in: formatRate(sin / AVERAGE_SECONDS), out: formatRate(sout / AVERAGE_SECONDS) }));
    }

    function formatRate(r) {
      return r >= 10 ? String(Math.round(r)) : r.toFixed(1);
    }

    function counts(c) {
      values.devices.text(t('summary.devicesValue', { connected: c.connectedDevices, total: c.devices }));
      values.pending.text(String(c.queued + c.locked));
      values.locked.text(String(c.locked));
      values.deadLetters.text(String(c.deadLetters));
      values.feedback.text(t('summary.feedbackValue', { records: c.feedbackPending, batches: c.feedbackBatches }));
    }

    return {
      show: function (summary) {
        var ports = Object.keys(summary.ports).map(function (p) {
          return p + ' ' + summary.ports[p];
        });
        values.ports.text(ports.length ? ports.join(' · ') : t('summary.inProcess'));
        counts(summary);
        seconds = {};
        lastSecond = 0;
        mergeRates(summary.rates);
        draw(summary.rates.endSecond);
      },
      update: function (u) {
        if (u.counts) counts(u.counts);
        mergeRates(u.rates);
      },
      /** Once a second: the chart moves on with the hub's clock, quiet seconds count as 0. */
      tick: function (hubNow) {
        draw(Math.floor(hubNow / 1000) - 1);
      },
      clear: function () {
        Object.keys(values).forEach(function (k) {
          values[k].text('–');
        });
        seconds = {};
      },
    };
  };
})();
