/* replay.c — runs a fuzz harness without libFuzzer: feeds every file of the directories (or
 * the files) named on the command line to its LLVMFuzzerTestOneInput, in name order, each in
 * an exact-size heap buffer. Linked with one tests/fuzz/fuzz_<target>.c in the normal build
 * (gcc, ASan/UBSan with TR_SANITIZE), so ctest replays the committed corpus and crash inputs
 * without clang. A broken property aborts (FUZZ_CHECK), which fails the test.
 * usage: fuzz_replay_<target> DIR_OR_FILE...   Names starting with '.' are skipped. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: could not open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (nb == NULL) free(buf);
            buf = nb;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (buf == NULL || err) {
        fprintf(stderr, "replay: could not read %s\n", path);
        free(buf);
        return -1;
    }
    /* Exactly n bytes, so a read past the input's end is caught as it is under libFuzzer. */
    uint8_t *exact = malloc(n ? n : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int skip_dot(const struct dirent *d) { return d->d_name[0] != '.'; }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    long inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) != 0) return 1;
            inputs++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, skip_dot, alphasort);
        if (n < 0) {
            fprintf(stderr, "replay: could not list %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int rc = 0;
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
            if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (replay_file(path) != 0) rc = 1;
                inputs++;
            }
            free(names[k]);
        }
        free(names);
        if (rc) return 1;
    }
    printf("replay: %ld inputs, every property held\n", inputs);
    return inputs > 0 ? 0 : 1;
}
