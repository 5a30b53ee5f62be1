/* options.h — the one command-line option parser of ticketrush: each command describes its
 * options in a table (long name, short letter, kind and range, destination, environment
 * variable, help text) and gets the parsing, the error messages and its --help lines from it.
 * Not the commands themselves (main.c, lab/..._cli.c): this never prints an error or exits. */
#ifndef TR_OPTIONS_H
#define TR_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    TR_OPT_FLAG,   /* takes no value: *(bool *)dest = true */
    TR_OPT_INT,    /* a decimal integer in [min, max]: *(int *)dest (the range must fit an int) */
    TR_OPT_I64,    /* a decimal integer in [min, max]: *(int64_t *)dest */
    TR_OPT_STRING, /* *(const char **)dest = the value, which points into argv or environ */
    TR_OPT_CHOICE, /* one of choices: *(int *)dest = its index */
    TR_OPT_LIST,   /* repeatable string: ((const char **)dest)[(*count)++], at most max of them */
} tr_opt_kind;

/* One option. A table is an array ended by an entry whose name is NULL. -h and --help are
 * always known and need no entry. */
typedef struct tr_opt {
    const char *name; /* long name without "--", e.g. "port" */
    char short_name;  /* e.g. 'p' for -p; 0: none */
    tr_opt_kind kind;
    void *dest;                 /* where the value goes (see tr_opt_kind); never NULL */
    int64_t min, max;           /* INT, I64: the accepted range; LIST: max = capacity of dest */
    const char *const *choices; /* CHOICE: the accepted values, NULL-terminated */
    const char *env;            /* read, with the same rules, when the option is not given and
                                   the variable is set and not empty; NULL: none */
    const char *metavar;        /* the value's name in --help ("N", "CONNINFO"); FLAG: NULL */
    const char *help;           /* help text; '\n' starts a continuation line */
    int *count;                 /* times given on the command line (the environment does not
                                   count); optional, but required for LIST; set to 0 first */
    /* STRING: optional check of the value's form; false refuses it (TR_OPTS_ERROR) with the
     * whole message in err, which names `what` ("--redis" or "TICKETRUSH_REDIS") */
    bool (*check)(const char *value, const char *what, char *err, size_t errlen);
} tr_opt;

typedef enum {
    TR_OPTS_OK,      /* parsed; positional arguments in argv[first .. first + *npos) */
    TR_OPTS_HELP,    /* -h or --help was given: print the command's help */
    TR_OPTS_ERROR,   /* errbuf says why: a missing or invalid value */
    TR_OPTS_UNKNOWN, /* errbuf says why: an option not in the table, or an ambiguous prefix */
} tr_opts_status;

/* Parses argv[first .. argc) against table, GNU style: "--name VALUE", "--name=VALUE",
 * "-x VALUE", "-xVALUE", a unique prefix of a long name ("--strat"), options and positional
 * arguments in any order, "--" ends the options. A value may start with '-' ("--sales-open
 * -60"). The positional arguments are moved, in their order, to argv[first .. first + *npos).
 * Then each option not given that names an environment variable takes it. The last of an
 * option given twice wins (LIST: each is kept). Destinations keep their values (the defaults)
 * unless the option is given. On an error errbuf holds one sentence for a person, e.g.
 * invalid value "x" for --port: expected an integer in 0..65535
 * invalid value "x" for TICKETRUSH_PORT: expected an integer in 0..65535
 * invalid value "x" for --durability: expected fast or strict
 * unknown option "--prot"                                     (TR_OPTS_UNKNOWN)
 * and destinations may be partly set. */
tr_opts_status tr_opts_parse(const tr_opt *table, int argc, char **argv, int first, int *npos,
                             char *errbuf, size_t errlen);

/* Writes the table's --help lines to f: "  -p, --port N" and the help text in a column, its
 * continuation lines aligned, " [ENV]" after it when the option reads an environment variable,
 * and "  -h, --help" last. */
void tr_opts_help(FILE *f, const tr_opt *table);

#endif
