/**
 * The C2D sidebar plugin, runtime side (the editor side is c2d-sidebar.html
 * and resources/c2d-sidebar/): admin routes that read and change the hubs of
 * the deployed c2d-hub nodes, and live updates through RED.comms while an
 * editor watches (sidebar/service.ts). The browser reaches hub state only
 * through these.
 */
import type { RED } from './support/red';
import { startSidebar } from './sidebar/service';

export = function register(red: RED): void {
  (red as unknown as { plugins: { registerPlugin(id: string, def: object): void } }).plugins.registerPlugin('c2d-sidebar', {});
  startSidebar(red);
};
