import postgres from "postgres";

/**
 * A database of the soak's own on the given server, dropped afterwards. Vacuum can only remove a
 * row version once no snapshot in its database might still see it, so a soak sharing a database
 * with other work (a test suite running next to it) would measure that work's long transactions,
 * not pgwake. Snapshots held in other databases do not hold back vacuum of this one's tables.
 * Without the right to create databases, the soak runs in the given one and says so.
 */
export async function ownDatabase(
  url: string,
  name: string,
): Promise<{ url: string; own: boolean; note: string; drop(): Promise<void> }> {
  const server = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await server.unsafe(`create database "${name}"`);
  } catch (error) {
    await server.end();
    return {
      url,
      own: false,
      note: `in the given database (could not create one: ${(error as Error).message})`,
      drop: async () => undefined,
    };
  }
  const ownUrl = new URL(url);
  ownUrl.pathname = `/${name}`;
  return {
    url: ownUrl.toString(),
    own: true,
    note: `in a database of its own, ${name}`,
    async drop() {
      await server.unsafe(`drop database if exists "${name}" with (force)`);
      await server.end();
    },
  };
}
