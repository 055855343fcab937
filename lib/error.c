/* error: project-wide error codes.  See error.h. */
#include "config.h"

#include <string.h>

#include "error.h"

static const char *const texts[] = {
#define CYRERR_TEXT(name, text) text,
    CYRERR_LIST(CYRERR_TEXT)
#undef CYRERR_TEXT
};

static const char *const names[] = {
#define CYRERR_NAME(name, text) "CYRERR_" #name,
    CYRERR_LIST(CYRERR_NAME)
#undef CYRERR_NAME
};

const char *error_message(int code)
{
    if (code == 0) return "Success";
    if (code > 0) return strerror(code);
    if (code > CYRERR__BASE && code < CYRERR__END)
        return texts[code - CYRERR__BASE - 1];
    return "Unknown error";
}

const char *error_name(int code)
{
    if (code == 0) return "CYRERR_OK";
    if (code > CYRERR__BASE && code < CYRERR__END)
        return names[code - CYRERR__BASE - 1];
    return "CYRERR_UNKNOWN";
}
