/* lab_cli.h — the lab's commands: `ticketrush load`, `db`, `table`, `ceiling`, `script-ceiling`,
 * `report`, `jtl-audit`, `fault-proxy`, `chaos-table`.
 * main.c's command table calls these with argv[0] being the command name; each parses its own
 * options (an options.h table, --help) and returns the process exit code. These decide what a
 * person sees; the lab's library files never print. */
#ifndef TR_LAB_CLI_H
#define TR_LAB_CLI_H

#include <stdio.h>

#include "common/options.h"

/* Exit codes of the lab commands. */
#define LAB_EXIT_OK 0      /* done (anomalies found by the audit are shown, not failed on) */
#define LAB_EXIT_FAILURE 1 /* operational failure: no server, no PostgreSQL, I/O */
#define LAB_EXIT_USAGE 2   /* bad options */
#define LAB_EXIT_ANOMALY 3 /* load --expect-clean and an R1–R8 count is not zero */

/* load: runs a scenario against a running server, audits the concert in PostgreSQL, writes
 * the run file and prints its path and table row. See --help. */
int lab_cli_load(int argc, char **argv);

/* db schema | seed | open-sale: creates the tables, seeds a scenario's concert and customers
 * (the numbers of scenario.h's table), or opens a concert's sale in Redis. In db_cli.c. */
int lab_cli_db(int argc, char **argv);

/* table FILE…: prints the comparison table of run files. */
int lab_cli_table(int argc, char **argv);

/* ceiling: drives GET /livez to measure the load generator's and the server's ceiling. */
int lab_cli_ceiling(int argc, char **argv);

/* script-ceiling: drives the redis-atomic purchase script alone against Redis
 * (script_ceiling.h) and prints calls/s and tickets/s. */
int lab_cli_script_ceiling(int argc, char **argv);
/* ticketrush store-ceiling: P, the persister alone storing a stream of tickets. */
int lab_cli_store_ceiling(int argc, char **argv);

/* report RUN.json…: writes the HTML report of run files (report.h) and prints its path. */
int lab_cli_report(int argc, char **argv);

/* jtl-audit --jtl FILE --strategy LABEL: audits a JMeter run from its CSV results (jtl.h) as
 * load audits its own, writes the run file and prints its table row. */
int lab_cli_jtl_audit(int argc, char **argv);

/* fault-proxy --listen PORT --to HOST:PORT --control PORT: the fault suite's TCP proxy
 * (faultproxy.h) until SIGTERM. In chaos_cli.c. */
int lab_cli_fault_proxy(int argc, char **argv);

/* chaos-table RUN.json…: the fault suite's table (chaos.h); exit 3 when a row FAILs. */
int lab_cli_chaos_table(int argc, char **argv);

/* For the command-line files (main.c, lab/..._cli.c): parses argv[first..argc) against opts
 * (options.h). -h/--help: usage(stdout, opts), returns LAB_EXIT_OK. An error: writes
 * "PREFIX: why" to stderr (and, for an unknown option, that `ticketrush CMD --help` lists them),
 * returns LAB_EXIT_USAGE.
 * Otherwise returns -1 (go on) with the *npos positional arguments in argv[first..]. */
int lab_cli_options(const char *prefix, const char *cmd, const tr_opt *opts,
                    void (*usage)(FILE *f, const tr_opt *opts), int argc, char **argv, int first,
                    int *npos);

#endif
