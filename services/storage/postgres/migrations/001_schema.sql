-- The whole store. Records are kept whole as jsonb (`record`, written with records.py's
-- field names); columns are what the database enforces or looks something up by.
-- Every money table has `seq`: the money_log entry of the commit that last wrote the row
-- (0: imported), which a shared store compares with what it last saw (MoneyRule.STALE).

-- Users, conversations and their memory ----------------------------------------------
CREATE TABLE users (
    id bigint PRIMARY KEY,
    username_lower text,  -- lower(username): @username lookups, case-insensitive
    blocked boolean NOT NULL DEFAULT false,
    record jsonb NOT NULL
);
CREATE INDEX users_username ON users (username_lower) WHERE username_lower IS NOT NULL;
CREATE INDEX users_unblocked ON users (id) WHERE NOT blocked;  -- broadcast recipients

CREATE TABLE conversations (
    owner bigint PRIMARY KEY,  -- a user, or a group chat
    record jsonb NOT NULL
);

CREATE TABLE history (
    owner bigint NOT NULL,
    conversation_id text NOT NULL,
    turns jsonb NOT NULL,
    PRIMARY KEY (owner, conversation_id)
);

CREATE TABLE images (
    owner bigint NOT NULL,
    conversation_id text NOT NULL,
    image_id text NOT NULL,
    mime_type text NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (owner, conversation_id, image_id)
);

-- Money -----------------------------------------------------------------------------
-- Every commit, in commit order (one at a time: an advisory lock per schema), with its
-- records: what the other processes take in (Storage.money_changes). `txid` is made by
-- the client, so a commit retried after a lost connection is recognised.
CREATE TABLE money_log (
    seq bigserial PRIMARY KEY,
    txid uuid NOT NULL UNIQUE,
    origin uuid NOT NULL,  -- the store instance (process) that committed it
    at double precision NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX money_log_at ON money_log (at);

CREATE TABLE payment_transitions (  -- TRANSITIONS of services/storage/base.py
    from_status text NOT NULL,
    to_status text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO payment_transitions VALUES
    ('pending', 'paid'), ('pending', 'rejected'), ('pending', 'expired'),
    ('expired', 'paid'), ('expired', 'rejected'),
    ('paid', 'refunded');

CREATE TABLE payments (
    id text PRIMARY KEY,
    user_id bigint NOT NULL,
    plan_id text NOT NULL,
    method text NOT NULL,
    status text NOT NULL
        CHECK (status IN ('pending', 'paid', 'rejected', 'expired', 'refunded')),
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    -- The open invoice of its user, plan and method (pending; one a newer invoice has
    -- replaced near its expiry is still pending but holds the place no more).
    open_slot boolean NOT NULL DEFAULT false CHECK (NOT open_slot OR status = 'pending'),
    seq bigint NOT NULL,
    record jsonb NOT NULL
);
CREATE UNIQUE INDEX payments_one_open_invoice ON payments (user_id, plan_id, method)
    WHERE open_slot;
CREATE INDEX payments_pending ON payments (id) WHERE status = 'pending';
CREATE INDEX payments_updated ON payments (updated_at);
CREATE INDEX payments_expired ON payments (created_at) WHERE status = 'expired';
CREATE INDEX payments_created ON payments (created_at, id);  -- reports, CSV

-- A money event ("<method>:<operation or charge id>") credits one payment.
CREATE TABLE payment_events (
    event text PRIMARY KEY,
    payment_id text NOT NULL
);

CREATE TABLE subscriptions (
    user_id bigint NOT NULL,
    plan_id text NOT NULL,
    end_at double precision NOT NULL,  -- the last period's end
    seq bigint NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (user_id, plan_id)
);
CREATE INDEX subscriptions_end ON subscriptions (end_at);

CREATE TABLE promo_codes (
    code text PRIMARY KEY,
    max_uses integer,
    seq bigint NOT NULL,
    record jsonb NOT NULL
);

-- Activations of a code, counted under this row's lock; kept when the code is deleted.
CREATE TABLE promo_uses (
    code text PRIMARY KEY,
    uses integer NOT NULL
);

CREATE TABLE promo_activations (
    code text NOT NULL,
    user_id bigint NOT NULL,
    at double precision NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (code, user_id)  -- once per user
);

CREATE TABLE unmatched_money (
    id text PRIMARY KEY,  -- recorded once (until settled)
    resolved_at double precision,
    seq bigint NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX unmatched_open ON unmatched_money (id) WHERE resolved_at IS NULL;
CREATE INDEX unmatched_resolved ON unmatched_money (resolved_at);

CREATE TABLE stars_subscriptions (
    id text PRIMARY KEY,
    live_at double precision NOT NULL,  -- max(updated_at, expires_at)
    seq bigint NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX stars_subscriptions_live ON stars_subscriptions (live_at);

CREATE TABLE stars_charges (  -- a charge credited to one subscription
    charge_id text PRIMARY KEY,
    subscription_id text NOT NULL
);

CREATE TABLE referral_codes (
    user_id bigint PRIMARY KEY,  -- one code per user
    code text NOT NULL UNIQUE,  -- one user per code
    created_at double precision NOT NULL,
    seq bigint NOT NULL
);

CREATE TABLE referrals (
    user_id bigint PRIMARY KEY,  -- invited once
    inviter_id bigint NOT NULL,
    payment_id text,  -- the reward, set once
    reward_plan text,
    seq bigint NOT NULL,
    record jsonb NOT NULL
);

CREATE TABLE outbox (
    id text PRIMARY KEY,
    done_at double precision,
    seq bigint NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX outbox_open ON outbox (id) WHERE done_at IS NULL;
CREATE INDEX outbox_done ON outbox (done_at);

-- Statistics, broadcasts, state ------------------------------------------------------
CREATE TABLE stats_documents (  -- a day ("2026-12-14") or a month ("month-2026-12")
    name text PRIMARY KEY,
    document jsonb NOT NULL
);

CREATE TABLE state_documents (
    name text PRIMARY KEY,
    document jsonb NOT NULL
);

CREATE TABLE broadcasts (
    id text PRIMARY KEY,
    record jsonb NOT NULL
);

CREATE TABLE broadcast_deliveries (  -- a user is tried once per broadcast
    broadcast_id text NOT NULL,
    user_id bigint NOT NULL,
    outcome text CHECK (outcome IN ('delivered', 'blocked', 'failed')),
    PRIMARY KEY (broadcast_id, user_id)
);

-- What wrote into this schema: a bot's store (opened) or the JSON import (its DATA_DIR).
CREATE TABLE writers (
    kind text NOT NULL,  -- 'store' | 'import'
    source text NOT NULL,  -- the import's DATA_DIR; '' for a store
    first_at timestamptz NOT NULL DEFAULT now(),
    last_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, source)
);
