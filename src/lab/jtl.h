/* jtl.h — reads JMeter's CSV results file (.jtl) into the lab's records (record.h), so a run
 * driven by JMeter goes through the same audit, run file, table and report as one driven by
 * the lab's own load generator. Not a general CSV library, and not JMeter's XML results format.
 *
 * What the file must hold (jmeter/ticketrush.jmx and scripts/jmeter.sh set all of it):
 *   - a header line naming the columns (jmeter.save.saveservice.print_field_names=true);
 *   - timeStamp in ms since the epoch (timestamp_format=ms), the sample's START
 *     (sampleresult.timestamp.start=true; JTL_TIMESTAMP_END reads the other setting), elapsed
 *     in ms, responseCode;
 *   - the sample variables customerId, seatNo and error (sample_variables=customerId,seatNo,
 *     error), which the plan's __Random and regular-expression extractors fill: error is the
 *     answer's "error" code, "-" or "" when it has none; seatNo is 0 when absent.
 * Rows of other labels can be skipped (label filter); a row JMeter could not send or get an
 * answer for ("Non HTTP response code: java.net.…Exception") becomes status 0 with code
 * connection_error, or timeout for a SocketTimeoutException.
 *
 * Times: JMeter keeps milliseconds. send_us is the start of the sample's first millisecond
 * and done_us the END of its last one (+999 µs), so every order the audit infers (R6: "A
 * completed before B was sent") is certain despite the rounding; latencies read up to 1 ms
 * high. Records come back sorted by send time, as the load generator's are. */
#ifndef TR_LAB_JTL_H
#define TR_LAB_JTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "lab/record.h"

#define JTL_MAX_BYTES (4LL << 30) /* a larger file is refused */
#define JTL_MAX_ROWS 50000000LL

typedef enum {
    JTL_TIMESTAMP_START, /* timeStamp is when the sample started (what the plan's runs write) */
    JTL_TIMESTAMP_END,   /* timeStamp is when it ended (JMeter's default where not set) */
} jtl_timestamp;

typedef struct jtl_options {
    const char *label; /* only rows with this label; NULL or "" takes every row */
    jtl_timestamp timestamp;
} jtl_options;

typedef struct jtl_result {
    lab_record *records;     /* malloc'd, caller frees; NULL when nrecords == 0 */
    size_t nrecords;         /* samples kept */
    int64_t skipped;         /* rows of other labels */
    int64_t started_wall_us; /* t = 0: the earliest send, µs since the epoch */
    int64_t duration_us;     /* t = 0 to the latest done_us */
    int32_t max_threads;     /* largest allThreads (or grpThreads) seen; 0 when absent */
} jtl_result;

/* Parses buf[0..len) (need not be NUL-terminated). codes receives the error codes met (it may
 * already hold some). *out is overwritten. Errors: TR_INVALID_ARGUMENT with errbuf naming the
 * line and what is wrong (no header, a missing column, a field that is not a number, a row with
 * the wrong number of fields, an unterminated quote), TR_NOMEM. On error out->records is NULL. */
tr_err jtl_parse(const char *buf, size_t len, const jtl_options *opt, lab_codes *codes,
                 jtl_result *out, char *errbuf, size_t errlen);

/* jtl_parse of the file at path. Errors as jtl_parse, plus TR_INTERNAL (I/O, or larger than
 * JTL_MAX_BYTES) with errbuf saying why. */
tr_err jtl_read(const char *path, const jtl_options *opt, lab_codes *codes, jtl_result *out,
                char *errbuf, size_t errlen);

/* Frees out->records (NULL-safe) and sets it to NULL / 0. */
void jtl_result_free(jtl_result *out);

#endif
