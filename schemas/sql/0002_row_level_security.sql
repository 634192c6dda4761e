-- Tenant isolation. The API runs each request in a transaction that switches
-- to the role herald_api and sets herald.tenant_id (connectors/pg.c,
-- hd_pg_begin_tenant); the policies below then show that tenant's rows only.
-- The materializer connects as the tables' owner, which row-level security
-- does not restrict (no FORCE), and so writes every tenant.
--
-- current_setting('herald.tenant_id', true) is NULL or '' when no tenant is
-- set, which matches no row: a forgotten tenant scope shows nothing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'herald_api') THEN
        CREATE ROLE herald_api NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'role % may not create roles', current_user
        USING HINT = 'a superuser must run: CREATE ROLE herald_api NOLOGIN; GRANT herald_api TO '
                     || quote_ident(current_user);
END
$$;

-- The login role that runs Herald must be able to SET ROLE herald_api.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'herald_api', 'MEMBER') THEN
        EXECUTE format('GRANT herald_api TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'role % is not a member of herald_api and may not grant it', current_user
        USING HINT = 'a superuser must run: GRANT herald_api TO ' || quote_ident(current_user);
END
$$;

GRANT USAGE ON SCHEMA public TO herald_api;
GRANT SELECT ON tenants, notifications, notification_events TO herald_api;
GRANT UPDATE (read_at, deleted_at) ON notifications TO herald_api;
-- Offsets are not tenant data; the API reads them to wait for a consistency token.
GRANT SELECT ON consumer_offsets TO herald_api;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_events ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON tenants;
CREATE POLICY tenant_isolation ON tenants TO herald_api
    USING (tenant_id = current_setting('herald.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('herald.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON notifications;
CREATE POLICY tenant_isolation ON notifications TO herald_api
    USING (tenant_id = current_setting('herald.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('herald.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON notification_events;
CREATE POLICY tenant_isolation ON notification_events TO herald_api
    USING (tenant_id = current_setting('herald.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('herald.tenant_id', true));
