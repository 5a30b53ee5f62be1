/* schema.c — DDL and seeding behind schema.h. */
#include "store/schema.h"

#include <inttypes.h>
#include <stdio.h>

static const char schema_common[] =
    "DROP TABLE IF EXISTS ticket, customer, concert CASCADE;"
    "DROP FUNCTION IF EXISTS ticket_customer_exists(), ticket_names_exist(), customer_is_permanent(),"
    "  concert_delete_tickets(), concert_keeps_its_key();"
    "CREATE TABLE customer ("
    "  id bigint PRIMARY KEY CHECK (id > 0),"
    "  name text NOT NULL);"
    /* remaining is R8's stored count; fence is the highest fencing token a redis-lock holder
     * has presented for this concert (checked by PostgreSQL, see strategy/redis_lock.c). */
    "CREATE TABLE concert ("
    "  id bigint PRIMARY KEY CHECK (id > 0),"
    "  name text NOT NULL,"
    "  starts_at timestamptz NOT NULL,"
    "  total_seats integer NOT NULL CHECK (total_seats >= 0),"
    "  vip_seats integer NOT NULL CHECK (vip_seats >= 0 AND vip_seats <= total_seats),"
    "  remaining integer NOT NULL,"
    "  fence bigint NOT NULL DEFAULT 0,"
    /* first of the ticket ids reserved for this concert's seats by redis-atomic (id = base +
     * seat), so a ticket's id is known when Redis admits it, before PostgreSQL stores it */
    "  ticket_id_base bigint);"
    "CREATE TABLE ticket ("
    "  id bigserial PRIMARY KEY,"
    "  concert_id bigint NOT NULL,"
    "  customer_id bigint NOT NULL,"
    "  seat_no integer NOT NULL CHECK (seat_no >= 1),"
    "  vip boolean NOT NULL,"
    "  issued_at timestamptz NOT NULL DEFAULT now());"
    /* Every ticket names a concert and a customer that exist, checked once per statement rather
     * than by foreign keys. A foreign key checks each inserted row with its own query (SPI, a
     * snapshot, SELECT … FOR KEY SHARE of the referenced row): for the customer a WAL record and
     * a dirtied page per ticket, customers being spread over the table, which halved what the
     * persister stores per second (store-ceiling, 100,000 tickets in batches of 1,000:
     * 14,600–17,800 tickets/s with it, 29,800–30,700 with this, one run after the other); for
     * the concert — the same row for every ticket of a sale — about a third of db-batch's
     * PostgreSQL CPU per ticket, inside the transaction that holds the concert row (74 tickets a
     * statement: 36–45 µs of PostgreSQL CPU per ticket with it, 27–30 with this, pgbench, one
     * run after the other). The concerts the statement's tickets name are locked FOR KEY SHARE
     * here, once each, as the foreign key's check locks them once per row, so none is deleted
     * or re-keyed before this transaction ends; a concert's delete removes its tickets (the
     * foreign key's ON DELETE CASCADE) and its re-key or truncation is refused while tickets
     * name it. Customers are permanent instead — PostgreSQL refuses to delete, re-key or
     * truncate them — so a customer the check sees stays. The rule is the foreign keys': an
     * INSERT or UPDATE of tickets naming an unknown concert or customer fails with
     * foreign_key_violation (23503) and changes nothing.
     * https://www.postgresql.org/docs/15/sql-createtrigger.html (transition tables) */
    "CREATE FUNCTION ticket_names_exist() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE locked bigint;"
    " BEGIN"
    "  PERFORM FROM concert c WHERE c.id IN (SELECT n.concert_id FROM new_tickets n)"
    "   ORDER BY c.id FOR KEY SHARE OF c;"
    "  GET DIAGNOSTICS locked = ROW_COUNT;"
    "  IF locked <> (SELECT count(DISTINCT n.concert_id) FROM new_tickets n) THEN"
    "   RAISE foreign_key_violation USING"
    "    MESSAGE = 'a ticket names a concert that does not exist',"
    "    CONSTRAINT = 'ticket_concert_exists';"
    "  END IF;"
    "  IF EXISTS (SELECT 1 FROM new_tickets n"
    "             WHERE NOT EXISTS (SELECT 1 FROM customer c WHERE c.id = n.customer_id)) THEN"
    "   RAISE foreign_key_violation USING"
    "    MESSAGE = 'a ticket names a customer that does not exist',"
    "    CONSTRAINT = 'ticket_customer_exists';"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER ticket_names_exist_on_insert AFTER INSERT ON ticket"
    "  REFERENCING NEW TABLE AS new_tickets"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ticket_names_exist();"
    "CREATE TRIGGER ticket_names_exist_on_update AFTER UPDATE ON ticket"
    "  REFERENCING NEW TABLE AS new_tickets"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ticket_names_exist();"
    "CREATE FUNCTION concert_delete_tickets() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  DELETE FROM ticket WHERE concert_id = OLD.id;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER concert_delete_tickets AFTER DELETE ON concert"
    "  FOR EACH ROW EXECUTE FUNCTION concert_delete_tickets();"
    "CREATE FUNCTION concert_keeps_its_key() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN RETURN NEW; END IF;"
    "  IF EXISTS (SELECT 1 FROM ticket t WHERE TG_OP = 'TRUNCATE' OR t.concert_id = OLD.id) THEN"
    "   RAISE foreign_key_violation USING"
    "    MESSAGE = 'tickets name this concert (its re-key and truncate are refused)',"
    "    CONSTRAINT = 'ticket_concert_exists';"
    "  END IF;"
    "  RETURN NEW;"
    " END $$;"
    "CREATE TRIGGER concert_keeps_its_key BEFORE UPDATE OF id ON concert"
    "  FOR EACH ROW EXECUTE FUNCTION concert_keeps_its_key();"
    "CREATE TRIGGER concert_is_not_truncated BEFORE TRUNCATE ON concert"
    "  FOR EACH STATEMENT EXECUTE FUNCTION concert_keeps_its_key();"
    "CREATE FUNCTION customer_is_permanent() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN RETURN NEW; END IF;"
    "  RAISE restrict_violation USING"
    "   MESSAGE = 'customers are permanent: tickets may name them (delete, re-key and truncate"
    " are refused)';"
    " END $$;"
    "CREATE TRIGGER customer_is_permanent BEFORE DELETE OR UPDATE OF id ON customer"
    "  FOR EACH ROW EXECUTE FUNCTION customer_is_permanent();"
    "CREATE TRIGGER customer_is_not_truncated BEFORE TRUNCATE ON customer"
    "  FOR EACH STATEMENT EXECUTE FUNCTION customer_is_permanent();";

