/*
 * C2D sidebar: the tab. A hub picker (every deployed c2d-hub), the summary
 * and device list of the hub picked, or one device. Live: RED.comms topics
 * c2d/hubs (hubs came or went) and c2d/hub/<id> (at most four a second while
 * this tab reads the summary, which it does every LEASE_MS and whenever it
 * is shown); a one-second tick moves the chart and the countdowns.
 */
(function () {
  'use strict';
  var C2D = (window.C2DSidebar = window.C2DSidebar || {});
  var TAB = 'c2d';
  var LEASE_MS = 20000;

  C2D.start = function (plugin) {
    var t = function (key, opts) {
      return plugin._('c2d-sidebar.' + key, opts);
    };
    if (!RED.user.hasPermission('c2d.read')) return;
    var canWrite = RED.user.hasPermission('c2d.write');
    /** The hub picked, and (when it is running) the one the tab reads. */
    var selected = null;
    var hubId = null;
    /** Hub id -> running, from the last list. */
    var known = {};
    var offset = 0;
    var hubTopic = null;

    var content = C2D.el('div', 'c2d-sidebar').toggleClass('c2d-sidebar-readonly', !canWrite);
    var header = C2D.el('div', 'red-ui-sidebar-header c2d-sidebar-header').appendTo(content);
    var picker = $('<select class="c2d-sidebar-hub-picker">').appendTo(header);
    var reload = C2D.button('fa-refresh', '', t('header.refresh')).addClass('c2d-sidebar-refresh').appendTo(header);
    var helpButton = C2D.button('fa-question', '', t('header.help')).addClass('c2d-sidebar-help-button').appendTo(header);
    var scroll = C2D.el('div', 'c2d-sidebar-scroll').appendTo(content);
    var help = C2D.el('div', 'c2d-sidebar-help hide').appendTo(scroll);
    ['what', 'summary', 'devices', 'device', 'actions', 'security'].forEach(function (k) {
      C2D.el('p', '', t('help.' + k)).appendTo(help);
    });
    if (!canWrite) C2D.el('p', 'c2d-sidebar-help-readonly', t('help.readOnly')).appendTo(help);
    helpButton.on('click', function () {
      help.toggleClass('hide');
    });
    var notice = C2D.el('div', 'c2d-sidebar-notice hide').appendTo(scroll);
    var hubView = C2D.el('div', 'c2d-sidebar-hub-view').appendTo(scroll);

    var ctx = {
      t: t,
      canWrite: canWrite,
      hubId: function () {
        return hubId;
      },
      hubNow: function () {
        return Date.now() + offset;
      },
      clockFrom: function (hubNow) {
        offset = hubNow - Date.now();
      },
      open: function (id) {
        openDevice(id);
      },
      back: function () {
        closeDevice();
      },
    };
    var summary = C2D.Summary(hubView, t);
    var devices = C2D.DeviceList(hubView, ctx);
    var device = C2D.DeviceView(scroll, ctx);

    function openDevice(id) {
      hubView.addClass('hide');
      device.open(id);
    }

    function closeDevice() {
      device.close();
      hubView.removeClass('hide');
      devices.refresh();
    }

    function say(text) {
      notice.text(text || '').toggleClass('hide', !text);
    }

    function visible() {
      return content.is(':visible');
    }

    function onHubUpdate(topic, u) {
      if (!hubId || topic !== 'c2d/hub/' + hubId) return;
      offset = u.at - Date.now();
      summary.update(u);
      devices.update(u);
      device.update(u);
    }

    function follow(id) {
      if (hubTopic) RED.comms.unsubscribe(hubTopic, onHubUpdate);
      hubTopic = id ? 'c2d/hub/' + id : null;
      if (hubTopic) RED.comms.subscribe(hubTopic, onHubUpdate);
    }

    var loadSummary = C2D.coalesce(function () {
      var id = hubId;
      if (!id) return undefined;
      return C2D.api('GET', C2D.path(id)).then(
        function (s) {
          if (id !== hubId) return;
          say('');
          offset = s.now - Date.now();
          summary.show(s);
          devices.update({ changed: [], counts: s });
        },
        function (e) {
          if (id !== hubId) return;
          summary.clear();
          say(e.status === 404 ? t('notice.notRunning') : C2D.errorText(e));
        },
      );
    });

    /** Picks a hub; only a running one is asked for anything (hubId stays null otherwise). */
    function pick(id, running) {
      var next = running ? id : null;
      selected = id;
      if (id && !running) say(t('notice.notRunning'));
      if (next === hubId) return;
      hubId = next;
      follow(next);
      device.close();
      hubView.toggleClass('hide', !next);
      summary.clear();
      devices.reset();
      if (!next) return;
      say('');
      loadSummary();
      devices.refresh();
    }

    function hubLabel(h) {
      var n = RED.nodes.node(h.id);
      var name = h.name || (n && n.name) || t('header.unnamed', { id: h.id });
      return h.running ? name : t('header.notRunning', { name: name });
    }

    var loadHubs = C2D.coalesce(function () {
      return C2D.api('GET', '').then(
        function (hubs) {
          picker.empty();
          hubs.forEach(function (h) {
            $('<option>').val(h.id).text(hubLabel(h)).appendTo(picker);
          });
          known = {};
          hubs.forEach(function (h) {
            known[h.id] = h.running;
          });
          if (hubs.length === 0) {
            say(t('notice.noHubs'));
            pick(null, false);
            return;
          }
          var first =
            hubs.filter(function (h) {
              return h.running;
            })[0] || hubs[0];
          var id = selected in known ? selected : first.id;
          picker.val(id);
          if (id === hubId && known[id]) {
            loadSummary();
            devices.refresh();
            if (device.deviceId()) device.refresh();
          } else pick(id, known[id]);
        },
        function (e) {
          say(C2D.errorText(e));
        },
      );
    });

    picker.on('change', function () {
      pick(picker.val(), known[picker.val()]);
    });
    reload.on('click', function () {
      loadHubs();
    });
    // Only while the tab is shown: an editor that does not look asks for nothing.
    RED.comms.subscribe('c2d/hubs', function () {
      if (visible()) loadHubs();
    });

    setInterval(function () {
      if (!visible() || !hubId) return;
      var now = ctx.hubNow();
      summary.tick(now);
      devices.tick(now);
      device.tick(now);
    }, 1000);
    setInterval(function () {
      if (visible()) loadSummary();
    }, LEASE_MS);

    RED.actions.add('c2d:show-sidebar', function () {
      RED.sidebar.show(TAB);
    });
    RED.sidebar.addTab({
      id: TAB,
      label: t('tab.label'),
      name: t('tab.name'),
      iconClass: 'fa fa-exchange',
      content: content,
      enableOnEdit: true,
      action: 'c2d:show-sidebar',
      onchange: function () {
        loadHubs();
      },
    });
    // Deploys start and stop hubs; the list follows.
    RED.events.on('deploy', function () {
      if (visible()) loadHubs();
    });
    if (visible()) loadHubs();
  };
})();
