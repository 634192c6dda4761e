/*
 * Daily windows in IANA time zones (core/tz.c): plain days, windows across midnight, the
 * DST changes of Europe/Berlin and America/New_York (a start in a skipped hour, an end in
 * a repeated hour that must not reopen), Australia/Lord_Howe's 30-minute shift,
 * Pacific/Kiritimati (UTC+14), and the errors (unknown zone, minutes out of range).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/hd.h"
#include "core/time.h"
#include "core/tz.h"

static int64_t at(const char *iso)
{
    int64_t ms;
    cr_assert_eq(hd_time_parse_iso8601(iso, &ms), 0, "bad time in the test: %s", iso);
    return ms;
}

#define HM(h, m) ((h) * 60 + (m))

Test(tz, windows_in_and_out_with_their_end_across_dst_and_odd_zones)
{
    static const struct {
        const char *zone;
        int start, end;
        const char *now;
        int inside;
        const char *until; /* when inside */
        const char *why;
    } cases[] = {
        /* a plain winter night in Berlin (UTC+1) */
        {"Europe/Berlin", HM(22, 0), HM(7, 0), "2026-01-15T20:59:59Z", 0, NULL, "21:59 local"},
        {"Europe/Berlin", HM(22, 0), HM(7, 0), "2026-01-15T21:00:00Z", 1, "2026-01-16T06:00:00Z",
         "22:00 local opens it"},
        {"Europe/Berlin", HM(22, 0), HM(7, 0), "2026-01-16T05:59:59Z", 1, "2026-01-16T06:00:00Z",
         "06:59 local, after midnight: yesterday's window"},
        {"Europe/Berlin", HM(22, 0), HM(7, 0), "2026-01-16T06:00:00Z", 0, NULL, "07:00 closes"},
        {"Europe/Berlin", HM(13, 0), HM(14, 0), "2026-01-15T12:30:00Z", 1, "2026-01-15T13:00:00Z",
         "a window within one day"},
        {"Europe/Berlin", HM(13, 0), HM(14, 0), "2026-01-15T13:00:00Z", 0, NULL, "its end"},
        /* Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z) */
        {"Europe/Berlin", HM(2, 30), HM(6, 0), "2026-03-29T00:59:59Z", 0, NULL,
         "before the jump, 01:59 CET"},
        {"Europe/Berlin", HM(2, 30), HM(6, 0), "2026-03-29T01:00:00Z", 1, "2026-03-29T04:00:00Z",
         "a start in the skipped hour begins at the jump"},
        {"Europe/Berlin", HM(22, 0), HM(7, 0), "2026-03-29T04:59:00Z", 1, "2026-03-29T05:00:00Z",
         "the night of the change ends at 07:00 CEST, 8 h after 22:00 CET"},
        /* Berlin falls back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z): 02:00-03:00 twice */
        {"Europe/Berlin", HM(22, 0), HM(2, 30), "2026-10-25T00:29:00Z", 1, "2026-10-25T00:30:00Z",
         "an end in the repeated hour is its first occurrence"},
        {"Europe/Berlin", HM(22, 0), HM(2, 30), "2026-10-25T01:15:00Z", 0, NULL,
         "02:15 CET, the second pass: the window does not reopen"},
        /* New York: spring 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); fall 2026-11-01 02:00
         * EDT -> 01:00 EST (06:00Z) */
        {"America/New_York", HM(2, 15), HM(5, 0), "2026-03-08T06:59:00Z", 0, NULL, "01:59 EST"},
        {"America/New_York", HM(2, 15), HM(5, 0), "2026-03-08T07:00:00Z", 1,
         "2026-03-08T09:00:00Z", "begins at the jump to 03:00 EDT"},
        {"America/New_York", HM(0, 0), HM(1, 30), "2026-11-01T05:29:00Z", 1,
         "2026-11-01T05:30:00Z", "01:29 EDT"},
        {"America/New_York", HM(0, 0), HM(1, 30), "2026-11-01T06:15:00Z", 0, NULL,
         "01:15 EST, the repeated hour: closed"},
        /* Lord Howe: 2026-10-04 02:00 (+10:30) -> 02:30 (+11), at 15:30Z the day before */
        {"Australia/Lord_Howe", HM(2, 10), HM(3, 0), "2026-10-03T15:29:00Z", 0, NULL,
         "01:59 (+10:30)"},
        {"Australia/Lord_Howe", HM(2, 10), HM(3, 0), "2026-10-03T15:30:00Z", 1,
         "2026-10-03T16:00:00Z", "a half-hour jump: begins at 02:30 (+11)"},
        /* Kiritimati is UTC+14: its 22:00 is 08:00Z of the same date */
        {"Pacific/Kiritimati", HM(22, 0), HM(7, 0), "2026-06-01T08:30:00Z", 1,
         "2026-06-01T17:00:00Z", "22:30 local, the calendar a day ahead of UTC"},
        {"Pacific/Kiritimati", HM(22, 0), HM(7, 0), "2026-06-01T07:59:00Z", 0, NULL, "21:59"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        int64_t until = -1;
        char err[256] = "";
        int rc = hd_tz_in_window(cases[i].zone, cases[i].start, cases[i].end, at(cases[i].now),
                                 &until, err, sizeof(err));
        cr_expect_eq(rc, cases[i].inside, "case %zu (%s %s, %s): %d %s", i, cases[i].zone,
                     cases[i].now, cases[i].why, rc, err);
        if (rc == 1 && cases[i].until)
            cr_expect_eq(until, at(cases[i].until), "case %zu (%s): ends at %lld, not %s", i,
                         cases[i].why, (long long)until, cases[i].until);
    }
}

