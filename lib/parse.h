/* parse: placeholder */
#ifndef LIB_PARSE_H
#define LIB_PARSE_H
#endif
