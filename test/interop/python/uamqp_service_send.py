"""A C2D send as azure-iot-hub (Python) does it on uamqp, i.e. azure-uamqp-c:
JWTTokenAuth with a policy SAS (put-token on $cbs after SASL MSSBCBS), a
SendClient on amqps://{host}/messages/devicebound. Prints one JSON line."""
import json
import sys

import uamqp
from uamqp import authentication

from sas import sas_token

host, port, key_name, key, ca, device_id, message_id = sys.argv[1:8]


class Token:
    def __init__(self, token, expires_on):
        self.token = token
        self.expires_on = expires_on


def get_token():
    token, expiry = sas_token(host, key, key_name, encode_sr=False)
    return Token(token, expiry)


auth = authentication.JWTTokenAuth(audience="https://" + host, uri="https://" + host, get_token=get_token,
                                   token_type=b"servicebus.windows.net:sastoken", port=int(port), verify=ca)
auth.update_token()
client = uamqp.SendClient(target="amqps://" + host + "/messages/devicebound", auth=auth)
props = uamqp.message.MessageProperties()
props.message_id = message_id
props.to = "/devices/{}/messages/devicebound".format(device_id)
client.queue_message(uamqp.Message(b"from uamqp", properties=props, application_properties={"stack": "uamqp"}))
results = client.send_all_messages(close_on_done=True)
print(json.dumps({"results": [str(r) for r in results]}))
