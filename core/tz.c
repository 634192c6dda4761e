/*
 * Daily windows in IANA time zones over ICU's calendar (tz.h).
 */
#include "core/tz.h"

#include <stdio.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "core/hd.h"

/* A Gregorian calendar in zone; NULL when ICU does not know the zone. */
static UCalendar *calendar(const char *zone)
{
    if (!hd_tz_valid(zone))
        return NULL;
    UChar id[128];
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8(id, (int32_t)HD_ARRAY_SIZE(id), NULL, zone, -1, &st);
    UCalendar *cal = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st))
        return NULL;
    /* a wall time the clock skips is its next valid instant; a repeated one its first */
    ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
    ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
    return cal;
}

int hd_tz_valid(const char *zone)
{
    if (!zone || !*zone || strlen(zone) >= 128)
        return 0;
    UChar id[128], canon[128];
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8(id, (int32_t)HD_ARRAY_SIZE(id), NULL, zone, -1, &st);
    if (U_FAILURE(st))
        return 0;
    UBool system = 0;
    ucal_getCanonicalTimeZoneID(id, -1, canon, (int32_t)HD_ARRAY_SIZE(canon), &system, &st);
    return U_SUCCESS(st) && system;
}

/* The instant of local date (y, m, d) (d may overflow into the next month) at `minutes`. */
static int64_t local_instant(UCalendar *cal, int y, int m, int d, int minutes, UErrorCode *st)
{
    ucal_clear(cal);
    ucal_setDateTime(cal, y, m, d, minutes / 60, minutes % 60, 0, st);
    return (int64_t)ucal_getMillis(cal, st);
}

int hd_tz_in_window(const char *zone, int start_min, int end_min, int64_t now_ms,
                    int64_t *until_ms, char *errstr, size_t errstr_size)
{
    if (start_min < 0 || start_min >= 1440 || end_min < 0 || end_min >= 1440)
        return hd_seterr(-1, errstr, errstr_size, "window %d-%d: minutes must be 0..1439",
                         start_min, end_min);
    UCalendar *cal = calendar(zone);
    if (!cal)
        return hd_seterr(-1, errstr, errstr_size, "unknown time zone \"%.64s\"",
                         zone ? zone : "");
    if (start_min == end_min) {
        ucal_close(cal);
        return 0;
    }
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)now_ms, &st);
    int y = ucal_get(cal, UCAL_YEAR, &st), m = ucal_get(cal, UCAL_MONTH, &st);
    int d = ucal_get(cal, UCAL_DATE, &st);
    int crosses = end_min < start_min, inside = 0;
    /* yesterday's window may still be open after midnight; then today's */
    for (int back = 1; back >= 0 && U_SUCCESS(st) && !inside; back--) {
        int64_t s = local_instant(cal, y, m, d - back, start_min, &st);
        int64_t e = local_instant(cal, y, m, d - back + crosses, end_min, &st);
        if (U_SUCCESS(st) && s <= now_ms && now_ms < e) {
            inside = 1;
            *until_ms = e;
        }
    }
    ucal_close(cal);
    if (U_FAILURE(st))
        return hd_seterr(-1, errstr, errstr_size, "ICU calendar: %s", u_errorName(st));
    return inside;
}

int hd_tz_format(const char *zone, int64_t ms, char *out, size_t out_size)
{
    UCalendar *cal = calendar(zone);
    if (!cal)
        return -1;
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)ms, &st);
    int off = (ucal_get(cal, UCAL_ZONE_OFFSET, &st) + ucal_get(cal, UCAL_DST_OFFSET, &st)) /
              60000;
    snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d%c%02d:%02d", ucal_get(cal, UCAL_YEAR, &st),
             ucal_get(cal, UCAL_MONTH, &st) + 1, ucal_get(cal, UCAL_DATE, &st),
             ucal_get(cal, UCAL_HOUR_OF_DAY, &st), ucal_get(cal, UCAL_MINUTE, &st),
             off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
    ucal_close(cal);
    return U_SUCCESS(st) ? 0 : -1;
}
