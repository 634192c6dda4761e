-- Read model tables written by the materializer (processors/materializer.c)
-- from the status topics and herald.inbox, read by the API.
--
-- Every migration is idempotent (IF NOT EXISTS, DROP ... IF EXISTS before
-- CREATE) and runs inside the transaction the runner opens: no BEGIN/COMMIT
-- here, nothing that cannot run in a transaction.
--
-- Times are stored as timestamptz; those that come from records (created_at,
-- status_at, occurred_at) are the records' own times, so rebuilding the read
-- model from the topics gives the same rows.

CREATE TABLE IF NOT EXISTS tenants (
    tenant_id  text PRIMARY KEY,
    name       text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per notification (one per request and channel). The key includes
-- the tenant: notification ids derive from request ids, which tenants may
-- choose, so two tenants can produce the same id and must never share a row.
CREATE TABLE IF NOT EXISTS notifications (
    tenant_id          text NOT NULL,
    notification_id    text NOT NULL,
    user_id            text NOT NULL,
    request_id         text,
    channel            text,
    category           text,
    provider           text,
    batch_id           text,
    title              text,
    body               text,
    html               text,
    data               jsonb NOT NULL DEFAULT '{}',
    status             text,
    -- Order of statuses (QUEUED 1 < SCHEDULED 2 < SENT 3 < DELIVERED 4 < READ 5
    -- < FAILED 6 < BOUNCED 7 < SKIPPED 8, and 0 before any status): a status event
    -- replaces the current status only when its rank is higher, so the status
    -- topics may be read in any relative order.
    status_rank        smallint NOT NULL DEFAULT 0,
    status_reason_code text,
    status_reason      text,
    status_at          timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    read_at            timestamptz,
    deleted_at         timestamptz,
    PRIMARY KEY (tenant_id, notification_id)
);

-- Inbox pages: newest first, (created_at, notification_id) as the cursor.
CREATE INDEX IF NOT EXISTS notifications_inbox_idx
    ON notifications (tenant_id, user_id, created_at DESC, notification_id DESC);
-- Unread count and unread filter.
CREATE INDEX IF NOT EXISTS notifications_unread_idx
    ON notifications (tenant_id, user_id)
    WHERE read_at IS NULL AND deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS notifications_batch_idx
    ON notifications (tenant_id, batch_id) WHERE batch_id IS NOT NULL;

-- Status history: one row per status record consumed. The key is the record's
-- position in Kafka, so a record consumed twice inserts one row.
CREATE TABLE IF NOT EXISTS notification_events (
    tenant_id           text NOT NULL,
    notification_id     text NOT NULL,
    status              text NOT NULL,
    reason_code         text,
    reason              text,
    attempt             integer NOT NULL DEFAULT 0,
    provider            text,
    provider_message_id text,
    occurred_at         timestamptz NOT NULL,
    src_topic           text NOT NULL,
    src_partition       integer NOT NULL,
    src_offset          bigint NOT NULL,
    CONSTRAINT notification_events_src_key UNIQUE (src_topic, src_partition, src_offset)
);

CREATE INDEX IF NOT EXISTS notification_events_notification_idx
    ON notification_events (tenant_id, notification_id, occurred_at);

-- Where each consumer (the materializer's group) stands in each partition,
-- written in the same transaction as the rows above. Not tenant data.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    consumer    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
