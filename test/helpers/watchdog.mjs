// Stops a test run's embedded PostgreSQL when the process that started it dies without stopping
// it (SIGKILL leaves the postmaster running), after killing the run's test processes, whose
// process group id the runner writes to <data-dir>.group.
// Usage: node watchdog.mjs <parent-pid> <data-dir>
/* global process, setInterval, clearInterval */
import { existsSync, readFileSync, rmSync } from "node:fs";

const [parentPid, dataDir] = [Number(process.argv[2]), process.argv[3]];

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

function postmasterPid() {
  try {
    return Number(readFileSync(`${dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
  } catch {
    return undefined;
  }
}

const timer = setInterval(() => {
  if (!existsSync(dataDir)) process.exit(0); // stopped and cleaned up normally
  if (alive(parentPid)) return;
  clearInterval(timer);
  try {
    process.kill(-Number(readFileSync(`${dataDir}.group`, "utf8")), "SIGKILL");
  } catch {
    // no test processes were started, or they are gone
  }
  rmSync(`${dataDir}.group`, { force: true });
  const pid = postmasterPid();
  if (pid && alive(pid)) process.kill(pid, "SIGINT"); // fast shutdown
  const started = Date.now();
  const wait = setInterval(() => {
    const gone = !pid || !alive(pid);
    if (!gone && Date.now() - started > 5000) process.kill(pid, "SIGKILL");
    if (gone || Date.now() - started > 6000) {
      clearInterval(wait);
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    }
  }, 100);
}, 300);
