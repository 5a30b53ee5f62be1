/* fuzz_runfile.c — runfile_read (src/lab/runfile.c), the lab's run files, and the round trip
 * through runfile_write. runfile_read takes a path, so the input is put in a memfd read as
 * /proc/self/fd/N; runfile_write writes into a private temporary directory (in /dev/shm when it
 * exists) removed at exit. Properties: a refusal has a message and no records; reading with and
 * without the rows gives the same summary; and whatever is read writes back and reads back the
 * same — every field, every row, every code by name — and writing that again gives the same
 * bytes (write(read(x)) is a fixed point). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "lab/runfile.h"

static int memfd = -1;
static char memfd_path[64], tmpdir[128], out1[192], out2[192];

static void cleanup(void) {
    if (tmpdir[0] == '\0') return;
    unlink(out1);
    unlink(out2);
    rmdir(tmpdir);
}

static void init(void) {
    if (memfd >= 0) return;
    memfd = memfd_create("fuzz_runfile", MFD_CLOEXEC);
    if (memfd < 0) abort();
    snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    DIR *shm = opendir("/dev/shm");
    const char *base = shm ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (shm) closedir(shm);
    snprintf(tmpdir, sizeof tmpdir, "%s/fuzz_runfile.XXXXXX", base);
    if (mkdtemp(tmpdir) == NULL) abort();
    snprintf(out1, sizeof out1, "%s/a.json", tmpdir);
    snprintf(out2, sizeof out2, "%s/b.json", tmpdir);
    atexit(cleanup);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL, "could not open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (b == NULL) abort();
    for (size_t got; (got = fread(b + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap && (b = realloc(b, cap *= 2)) == NULL) abort();
    }
    fclose(f);
    *len = n;
    return b;
}

/* Everything but the rows and the two rates (written with 12 significant digits). */
static void same_summary(const lab_run *a, const lab_run *b, const char *what) {
    FUZZ_CHECK(strcmp(a->strategy, b->strategy) == 0, "%s: strategy", what);
    FUZZ_CHECK(strcmp(a->scenario, b->scenario) == 0, "%s: scenario", what);
    FUZZ_CHECK(a->guarded == b->guarded, "%s: schema", what);
    const run_params *p = &a->params, *q = &b->params;
    FUZZ_CHECK(p->tickets == q->tickets && p->vip == q->vip && p->customers == q->customers &&
                   p->requests == q->requests && p->vus == q->vus && p->seed == q->seed &&
                   p->concert_id == q->concert_id && strcmp(p->url, q->url) == 0,
               "%s: params", what);
    FUZZ_CHECK(a->started_wall_us == b->started_wall_us, "%s: started_at %" PRId64 " / %" PRId64,
               what, a->started_wall_us, b->started_wall_us);
    FUZZ_CHECK(a->duration_us == b->duration_us && a->reconnects == b->reconnects &&
                   a->retries == b->retries,
               "%s: duration, reconnects or retries", what);
    audit_report x = a->audit, y = b->audit;
    FUZZ_CHECK(x.noutcomes == y.noutcomes, "%s: %d outcomes / %d", what, x.noutcomes, y.noutcomes);
    for (int i = 0; i < x.noutcomes; i++)
        FUZZ_CHECK(strcmp(x.outcomes[i].key, y.outcomes[i].key) == 0 &&
                       x.outcomes[i].count == y.outcomes[i].count,
                   "%s: outcome %d \"%s\" / \"%s\"", what, i, x.outcomes[i].key, y.outcomes[i].key);
    x.requests_per_min = y.requests_per_min = x.tickets_per_min = y.tickets_per_min = 0;
    memset(x.outcomes, 0, sizeof x.outcomes);
    memset(y.outcomes, 0, sizeof y.outcomes);
    FUZZ_CHECK(memcmp(&x, &y, sizeof x) == 0, "%s: audit figures differ", what);
}

static void same_rows(const lab_run *a, const lab_run *b, const char *what) {
    FUZZ_CHECK(a->nrecords == b->nrecords, "%s: %zu rows / %zu", what, a->nrecords, b->nrecords);
    for (size_t i = 0; i < a->nrecords; i++) {
        const lab_record *x = &a->records[i], *y = &b->records[i];
        FUZZ_CHECK(x->customer_id == y->customer_id && x->send_us == y->send_us &&
                       x->done_us == y->done_us && x->status == y->status &&
                       x->seat_no == y->seat_no,
                   "%s: row %zu", what, i);
        FUZZ_CHECK(strcmp(lab_codes_name(&a->codes, x->code), lab_codes_name(&b->codes, y->code)) ==
                       0,
                   "%s: row %zu code %s / %s", what, i, lab_codes_name(&a->codes, x->code),
                   lab_codes_name(&b->codes, y->code));
    }
}

static tr_err read_run(const char *path, bool rows, lab_run *out, char *err, size_t errlen) {
    memset(out, 0x5a, sizeof *out); /* runfile_read must overwrite it */
    err[0] = '\0';
    tr_err rc = runfile_read(path, rows, out, err, errlen);
    FUZZ_CHECK(rc == TR_OK || rc == TR_INVALID_ARGUMENT, "rc %d: %s", (int)rc, err);
    if (rc != TR_OK) {
        FUZZ_CHECK(out->records == NULL && out->nrecords == 0, "rows left after a refusal");
        FUZZ_CHECK(err[0] != '\0', "refused without a message");
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    init();
    if (ftruncate(memfd, 0) != 0) abort();
    if (size && pwrite(memfd, data, size, 0) != (ssize_t)size) abort();

    static lab_run head, full, back; /* large (the audit's outcomes): not on the stack */
    char err[512];
    tr_err rh = read_run(memfd_path, false, &head, err, sizeof err);
    FUZZ_CHECK(head.records == NULL, "rows read without being asked for");
    tr_err rf = read_run(memfd_path, true, &full, err, sizeof err);
    if (rf == TR_OK) FUZZ_CHECK(rh == TR_OK, "reads with its rows, not without");
    if (rf != TR_OK) return 0;
    same_summary(&head, &full, "with and without rows");

    FUZZ_CHECK(runfile_write(&full, out1, err, sizeof err) == TR_OK, "write: %s", err);
    FUZZ_CHECK(read_run(out1, true, &back, err, sizeof err) == TR_OK, "read back: %s", err);
    same_summary(&full, &back, "read back");
    same_rows(&full, &back, "read back");
    FUZZ_CHECK(runfile_write(&back, out2, err, sizeof err) == TR_OK, "write again: %s", err);
    size_t l1, l2;
    char *t1 = slurp(out1, &l1), *t2 = slurp(out2, &l2);
    FUZZ_CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0, "written twice, two texts");
    free(t1);
    free(t2);
    lab_run_free_records(&full);
    lab_run_free_records(&back);
    return 0;
}
