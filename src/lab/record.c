/* record.c — the outcome-code table behind record.h. */
#include "lab/record.h"

#include <string.h>

static const char *const lab_code_names[LAB_CODE__KNOWN] = {
#define LAB_CODE_NAME(name, str) str,
    LAB_CODE_MAP(LAB_CODE_NAME)
#undef LAB_CODE_NAME
};

static bool lab_code_safe_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

uint16_t lab_codes_intern(lab_codes *t, const char *s, size_t len) {
    if (len == 0) return LAB_CODE_NONE;
    for (int i = 1; i < LAB_CODE__KNOWN; i++) {
        const char *n = lab_code_names[i];
        if (strlen(n) == len && memcmp(n, s, len) == 0) return (uint16_t)i;
    }
    if (len > LAB_CODE_MAX_LEN) return LAB_CODE_OTHER;
    for (size_t i = 0; i < len; i++)
        if (!lab_code_safe_char(s[i])) return LAB_CODE_OTHER;
    for (int i = 0; i < t->nextra; i++)
        if (strlen(t->extra[i]) == len && memcmp(t->extra[i], s, len) == 0)
            return (uint16_t)(LAB_CODE__KNOWN + i);
    if (t->nextra >= LAB_CODES_MAX_EXTRA) return LAB_CODE_OTHER;
    memcpy(t->extra[t->nextra], s, len);
    t->extra[t->nextra][len] = '\0';
    return (uint16_t)(LAB_CODE__KNOWN + t->nextra++);
}

const char *lab_codes_name(const lab_codes *t, uint16_t code) {
    if (code < LAB_CODE__KNOWN) return lab_code_names[code];
    int i = code - LAB_CODE__KNOWN;
    if (i < t->nextra) return t->extra[i];
    return lab_code_names[LAB_CODE_OTHER];
}
