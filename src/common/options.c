/* options.c — the table-driven option parser behind options.h. */
#include "common/options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define OPTS_MAX 128       /* entries of one table */
#define HELP_COLUMN_MAX 28 /* where help texts start at most; longer names push theirs right */
#define HELP_WIDTH 80      /* an environment variable that would pass it goes on its own line */

static size_t table_len(const tr_opt *t) {
    size_t n = 0;
    while (t[n].name != NULL) n++;
    return n;
}

/* "fast or strict", "auto, live, plain or off" */
static void choices_text(const char *const *c, char *buf, size_t len) {
    size_t n = 0, used = 0;
    while (c[n]) n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 i == 0       ? ""
                                 : i + 1 == n ? " or "
                                              : ", ",
                                 c[i]);
}

/* Stores value into o's destination. `what` names the source in messages: "--port" or
 * "TICKETRUSH_PORT". */
static bool opt_set(const tr_opt *o, const char *value, const char *what, char *err, size_t len) {
    switch (o->kind) {
    case TR_OPT_FLAG: *(bool *)o->dest = true; return true;
    case TR_OPT_STRING:
        if (o->check && !o->check(value, what, err, len)) return false;
        *(const char **)o->dest = value;
        return true;
    case TR_OPT_INT:
    case TR_OPT_I64: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || isspace((unsigned char)value[0]) ||
            v < o->min || v > o->max) {
            tr_errf(err, len,
                    "invalid value \"%s\" for %s: expected an integer in %" PRId64 "..%" PRId64,
                    value, what, o->min, o->max);
            return false;
        }
        if (o->kind == TR_OPT_INT) *(int *)o->dest = (int)v;
        else *(int64_t *)o->dest = (int64_t)v;
        return true;
    }
    case TR_OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(o->choices[i], value) == 0) {
                *(int *)o->dest = i;
                return true;
            }
        char expected[256];
        choices_text(o->choices, expected, sizeof expected);
        tr_errf(err, len, "invalid value \"%s\" for %s: expected %s", value, what, expected);
        return false;
    case TR_OPT_LIST:
        if (*o->count >= o->max) {
            tr_errf(err, len, "too many %s options: at most %" PRId64, what, o->max);
            return false;
        }
        ((const char **)o->dest)[*o->count] = value;
        return true; /* the caller counts it */
    }
    tr_errf(err, len, "option %s has no kind", what);
    return false;
}

/* The entry named by the long option `name` (n bytes, no "--"): an exact name, else the one
 * name it is a prefix of. -1 unknown, -2 ambiguous (err says so). */
static int find_long(const tr_opt *t, size_t nt, const char *name, size_t n, char *err,
                     size_t len) {
    int found = -1, matches = 0;
    for (size_t i = 0; i < nt; i++) {
        if (strncmp(t[i].name, name, n) != 0) continue;
        if (t[i].name[n] == '\0') return (int)i;
        found = (int)i;
        matches++;
    }
    if (matches == 1) return found;
    if (matches == 0) {
        tr_errf(err, len, "unknown option \"--%.*s\"", (int)n, name);
        return -1;
    }
    size_t used =
        (size_t)snprintf(err, len, "option \"--%.*s\" is ambiguous: it could be", (int)n, name);
    for (size_t i = 0; i < nt && used < len; i++)
        if (strncmp(t[i].name, name, n) == 0)
            used += (size_t)snprintf(err + used, len - used, " --%s", t[i].name);
    return -2;
}