static const char schema_guarded[] =
    "ALTER TABLE concert ADD CONSTRAINT concert_remaining_range"
    "  CHECK (remaining >= 0 AND remaining <= total_seats);"
    "ALTER TABLE ticket ADD CONSTRAINT ticket_one_per_customer UNIQUE (concert_id, customer_id);"
    "ALTER TABLE ticket ADD CONSTRAINT ticket_seat_unique UNIQUE (concert_id, seat_no);";

static const char schema_unguarded[] =
    "CREATE INDEX ticket_concert_customer ON ticket (concert_id, customer_id);"
    "CREATE INDEX ticket_concert_seat ON ticket (concert_id, seat_no);";

tr_err schema_create(pg_conn *c, bool guarded) {
    tr_err rc = pg_exec_ok(c, "BEGIN");
    if (rc != TR_OK) return rc;
    if ((rc = pg_exec_ok(c, "SET LOCAL client_min_messages = warning")) != TR_OK) return rc;
    if ((rc = pg_exec_ok(c, schema_common)) != TR_OK) return rc;
    if ((rc = pg_exec_ok(c, guarded ? schema_guarded : schema_unguarded)) != TR_OK) return rc;
    return pg_exec_ok(c, "COMMIT");
}

tr_err schema_is_guarded(pg_conn *c, bool *guarded) {
    PGresult *r = pg_exec(c, "SELECT count(*) FROM pg_constraint WHERE conname IN "
                             "('ticket_one_per_customer', 'ticket_seat_unique')");
    if (r == NULL) return TR_PG;
    *guarded = pg_get_i64(r, 0, 0) == 2;
    PQclear(r);
    return TR_OK;
}

tr_err schema_seed(pg_conn *c, const seed_params *p) {
    if (p->concert_id <= 0 || p->total_seats < 0 || p->vip_seats < 0 ||
        p->vip_seats > p->total_seats || p->customers < 0)
        return TR_INVALID_ARGUMENT;
    char id[24], n[16], v[16], cust[24], open_s[24], name[64];
    snprintf(id, sizeof id, "%" PRId64, p->concert_id);
    snprintf(n, sizeof n, "%" PRId32, p->total_seats);
    snprintf(v, sizeof v, "%" PRId32, p->vip_seats);
    snprintf(cust, sizeof cust, "%" PRId64, p->customers);
    snprintf(open_s, sizeof open_s, "%" PRId64, p->sales_open_s);
    snprintf(name, sizeof name, "concert-%" PRId64, p->concert_id);

    static const pg_stmt del = {"seed_delete_concert", "DELETE FROM concert WHERE id = $1", 1};
    static const pg_stmt ins = {
        "seed_insert_concert",
        "INSERT INTO concert (id, name, starts_at, total_seats, vip_seats, remaining) "
        "VALUES ($1, $2, now() + make_interval(secs => $3::bigint), $4, $5, $4)",
        5};
    static const pg_stmt cus = {
        "seed_insert_customers",
        "INSERT INTO customer (id, name) SELECT g, 'customer-' || g "
        "FROM generate_series(1, $1::bigint) AS g ON CONFLICT (id) DO NOTHING",
        1};
    tr_err rc = pg_exec_ok(c, "BEGIN");
    if (rc != TR_OK) return rc;
    const char *p_del[] = {id};
    const char *p_ins[] = {id, name, open_s, n, v};
    const char *p_cus[] = {cust};
    PGresult *r = pg_exec_stmt(c, &del, p_del);
    if (r == NULL) return TR_PG;
    PQclear(r);
    if ((r = pg_exec_stmt(c, &ins, p_ins)) == NULL) return TR_PG;
    PQclear(r);
    if ((r = pg_exec_stmt(c, &cus, p_cus)) == NULL) return TR_PG;
    PQclear(r);
    if ((rc = pg_exec_ok(c, "COMMIT")) != TR_OK) return rc;
    return pg_exec_ok(c, "ANALYZE customer, concert, ticket");
}
