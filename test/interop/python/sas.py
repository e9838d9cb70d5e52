"""SAS tokens as the Azure IoT SDKs make them (sr URL-encoded, HMAC-SHA256 over sr + newline + se)."""
import base64
import hashlib
import hmac
import time
import urllib.parse


def sas_token(resource, key, key_name=None, ttl=3600, encode_sr=True):
    expiry = int(time.time() + ttl)
    sr = urllib.parse.quote(resource, safe="") if encode_sr else resource
    signed = hmac.HMAC(base64.b64decode(key), (sr + "\n" + str(expiry)).encode("utf-8"), hashlib.sha256).digest()
    sig = urllib.parse.quote(base64.b64encode(signed), safe="")
    token = "SharedAccessSignature sr={}&sig={}&se={}".format(sr, sig, expiry)
    if key_name:
        token += "&skn=" + key_name
    return token, expiry
