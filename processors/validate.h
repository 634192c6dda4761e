/*
 * Semantic checks of a NotificationRequest (the validate processor), exposed
 * for unit tests: tenant known, channels known and not repeated, content or
 * template present, sizes within limits, e-mail syntax, E.164 phone numbers,
 * variables_json a JSON object, not expired.
 */
#ifndef HD_VALIDATE_H
#define HD_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "schemas/records.h"
#include "tables/tables.h"

#define HD_MAX_ID_LEN 128
#define HD_MAX_SUBJECT_LEN 998        /* RFC 5322 line length */
#define HD_MAX_TITLE_LEN 1024
#define HD_MAX_TEXT_LEN (64 * 1024)
#define HD_MAX_HTML_LEN (512 * 1024)
#define HD_MAX_VARIABLES_LEN (64 * 1024)
#define HD_MAX_MAP_ENTRIES 64

enum hd_validation { HD_VALID = 0, HD_INVALID, HD_EXPIRED };

/* addr-spec in the common form: local@domain, lengths per RFC 5321 (64/255/254),
 * dot-atom local part, domain of LDH labels with at least one dot. */
int hd_valid_email(const char *s);
/* E.164: '+', a non-zero digit, 3 to 15 digits in all. */
int hd_valid_e164(const char *s);

/* Validates r. On HD_INVALID, *code gets a stable error code ("unknown_tenant",
 * "missing_content", "invalid_email", ...) and msg names the field. */
enum hd_validation hd_validate_request(const struct hd_request *r, const struct hd_tables *t,
                                       int64_t now_ms, const char **code, char *msg,
                                       size_t msg_size);

#endif
