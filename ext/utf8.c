/*
** utf8.c: tells whether text is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
** nothing past U+10FFFF). SQLite stores text bytes as it is given them, and its json_valid() does
*not
** look inside strings, so nxm checks every text argument here before anything is stored: RFC 8259
** requires JSON to be UTF-8, and ids that are not UTF-8 cannot be read back by most clients.
*/
#include "nxm.h"

/* Returns the offset of the first byte that is not part of a well-formed sequence, or -1. */
int nxm_utf8_invalid_at(const char *text, int bytes) {
  const unsigned char *s = (const unsigned char *)text;
  int i = 0;
  while (i < bytes) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int length;
    unsigned char low = 0x80, high = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0)
        low = 0xA0; /* overlong */
      if (c == 0xED)
        high = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0)
        low = 0x90; /* overlong */
      if (c == 0xF4)
        high = 0x8F; /* past U+10FFFF */
    } else {
      return i;
    }
    if (i + length > bytes || s[i + 1] < low || s[i + 1] > high) {
      return i;
    }
    for (int k = 2; k < length; k++) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
        return i;
      }
    }
    i += length;
  }
  return -1;
}
