/*
 * Semantic checks of a NotificationRequest (processors/validate.c): e-mail and
 * E.164 syntax, and hd_validate_request's verdict, error code and message for
 * each kind of bad request. Requests are built by hand on the stack: one
 * valid request, then one field broken per test.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/hd.h"
#include "processors/validate.h"
#include "schemas/records.h"
#include "tables/tables.h"

#define NOW_MS INT64_C(1795456513000) /* 2026-11-23T17:55:13Z */

/* ---- hd_valid_email ---------------------------------------------------- */

/* A fresh string of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = hd_malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

Test(validate, common_email_addresses_are_accepted)
{
    static const char *const ok[] = {
        "ada@example.com",
        "ada.lovelace@example.com",
        "ada+newsletter@example.com",
        "ada.lovelace+tag.more@example.com",
        "user@mail.sub.example.co.uk",
        "user123@example123.com",
        "42@9.example.org",
        "first-last@my-domain.example",
        "a@b-c-d.example",
        "x_y@example.org",
        "o'brien@example.ie",
        "a@b.co",
        "UPPER@EXAMPLE.COM",
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(ok); i++)
        cr_expect(hd_valid_email(ok[i]), "expected \"%s\" to be accepted", ok[i]);
}

Test(validate, malformed_email_addresses_are_rejected)
{
    static const struct {
        const char *addr;
        const char *why;
    } bad[] = {
        {"", "empty"},
        {"adaexample.com", "no @"},
        {"@example.com", "empty local part"},
        {"ada@", "empty domain"},
        {".ada@example.com", "leading dot in local part"},
        {"ada.@example.com", "trailing dot in local part"},
        {"ada..lovelace@example.com", "double dot in local part"},
        {"ada lovelace@example.com", "space in local part"},
        {" ada@example.com", "leading space"},
        {"ada@example.com ", "trailing space"},
        {"ada@exa mple.com", "space in domain"},
        {"ada@localhost", "domain without a dot"},
        {"ada@-example.com", "label starting with '-'"},
        {"ada@example-.com", "label ending with '-'"},
        {"ada@mail.example.com-", "last label ending with '-'"},
        {"ada@.example.com", "domain starting with a dot"},
        {"ada@example.com.", "domain ending with a dot"},
        {"ada@example..com", "empty label"},
        {"ada@exa_mple.com", "underscore in domain"},
        {"a@b@example.com", "two @: the last-@ split leaves local \"a@b\""},
        {"a@@example.com", "two @ in a row"},
        {"ada(x)@example.com", "parenthesis in local part"},
        {"\"ada\"@example.com", "quoted local part (not supported)"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
        cr_expect(!hd_valid_email(bad[i].addr), "expected \"%s\" to be rejected (%s)",
                  bad[i].addr, bad[i].why);
}

Test(validate, null_email_is_rejected)
{
    cr_assert_eq(hd_valid_email(NULL), 0);
}

Test(validate, email_local_part_of_64_is_accepted_and_65_rejected)
{
    char *l64 = repeat('a', 64), *l65 = repeat('a', 65);
    char *ok = hd_asprintf("%s@example.com", l64);
    char *bad = hd_asprintf("%s@example.com", l65);
    cr_expect(hd_valid_email(ok), "64-byte local part rejected");
    cr_expect(!hd_valid_email(bad), "65-byte local part accepted");
    hd_free(l64);
    hd_free(l65);
    hd_free(ok);
    hd_free(bad);
}

Test(validate, email_label_of_63_is_accepted_and_64_rejected)
{
    char *l63 = repeat('d', 63), *l64 = repeat('d', 64);
    char *ok = hd_asprintf("ada@%s.com", l63);
    char *bad = hd_asprintf("ada@%s.com", l64);
    char *bad_last = hd_asprintf("ada@example.%s", l64);
    cr_expect(hd_valid_email(ok), "63-byte label rejected");
    cr_expect(!hd_valid_email(bad), "64-byte first label accepted");
    cr_expect(!hd_valid_email(bad_last), "64-byte last label accepted");
    hd_free(l63);
    hd_free(l64);
    hd_free(ok);
    hd_free(bad);
    hd_free(bad_last);
}

Test(validate, email_of_254_is_accepted_and_255_rejected)
{
    /* 64 + 1 + (63 + 1 + 63 + 1 + 61) = 254; one more domain byte makes 255. */
    char *local = repeat('l', 64), *a = repeat('a', 63), *b = repeat('b', 63);
    char *c61 = repeat('c', 61), *c62 = repeat('c', 62);
    char *ok = hd_asprintf("%s@%s.%s.%s", local, a, b, c61);
    char *bad = hd_asprintf("%s@%s.%s.%s", local, a, b, c62);
    cr_assert_eq(strlen(ok), 254);
    cr_assert_eq(strlen(bad), 255);
    cr_expect(hd_valid_email(ok), "254-byte address rejected");
    cr_expect(!hd_valid_email(bad), "255-byte address accepted");
    hd_free(local);
    hd_free(a);
    hd_free(b);
    hd_free(c61);
    hd_free(c62);
    hd_free(ok);
    hd_free(bad);
}

