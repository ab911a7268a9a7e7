/**
 * Checkpoints for PGlite, run by the collector because nothing else runs
 * them. PGlite is a single-user PostgreSQL backend: PostgreSQL asks for a
 * checkpoint when the WAL reaches max_wal_size only under a postmaster
 * (xlog.c: `IsUnderPostmaster && XLogCheckpointNeeded`), and there is no
 * checkpointer process for checkpoint_timeout. Measured 2026-12-05
 * (pg_control_checkpoint()): while the collector stored 10,000 readings/s
 * the last checkpoint stayed at the database's creation, and the WAL grew
 * by 270-500 MB a minute, none of it removed until the collector closed
 * (tens of GB an hour, every byte of it replayed after a crash).
 *
 * So after a commit, at most once per `lookEveryMs`, the WAL written since
 * the last checkpoint is looked at (one small query), and a CHECKPOINT is
 * run when it reaches `walBytes`, or when anything was written and
 * `everyMs` has passed (what checkpoint_timeout would do). A CHECKPOINT
 * writes the dirty buffers (at most shared_buffers, 128 MB; with fsync off
 * no sync) and removes the WAL before it: ~90-110 ms here after 140 MB of
 * WAL, and pg_wal went from 9 segments to 4. It runs between transactions
 * (PGlite runs one statement at a time): the next commit waits for it, no
 * acknowledgement is held for it.
 */
import type { PGlite } from "@electric-sql/pglite";

export interface CheckpointPolicy {
  /** WAL since the last checkpoint that calls for one, in bytes (default 128 MiB). */
  walBytes: number;
  /** A checkpoint at least this often while anything is written, in ms (default 300,000: PostgreSQL's checkpoint_timeout). */
  everyMs: number;
  /** The WAL is looked at no more often than this, in ms (default 1,000). */
  lookEveryMs: number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = { walBytes: 128 * 1024 * 1024, everyMs: 300_000, lookEveryMs: 1000 };

/** What was done, for tests and the debug lines. */
export interface CheckpointCounts {
  checkpoints: number;
  failures: number;
}

export class PgliteCheckpoints {
  readonly counts: CheckpointCounts = { checkpoints: 0, failures: 0 };
  private lookedAt = Number.NEGATIVE_INFINITY;
  private lastCheckpointAt = performance.now();
  private looking: Promise<void> | undefined = undefined;

  constructor(
    private readonly db: PGlite,
    private readonly policy: CheckpointPolicy = DEFAULT_CHECKPOINT_POLICY,
    /** Told when a checkpoint fails (once per failure; the next look tries again). */
    private readonly warn: (line: string) => void = (line) => process.stderr.write(line + "\n"),
  ) {}

  /** A transaction committed: look at the WAL, if it is time (not awaited by the commit). */
  afterCommit(): void {
    const now = performance.now();
    if (this.looking !== undefined || now - this.lookedAt < this.policy.lookEveryMs) {
      return;
    }
    this.lookedAt = now;
    this.looking = this.look().finally(() => {
      this.looking = undefined;
    });
  }

  /** The look under way, if any (close() waits for it, so that a CHECKPOINT does not meet a closed database). */
  settled(): Promise<void> {
    return this.looking ?? Promise.resolve();
  }

  private async look(): Promise<void> {
    try {
      const { rows } = await this.db.query<{ behind: string }>("SELECT (pg_current_wal_lsn() - redo_lsn)::text AS behind FROM pg_control_checkpoint()");
      const behind = Number(rows[0]?.behind ?? 0);
      const due = behind >= this.policy.walBytes || (behind > 0 && performance.now() - this.lastCheckpointAt >= this.policy.everyMs);
      if (due) {
        await this.db.exec("CHECKPOINT");
        this.lastCheckpointAt = performance.now();
        this.counts.checkpoints++;
      }
    } catch (error) {
      this.counts.failures++;
      this.warn(`collect: PGlite checkpoint failed (${(error as Error).message}); its WAL grows until the next one succeeds`);
    }
  }
}
