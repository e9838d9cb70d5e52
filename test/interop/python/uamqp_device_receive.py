"""A device receiving C2D on uamqp (azure-uamqp-c), as the Azure IoT C SDK's
AMQP transport does: SASL MSSBCBS, put-token for {host}/devices/{id} on
$cbs, a receiver on /devices/{id}/messages/devicebound. The first delivery
is released, the next accepted. Prints one JSON line per message."""
import json
import sys

import uamqp
from uamqp import authentication

from sas import sas_token

host, port, device_id, key, ca, count = sys.argv[1:7]
token, expiry = sas_token(host + "/devices/" + device_id, key)
auth = authentication.SASTokenAuth(audience=host + "/devices/" + device_id, uri="amqps://" + host + "/devices/" + device_id,
                                   token=token, expires_at=expiry, port=int(port), verify=ca)
client = uamqp.ReceiveClient("amqps://" + host + "/devices/" + device_id + "/messages/devicebound", auth=auth,
                             auto_complete=False, timeout=15000, prefetch=1)


def text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v


n = 0
for msg in client.receive_messages_iter():
    n += 1
    print(json.dumps({
        "body": b"".join(msg.get_data()).decode("utf-8"),
        "messageId": text(msg.properties.message_id),
        "headerDeliveryCount": msg.header.delivery_count,
        "annotationDeliveryCount": (msg.annotations or {}).get(b"iothub-deliverycount"),
        "applicationProperties": {text(k): text(v) for k, v in (msg.application_properties or {}).items()},
    }), flush=True)
    if n == 1:
        msg.release()
    else:
        msg.accept()
    if n >= int(count):
        break
client.close()
