/* job.c — answering a request in flight (service.h): status and JSON body, errors, the
 * internal-failure and unknown-outcome answers. Not sending it (front.c) nor routing (routes.c). */
#include <stdio.h>
#include <stdlib.h>

#include "http/response.h"
#include "http/service.h"

void job_answer(http_job *j, int status, char *json) {
    j->status = json ? status : 500;
    free(j->resp);
    j->resp = json;
}

void job_error(http_job *j, tr_err e, const char *message) {
    job_answer(j, tr_err_http_status(e), http_json_error(e, message, NULL));
}

static void job_internal_msg(http_job *j, strategy_ctx *ctx, tr_err e, const char *message) {
    const char *detail = ctx && ctx->detail[0]          ? ctx->detail
                         : ctx && ctx->pg && e == TR_PG ? pg_conn_errstr(ctx->pg)
                                                        : tr_strerror(e);
    server_log(j->srv, "%s %s: %s", j->route ? j->route->method : "?",
               j->route ? j->route->pattern : "?", detail);
    if (ctx) ctx->detail[0] = '\0';
    job_error(j, TR_INTERNAL, message);
}

void job_internal(http_job *j, strategy_ctx *ctx, tr_err e) { job_internal_msg(j, ctx, e, NULL); }

/* A purchase that failed after it may have written (a Redis call or a commit whose answer was
 * lost, a strict answer not confirmed in time) has an unknown outcome. Its 500 says so and
 * carries Retry-After: retrying is safe because a purchase is idempotent per customer (R2) — the
 * retry answers 201 if the first attempt bought nothing, or 409 already_owned with the ticket
 * it bought. The lab's load generator retries these (loadgen.h). */
#define PURCHASE_UNKNOWN_MESSAGE                                                                   \
    "the purchase may or may not have completed; retry it: a ticket it bought is answered as "     \
    "already_owned"

void job_unknown_outcome(http_job *j, strategy_ctx *ctx, tr_err e) {
    j->retry_after_s = 1;
    job_internal_msg(j, ctx, e, PURCHASE_UNKNOWN_MESSAGE);
}

/* Retry in 1 s (elsewhere or after a restart), and the connection closes, so a keep-alive client
 * does not retry on it for the whole drain. */
void job_shutting_down(http_job *j) {
    j->retry_after_s = 1;
    j->close_after = true;
    job_error(j, TR_UNAVAILABLE, "the server is shutting down");
}
