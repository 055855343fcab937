/* parse: strict parsers for numbers, switches, durations and byte sizes.
 *
 * Every parser reads a whole NUL-terminated string: no leading or trailing
 * blanks, no trailing garbage, nothing empty.  Overflow is an error, never a
 * silent wrap or clamp.  Each returns 0 and stores the value in *out, or
 * returns CYRERR_PARSE and leaves *out untouched.  No allocation, no global
 * state; all functions are thread-safe.
 *
 * Used by the imapd.conf reader (libconfig) and by protocol code that needs
 * a number from a token it has already delimited.
 */
#ifndef LIB_PARSE_H
#define LIB_PARSE_H

#include <stdint.h>

/* Decimal digits only (no sign, no blanks); leading zeros are accepted. */
int parse_uint32(const char *s, uint32_t *out) __attribute__((warn_unused_result));
int parse_uint64(const char *s, uint64_t *out) __attribute__((warn_unused_result));
/* An optional '-' and then decimal digits. */
int parse_int64(const char *s, int64_t *out) __attribute__((warn_unused_result));

/* The leading run of digits of `s` (at least one) as a uint32; *end_r is
 * set past the digits.  For protocol parsers that scan in place.  Overflow
 * or no digit is CYRERR_PARSE. */
int parse_uint32_prefix(const char *s, uint32_t *out, const char **end_r)
    __attribute__((warn_unused_result));

/* yes/no, on/off, true/false, t/f, 1/0 (case-insensitive) -> 1 or 0. */
int parse_switch(const char *s, int *out) __attribute__((warn_unused_result));

/* A duration in seconds: one or more <number><unit> groups summed together,
 * units d, h, m, s (case-insensitive), e.g. "30s", "5m", "1h30m", "2d".
 * A bare number ("45") is in `defunit` ('s', 'm', 'h' or 'd'); with
 * defunit 0 a bare number is an error.  A leading '-' negates the whole
 * value (Cyrus uses "-1" for "never" in a few options). */
int parse_duration(const char *s, char defunit, int64_t *out)
    __attribute__((warn_unused_result));

/* A size in bytes: a number, optionally blanks, then an optional unit K, M,
 * G or T (powers of 1024, case-insensitive), optionally followed by "B" or
 * "iB": "100", "512K", "10M", "10 MB", "1GiB", "100B". */
int parse_bytesize(const char *s, uint64_t *out) __attribute__((warn_unused_result));

#endif