tr_opts_status tr_opts_parse(const tr_opt *table, int argc, char **argv, int first, int *npos,
                             char *errbuf, size_t errlen) {
    size_t nt = table_len(table);
    bool given[OPTS_MAX] = {false};
    *npos = 0;
    if (nt > OPTS_MAX) {
        tr_errf(errbuf, errlen, "an option table has more than %d entries", OPTS_MAX);
        return TR_OPTS_ERROR;
    }
    for (size_t i = 0; i < nt; i++)
        if (table[i].count) *table[i].count = 0;
    int w = first; /* positional arguments are moved down to argv[w] */
    bool options_end = false;
    for (int r = first; r < argc; r++) {
        char *a = argv[r];
        if (options_end || a[0] != '-' || a[1] == '\0') {
            argv[w++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_end = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return TR_OPTS_HELP;
        int idx = -1;
        const char *value = NULL; /* given in the same word: --name=VALUE, -xVALUE */
        char what[80];
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            idx = find_long(table, nt, name, n, errbuf, errlen);
            if (idx < 0) return TR_OPTS_UNKNOWN;
            if (eq) value = eq + 1;
            snprintf(what, sizeof what, "--%s", table[idx].name);
        } else {
            for (size_t i = 0; i < nt && idx < 0; i++)
                if (table[i].short_name == a[1]) idx = (int)i;
            if (idx < 0) {
                tr_errf(errbuf, errlen, "unknown option \"-%c\"", a[1]);
                return TR_OPTS_UNKNOWN;
            }
            if (a[2] != '\0') value = a + 2;
            snprintf(what, sizeof what, "-%c", a[1]);
        }
        const tr_opt *o = &table[idx];
        if (o->kind == TR_OPT_FLAG && value != NULL) {
            tr_errf(errbuf, errlen, "option %s takes no value", what);
            return TR_OPTS_ERROR;
        }
        if (o->kind != TR_OPT_FLAG && value == NULL) {
            if (r + 1 >= argc) {
                tr_errf(errbuf, errlen, "option %s needs a value (%s)", what,
                        o->metavar ? o->metavar : "one");
                return TR_OPTS_ERROR;
            }
            value = argv[++r];
        }
        if (!opt_set(o, value, what, errbuf, errlen)) return TR_OPTS_ERROR;
        given[idx] = true;
        if (o->count) ++*o->count;
    }
    *npos = w - first;
    for (size_t i = 0; i < nt; i++) {
        const char *v = table[i].env && !given[i] ? getenv(table[i].env) : NULL;
        if (v == NULL || v[0] == '\0') continue;
        if (!opt_set(&table[i], v, table[i].env, errbuf, errlen)) return TR_OPTS_ERROR;
        if (table[i].kind == TR_OPT_LIST) ++*table[i].count;
    }
    return TR_OPTS_OK;
}

/* "  -p, --port N" or "      --bind ADDR" into buf; returns its length. */
static size_t help_left(const tr_opt *o, char *buf, size_t len) {
    int n = snprintf(buf, len, "  %c%c%s--%s%s%s", o->short_name ? '-' : ' ',
                     o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

void tr_opts_help(FILE *f, const tr_opt *table) {
    static const tr_opt help = {
        .name = "help", .short_name = 'h', .kind = TR_OPT_FLAG, .help = "this help"};
    size_t nt = table_len(table), column = 0;
    char left[128];
    for (size_t i = 0; i <= nt; i++) {
        size_t n = help_left(i < nt ? &table[i] : &help, left, sizeof left) + 2;
        if (n <= HELP_COLUMN_MAX && n > column) column = n;
    }
    for (size_t i = 0; i <= nt; i++) {
        const tr_opt *o = i < nt ? &table[i] : &help;
        size_t n = help_left(o, left, sizeof left);
        fputs(left, f);
        const char *h = o->help ? o->help : "";
        /* a name too long for the column pushes its text right, by two spaces */
        fprintf(f, "%*s", n + 2 <= column ? (int)(column - n) : 2, "");
        for (;;) {
            const char *nl = strchr(h, '\n');
            if (nl == NULL) break;
            fprintf(f, "%.*s\n%*s", (int)(nl - h), h, (int)column, "");
            h = nl + 1;
        }
        fputs(h, f);
        if (o->env && column + strlen(h) + strlen(o->env) + 3 <= HELP_WIDTH)
            fprintf(f, " [%s]", o->env);
        else if (o->env) /* on a line of its own rather than past HELP_WIDTH */
            fprintf(f, "\n%*s[%s]", (int)column, "", o->env);
        fputc('\n', f);
    }
}
