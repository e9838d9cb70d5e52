"""A device receiving C2D on Qpid Proton with Proton's defaults: the $cbs
sender and receiver get the same default link name, the put-token reply is
matched by correlation-id, then a receiver on /devices/{id}/messages/devicebound.
The first delivery is released as delivered (modified{delivery-failed}),
the next accepted. Prints one JSON line per event."""
import json
import sys
import uuid

from proton import Message, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import Container

from sas import sas_token

host, port, device_id, key, ca, count = sys.argv[1:7]


class Device(MessagingHandler):
    def __init__(self):
        super(Device, self).__init__(auto_accept=False)
        self.put_id = str(uuid.uuid4())
        self.received = 0
        self.sent = False

    def emit(self, **kw):
        print(json.dumps(kw), flush=True)

    def on_start(self, event):
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(ca)
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        self.conn = event.container.connect("amqps://{}:{}".format(host, port), ssl_domain=domain,
                                            allowed_mechs="ANONYMOUS", reconnect=False)
        self.cbs_sender = event.container.create_sender(self.conn, "$cbs")
        self.cbs_receiver = event.container.create_receiver(self.conn, "$cbs")
        self.emit(event="links", sender=self.cbs_sender.name, receiver=self.cbs_receiver.name)

    def on_sendable(self, event):
        if event.sender == self.cbs_sender and not self.sent:
            self.sent = True
            token, _ = sas_token(host + "/devices/" + device_id, key)
            event.sender.send(Message(id=self.put_id, reply_to="cbs", body=token, properties={
                "operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": host + "/devices/" + device_id}))

    def on_message(self, event):
        if event.receiver == self.cbs_receiver:
            self.accept(event.delivery)
            status = event.message.properties.get("status-code")
            self.emit(event="put-token", status=status, correlated=event.message.correlation_id == self.put_id)
            if status == 200:
                event.container.create_receiver(self.conn, "/devices/{}/messages/devicebound".format(device_id))
            else:
                self.conn.close()
            return
        self.received += 1
        m = event.message
        self.emit(event="message", body=bytes(m.body).decode("utf-8") if isinstance(m.body, (bytes, memoryview)) else str(m.body),
                  messageId=str(m.id), headerDeliveryCount=m.delivery_count,
                  annotationDeliveryCount=(m.annotations or {}).get("iothub-deliverycount"),
                  applicationProperties=dict(m.properties or {}))
        if self.received == 1:
            self.release(event.delivery, delivered=True)
        else:
            self.accept(event.delivery)
        if self.received >= int(count):
            self.conn.close()

    def on_transport_error(self, event):
        self.emit(event="transport-error", condition=str(event.transport.condition))


Container(Device()).run()
