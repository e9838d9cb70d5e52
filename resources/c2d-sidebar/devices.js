/*
 * C2D sidebar: the device list. Id, online / offline with its transports,
 * pending, locked, dead letters, last activity; filtered by id. The server
 * pages it (PAGE rows at a time), so a hub of 10,000 devices costs the
 * editor one page.
 */
(function () {
  'use strict';
  var C2D = (window.C2DSidebar = window.C2DSidebar || {});
  var PAGE = 50;

  C2D.DeviceList = function (container, ctx) {
    var t = ctx.t;
    var root = C2D.el('div', 'c2d-sidebar-devices').appendTo(container);
    var bar = C2D.el('div', 'c2d-sidebar-devices-bar').appendTo(root);
    var search = $('<input type="text" class="c2d-sidebar-device-filter">').attr('placeholder', t('devices.filter')).appendTo(bar);
    var filter = '';
    var offset = 0;
    var total = 0;
    var devicesOnHub = -1;
    var visible = {};
    var rows = [];
    search.searchBox({
      delay: 300,
      change: function () {
        filter = $(this).val();
        offset = 0;
        refresh();
      },
    });

    if (ctx.canWrite) {
      var add = C2D.button('fa-plus', t('devices.create'), t('devices.createTip')).addClass('c2d-sidebar-device-create').appendTo(bar);
      var form = C2D.el('div', 'c2d-sidebar-create-form hide').appendTo(root);
      var idInput = $('<input type="text" class="c2d-sidebar-create-id">').attr('placeholder', t('devices.newId')).appendTo(form);
      var ok = C2D.button('fa-check', t('devices.createOk')).addClass('c2d-sidebar-create-ok').appendTo(form);
      add.on('click', function () {
        form.toggleClass('hide');
        idInput.trigger('focus');
      });
      var create = function () {
        var id = String(idInput.val() || '').trim();
        if (!id) return;
        C2D.api('POST', C2D.path(ctx.hubId()) + '/devices', { deviceId: id }).then(
          function () {
            idInput.val('');
            form.addClass('hide');
            RED.notify(t('devices.created', { id: id }), { type: 'success', timeout: 2000 });
            ctx.open(id);
          },
          function (e) {
            RED.notify(t('errors.action', { error: C2D.errorText(e) }), 'error');
          },
        );
      };
      ok.on('click', create);
      idInput.on('keydown', function (e) {
        if (e.key === 'Enter') create();
      });
    }

    var head = C2D.el('div', 'c2d-sidebar-row c2d-sidebar-row-head').appendTo(root);
    ['id', 'pending', 'locked', 'deadLetters'].forEach(function (k) {
      C2D.el('span', 'c2d-sidebar-col-' + k, t('devices.col.' + k)).appendTo(head);
    });
    var list = C2D.el('div', 'c2d-sidebar-device-rows').appendTo(root);
    var pager = C2D.el('div', 'c2d-sidebar-pager').appendTo(root);
    var prev = C2D.button('fa-angle-left', '', t('devices.prev')).appendTo(pager);
    var range = C2D.el('span', 'c2d-sidebar-pager-range').appendTo(pager);
    var next = C2D.button('fa-angle-right', '', t('devices.next')).appendTo(pager);
    prev.on('click', function () {
      offset = Math.max(0, offset - PAGE);
      refresh();
    });
    next.on('click', function () {
      if (offset + PAGE < total) {
        offset += PAGE;
        refresh();
      }
    });

    function connectionText(d) {
      if (d.status === 'disabled') return t('devices.disabled');
      return d.connections.length ? t('devices.online', { transports: d.connections.join(', ') }) : t('devices.offline');
    }

    function render(page) {
      total = page.total;
      list.empty();
      visible = {};
      rows = page.items;
      if (page.items.length === 0) C2D.el('div', 'c2d-sidebar-empty', filter ? t('devices.noneMatch') : t('devices.none')).appendTo(list);
      page.items.forEach(function (d) {
        visible[d.deviceId] = true;
        var state = d.status === 'disabled' ? 'disabled' : d.connections.length ? 'online' : 'offline';
        var row = C2D.el('div', 'c2d-sidebar-row c2d-sidebar-device').attr('data-device', d.deviceId).attr('data-state', state).appendTo(list);
        var id = C2D.el('span', 'c2d-sidebar-col-id').appendTo(row);
        var name = C2D.el('span', 'c2d-sidebar-device-name').appendTo(id);
        C2D.el('i', 'fa fa-circle c2d-sidebar-dot c2d-sidebar-dot-' + state).appendTo(name);
        C2D.el('span', 'c2d-sidebar-device-id', d.deviceId).appendTo(name);
        var sub = C2D.el('span', 'c2d-sidebar-device-sub').appendTo(id);
        C2D.el('span', 'c2d-sidebar-col-connection', connectionText(d)).appendTo(sub);
        C2D.el('span', 'c2d-sidebar-col-lastActivity')
          .attr('data-at', d.lastActivityUtc || '')
          .appendTo(sub);
        C2D.el('span', 'c2d-sidebar-col-pending', d.pending).appendTo(row);
        C2D.el('span', 'c2d-sidebar-col-locked', d.locked).appendTo(row);
        C2D.el('span', 'c2d-sidebar-col-deadLetters', d.deadLetters).appendTo(row);
        row.on('click', function () {
          ctx.open(d.deviceId);
        });
      });
      range.text(total === 0 ? '' : t('devices.range', { from: page.offset + 1, to: page.offset + page.items.length, total: total }));
      prev.prop('disabled', page.offset === 0);
      next.prop('disabled', page.offset + page.items.length >= total);
      tick(ctx.hubNow());
    }

    function tick(hubNow) {
      list.find('.c2d-sidebar-col-lastActivity').each(function () {
        var at = Number($(this).attr('data-at'));
        $(this).text(at ? ' · ' + t('devices.ago', { time: C2D.duration(hubNow - at) }) : '');
      });
    }

    var refresh = C2D.coalesce(function () {
      var hub = ctx.hubId();
      if (!hub) return undefined;
      return C2D.api('GET', C2D.path(hub) + '/devices?offset=' + offset + '&limit=' + PAGE + '&filter=' + encodeURIComponent(filter)).then(
        function (page) {
          if (hub !== ctx.hubId()) return;
          if (page.items.length === 0 && offset > 0 && page.total > 0) {
            offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
            refresh();
            return;
          }
          render(page);
        },
        function (e) {
          list.empty();
          C2D.el('div', 'c2d-sidebar-error', C2D.errorText(e)).appendTo(list);
        },
      );
    });

    return {
      refresh: refresh,
      tick: tick,
      reset: function () {
        offset = 0;
        devicesOnHub = -1;
        list.empty();
        range.text('');
      },
      /** A live update: read the page again when a device on it changed, or devices came or went. */
      update: function (u) {
        var again =
          u.changed === null ||
          u.changed.some(function (id) {
            return visible[id];
          });
        if (u.counts && u.counts.devices !== devicesOnHub) {
          again = again || devicesOnHub !== -1;
          devicesOnHub = u.counts.devices;
        }
        if (again) refresh();
      },
      rows: function () {
        return rows;
      },
    };
  };
})();
