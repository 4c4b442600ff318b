import assert from "node:assert/strict";
import { test } from "node:test";
import { COMMANDS } from "../../src/cli/run.js";
import { duration, json, time } from "../../src/cli/format.js";
import { keyValues, table } from "../../src/cli/table.js";
import { cli } from "./capture.js";

test("every command has --help, with its usage line and the database options", async () => {
  for (const command of COMMANDS) {
    const result = await cli([command.name, "--help"]);
    assert.equal(result.code, 0, command.name);
    assert.match(result.stdout, new RegExp(`^Usage: pgwake ${command.name}\\b`), command.name);
    assert.equal(result.stdout.includes("--url URL"), command.database, command.name);
    assert.match(result.stdout, /-h, --help/);
  }
  const overview = await cli(["--help"]);
  for (const command of COMMANDS)
    assert.match(overview.stdout, new RegExp(`\\n  ${command.name} `));
  assert.deepEqual(await cli(["help", "send"]), {
    code: 0,
    stdout: (await cli(["send", "--help"])).stdout,
    stderr: "",
  });
});

test("bad command lines exit with 2 and one line that points to --help", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["frobnicate"], /^pgwake: unknown command "frobnicate"; see pgwake --help$/],
    [["--nope"], /^pgwake: unknown option --nope; see pgwake --help$/],
    [
      ["queues", "--nope"],
      /^pgwake: unknown option --nope for pgwake queues; see pgwake queues --help$/,
    ],
    [
      ["send"],
      /^pgwake: missing QUEUE and JSON: pgwake send takes QUEUE JSON; see pgwake send --help$/,
    ],
    [["send", "q", "{}", "extra"], /^pgwake: unexpected argument "extra" for pgwake send/],
    [["send", "q", "{not json"], /^pgwake: the payload is not valid JSON \(.*\): quote it/],
    [["send", "q", "1", "--attributes", "{"], /^pgwake: --attributes is not valid JSON/],
    [["send", "q", "1", "--priority", "high"], /^pgwake: --priority takes an integer/],
    [
      ["send", "q", "1", "--priority", "-5"],
      /--priority needs a value; to give one that starts with a dash, write --priority=-…/,
    ],
    [["send", "q", "1", "--delay", "soon"], /^pgwake: --delay takes a duration such as 500ms/],
    [
      ["jobs", "--state", "lost"],
      /^pgwake: --state takes one of queued, running, completed, failed, cancelled, got "lost"/,
    ],
    [["jobs", "--limit", "0"], /^pgwake: --limit takes an integer from 1 to 1000, got "0"/],
    [["job", "42"], /^pgwake: "42" is not a job id: job ids are UUIDs/],
    [["cancel"], /^pgwake: missing ID: pgwake cancel takes ID/],
    [["run", "--max-body", "huge"], /^pgwake: --max-body takes a size such as 65536, 512kb or 1mb/],
    [
      ["run", "--url", "postgres://x@127.0.0.1/x", "--data-dir", "d"],
      /--data-dir and --pg-port are for the embedded database/,
    ],
    [["create-queue", "q", "--backoff-factor", "x"], /^pgwake: --backoff-factor takes a number/],
    [
      ["queues", "--no-listen", "--listen-url", "postgres://x@127.0.0.1/x"],
      /^pgwake: --no-listen and --listen-url contradict each other/,
    ],
  ];
  for (const [argv, message] of cases) {
    const result = await cli(argv);
    assert.equal(result.code, 2, argv.join(" "));
    assert.equal(result.stdout, "", argv.join(" "));
    assert.match(result.stderr, message, argv.join(" "));
    assert.equal(result.stderr.split("\n").length, 1, argv.join(" "));
    assert.match(result.stderr, /see pgwake( \S+)? --help$/, argv.join(" "));
  }
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: pgwake <command>/);
});

test("options may come before the command; version needs no database", async () => {
  const version = await cli(["version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  assert.deepEqual(await cli(["--version"]), version);
  // --url before the command is read as the command's own; with no server behind it, it fails (1).
  const early = await cli(["--url", "postgres://nobody@127.0.0.1:1/none", "queues"]);
  assert.equal(early.code, 1);
  assert.match(
    early.stderr,
    /^pgwake: \w+ failed: connect ECONNREFUSED .*Check that PostgreSQL is reachable/,
  );
});

test("a command without a database says how to give one", async () => {
  const result = await cli(["queues"]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^pgwake: no database given: .*set DATABASE_URL/);
});

test("tables align columns, right-align numbers and show nothing as -", () => {
  assert.equal(
    table(
      ["QUEUE", "QUEUED", "LEASE", "DEAD LETTER"],
      [
        ["emails", 12, "30s", null],
        ["billing.invoices", 3, "1500ms", "dead"],
      ],
    ),
    [
      "QUEUE             QUEUED   LEASE  DEAD LETTER",
      "emails                12     30s  -",
      "billing.invoices       3  1500ms  dead",
    ].join("\n"),
  );
  assert.equal(
    keyValues([
      ["id", "x"],
      ["leased by", null],
    ]),
    "id         x\nleased by  -",
  );
  assert.deepEqual([0, 1500, 30_000, 90_000, 3_600_000, 7 * 86_400_000].map(duration), [
    "0ms",
    "1500ms",
    "30s",
    "90s",
    "1h",
    "7d",
  ]);
  assert.equal(time(new Date("2026-11-29T19:30:01.123Z")), "2026-11-29T19:30:01Z");
  assert.equal(json({ text: "x".repeat(50) }, 20), '{"text":"xxxxxxxxxx…');
});

test("PGWAKE_PREPARE must say true or false", async () => {
  const result = await cli(["queues", "--url", "postgres://x@127.0.0.1:1/x"], {
    PGWAKE_PREPARE: "maybe",
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^pgwake: PGWAKE_PREPARE must be true or false, got "maybe"/);
});