/* ---- hd_valid_e164 ----------------------------------------------------- */

Test(validate, e164_numbers_are_accepted)
{
    static const char *const ok[] = {
        "+14155550123",     /* US */
        "+4915112345678",   /* DE mobile */
        "+442071838750",    /* UK */
        "+123",             /* 3 digits: the shortest accepted */
        "+123456789012345", /* 15 digits: the longest */
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(ok); i++)
        cr_expect(hd_valid_e164(ok[i]), "expected \"%s\" to be accepted", ok[i]);
}

Test(validate, non_e164_numbers_are_rejected)
{
    static const struct {
        const char *num;
        const char *why;
    } bad[] = {
        {"", "empty"},
        {"+", "no digits"},
        {"+1", "1 digit"},
        {"+12", "2 digits"},
        {"14155550123", "missing +"},
        {"004915112345678", "00 prefix instead of +"},
        {"+04155550123", "leading 0 after +"},
        {"+1415555O123", "letter O"},
        {"+1415abc0123", "letters"},
        {"+1234567890123456", "16 digits"},
        {"+1 415 555 0123", "spaces"},
        {"+1-415-555-0123", "hyphens"},
        {"++14155550123", "two +"},
        {"+14155550123 ", "trailing space"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
        cr_expect(!hd_valid_e164(bad[i].num), "expected \"%s\" to be rejected (%s)", bad[i].num,
                  bad[i].why);
}

Test(validate, null_phone_is_rejected)
{
    cr_assert_eq(hd_valid_e164(NULL), 0);
}

/* ---- hd_validate_request ----------------------------------------------- */

/* A request and everything it points to, so a test can break one field. */
struct fixture {
    struct hd_request req;
    struct hd_content content;
    struct hd_recipient recipient;
    struct hd_template_ref tpl;
    enum hd_channel channels[3];
    struct hd_tables *tables;
};

static struct fixture f;

static void setup(void)
{
    char err[256] = "";
    f.tables = hd_tables_parse("{\"tenants\": [{\"tenant_id\": \"acme\"}, {\"tenant_id\": \"globex\"}]}",
                               err, sizeof(err));
    cr_assert_not_null(f.tables, "tables: %s", err);
    f.channels[0] = HD_CH_EMAIL;
    f.channels[1] = HD_CH_SMS;
    f.channels[2] = HD_CH_IN_APP;
    f.content = (struct hd_content){.subject = "Your order", .text = "Thanks for your order."};
    f.recipient = (struct hd_recipient){.email = "ada@example.com", .phone = "+14155550123"};
    f.tpl = (struct hd_template_ref){.key = "order_confirmation"};
    f.req = (struct hd_request){
        .request_id = "req-1",
        .tenant_id = "acme",
        .user_id = "user-1",
        .channels = f.channels,
        .channel_cnt = 3,
        .category = HD_CAT_TRANSACTIONAL,
        .priority = HD_PRIO_NORMAL,
        .content = &f.content,
        .variables_json = "{\"order_id\": \"o-1\"}",
        .recipient = &f.recipient,
        .created_at = NOW_MS - 1000,
    };
}

static void teardown(void)
{
    hd_tables_destroy(f.tables);
}

static enum hd_validation run(const char **code, char *msg, size_t msg_size)
{
    *code = NULL;
    msg[0] = '\0';
    return hd_validate_request(&f.req, f.tables, NOW_MS, code, msg, msg_size);
}

/* The fixture's request must be refused with `code`, and the message must name `field`. */
static void expect_invalid(const char *want_code, const char *field)
{
    const char *code;
    char msg[512];
    enum hd_validation v = run(&code, msg, sizeof(msg));
    cr_assert_eq(v, HD_INVALID, "expected HD_INVALID (%s), got %d (code %s, msg \"%s\")",
                 want_code, v, code ? code : "(null)", msg);
    cr_assert_not_null(code);
    cr_expect_str_eq(code, want_code, "code: got %s, want %s (msg \"%s\")", code, want_code, msg);
    cr_expect(strstr(msg, field) != NULL, "message \"%s\" does not name %s", msg, field);
}

static void expect_valid(void)
{
    const char *code;
    char msg[512];
    enum hd_validation v = run(&code, msg, sizeof(msg));
    cr_assert_eq(v, HD_VALID, "expected HD_VALID, got %d (code %s, msg \"%s\")", v,
                 code ? code : "(null)", msg);
}

Test(validate, valid_request_passes, .init = setup, .fini = teardown)
{
    expect_valid();
}

Test(validate, request_with_template_and_no_content_passes, .init = setup, .fini = teardown)
{
    f.req.content = NULL;
    f.req.template_ref = &f.tpl;
    expect_valid();
}

Test(validate, request_without_recipient_passes, .init = setup, .fini = teardown)
{
    f.req.recipient = NULL;
    expect_valid();
}

Test(validate, request_without_variables_passes, .init = setup, .fini = teardown)
{
    f.req.variables_json = NULL;
    expect_valid();
}

Test(validate, unknown_tenant_is_rejected_naming_tenant_id, .init = setup, .fini = teardown)
{
    f.req.tenant_id = "initech";
    expect_invalid("unknown_tenant", "tenant_id");
}

Test(validate, missing_tenant_user_or_request_id_is_rejected, .init = setup, .fini = teardown)
{
    f.req.tenant_id = NULL;
    expect_invalid("invalid_request", "tenant_id");
    f.req.tenant_id = "acme";
    f.req.user_id = "";
    expect_invalid("invalid_request", "user_id");
    f.req.user_id = "user-1";
    f.req.request_id = NULL;
    expect_invalid("invalid_request", "request_id");
}

Test(validate, request_id_longer_than_limit_is_too_large, .init = setup, .fini = teardown)
{
    char *id = repeat('r', HD_MAX_ID_LEN + 1);
    f.req.request_id = id;
    expect_invalid("too_large", "request_id");
    hd_free(id);
}

Test(validate, request_without_channels_is_rejected, .init = setup, .fini = teardown)
{
    f.req.channel_cnt = 0;
    expect_invalid("no_channels", "channels");
}

Test(validate, duplicate_channel_is_rejected_naming_its_index, .init = setup, .fini = teardown)
{
    f.channels[2] = HD_CH_EMAIL;
    expect_invalid("duplicate_channel", "channels[2]");
}

Test(validate, out_of_range_channel_is_rejected, .init = setup, .fini = teardown)
{
    f.channels[1] = (enum hd_channel)HD_CH__CNT;
    expect_invalid("unknown_channel", "channels[1]");
}

Test(validate, request_with_neither_content_nor_template_is_rejected, .init = setup,
     .fini = teardown)
{
    f.req.content = NULL;
    f.req.template_ref = NULL;
    expect_invalid("missing_content", "content");
}

Test(validate, content_with_every_field_empty_is_rejected, .init = setup, .fini = teardown)
{
    f.content = (struct hd_content){.subject = "", .text = "", .html = "", .title = ""};
    expect_invalid("missing_content", "content");
}

Test(validate, content_with_every_field_null_is_rejected, .init = setup, .fini = teardown)
{
    f.content = (struct hd_content){0};
    expect_invalid("missing_content", "content");
}

Test(validate, content_with_only_a_title_passes, .init = setup, .fini = teardown)
{
    f.content = (struct hd_content){.title = "Shipped"};
    expect_valid();
}

Test(validate, template_with_empty_key_is_rejected, .init = setup, .fini = teardown)
{
    f.tpl.key = "";
    f.req.template_ref = &f.tpl;
    expect_invalid("invalid_request", "template.key");
}

Test(validate, subject_at_the_limit_passes, .init = setup, .fini = teardown)
{
    char *subject = repeat('s', HD_MAX_SUBJECT_LEN);
    f.content.subject = subject;
    expect_valid();
    hd_free(subject);
}

Test(validate, subject_longer_than_limit_is_too_large, .init = setup, .fini = teardown)
{
    char *subject = repeat('s', HD_MAX_SUBJECT_LEN + 1);
    f.content.subject = subject;
    expect_invalid("too_large", "content.subject");
    hd_free(subject);
}

Test(validate, title_longer_than_limit_is_too_large, .init = setup, .fini = teardown)
{
    char *title = repeat('t', HD_MAX_TITLE_LEN + 1);
    f.content.title = title;
    expect_invalid("too_large", "content.title");
    hd_free(title);
}

Test(validate, invalid_recipient_email_is_rejected, .init = setup, .fini = teardown)
{
    f.recipient.email = "ada@localhost";
    expect_invalid("invalid_email", "recipient.email");
}

Test(validate, invalid_recipient_phone_is_rejected, .init = setup, .fini = teardown)
{
    f.recipient.phone = "04155550123";
    expect_invalid("invalid_phone", "recipient.phone");
}

Test(validate, non_http_webhook_url_is_rejected, .init = setup, .fini = teardown)
{
    f.recipient.webhook_url = "ftp://hooks.example.com/x";
    expect_invalid("invalid_url", "recipient.webhook_url");
}

Test(validate, variables_that_are_not_an_object_are_rejected, .init = setup, .fini = teardown)
{
    static const char *const bad[] = {"[1, 2]", "\"text\"", "42", "null", "{\"a\": ", "not json"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        f.req.variables_json = (char *)bad[i];
        const char *code;
        char msg[512];
        enum hd_validation v = run(&code, msg, sizeof(msg));
        cr_expect_eq(v, HD_INVALID, "variables %s: got verdict %d", bad[i], v);
        cr_expect(code && !strcmp(code, "invalid_variables"), "variables %s: code %s", bad[i],
                  code ? code : "(null)");
        cr_expect(strstr(msg, "variables_json") != NULL, "variables %s: message \"%s\"", bad[i],
                  msg);
    }
}

static struct hd_kv meta_items[HD_MAX_MAP_ENTRIES + 1];

static void fill_metadata(size_t n)
{
    for (size_t i = 0; i < n; i++)
        meta_items[i] = (struct hd_kv){.key = "k", .value = "v"};
    f.req.metadata = (struct hd_map){.items = meta_items, .cnt = n};
}

Test(validate, metadata_at_the_entry_limit_passes, .init = setup, .fini = teardown)
{
    fill_metadata(HD_MAX_MAP_ENTRIES);
    expect_valid();
}

Test(validate, too_many_metadata_entries_are_too_large, .init = setup, .fini = teardown)
{
    fill_metadata(HD_MAX_MAP_ENTRIES + 1);
    expect_invalid("too_large", "metadata");
}

Test(validate, expires_at_in_the_past_is_expired, .init = setup, .fini = teardown)
{
    f.req.has_expires_at = 1;
    f.req.expires_at = NOW_MS - 1;
    const char *code;
    char msg[512];
    enum hd_validation v = run(&code, msg, sizeof(msg));
    cr_assert_eq(v, HD_EXPIRED, "got verdict %d (code %s, msg \"%s\")", v, code ? code : "(null)",
                 msg);
    cr_assert_not_null(code);
    cr_expect_str_eq(code, "expired");
}

Test(validate, expires_at_now_is_expired, .init = setup, .fini = teardown)
{
    f.req.has_expires_at = 1;
    f.req.expires_at = NOW_MS;
    const char *code;
    char msg[512];
    cr_assert_eq(run(&code, msg, sizeof(msg)), HD_EXPIRED);
}

Test(validate, expires_at_in_the_future_passes, .init = setup, .fini = teardown)
{
    f.req.has_expires_at = 1;
    f.req.expires_at = NOW_MS + 1;
    expect_valid();
}

Test(validate, expires_at_is_ignored_when_absent, .init = setup, .fini = teardown)
{
    f.req.has_expires_at = 0;
    f.req.expires_at = NOW_MS - 3600 * 1000; /* stale value in an absent field */
    expect_valid();
}

Test(validate, invalid_request_is_reported_before_expiry, .init = setup, .fini = teardown)
{
    f.req.has_expires_at = 1;
    f.req.expires_at = NOW_MS - 1;
    f.recipient.email = "not-an-address";
    expect_invalid("invalid_email", "recipient.email");
}

Test(validate, message_is_truncated_to_the_buffer, .init = setup, .fini = teardown)
{
    f.req.tenant_id = "initech";
    const char *code;
    char msg[16];
    memset(msg, 'X', sizeof(msg));
    cr_assert_eq(hd_validate_request(&f.req, f.tables, NOW_MS, &code, msg, sizeof(msg)),
                 HD_INVALID);
    cr_assert_eq(msg[sizeof(msg) - 1], '\0');
    cr_expect_eq(strncmp(msg, "tenant_id", 9), 0, "msg \"%s\"", msg);
}
