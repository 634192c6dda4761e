/*
 * Clocks: wall time in epoch milliseconds (record timestamps) and a
 * monotonic clock (timeouts, latency).
 */
#ifndef HD_TIME_H
#define HD_TIME_H
#include <stdint.h>

int64_t hd_now_ms(void);
int64_t hd_mono_us(void);
/* Formats epoch ms as ISO-8601 UTC "2026-11-23T17:55:13.123Z" into out (>= 32 bytes). */
void hd_time_iso8601(int64_t ms, char *out, unsigned long out_size);
/* Parses ISO-8601 (Z or +hh:mm offset, optional fraction) to epoch ms; returns 0 on success. */
int hd_time_parse_iso8601(const char *s, int64_t *ms);

#endif
