/** Shapes shared by the benchmark sections. */
export type Ctx = Record<string, unknown>;

export interface Case {
  name: string;
  /** The case whose median this one is compared with. */
  floor?: string;
  run(ctx: Ctx): void | Promise<void>;
  /** A CPI call: with BENCH_BASELINE it is also run through the baseline checkout's bin/cpi. */
  cpi?: boolean;
  /** Untimed preparation before each run (e.g. the VM a timed delete_vm removes). */
  before?(ctx: Ctx): void | Promise<void>;
  /** Untimed clean-up after each run (e.g. deleting what a timed batch of create_vm made). */
  after?(ctx: Ctx): void | Promise<void>;
  target?(ms: number, medians: Map<string, number>): { text: string; met: boolean };
}

export interface Section {
  key: string;
  title: string;
  runs?: number;
  setup?(): Promise<Ctx> | Ctx;
  teardown?(ctx: Ctx): Promise<void> | void;
  cases: Case[];
}

export interface Measurement {
  section: string;
  name: string;
  ms: number;
  runs: number;
  floor?: string;
  floorMs?: number;
  ratio?: number;
  target?: string;
  met?: boolean;
  /** Largest resident set of one process of the case (MB). */
  peakMb?: number;
}
