import type postgres from "postgres";
import { horizonHolder, type HorizonHolder } from "./table-stats.js";

/**
 * Stands in for autovacuum on a server that has it turned off (`autovacuum = off`, as on some CI
 * machines), so that the soak still measures what it is about: whether pgwake lets vacuum remove
 * the jobs table's dead tuples (no transaction of its own holding the xmin horizon back), and
 * whether the table then stops growing. It does what the autovacuum launcher would do for this
 * table: every `autovacuum_naptime`, VACUUM it if its dead tuples passed
 * `autovacuum_vacuum_threshold + scale factor × reltuples` (the table's own scale factor,
 * 0.02 since migration 0001, else the server's).
 */
export class StandInVacuum {
  /** Each VACUUM run, with the session holding the xmin horizon back when it started. */
  readonly runs: Array<{ atS: number; holder: HorizonHolder | null }> = [];
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly admin: postgres.Sql,
    private readonly schema: string,
    private readonly naptimeS: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.visit()).catch(this.onError);
    }, this.naptimeS * 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async visit(): Promise<void> {
    const table = `"${this.schema.replaceAll('"', '""')}"._jobs`;
    const [row] = await this.admin.unsafe<Array<{ due: boolean }>>(
      `select s.n_dead_tup > current_setting('autovacuum_vacuum_threshold')::float8
                             + coalesce(
                                 (select option_value::float8 from pg_options_to_table(c.reloptions)
                                   where option_name = 'autovacuum_vacuum_scale_factor'),
                                 current_setting('autovacuum_vacuum_scale_factor')::float8)
                               * greatest(c.reltuples, 0) as due
         from pg_stat_user_tables s join pg_class c on c.oid = s.relid
        where s.relid = $1::regclass`,
      [table],
    );
    if (!row?.due) return;
    const holder = await horizonHolder(this.admin);
    await this.admin.unsafe(`vacuum ${table}`);
    this.runs.push({ atS: (performance.now() - this.started) / 1000, holder });
  }
}
