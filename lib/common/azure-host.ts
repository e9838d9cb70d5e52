/**
 * Whether a host name is an Azure IoT Hub's (`{name}.azure-devices.net`, and
 * the national clouds' `.azure-devices.cn` and `.azure-devices.us`): the
 * clients apply IoT Hub's own guidance there (HTTPS polling), and the
 * embedded hub's fast defaults elsewhere.
 */
const AZURE_IOT_HUB_SUFFIXES = ['.azure-devices.net', '.azure-devices.cn', '.azure-devices.us'] as const;

export function isAzureIotHubHost(hostName: string): boolean {
  const host = hostName.replace(/:\d+$/, '').toLowerCase();
  return AZURE_IOT_HUB_SUFFIXES.some((s) => host.endsWith(s) && host.length > s.length);
}
