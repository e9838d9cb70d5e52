/**
 * The HostName the banner prints: one every SDK stack accepts. The Azure IoT
 * C SDK takes the hub name from the part of HostName before its first dot
 * and refuses a HostName without one, so a dotless hub name (the default,
 * localhost) is printed as 127.0.0.1 when the hub listens there and its
 * certificate covers that address (the Node, Python, .NET and Java SDKs
 * check the certificate against what they dial). The token check does not
 * compare hosts, so the strings work whatever name reached the hub.
 */
import { X509Certificate } from 'node:crypto';

const LOOPBACK_V4 = '127.0.0.1';

export function bannerHost(hubName: string, cert: string, hosts: readonly string[] | undefined): { host: string; note?: string } {
  if (hubName.includes('.')) return { host: hubName };
  const listensOnLoopbackV4 = hosts === undefined || hosts.some((h) => h === 'localhost' || h === LOOPBACK_V4 || h === '0.0.0.0');
  let covered = false;
  try {
    covered = new X509Certificate(cert).checkIP(LOOPBACK_V4) !== undefined;
  } catch {
    covered = false;
  }
  if (listensOnLoopbackV4 && covered) return { host: LOOPBACK_V4 };
  return { host: hubName, note: 'The Azure IoT C SDK needs a HostName with a dot: give --hub-name a dotted name your certificate covers.' };
}
