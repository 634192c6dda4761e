/*
 * Local wall-clock time in IANA time zones (ICU's calendar and zone data): the daily
 * windows preferences speak in ("quiet hours 22:00-07:00 in Europe/Berlin"), correct
 * across DST changes.
 *
 * A window is [start, end) in minutes after local midnight; end <= start means it crosses
 * midnight (22:00-07:00). The window of local date D begins at the first instant of D whose
 * wall time is at or after `start`, and ends at the first instant after that whose wall
 * time reaches `end` (on D, or D+1 when it crosses midnight). So a start inside a skipped
 * hour (spring forward) begins at the jump, and an end inside a repeated hour (fall back)
 * is its first occurrence: a window never reopens when the clock goes back.
 * Thread-safe: every call opens its own calendar.
 */
#ifndef HD_TZ_H
#define HD_TZ_H

#include <stddef.h>
#include <stdint.h>

/* Is `zone` a time zone ICU knows (an IANA id such as "Europe/Berlin")? */
int hd_tz_valid(const char *zone);

/* Whether now_ms lies inside the daily window [start_min, end_min) of `zone`. Returns 1 and
 * sets *until_ms to the window's end, 0 when outside (until_ms untouched), or -1 with errstr
 * for an unknown zone or minutes outside 0..1439 (start == end is an empty window: 0). */
int hd_tz_in_window(const char *zone, int start_min, int end_min, int64_t now_ms,
                    int64_t *until_ms, char *errstr, size_t errstr_size);

/* Formats now_ms as local ISO-8601 with its offset ("2026-03-29T07:00+02:00") into out. */
int hd_tz_format(const char *zone, int64_t ms, char *out, size_t out_size);

#endif
