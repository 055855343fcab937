/* tok: placeholder */
#ifndef LIB_TOK_H
#define LIB_TOK_H
#endif
