/*
 * C2D sidebar: one device. Its queue (peek: state, each lock's countdown,
 * delivery count, expiry), its dead letters (requeue, delete), the trace of
 * a message, and, for users with c2d.write only, the actions: send a test
 * message, cancel a message, purge, drop its connection (a KillTcp fault),
 * enable / disable, delete, and its
 * connection strings (the only place a key reaches the editor, fetched when
 * asked for and never kept).
 */
(function () {
  'use strict';
  var C2D = (window.C2DSidebar = window.C2DSidebar || {});

  C2D.DeviceView = function (container, ctx) {
    var t = ctx.t;
    var deviceId = null;
    var detail = null;
    var root = C2D.el('div', 'c2d-sidebar-device-view hide').appendTo(container);

    var head = C2D.el('div', 'c2d-sidebar-device-head').appendTo(root);
    C2D.button('fa-angle-left', t('device.back'))
      .addClass('c2d-sidebar-back')
      .appendTo(head)
      .on('click', function () {
        ctx.back();
      });
    var title = C2D.el('span', 'c2d-sidebar-device-title').appendTo(head);
    var info = C2D.el('div', 'c2d-sidebar-device-info').appendTo(root);
    var problem = C2D.el('div', 'c2d-sidebar-error hide').appendTo(root);

    function api(method, suffix, body) {
      return C2D.api(method, C2D.path(ctx.hubId(), 'devices', deviceId) + (suffix || ''), body);
    }

    function failed(e) {
      RED.notify(t('errors.action', { error: C2D.errorText(e) }), 'error');
    }

    function confirmThen(text, label, fn) {
      var n = RED.notify(text, {
        modal: true,
        fixed: true,
        type: 'warning',
        buttons: [
          {
            text: t('device.cancel'),
            click: function () {
              n.close();
            },
          },
          {
            text: label,
            class: 'primary c2d-sidebar-confirm',
            click: function () {
              n.close();
              fn();
            },
          },
        ],
      });
    }

    // ------------------------------------------------------------ actions (c2d.write)
    var actions = C2D.el('div', 'c2d-sidebar-actions').appendTo(root);
    // Only for c2d.write: a read-only user's page has no form, no button and no place a key could go.
    var sendForm = ctx.canWrite ? C2D.el('div', 'c2d-sidebar-form c2d-sidebar-send-form hide').appendTo(root) : $();
    var connPanel = ctx.canWrite ? C2D.el('div', 'c2d-sidebar-form c2d-sidebar-conn-panel hide').appendTo(root) : $();
    var toggleStatus;
    if (ctx.canWrite) {
      C2D.button('fa-envelope-o', t('device.send'), t('device.sendTip'))
        .addClass('c2d-sidebar-action-send')
        .appendTo(actions)
        .on('click', function () {
          sendForm.toggleClass('hide');
        });
      C2D.button('fa-eraser', t('device.purge'), t('device.purgeTip'))
        .addClass('c2d-sidebar-action-purge')
        .appendTo(actions)
        .on('click', function () {
          confirmThen(t('device.purgeConfirm', { id: deviceId }), t('device.purge'), function () {
            api('DELETE', '/messages').then(function (r) {
              RED.notify(t('device.purged', { count: r.purged }), { type: 'success', timeout: 2000 });
              refresh();
            }, failed);
          });
        });
      // Tests a device's reconnect logic: its connections are cut at once (KillTcp), as a network failure would.
      C2D.button('fa-chain-broken', t('device.drop'), t('device.dropTip'))
        .addClass('c2d-sidebar-action-drop')
        .appendTo(actions)
        .on('click', function () {
          api('POST', '/faults', { type: 'KillTcp', delayInSecs: 0 }).then(function () {
            RED.notify(t('device.dropped', { id: deviceId }), { type: 'success', timeout: 2000 });
            refresh();
          }, failed);
        });
      toggleStatus = C2D.button('fa-ban', t('device.disable'))
        .addClass('c2d-sidebar-action-status')
        .appendTo(actions)
        .on('click', function () {
          var to = detail && detail.status === 'enabled' ? 'disabled' : 'enabled';
          api('PATCH', '', { status: to }).then(refresh, failed);
        });
      C2D.button('fa-trash-o', t('device.delete'), t('device.deleteTip'))
        .addClass('c2d-sidebar-action-delete')
        .appendTo(actions)
        .on('click', function () {
          var id = deviceId;
          confirmThen(t('device.deleteConfirm', { id: id }), t('device.delete'), function () {
            api('DELETE', '').then(function () {
              RED.notify(t('device.deleted', { id: id }), { type: 'success', timeout: 2000 });
              ctx.back();
            }, failed);
          });
        });
      C2D.button('fa-key', t('device.connectionString'), t('device.connectionStringTip'))
        .addClass('c2d-sidebar-action-conn')
        .appendTo(actions)
        .on('click', function () {
          if (!connPanel.hasClass('hide')) {
            connPanel.addClass('hide').empty();
            return;
          }
          api('GET', '/connection-strings').then(showConnectionStrings, failed);
        });

      var row = function (label, input) {
        var r = C2D.el('div', 'form-row').appendTo(sendForm);
        C2D.el('label', '', label).appendTo(r);
        input.appendTo(r);
        return input;
      };
      var bodyInput = row(t('device.body'), $('<textarea rows="3" class="c2d-sidebar-send-body">').val('{"hello":"device"}'));
      var jsonBox = $('<input type="checkbox" class="c2d-sidebar-send-json" checked>');
      row(t('device.json'), jsonBox);
      var propsInput = row(t('device.properties'), $('<textarea rows="2" class="c2d-sidebar-send-props">').attr('placeholder', 'name=value'));
      var ackInput = row(t('device.ack'), $('<select class="c2d-sidebar-send-ack">'));
      ['none', 'positive', 'negative', 'full'].forEach(function (a) {
        $('<option>').val(a).text(a).appendTo(ackInput);
      });
      ackInput.val('full');
      var idInput = row(t('device.messageId'), $('<input type="text" class="c2d-sidebar-send-id">').attr('placeholder', t('device.messageIdAuto')));
      C2D.button('fa-paper-plane', t('device.sendOk'))
        .addClass('c2d-sidebar-send-ok')
        .appendTo(C2D.el('div', 'form-row c2d-sidebar-form-buttons').appendTo(sendForm))
        .on('click', function () {
          var properties;
          try {
            properties = C2D.parseProperties(propsInput.val());
          } catch (e) {
            RED.notify(t('device.badProperty', { line: e.message }), 'error');
            return;
          }
          var msg = { body: String(bodyInput.val() || ''), properties: properties, ack: ackInput.val(), messageId: String(idInput.val() || '') };
          if (jsonBox.prop('checked')) msg.contentType = 'application/json';
          api('POST', '/messages', msg).then(function (r) {
            RED.notify(t('device.sent', { id: r.messageId }), { type: 'success', timeout: 2000 });
            idInput.val('');
            showTrace(r.messageId);
            refresh();
          }, failed);
        });
    }

    function showConnectionStrings(r) {
      connPanel.empty().removeClass('hide');
      var names = Object.keys(r.connectionStrings);
      if (names.length === 0) C2D.el('div', 'c2d-sidebar-empty', t('device.noPorts')).appendTo(connPanel);
      names.forEach(function (p) {
        var line = C2D.el('div', 'form-row c2d-sidebar-conn-row').attr('data-protocol', p).appendTo(connPanel);
        C2D.el('label', '', p.toUpperCase()).appendTo(line);
        var input = $('<input type="password" readonly class="c2d-sidebar-conn-value">').val(r.connectionStrings[p]).appendTo(line);
        C2D.button('fa-eye', '', t('device.show'))
          .appendTo(line)
          .on('click', function () {
            input.attr('type', input.attr('type') === 'password' ? 'text' : 'password');
          });
        C2D.button('fa-clipboard', '', t('device.copy'))
          .addClass('c2d-sidebar-conn-copy')
          .appendTo(line)
          .on('click', function () {
            RED.clipboard.copyText(r.connectionStrings[p], $(this), 'node-red-contrib-c2d/c2d-sidebar:c2d-sidebar.device.copied');
          });
      });
    }

    // ------------------------------------------------------------ queue, dead letters, trace
    function section(cls, label) {
      var s = C2D.el('div', 'c2d-sidebar-section ' + cls).appendTo(root);
      var h = C2D.el('div', 'c2d-sidebar-section-head').appendTo(s);
      var name = C2D.el('span', '', label).appendTo(h);
      return { box: s, head: h, name: name, body: C2D.el('div', 'c2d-sidebar-section-body').appendTo(s) };
    }
    var queue = section('c2d-sidebar-queue', t('device.queue'));
    var dead = section('c2d-sidebar-dead', t('device.deadLetters'));
    var trace = section('c2d-sidebar-trace', t('device.trace'));
    var traceInput = $('<input type="text" class="c2d-sidebar-trace-id">').attr('placeholder', t('device.traceId')).appendTo(trace.head);
    C2D.button('fa-search', '', t('device.traceShow'))
      .addClass('c2d-sidebar-trace-go')
      .appendTo(trace.head)
      .on('click', function () {
        showTrace(traceInput.val());
      });
    traceInput.on('keydown', function (e) {
      if (e.key === 'Enter') showTrace(traceInput.val());
    });
    var tracing = '';

    function messageLink(id) {
      return C2D.el('a', 'c2d-sidebar-message-id', id)
        .attr('href', '#')
        .attr('title', t('device.traceShow'))
        .on('click', function (e) {
          e.preventDefault();
          showTrace(id);
        });
    }

    function bodyLine(m) {
      if (!m.body) return null;
      var text = m.body.encoding === 'base64' ? t('device.base64', { text: m.body.text }) : m.body.text;
      return C2D.el('div', 'c2d-sidebar-body', text + (m.body.truncated ? ' …' : ''));
    }

    function renderQueue(items) {
      queue.name.text(t('device.queueCount', { count: items.length }));
      queue.body.empty();
      if (items.length === 0) C2D.el('div', 'c2d-sidebar-empty', t('device.queueEmpty')).appendTo(queue.body);
      items.forEach(function (m) {
        var r = C2D.el('div', 'c2d-sidebar-message c2d-sidebar-queue-row')
          .attr('data-message-id', m.messageId)
          .attr('data-state', m.state)
          .appendTo(queue.body);
        var top = C2D.el('div', 'c2d-sidebar-message-top').appendTo(r);
        C2D.el('span', 'c2d-sidebar-badge c2d-sidebar-state-' + m.state, m.state === 'Invisible' ? t('device.locked') : t('device.pending')).appendTo(top);
        messageLink(m.messageId).appendTo(top);
        if (ctx.canWrite) {
          C2D.button('fa-times', '', t('device.cancelMessage'))
            .addClass('c2d-sidebar-cancel-message')
            .appendTo(top)
            .on('click', function () {
              api('DELETE', '/messages/' + encodeURIComponent(m.messageId)).then(refresh, failed);
            });
        }
        var facts = C2D.el('div', 'c2d-sidebar-message-facts').appendTo(r);
        if (m.state === 'Invisible') C2D.el('span', 'c2d-sidebar-lock').attr('data-until', m.lockedUntilUtc).appendTo(facts);
        C2D.el('span', 'c2d-sidebar-deliveries', t('device.deliveries', { count: m.deliveryCount })).appendTo(facts);
        C2D.el('span', 'c2d-sidebar-expiry').attr('data-until', m.expiryTimeUtc).appendTo(facts);
        C2D.el('span', '', C2D.bytes(m.size) + ' · ack ' + m.ack).appendTo(facts);
        var props = Object.keys(m.properties || {});
        if (props.length)
          C2D.el(
            'div',
            'c2d-sidebar-props',
            props
              .map(function (k) {
                return k + '=' + m.properties[k];
              })
              .join(', '),
          ).appendTo(r);
        var b = bodyLine(m);
        if (b) b.appendTo(r);
      });
    }

    function renderDead(page) {
      dead.name.text(t('device.deadCount', { count: page.total }));
      dead.body.empty();
      if (page.total === 0) C2D.el('div', 'c2d-sidebar-empty', t('device.deadEmpty')).appendTo(dead.body);
      page.items.forEach(function (m) {
        var r = C2D.el('div', 'c2d-sidebar-message c2d-sidebar-dead-row')
          .attr('data-message-id', m.messageId)
          .attr('data-sequence', m.sequenceNumber)
          .appendTo(dead.body);
        var top = C2D.el('div', 'c2d-sidebar-message-top').appendTo(r);
        C2D.el('span', 'c2d-sidebar-badge c2d-sidebar-reason', t('device.reason.' + m.reason)).appendTo(top);
        messageLink(m.messageId).appendTo(top);
        if (ctx.canWrite) {
          C2D.button('fa-repeat', '', t('device.requeue'))
            .addClass('c2d-sidebar-requeue')
            .appendTo(top)
            .on('click', function () {
              api('POST', '/dead-letters/' + m.sequenceNumber + '/requeue').then(function (res) {
                RED.notify(t('device.requeued', { id: res.messageId }), { type: 'success', timeout: 2000 });
                showTrace(m.messageId);
                refresh();
              }, failed);
            });
          C2D.button('fa-trash-o', '', t('device.deleteDead'))
            .addClass('c2d-sidebar-delete-dead')
            .appendTo(top)
            .on('click', function () {
              api('DELETE', '/dead-letters/' + m.sequenceNumber).then(refresh, failed);
            });
        }
        var facts = C2D.el('div', 'c2d-sidebar-message-facts').appendTo(r);
        C2D.el('span', 'c2d-sidebar-ago').attr('data-at', m.deadLetteredTimeUtc).attr('data-label', 'device.deadAgo').appendTo(facts);
        C2D.el('span', '', t('device.deliveries', { count: m.deliveryCount })).appendTo(facts);
        C2D.el('span', '', C2D.bytes(m.size) + ' · ack ' + m.ack).appendTo(facts);
        var props = Object.keys(m.properties || {});
        if (props.length)
          C2D.el(
            'div',
            'c2d-sidebar-props',
            props
              .map(function (k) {
                return k + '=' + m.properties[k];
              })
              .join(', '),
          ).appendTo(r);
        var b = bodyLine(m);
        if (b) b.appendTo(r);
      });
      if (page.total > page.items.length)
        C2D.el('div', 'c2d-sidebar-empty', t('device.deadMore', { shown: page.items.length, total: page.total })).appendTo(dead.body);
    }

    var loadTrace = C2D.coalesce(function () {
      var id = tracing;
      if (!id) return undefined;
      return C2D.api('GET', C2D.path(ctx.hubId(), 'trace', id)).then(
        function (r) {
          if (id !== tracing) return;
          trace.body.empty();
          if (r.entries.length === 0) C2D.el('div', 'c2d-sidebar-empty', t('device.traceNone', { id: id })).appendTo(trace.body);
          r.entries.forEach(function (e) {
            var row = C2D.el('div', 'c2d-sidebar-trace-row').attr('data-event', e.event).appendTo(trace.body);
            C2D.el('span', 'c2d-sidebar-trace-time', C2D.time(e.time)).appendTo(row);
            C2D.el('span', 'c2d-sidebar-trace-event', t('device.event.' + e.event)).appendTo(row);
            var more = [];
            if (e.deviceId !== deviceId) more.push(e.deviceId);
            if (e.transport) more.push(e.transport);
            if (e.deliveryCount !== undefined) more.push(t('device.deliveries', { count: e.deliveryCount }));
            if (e.reason) more.push(e.reason);
            if (e.sequenceNumber !== undefined) more.push('#' + e.sequenceNumber);
            C2D.el('span', 'c2d-sidebar-trace-more', more.join(' · ')).appendTo(row);
          });
        },
        function (e) {
          trace.body.empty();
          C2D.el('div', 'c2d-sidebar-error', C2D.errorText(e)).appendTo(trace.body);
        },
      );
    });

    function showTrace(id) {
      tracing = String(id || '').trim();
      traceInput.val(tracing);
      trace.body.empty();
      loadTrace();
    }

    function render(d) {
      detail = d;
      title.text(d.deviceId);
      var state =
        d.status === 'disabled'
          ? t('devices.disabled')
          : d.connections.length
            ? t('devices.online', { transports: d.connections.join(', ') })
            : t('devices.offline');
      info.empty();
      C2D.el(
        'i',
        'fa fa-circle c2d-sidebar-dot c2d-sidebar-dot-' + (d.status === 'disabled' ? 'disabled' : d.connections.length ? 'online' : 'offline'),
      ).appendTo(info);
      C2D.el('span', 'c2d-sidebar-device-state', ' ' + state).appendTo(info);
      C2D.el('span', '', ' · ' + t('device.auth', { type: d.authenticationType })).appendTo(info);
      C2D.el('span', 'c2d-sidebar-ago')
        .attr('data-at', d.lastActivityUtc || '')
        .attr('data-label', 'device.active')
        .appendTo(info);
      if (toggleStatus) {
        toggleStatus.find('span').text(' ' + (d.status === 'enabled' ? t('device.disable') : t('device.enable')));
        toggleStatus.find('i').attr('class', 'fa ' + (d.status === 'enabled' ? 'fa-ban' : 'fa-check'));
      }
      renderQueue(d.queue);
      renderDead(d.deadLetterPage);
      tick(ctx.hubNow());
    }

    var refresh = C2D.coalesce(function () {
      var id = deviceId;
      if (!id) return undefined;
      return api('GET', '').then(
        function (d) {
          if (id !== deviceId) return;
          problem.addClass('hide');
          ctx.clockFrom(d.now);
          render(d);
        },
        function (e) {
          if (id !== deviceId) return;
          problem.text(e.code === 404001 ? t('device.gone', { id: id }) : C2D.errorText(e)).removeClass('hide');
        },
      );
    });

    function tick(hubNow) {
      root.find('.c2d-sidebar-lock').each(function () {
        var left = Number($(this).attr('data-until')) - hubNow;
        $(this).text(t('device.lockLeft', { time: C2D.duration(left) }));
      });
      root.find('.c2d-sidebar-expiry').each(function () {
        $(this).text(t('device.expiresIn', { time: C2D.duration(Number($(this).attr('data-until')) - hubNow) }));
      });
      root.find('.c2d-sidebar-ago').each(function () {
        var at = Number($(this).attr('data-at'));
        $(this).text(at ? ' · ' + t($(this).attr('data-label') || 'devices.ago', { time: C2D.duration(hubNow - at) }) : '');
      });
    }

    return {
      open: function (id) {
        deviceId = id;
        detail = null;
        title.text(id);
        info.empty();
        problem.addClass('hide');
        sendForm.addClass('hide');
        connPanel.addClass('hide').empty();
        queue.body.empty();
        dead.body.empty();
        trace.body.empty();
        tracing = '';
        traceInput.val('');
        root.removeClass('hide');
        refresh();
      },
      close: function () {
        deviceId = null;
        connPanel.addClass('hide').empty();
        root.addClass('hide');
      },
      deviceId: function () {
        return deviceId;
      },
      refresh: refresh,
      tick: tick,
      update: function (u) {
        if (!deviceId) return;
        if (u.changed === null || u.changed.indexOf(deviceId) >= 0) {
          refresh();
          if (tracing) loadTrace();
        }
      },
    };
  };
})();