Test(tz, the_end_formats_in_local_time_with_its_offset)
{
    char out[64];
    cr_assert_eq(hd_tz_format("Europe/Berlin", at("2026-03-29T05:00:00Z"), out, sizeof(out)),
                 0);
    cr_expect_str_eq(out, "2026-03-29T07:00+02:00");
    cr_assert_eq(hd_tz_format("Australia/Lord_Howe", at("2026-07-01T00:00:00Z"), out,
                              sizeof(out)),
                 0);
    cr_expect_str_eq(out, "2026-07-01T10:30+10:30");
    cr_assert_eq(hd_tz_format("America/New_York", at("2026-01-15T12:00:00Z"), out, sizeof(out)),
                 0);
    cr_expect_str_eq(out, "2026-01-15T07:00-05:00");
    cr_expect_eq(hd_tz_format("Mars/Olympus_Mons", 0, out, sizeof(out)), -1);
}

Test(tz, unknown_zones_and_bad_minutes_are_errors_and_an_empty_window_is_never_entered)
{
    int64_t until = 42;
    char err[256] = "";
    cr_expect_eq(hd_tz_in_window("Mars/Olympus_Mons", 0, 60, 0, &until, err, sizeof(err)), -1);
    cr_expect(strstr(err, "unknown time zone \"Mars/Olympus_Mons\""), "%s", err);
    cr_expect_eq(hd_tz_in_window(NULL, 0, 60, 0, &until, err, sizeof(err)), -1);
    cr_expect_eq(hd_tz_in_window("", 0, 60, 0, &until, err, sizeof(err)), -1);
    cr_expect_eq(hd_tz_in_window("Europe/Berlin", -1, 60, 0, &until, err, sizeof(err)), -1);
    cr_expect_eq(hd_tz_in_window("Europe/Berlin", 0, 1440, 0, &until, err, sizeof(err)), -1);
    cr_expect(strstr(err, "0..1439"), "%s", err);
    cr_expect_eq(hd_tz_in_window("Europe/Berlin", 600, 600, at("2026-01-15T09:00:00Z"), &until,
                                 err, sizeof(err)),
                 0);
    cr_expect_eq(until, 42, "untouched when outside");
    cr_expect(hd_tz_valid("Europe/Berlin") && hd_tz_valid("UTC") && hd_tz_valid("Asia/Kolkata"));
    cr_expect(!hd_tz_valid("Europe/Atlantis") && !hd_tz_valid("+02:00 "));
}
