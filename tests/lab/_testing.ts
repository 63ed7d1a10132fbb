/** Helpers shared by this folder's tests. */

/** A Unix echo server; close() stops it and its connections. */
export function unixEcho(path: string): { close(): Promise<void> } {
  const listener = Deno.listen({ transport: "unix", path });
  const conns = new Set<Deno.Conn>();
  const serving: Promise<void>[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        serving.push((async () => {
          try {
            await conn.readable.pipeTo(conn.writable, { preventClose: true });
            await conn.closeWrite();
          } catch {
            // Closed by close().
          } finally {
            conns.delete(conn);
            try {
              conn.close();
            } catch {
              // Closed already.
            }
          }
        })());
      }
    } catch {
      // Listener closed.
    }
  })();
  return {
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await accepting;
      await Promise.all(serving);
    },
  };
}
