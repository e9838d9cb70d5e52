import assert from 'node:assert/strict';
import {
  parseConnectionString,
  parseDeviceConnectionString,
  parseServiceConnectionString,
  formatConnectionString,
  splitHostPort,
} from '../../lib/common/connection-string';
import { C2DError } from '../../lib/common/errors';

const KEY = 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=';

function refuses(cs: string, words: RegExp): void {
  assert.throws(
    () => parseDeviceConnectionString(cs),
    (e: unknown) => e instanceof C2DError && e.code === 400004 && words.test(e.message),
  );
}

describe('connection strings', () => {
  it('parses a device string, values may contain =', () => {
    const p = parseDeviceConnectionString(`HostName=localhost:5671;DeviceId=dev1;SharedAccessKey=${KEY}`);
    assert.deepEqual(p, { HostName: 'localhost:5671', DeviceId: 'dev1', SharedAccessKey: KEY });
  });

  it('parses x509, gateway and policy parts and formats them back', () => {
    const cs = 'HostName=h.azure-devices.net;DeviceId=d;GatewayHostName=gw;x509=true';
    const p = parseDeviceConnectionString(cs);
    assert.equal(p.x509, true);
    assert.equal(formatConnectionString(p), cs);
    const s = parseServiceConnectionString(`HostName=h;SharedAccessKeyName=service;SharedAccessKey=${KEY}`);
    assert.equal(s.SharedAccessKeyName, 'service');
  });

  it('names the missing or bad part', () => {
    refuses('DeviceId=d;SharedAccessKey=' + KEY, /HostName is missing/);
    refuses('HostName=h;SharedAccessKey=' + KEY, /DeviceId is missing/);
    refuses('HostName=h;DeviceId=d', /one of SharedAccessKey/);
    refuses(`HostName=h;DeviceId=d;SharedAccessKey=${KEY};x509=true`, /only one/);
    refuses('HostName=h;DeviceId=d;Foo=bar;x509=true', /unknown part 'Foo'/);
    refuses('HostName=h;DeviceId=d;SharedAccessKey=not base64!', /not base64/);
    refuses('HostName=h;DeviceId;x509=true', /'DeviceId' has no value/);
    refuses('HostName=h;DeviceId=a;DeviceId=b;x509=true', /appears twice/);
    assert.throws(() => parseServiceConnectionString(`HostName=h;DeviceId=d;SharedAccessKey=${KEY}`), /device connection string/);
    assert.throws(() => parseConnectionString(''), /empty/);
  });

  it('refuses a ModuleId (400004): modules are not in scope, and ignoring it would connect as the device', () => {
    const cs = `HostName=h.azure-devices.net;DeviceId=d;ModuleId=m1;SharedAccessKey=${KEY}`;
    refuses(cs, /ModuleId=m1.*modules are not supported/);
    refuses(cs.replace('ModuleId', 'moduleid'), /modules are not supported/);
    assert.throws(
      () => parseConnectionString(`HostName=h;ModuleId=m;SharedAccessKeyName=s;SharedAccessKey=${KEY}`),
      (e: unknown) => e instanceof C2DError && e.code === 400004,
    );
  });

  it('splits host and port', () => {
    assert.deepEqual(splitHostPort('localhost:5671'), { host: 'localhost', port: 5671 });
    assert.deepEqual(splitHostPort('localhost'), { host: 'localhost' });
  });
});
