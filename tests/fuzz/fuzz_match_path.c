/* fuzz_match_path.c — http_match_path (src/http/request.c), the route matcher. The input is a
 * path, optionally followed by '\n' and a pattern of its own; the path is matched against the
 * server's route patterns (copied from the route table in src/http/server.c) and against that
 * pattern. Properties: the answer is 1, 0 or -1 and the same every time; with ids = NULL and
 * maxids = 0 it is the same again; no id is written past maxids; a match fills every id with a
 * valid id (1..2^63−1) and rebuilding the path from the pattern and those ids gives the path
 * back exactly (a match is a round trip); -1 only for a pattern with an {id}; at most one of the
 * server's routes answers other than 0 for a path (the route table is unambiguous). */
#include <inttypes.h>

#include "fuzz.h"
#include "http/request.h"

#define MAXIDS 8

/* Keep in step with the routes[] table in src/http/server.c. */
static const char *const route_patterns[] = {
    "/concert/purchase/ticket",
    "/concerts/{id}",
    "/concerts/{id}/tickets/{id}",
    "/livez",
    "/readyz",
    "/metrics",
};
#define NROUTES (sizeof route_patterns / sizeof route_patterns[0])

/* The number of segments that are exactly "{id}". */
static int count_ids(const char *pattern) {
    int n = 0;
    for (const char *q = pattern; (q = strchr(q, '/')) != NULL;) {
        q++;
        if (strncmp(q, "{id}", 4) == 0 && (q[4] == '/' || q[4] == '\0')) n++;
    }
    return n;
}

/* The path the pattern describes with these ids, into out (outlen bytes); false if too long. */
static bool render(const char *pattern, const int64_t *ids, char *out, size_t outlen) {
    size_t w = 0;
    int k = 0;
    const char *q = pattern;
    while (*q) {
        int n;
        if (q[0] == '/' && strncmp(q + 1, "{id}", 4) == 0 && (q[5] == '/' || q[5] == '\0')) {
            n = snprintf(out + w, outlen - w, "/%" PRId64, ids[k++]);
            q += 5;
        } else {
            n = snprintf(out + w, outlen - w, "%c", *q);
            q++;
        }
        if (n < 0 || (size_t)n >= outlen - w) return false;
        w += (size_t)n;
    }
    out[w] = '\0';
    return true;
}

/* Matches path against pattern every way the properties need; returns the answer. */
static int check(const char *path, const char *pattern) {
    int64_t ids[MAXIDS + 2];
    for (int i = 0; i < MAXIDS + 2; i++) ids[i] = -5;
    int m = http_match_path(path, pattern, ids, MAXIDS);
    FUZZ_CHECK(m == 1 || m == 0 || m == -1, "answer %d", m);
    FUZZ_CHECK(ids[MAXIDS] == -5 && ids[MAXIDS + 1] == -5, "id written past maxids");
    FUZZ_CHECK(http_match_path(path, pattern, NULL, 0) == m, "another answer without ids");
    int64_t again[MAXIDS];
    FUZZ_CHECK(http_match_path(path, pattern, again, MAXIDS) == m, "another answer the 2nd time");
    int nids = count_ids(pattern);
    if (m == -1) FUZZ_CHECK(nids > 0, "-1 for \"%s\", a pattern without {id}", pattern);
    if (m == 1 && nids <= MAXIDS) {
        for (int i = 0; i < nids; i++) {
            FUZZ_CHECK(ids[i] >= 1, "id %d = %" PRId64 " for \"%s\"", i, ids[i], path);
            FUZZ_CHECK(again[i] == ids[i], "id %d differs the 2nd time", i);
        }
        char back[4096 + 256];
        if (render(pattern, ids, back, sizeof back))
            FUZZ_CHECK(strcmp(back, path) == 0, "\"%s\" matched \"%s\" but rebuilds as \"%s\"",
                       path, pattern, back);
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *in = fuzz_cstr(data, size);
    char *nl = strchr(in, '\n'), *pattern = NULL;
    if (nl) {
        *nl = '\0';
        pattern = nl + 1;
    }
    const char *path = in;
    int matched = 0;
    for (size_t r = 0; r < NROUTES; r++)
        if (check(path, route_patterns[r]) != 0) matched++;
    FUZZ_CHECK(matched <= 1, "\"%s\" matches %d routes", path, matched);
    if (pattern) check(path, pattern);
    free(in);
    return 0;
}
