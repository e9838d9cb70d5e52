/**
 * Disk trouble under the store: the hub's data folder is a small tmpfs we
 * mount (root only; as root chmod does not stop writes). Filled up while the
 * hub runs: sends fail with a clear 500001 naming SQLITE_FULL, nothing already
 * accepted is lost, and the same hub serves again once space is freed.
 * Remounted read-only (only possible while the hub is down: Linux refuses a
 * live ro remount of files open for writing): the hub refuses to start with
 * a clear error, and starts with everything once writable again. Skipped
 * when not root or when mount is not permitted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hub } from '../../lib/hub';

function tryMount(dir: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function sendCode(hub: Hub, body: Buffer): Promise<{ ok: string } | { code: number; message: string }> {
  try {
    return { ok: (await hub.send('d1', { body })).messageId };
  } catch (e) {
    return { code: (e as { code: number }).code, message: (e as Error).message };
  }
}

describe('disk trouble: the store folder fills up or turns read-only', function () {
  this.timeout(30_000);
  let dir: string;
  let mounted = false;
  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-disk-'));
    mounted = tryMount(dir);
    if (!mounted) this.skip();
  });
  after(() => {
    if (mounted) execFileSync('umount', [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends fail clearly while the disk is full or read-only, nothing accepted is lost, and the hub serves again', async () => {
    const accepted = new Set<string>();
    let hub = await Hub.open({ dataDir: dir });
    try {
      await hub.registry.createDevice({ deviceId: 'd1' });
      const body = Buffer.alloc(2048, 1);
      for (let i = 0; i < 10; i++) {
        const r = await sendCode(hub, body);
        assert.ok('ok' in r);
        accepted.add(r.ok);
      }

      // Full: a filler file takes the rest of the 4 MB.
      const filler = path.join(dir, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      let full: { code: number; message: string } | undefined;
      for (let i = 0; i < 500 && !full; i++) {
        const r = await sendCode(hub, body);
        if ('ok' in r) accepted.add(r.ok);
        else full = r;
      }
      assert.ok(full, 'a send fails once the disk is full');
      assert.equal(full.code, 500001);
      assert.match(full.message, /could not be stored.*(full|SQLITE_FULL)/i);
      console.log(`      disk full: ${full.code} ${full.message}`);

      // Recovered: the same hub accepts again.
      fs.rmSync(filler);
      const again = await sendCode(hub, body);
      assert.ok('ok' in again, `the hub serves again after space is freed: ${JSON.stringify(again)}`);
      accepted.add(again.ok);
    } finally {
      await hub.close();
    }

    // Read-only. A live remount is refused while SQLite holds the files open
    // ("mount point is busy"), so the folder turns read-only while the hub is
    // down: the hub then refuses to start with a clear error instead of
    // running without a durable store, and starts once the disk is writable.
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    let refused: Error | undefined;
    try {
      const h = await Hub.open({ dataDir: dir });
      await h.close();
    } catch (e) {
      refused = e as Error;
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', dir]);
    }
    assert.ok(refused, 'the hub does not start on a read-only store');
    assert.match(`${refused.message} ${String((refused as { code?: string }).code)}`, /read-?only|SQLITE_READONLY|SQLITE_CANTOPEN|EROFS/i);

    // Nothing accepted was lost: all of it is in the store after a restart.
    hub = await Hub.open({ dataDir: dir });
    try {
      const pending = new Set(hub.queueOf('d1')?.messages.map((e) => e.message.messageId));
      for (const id of accepted) assert.ok(pending.has(id), `accepted ${id} was lost`);
      console.log(`      ${accepted.size} accepted around a full and a read-only disk, all still queued after a restart`);
    } finally {
      await hub.close();
    }
  });
});
